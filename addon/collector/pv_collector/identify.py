"""`pv-collector identify`: what answers on a bus, which profile fits it, and the configuration to paste.

    pv-collector identify --serial /dev/ttyUSB0            # RS-485: usual speeds, then units 1..247
    pv-collector identify --host 192.168.1.50              # TCP: ports 502, 1502, 6607, 8899
    pv-collector identify --host 192.168.1.50 --logger-serial 2712345678  # and a Solarman V5 logger on 8899
    pv-collector identify --config site.yaml [--bus NAME]  # the configured buses

Scanning (`scan_serial`, `scan_tcp`) finds the units that answer: a unit is there when it answers a read of
holding register 0 with registers or with a Modbus exception (a gateway's "target did not respond" and
silence mean nobody is there). On a serial line the usual settings are tried on the units most devices use
(`QUICK_UNITS` and the unit ids the profiles document) until one answers; units 1..247 are then scanned at
that setting only (`--all-settings` scans every setting that answered). Over TCP every usual port that
accepts a connection is asked for the usual unit ids, with Modbus TCP framing, else RTU framing; port 8899,
given the logger's serial number, as a Solarman V5 data logger (a `solarman` bus, pv_collector.solarman).

Each answering unit is identified (`identify_unit`): first SunSpec (the marker "SunS" at 40000, 50000 or
0, then its model chain, through `sunspec.scan`), then every profile's `identify` probes (docs/profiles.md),
ranked by how many matched. The result (`BusFinding.to_yaml`) is a `buses:` entry in the format of
docs/configuration.md, with what is sure and what is guessed in comments.

Over TCP the bus waits the longest `connection.delay_after_connect` any profile documents after opening a
connection (a Huawei inverter answers nothing in its first second).

Bounded: only reads (FC3/FC4) are sent, every one through a `Bus` (its lock, timeouts, no retries); the
scan's timeout is short (`scan_timeout`, from the line speed); cancelling the task (Ctrl-C) stops it after
the request on the wire, and what was found so far is kept in the `BusFinding` being filled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import yaml

from pv_collector import sunspec
from pv_collector.config import SOLARMAN_PORT, BusConfig, BusType, DeviceConfig
from pv_collector.decode import decode_reads, raw_value
from pv_collector.errors import (
    LoggerSerialMismatch,
    ModbusConnectionError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusTimeout,
    ProfileError,
)
from pv_collector.model import Connection, Function, IdentifyProbe, Point, Profile, RegisterReader
from pv_collector.planner import plan_reads
from pv_collector.profile import list_profiles, load_profile
from pv_collector.transport import Bus

_LOGGER = logging.getLogger(__name__)

TCP_PORTS = (502, 1502, 6607, 8899)
TCP_UNITS = (0, 1, 2, 3, 71, 100, 126, 247)
RTU_UNITS = tuple(range(1, 248))
QUICK_UNITS = (1, 2, 3)  # asked first at every serial setting, with the unit ids the profiles document
BAUDRATES = (9600, 19200, 4800, 2400, 38400, 57600, 115200)
PARITIES: tuple[Literal["N", "E", "O"], ...] = ("N", "E", "O")
PRESENCE = (Function.HOLDING, 0, 1)  # the read that tells whether a unit is there
TURNAROUND = 0.05  # seconds a device may take to start its answer in a scan
CONNECT_TIMEOUT = 2.0  # seconds to open a TCP port
SOLARMAN_TIMEOUT = 2.0  # seconds a scan waits for a Solarman V5 logger, which relays each request on RS-485
SUNSPEC_PROFILE = "sunspec"
_NAME_RE = re.compile(r"[^a-z0-9_-]+")

type Outcome = Literal["match", "mismatch", "refused", "silent"]
type Progress = Callable[[str], None]


def scan_timeout(baudrate: int | None) -> float:
    """Seconds to wait for an answer in a scan: a one-register request and its answer on the line (11 bits
    per character, 3.5 characters of silence after each frame), plus `TURNAROUND`; TCP: 0.2 s."""
    if baudrate is None:
        return 0.2
    characters = 8 + 3.5 + 7 + 3.5
    return round(characters * 11 / baudrate + TURNAROUND, 3)


# ---------------------------------------------------------------------------------------------- results


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

    def to_yaml(self) -> str:
        """The `buses:` entry as YAML to paste (into the configuration file or the add-on's options, which
        have the same shape), with comments: how sure each device is, and the rest."""
        lines = [f"  # {self.endpoint()}: {len(self.units)} unit(s) answered"]
        lines.extend(f"  # note: {note}" for note in self.notes)
        if not self.complete:
            lines.append("  # the scan was interrupted: units after the last one found were not asked")
        identified = [unit for unit in self.units if unit.profile_id]
        for unit in self.units:
            if not unit.profile_id:
                lines.append(
                    f"  # unit {unit.unit_id} answers, but no profile matches: write one (docs/profiles.md)"
                )
        if not identified:
            return "\n".join(lines) + "\n"
        entry = self.bus_entry()
        lines.append(f"  - name: {_yaml_text(str(entry['name']))}")
        lines.append(f"    type: {entry['type']}")
        if self.type == "serial":
            lines.append(f"    serial_port: {_yaml_text(str(self.port))}")
            lines.append(f"    baudrate: {self.baudrate}      # sure: the units below answered at this speed")
            lines.append(f"    parity: {self.parity}")
            lines.append(f"    stopbits: {self.stopbits}")
        else:
            lines.append(f"    host: {_yaml_text(str(self.host))}")
            lines.append(f"    port: {self.port}")
        if self.type == "solarman":
            lines.append(f"    logger_serial: {self.logger_serial}")
        lines.append("    devices:")
        counts: dict[str, int] = {}
        for unit in identified:
            device = unit.device_entry(counts)
            certainty = "sure" if unit.sure else "GUESSED, check it"
            lines.append(f"      # unit {unit.unit_id}: {certainty}: {unit.reason()}")
            described = ", ".join(f"{key} {value}" for key, value in unit.info.items())
            if described:
                lines.append(f"      #   the device reports {described}")
            if unit.also_units:
                also = ", ".join(str(u) for u in unit.also_units)
                lines.append(f"      #   the same device also answers on unit(s) {also}")
            lines.append(f"      - id: {device['id']}")
            lines.append(f"        name: {_yaml_text(str(device['name']))}")
            lines.append(f"        unit_id: {device['unit_id']}")
            lines.append(f"        profile: {device['profile']}")
            lines.extend(f"        # hint: {hint}" for hint in _unit_hints(unit, self))
        return "\n".join(lines) + "\n"


def _yaml_text(text: str) -> str:
    """A YAML scalar for `text`: plain when YAML reads it back as the same text, else double-quoted."""
    plain = re.fullmatch(r"[A-Za-z0-9_./][A-Za-z0-9 _./()-]*", text) is not None and not text.endswith(" ")
    if plain and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _unit_hints(unit: UnitFinding, bus: BusFinding) -> list[str]:
    profile = unit.profile
    if profile is None:
        return []
    hints = connection_hints(profile, _as_bus_config(bus), None)
    if profile.connection.delay_after_connect or profile.connection.request_interval:
        connection = profile.connection
        hints.append(
            f"the profile asks for {connection.delay_after_connect:g} s after connecting and "
            f"{connection.request_interval:g} s between requests (applied by the collector)"
        )
    return hints


def _as_bus_config(bus: BusFinding) -> BusConfig:
    serial = bus.type == "serial"
    return BusConfig(
        name=bus.name,
        type=bus.type,
        serial_port=str(bus.port) if serial else None,
        port=502 if serial else int(bus.port),
        host=bus.host,
        baudrate=bus.baudrate or 9600,
        parity=bus.parity or "N",
        stopbits=bus.stopbits,
        logger_serial=bus.logger_serial,
    )


def to_yaml(findings: Sequence[BusFinding]) -> str:
    """Every scanned bus as one `buses:` list to paste into the configuration (docs/configuration.md) or
    the add-on's options (the same shape)."""
    header = "# proposed by pv-collector identify: check the GUESSED entries before you use them\nbuses:\n"
    return header + "".join(finding.to_yaml() for finding in findings)


