"""What `identify` found: each profile's probes at a unit, the units that answered and the buses scanned.

Plain data, filled while a scan runs (`pv_collector.identify.scan`) and turned into the configuration to
paste by `pv_collector.identify.report`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pv_collector import sunspec
from pv_collector.config import BusType
from pv_collector.model import IdentifyProbe, Profile

SUNSPEC_PROFILE = "sunspec"
_NAME_RE = re.compile(r"[^a-z0-9_-]+")

type Outcome = Literal["match", "mismatch", "refused", "silent"]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One identify probe of one profile at one unit: what was read and whether it matched."""

    probe: IdentifyProbe
    outcome: Outcome
    value: str = ""  # the raw value read (text or number), or the exception code

    def describe(self) -> str:
        """`holding 64514 u16 in [112]: match (112)`."""
        shown = f" ({self.value})" if self.value else ""
        return f"{self.probe.describe()}: {self.outcome}{shown}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A profile whose probes were tried on a unit."""

    profile: Profile
    results: tuple[ProbeResult, ...]

    @property
    def matched(self) -> int:
        """Probes that matched."""
        return sum(1 for result in self.results if result.outcome == "match")

    @property
    def complete(self) -> bool:
        """Every probe matched."""
        return self.matched == len(self.results) > 0

    def summary(self) -> str:
        """`sdm630 (1 of 1 probes)`."""
        return f"{self.profile.id} ({self.matched} of {len(self.results)} probes)"


@dataclass(slots=True)
class UnitFinding:
    """What one unit id answered and which profiles fit it, best first."""

    unit_id: int
    sunspec: sunspec.SunSpecDevice | None = None
    candidates: list[Candidate] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)  # manufacturer, model, serial, firmware as read
    also_units: list[int] = field(default_factory=list)  # other unit ids the same device answered on
    signature: tuple[object, ...] = ()  # what the unit answered, to recognise the same device again

    @property
    def profile(self) -> Profile | None:
        """The profile proposed: SunSpec when the marker was found, else the best complete candidate,
        else the best partial one (a guess); None when nothing fits."""
        if self.sunspec is not None:
            return None
        return self.candidates[0].profile if self.candidates else None

    @property
    def profile_id(self) -> str | None:
        """Id of the proposed profile (`sunspec` for a SunSpec device)."""
        if self.sunspec is not None:
            return SUNSPEC_PROFILE
        profile = self.profile
        return profile.id if profile is not None else None

    @property
    def sure(self) -> bool:
        """Whether the proposal is certain: SunSpec's marker, or one profile whose every probe matched
        while no other profile's did."""
        if self.sunspec is not None:
            return True
        complete = [candidate for candidate in self.candidates if candidate.complete]
        return len(complete) == 1

    def reason(self) -> str:
        """Why this profile: one line for the configuration's comment."""
        if self.sunspec is not None:
            models = ", ".join(str(model.id) for model in self.sunspec.models)
            return f"SunSpec at {self.sunspec.base}, models {models}"
        if not self.candidates:
            return "answers, but no profile's identify probes match"
        best = self.candidates[0]
        others = [c.summary() for c in self.candidates[1:4]]
        text = f"{best.summary()} matched"
        if others:
            text += f"; also {', '.join(others)}"
        return text

    def device_entry(self, kind_counts: dict[str, int] | None = None) -> dict[str, object]:
        """The proposed `devices:` entry (id, name, unit_id, profile) of docs/configuration.md."""
        profile_id = self.profile_id or "unknown"
        profile = self.profile
        kind = self.sunspec.kind if self.sunspec is not None else (profile.kind if profile else "device")
        counts = kind_counts if kind_counts is not None else {}
        counts[kind] = counts.get(kind, 0) + 1
        manufacturer = self.info.get("manufacturer") or (profile.manufacturer if profile else None)
        model = self.info.get("model")
        name = " ".join(v for v in (manufacturer, model) if v) if model else ""
        if not name:
            name = profile.name if profile is not None else f"Unit {self.unit_id}"
        return {
            "id": f"{kind}_{self.unit_id}",
            "name": name[:100],
            "unit_id": self.unit_id,
            "profile": profile_id,
        }

    def found(self) -> dict[str, str]:
        """What was found, as strings (the collector page shows them)."""
        result = {"unit_id": str(self.unit_id), "profile": self.profile_id or "", "sure": str(self.sure)}
        result.update(self.info)
        if self.sunspec is not None:
            result["sunspec_models"] = ",".join(str(model.id) for model in self.sunspec.models)
        if self.candidates:
            result["candidates"] = ", ".join(candidate.summary() for candidate in self.candidates[:5])
        return result


@dataclass(slots=True)
class BusFinding:
    """A scanned bus: how it was reached, the settings it answered at, and its units."""

    type: BusType
    port: str | int
    host: str | None = None
    logger_serial: int | None = None  # a solarman bus: the logger's serial number
    baudrate: int | None = None
    parity: Literal["N", "E", "O"] | None = None
    stopbits: int = 1
    units: list[UnitFinding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    complete: bool = False  # False while scanning and after an interruption
    asked: set[int] = field(default_factory=set)  # unit ids asked so far

    @property
    def name(self) -> str:
        """A bus name for the configuration (`^[a-z0-9][a-z0-9_-]{0,63}$`)."""
        if self.type == "solarman":
            raw = f"solarman-{self.host}"
        elif self.host:
            raw = f"tcp-{self.host}-{self.port}"
        else:
            raw = Path(str(self.port)).name
            raw = raw if raw[:1].isalpha() else f"rs485-{raw}"
        return (_NAME_RE.sub("-", raw.lower()).strip("-_") or "bus")[:64]

    def endpoint(self) -> str:
        """`/dev/ttyUSB0 at 9600 8N1`, `tcp 192.168.1.50:502` or `solarman 192.168.1.50:8899 (logger N)`."""
        if self.type == "serial":
            if self.baudrate is None:
                return f"{self.port}"
            return f"{self.port} at {self.baudrate} 8{self.parity}{self.stopbits}"
        if self.type == "solarman" and self.logger_serial is not None:
            return f"solarman {self.host}:{self.port} (logger {self.logger_serial})"
        return f"{self.type} {self.host}:{self.port}"

    def bus_entry(self) -> dict[str, object]:
        """The proposed `buses:` entry with its devices (docs/configuration.md)."""
        entry: dict[str, object] = {"name": self.name, "type": self.type}
        if self.type == "serial":
            entry.update(
                serial_port=self.port, baudrate=self.baudrate, parity=self.parity, stopbits=self.stopbits
            )
        else:
            entry.update(host=self.host, port=self.port)
        if self.type == "solarman":
            entry["logger_serial"] = self.logger_serial
        counts: dict[str, int] = {}
        entry["devices"] = [unit.device_entry(counts) for unit in self.units if unit.profile_id]
        return entry