def connection_hints(profile: Profile, bus: BusConfig, device: DeviceConfig | None) -> list[str]:
    """Where a bus or device differs from how the vendor documents reaching the device (the profile's
    `connection`): one line each, e.g. `the vendor documents 19200 baud (this bus: 9600)`."""
    connection = profile.connection
    hints: list[str] = []
    if bus.type == "serial":
        for name, documented, actual in (
            ("baud", connection.baudrate, bus.baudrate),
            ("parity", connection.parity, bus.parity),
            ("stop bits", connection.stopbits, bus.stopbits),
        ):
            if documented is not None and documented != actual:
                hints.append(f"the vendor documents {name} {documented} (this bus: {actual})")
    elif bus.type != "solarman" and connection.tcp_port is not None and connection.tcp_port != bus.port:
        hints.append(f"the vendor documents TCP port {connection.tcp_port} (this bus: {bus.port})")
    if device is not None and connection.unit_id is not None and connection.unit_id != device.unit_id:
        hints.append(f"the vendor's default unit id is {connection.unit_id} (this device: {device.unit_id})")
    return hints


# ---------------------------------------------------------------------------------------------- probes


def probe_outcome(probe: IdentifyProbe, registers: Sequence[int]) -> tuple[Outcome, str]:
    """Whether registers read for `probe` match it, and the raw value as text."""
    raw = raw_value(probe.as_point(), registers)
    if probe.match is not None:
        text = str(raw)
        return ("match" if re.search(probe.match, text) else "mismatch"), text
    if isinstance(raw, str):
        return "mismatch", raw
    if probe.values:
        return ("match" if raw in probe.values else "mismatch"), _number_text(raw)
    low, high = probe.range or (0.0, 0.0)
    return ("match" if low <= raw <= high else "mismatch"), _number_text(raw)


def _number_text(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class _Reads:
    """The reads of one unit, each asked once however many probes need it."""

    def __init__(self, reader: RegisterReader) -> None:
        self.reader = reader
        self.answers: dict[tuple[Function, int, int], list[int] | ModbusError] = {}
        self.answered = False  # some read returned registers or a Modbus exception

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        key = (function, address, count)
        if key not in self.answers:
            try:
                self.answers[key] = await self.reader.read(function, address, count)
                self.answered = True
            except ModbusExceptionResponse as err:
                self.answers[key] = err
                self.answered = True
            except ModbusTimeout as err:
                self.answers[key] = err
            except ModbusConnectionError:
                raise
            except ModbusError as err:  # an answer that was no valid reply: treated as none
                self.answers[key] = err
        answer = self.answers[key]
        if isinstance(answer, ModbusError):
            raise answer
        return answer


async def _try_probe(reads: _Reads, probe: IdentifyProbe) -> ProbeResult:
    try:
        registers = await reads.read(probe.function, probe.address, probe.words)
    except ModbusExceptionResponse as err:
        return ProbeResult(probe, "refused", f"exception {err.code}")
    except ModbusConnectionError:
        raise
    except ModbusError:
        return ProbeResult(probe, "silent")
    outcome, value = probe_outcome(probe, registers)
    return ProbeResult(probe, outcome, value)


def _rank(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Complete matches first, then by probes matched, fewest mismatches, profile id."""

    def key(candidate: Candidate) -> tuple[bool, int, int, str]:
        mismatches = sum(1 for result in candidate.results if result.outcome == "mismatch")
        return (not candidate.complete, -candidate.matched, mismatches, candidate.profile.id)

    return sorted((c for c in candidates if c.matched), key=key)


async def _info(reads: _Reads, points: Sequence[Point]) -> dict[str, str]:
    """Manufacturer, model, serial, firmware from the device's info points (unreadable ones left out)."""
    info_points = [point for point in points if point.info is not None and not point.computed]
    found: dict[str, str] = {}
    for block in plan_reads(info_points, max_gap=0):
        try:
            registers = await reads.read(block.function, block.address, block.count)
        except ModbusConnectionError:
            raise
        except ModbusError:
            continue
        values = decode_reads([(block, registers)])
        for point in block.points:
            value = values.get(point.key)
            if point.info is not None and isinstance(value, str) and value:
                found.setdefault(point.info, value[:64])
    return found


def shipped_and_own_profiles(extra_dirs: Sequence[Path] = ()) -> list[Profile]:
    """Every profile that can be loaded (a broken profile of the user's is logged and left out)."""
    profiles: list[Profile] = []
    for profile_id in list_profiles(extra_dirs):
        try:
            profiles.append(load_profile(profile_id, extra_dirs))
        except ProfileError as err:
            _LOGGER.warning("profile left out of identify", extra={"profile": profile_id, "error": str(err)})
    return profiles


async def _sunspec(
    reads: _Reads, profile: Profile, extra_dirs: Sequence[Path]
) -> sunspec.SunSpecDevice | None:
    """The SunSpec map, if "SunS" is at one of the usual bases (each asked; silence is no answer)."""
    for base in sunspec.BASE_ADDRESSES:
        try:
            marker = await reads.read(Function.HOLDING, base, len(sunspec.SUNS_MARKER))
        except ModbusConnectionError:
            raise
        except ModbusError:
            continue
        if tuple(marker) != sunspec.SUNS_MARKER:
            continue
        try:
            return await sunspec.scan(reads, replace(profile, sunspec_base=base), extra_dirs)
        except ModbusConnectionError:
            raise
        except (ModbusError, ProfileError):
            return None
    return None


async def identify_unit(
    reader: RegisterReader,
    unit_id: int,
    profiles: Sequence[Profile],
    *,
    extra_dirs: Sequence[Path] = (),
) -> UnitFinding:
    """Identify the device answering as `unit_id` behind `reader` (reads only).

    SunSpec first (marker at 40000, 50000, 0; its model chain and common model), then every profile's
    `identify` probes. Raises `ModbusTimeout` when the unit answered no read at all, and what the reader
    raises for a lost connection (`ModbusConnectionError`).
    """
    reads = _Reads(reader)
    finding = UnitFinding(unit_id=unit_id)
    sunspec_profile = next((p for p in profiles if p.id == SUNSPEC_PROFILE), None)
    if sunspec_profile is not None:
        finding.sunspec = await _sunspec(reads, sunspec_profile, extra_dirs)
    candidates = []
    for profile in profiles:
        if profile.identify:
            results = [await _try_probe(reads, probe) for probe in profile.identify]
            candidates.append(Candidate(profile, tuple(results)))
    if not reads.answered:
        raise ModbusTimeout(f"unit {unit_id} answered no read")
    finding.candidates = _rank(candidates)
    if finding.sunspec is not None:
        finding.info = await _info(reads, finding.sunspec.points)
    elif finding.profile is not None:
        finding.info = await _info(reads, finding.profile.points)
    finding.signature = (
        finding.profile_id,
        tuple(sorted(finding.info.items())),
        tuple(model.id for model in finding.sunspec.models) if finding.sunspec else (),
        tuple(sorted((k, repr(v)) for k, v in reads.answers.items() if not isinstance(v, ModbusTimeout))),
    )
    return finding


async def unit_is_there(bus: Bus, unit_id: int) -> bool:
    """Whether `unit_id` answers the presence read (registers or an exception; a gateway's "no answer from
    the target" counts as absent). Raises `ModbusConnectionError` when the bus cannot be reached."""
    function, address, count = PRESENCE
    try:
        await bus.read(unit_id, function, address, count, retries=0)
    except ModbusExceptionResponse:
        return True
    except ModbusConnectionError:
        raise
    except ModbusError:
        return False
    return True


# ---------------------------------------------------------------------------------------------- the page


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitReport:
    """`identify` at one unit id, for the collector page: the proposed `devices:` entry, the same as YAML
    text to copy, and what was found (strings)."""

    device: dict[str, object]
    yaml: str
    found: dict[str, str]
    finding: UnitFinding


async def identify_on_bus(bus: Bus, unit_id: int, *, profile_dirs: Sequence[Path] = ()) -> UnitReport:
    """Identify one unit id on a running collector's bus (its lock and timeouts apply; reads only).

    Raises `ModbusError` (`ModbusTimeout`) when the unit does not answer and `ProfileError` when it
    answers but no profile fits.
    """
    profiles = shipped_and_own_profiles(profile_dirs)
    finding = await identify_unit(bus.reader(unit_id), unit_id, profiles, extra_dirs=profile_dirs)
    if finding.profile_id is None:
        raise ProfileError(f"unit {unit_id} answers, but no profile's identify probes match")
    certainty = "sure" if finding.sure else "GUESSED, check it"
    device = finding.device_entry()
    lines = [
        f"# unit {unit_id}: {certainty}: {finding.reason()}",
        f"- id: {device['id']}",
        f"  name: {_yaml_text(str(device['name']))}",
        f"  unit_id: {unit_id}",
        f"  profile: {device['profile']}",
    ]
    return UnitReport(device=device, yaml="\n".join(lines) + "\n", found=finding.found(), finding=finding)


# ---------------------------------------------------------------------------------------------- scans


@dataclass(frozen=True, slots=True, kw_only=True)
class SerialSetting:
    """One line setting to try."""

    baudrate: int
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1

    def describe(self) -> str:
        """`9600 8N1`."""
        return f"{self.baudrate} 8{self.parity}{self.stopbits}"


def usual_settings(profiles: Sequence[Profile]) -> list[SerialSetting]:
    """Line settings to try, most likely first: those the profiles document (most often first), then
    every usual speed with no parity, then with even and odd parity."""
    documented: dict[SerialSetting, int] = {}
    for profile in profiles:
        connection = profile.connection
        if connection.baudrate is not None:
            setting = SerialSetting(
                baudrate=connection.baudrate,
                parity=connection.parity or "N",
                stopbits=connection.stopbits or 1,
            )
            documented[setting] = documented.get(setting, 0) + 1
    ordered = sorted(documented, key=lambda s: (-documented[s], s.baudrate, s.parity))
    for parity in PARITIES:
        ordered.extend(SerialSetting(baudrate=baudrate, parity=parity) for baudrate in BAUDRATES)
    return list(dict.fromkeys(ordered))


def tcp_units(profiles: Sequence[Profile]) -> list[int]:
    """The unit ids asked over TCP: `TCP_UNITS` and those the profiles document."""
    documented = {p.connection.unit_id for p in profiles if p.connection.unit_id is not None}
    return sorted({*TCP_UNITS, *documented})


def quick_units(profiles: Sequence[Profile], units: Sequence[int]) -> list[int]:
    """The units asked at every setting before a full scan: 1, 2, 3 and those the profiles document."""
    documented = [p.connection.unit_id for p in profiles if p.connection.unit_id is not None]
    wanted = [*QUICK_UNITS, *sorted(set(documented))]
    return [unit for unit in dict.fromkeys(wanted) if unit in units]


async def _identify_units(
    bus: Bus,
    units: Iterable[int],
    profiles: Sequence[Profile],
    finding: BusFinding,
    *,
    extra_dirs: Sequence[Path],
    progress: Progress,
) -> None:
    """Ask each unit whether it is there and identify those that are; results go into `finding` as found.
    A unit already asked on this bus is not asked again."""
    for unit_id in units:
        if unit_id in finding.asked:
            continue
        finding.asked.add(unit_id)
        if not await unit_is_there(bus, unit_id):
            continue
        try:
            unit = await identify_unit(bus.reader(unit_id), unit_id, profiles, extra_dirs=extra_dirs)
        except ModbusTimeout:
            unit = UnitFinding(unit_id=unit_id)
        same = next((u for u in finding.units if u.signature and u.signature == unit.signature), None)
        if same is not None:
            same.also_units.append(unit_id)
            progress(f"unit {unit_id}: the same device as unit {same.unit_id}")
            continue
        finding.units.append(unit)
        certainty = "sure" if unit.sure else "guessed"
        progress(f"unit {unit_id}: {unit.profile_id or 'no profile matches'} ({certainty}: {unit.reason()})")


def _serial_bus(port: str, setting: SerialSetting, timeout: float) -> BusConfig:
    return BusConfig(
        name="identify",
        type="serial",
        serial_port=port,
        baudrate=setting.baudrate,
        parity=setting.parity,
        stopbits=setting.stopbits,
        timeout=timeout,
        retries=0,
    )


async def scan_serial(
    port: str,
    *,
    settings: Sequence[SerialSetting] | None = None,
    units: Sequence[int] = RTU_UNITS,
    reply_timeout: float | None = None,
    all_settings: bool = False,
    extra_dirs: Sequence[Path] = (),
    progress: Progress = lambda _line: None,
    findings: list[BusFinding] | None = None,
    bus_factory: Callable[[BusConfig], Bus] | None = None,
) -> list[BusFinding]:
    """Scan a serial line: each setting (default `usual_settings`) is tried on the quick units; the first
    that answers (every one, with `all_settings`) is scanned over `units`.

    Findings are appended to `findings` (given, or a new list) as they are made, so an interrupted scan
    leaves what it found there (`complete` False). Raises `ModbusConnectionError` when the port cannot be
    opened.
    """
    profiles = shipped_and_own_profiles(extra_dirs)
    found = findings if findings is not None else []
    tried = list(settings) if settings else usual_settings(profiles)
    quick = quick_units(profiles, units) or list(units)[:3]
    answered = 0
    for index, setting in enumerate(tried):
        current = BusFinding(
            type="serial",
            port=port,
            baudrate=setting.baudrate,
            parity=setting.parity,
            stopbits=setting.stopbits,
        )
        found.append(current)
        wait = reply_timeout or scan_timeout(setting.baudrate)
        bus = _make_bus(_serial_bus(port, setting, wait), bus_factory)
        try:
            progress(f"{port} at {setting.describe()}: asking units {_units_text(quick)}")
            await _identify_units(bus, quick, profiles, current, extra_dirs=extra_dirs, progress=progress)
            if current.units:
                progress(f"{port} at {setting.describe()}: devices answer; asking units {_units_text(units)}")
                await _identify_units(bus, units, profiles, current, extra_dirs=extra_dirs, progress=progress)
        finally:
            await bus.close()
        current.complete = True
        if not current.units:
            found.remove(current)
            continue
        answered += 1
        if not all_settings:
            if index < len(tried) - 1:
                current.notes.append("other line settings were not tried (--all-settings tries them)")
            break
    if not answered:
        settings_text = ", ".join(s.describe() for s in tried)
        found.append(
            BusFinding(
                type="serial",
                port=port,
                complete=True,
                notes=[
                    f"no unit {_units_text(quick)} answered at {settings_text}; check the wiring (A/B), "
                    "the termination and the devices' power"
                ],
            )
        )
    return found


def solarman_bus(
    host: str, logger_serial: int | None, timeout: float, port: int = SOLARMAN_PORT
) -> BusConfig | None:
    """The `solarman` bus of a Solarman V5 data logger on `host`, or None without the logger's serial number
    (every V5 frame carries it; a logger answers no request with another)."""
    if logger_serial is None:
        return None
    return BusConfig(
        name="identify",
        type="solarman",
        host=host,
        port=port,
        logger_serial=logger_serial,
        timeout=timeout,
        retries=0,
    )


async def _port_open(host: str, port: int) -> bool:
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _scan_port_with(
    bus: Bus,
    asked: Sequence[int],
    profiles: Sequence[Profile],
    finding: BusFinding,
    *,
    extra_dirs: Sequence[Path],
    progress: Progress,
) -> bool:
    """Ask `asked` through `bus` (one framing of one TCP port) into `finding`, and close the bus; True when
    the port's scan is over: units answered, or the Solarman logger refused its serial number (noted)."""
    try:
        await _identify_units(bus, asked, profiles, finding, extra_dirs=extra_dirs, progress=progress)
    except LoggerSerialMismatch as err:
        finding.notes.append(
            f"the logger answers with serial number {err.answered}, not {err.configured}: its serial "
            "number is on the logger stick's label and its web page (not the inverter's)"
        )
        progress(f"{finding.host}:{finding.port}: {err}")
        finding.complete = True
        return True
    finally:
        await bus.close()
    finding.complete = True
    return bool(finding.units)


async def scan_tcp(
    host: str,
    *,
    ports: Sequence[int] | None = None,
    units: Sequence[int] | None = None,
    reply_timeout: float | None = None,
    logger_serial: int | None = None,
    solarman_port: int | None = None,
    extra_dirs: Sequence[Path] = (),
    progress: Progress = lambda _line: None,
    findings: list[BusFinding] | None = None,
    bus_factory: Callable[[BusConfig], Bus] | None = None,
) -> list[BusFinding]:
    """Scan the Modbus ports of `host` (default: `TCP_PORTS` and the ports the profiles document): every
    port that accepts a connection is asked for `units` (default: `TCP_UNITS` and the unit ids the
    profiles document) with Modbus TCP framing, else RTU framing (a transparent RS-485 gateway). Port
    `solarman_port` (default `SOLARMAN_PORT`, 8899) is a Solarman V5 data logger, scanned through
    `solarman_bus` when `logger_serial` is given (units 1..247: the logger relays to an RS-485 line).
    Findings are appended to `findings` (given, or a new list) as made. Raises `ModbusConnectionError` when
    an open port cannot be used."""
    profiles = shipped_and_own_profiles(extra_dirs)
    if ports is None:
        documented_ports = {p.connection.tcp_port for p in profiles if p.connection.tcp_port is not None}
        ports = list(dict.fromkeys([*TCP_PORTS, *sorted(documented_ports)]))
    if units is None:
        units = tcp_units(profiles)
    delay = max((p.connection.delay_after_connect for p in profiles), default=0.0)
    found = findings if findings is not None else []
    wait = reply_timeout or scan_timeout(None)
    logger_port = SOLARMAN_PORT if solarman_port is None else solarman_port
    for port in ports:
        if not await _port_open(host, port):
            progress(f"{host}:{port}: closed")
            continue
        asked = units
        if port == logger_port:
            config = solarman_bus(host, logger_serial, reply_timeout or SOLARMAN_TIMEOUT, port)
            if config is None:
                note = (
                    f"port {port} is open: probably a Solarman V5 data logger (Deye, Sofar, Solis); give its "
                    "serial number (on its label) with --logger-serial N to scan it"
                )
                empty = BusFinding(type="solarman", port=port, host=host, notes=[note], complete=True)
                found.append(empty)
                progress(f"{host}:{port}: {note}")
                continue
            configs = [config]
            asked = [unit for unit in units if 1 <= unit <= 247]  # unit 0 is a broadcast on RS-485
        else:
            configs = [
                BusConfig(name="identify", type=kind, host=host, port=port, timeout=wait, retries=0)
                for kind in ("tcp", "rtu_over_tcp")
            ]
        for config in configs:
            finding = BusFinding(type=config.type, port=port, host=host, logger_serial=config.logger_serial)
            found.append(finding)
            bus = _make_bus(config, bus_factory)
            for unit_id in asked:  # devices that answer nothing right after a connection is opened (Huawei)
                bus.configure_unit(unit_id, Connection(delay_after_connect=delay))
            progress(f"{host}:{port} ({config.type}): asking units {_units_text(asked)}")
            if await _scan_port_with(bus, asked, profiles, finding, extra_dirs=extra_dirs, progress=progress):
                break
            found.remove(finding)
        else:
            found.append(
                BusFinding(
                    type=configs[0].type if port == logger_port else "tcp",
                    port=port,
                    host=host,
                    logger_serial=configs[0].logger_serial,
                    notes=[f"port {port} accepts connections, but no unit {_units_text(asked)} answered"],
                    complete=True,
                )
            )
    return found


def _make_bus(config: BusConfig, factory: Callable[[BusConfig], Bus] | None) -> Bus:
    if factory is not None:
        return factory(config)
    return Bus(config)


def _units_text(units: Sequence[int]) -> str:
    """`1-247`, `0, 1, 2, 3, 71` for a unit list."""
    ordered = sorted(set(units))
    if len(ordered) > 3 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(str(unit) for unit in ordered)


def parse_units(text: str) -> list[int]:
    """`1-247`, `1,2,71` or a mix (`1-3,100`); ValueError naming the bad part."""
    units: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        first, separator, last = part.partition("-")
        try:
            low, high = int(first, 0), int(last, 0) if separator else int(first, 0)
        except ValueError:
            raise ValueError(f"{part!r} is not a unit id or a range like 1-247") from None
        if not 0 <= low <= high <= 255:
            raise ValueError(f"{part!r}: unit ids are 0..255, the first not above the last")
        units.extend(range(low, high + 1))
    return list(dict.fromkeys(units))
