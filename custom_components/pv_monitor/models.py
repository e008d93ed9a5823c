"""What an entry knows at run time: the collector's state, its devices, and the parts of the entry.

`PvMonitorData` is the entry's `runtime_data` (as peblar's `PeblarRuntimeData`): the coordinator that
follows the collector over MQTT, the alert engine, the health tracker and the command sender, all reading
one `CollectorState` that only the coordinator writes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

from .alerts import irradiance_source
from .catalogue import has_health
from .messages import Announcement, Availability, DeviceDef, PointDef, StateMessage, Stats, Value
from .options import EntryOptions
from .topics import Topics

if TYPE_CHECKING:
    from .alert_engine import AlertEngine
    from .commands import CommandSender
    from .coordinator import PvMonitorCoordinator
    from .health_tracker import HealthTracker

_LOGGER = logging.getLogger(__package__)

type PvMonitorConfigEntry = ConfigEntry[PvMonitorData]


def _is_number(value: Value | None) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(slots=True)
class DeviceRuntime:
    """What is known about one announced device: its definition, availability and latest values."""

    definition: DeviceDef
    availability: Availability | None = None
    values: dict[str, Value] = field(default_factory=dict)
    inferred: frozenset[str] = frozenset()  # keys whose latest value the collector inferred (asleep)
    last_seq: int = 0
    last_ts: float | None = None
    # total_increasing points: the value shown before any reading (restored after a restart), the keys
    # the collector marked as reset since, and how many lower values not marked were not taken
    baselines: dict[str, float] = field(default_factory=dict)
    reset_seen: set[str] = field(default_factory=set)
    guarded: dict[str, int] = field(default_factory=dict)
    # bool point -> the point whose command switched it on (a power limit enables its switch)
    switched_on_by: dict[str, str] = field(default_factory=dict)

    def role_number(self, role: str) -> tuple[float, str | None] | None:
        """The first numeric value of a point with this role, and its unit."""
        for point in self.definition.points_with_role(role):
            value = self.values.get(point.key)
            if point.kind == "number" and _is_number(value):
                assert isinstance(value, int | float)
                return float(value), point.unit
        return None

    def _counter_fell(self, point: PointDef, value: Value, *, reset: bool) -> bool:
        """The last-resort guard of a `total_increasing` counter: a value lower than the last one (or
        than the one restored after a restart) that the collector did not mark as a reset (contract:
        state `reset`) is a glitch, never a new meter cycle."""
        if point.state_class != "total_increasing" or reset or not _is_number(value):
            return False
        last = self.values.get(point.key, self.baselines.get(point.key))
        return _is_number(last) and float(value) < float(last)  # type: ignore[arg-type]

    def restore_counter(self, key: str, restored: float) -> None:
        """A counter's sensor came back with the value it showed before Home Assistant restarted: a reading
        must continue from it. One taken meanwhile that is lower and was not marked as a reset (the retained
        state found at start may be a glitch) gives way to it."""
        if (value := self.values.get(key)) is None:
            self.baselines.setdefault(key, restored)
        elif _is_number(value) and float(value) < restored and key not in self.reset_seen:
            self.values[key] = restored
            self.guarded[key] = self.guarded.get(key, 0) + 1

    def take(self, state: StateMessage, source: str) -> frozenset[str] | None:
        """Take a state message's values: the keys accepted, None when the message is ignored.

        Ignored: a time that is not finite, and a sequence number already seen unless the message is
        newer (the collector restarted its numbering). Values that do not fit their point are left out
        and logged; unknown keys are ignored (a newer collector may send more). `source` names the
        topic in log lines.
        """
        if not math.isfinite(state.ts):
            _LOGGER.warning("Ignoring state on %s: its time %s is not a time", source, state.ts)
            return None
        if state.seq <= self.last_seq:
            if self.last_ts is None or state.ts <= self.last_ts:
                _LOGGER.debug("Dropping state %s on %s: already seen %s", state.seq, source, self.last_seq)
                return None
            # Newer readings with a lower sequence number: the numbering restarted (or a corrupt message
            # had claimed a huge one). Follow the collector rather than drop its readings forever.
            _LOGGER.info("Sequence numbers on %s restarted at %s", source, state.seq)
        accepted: dict[str, Value] = {}
        wrong: list[str] = []
        for key, value in state.values.items():
            point = self.definition.point(key)
            if point is None:
                continue
            if not point.accepts(value):
                wrong.append(f"{key}={value!r}")
            elif self._counter_fell(point, value, reset=key in state.reset):
                self.guarded[key] = self.guarded.get(key, 0) + 1
                if self.guarded[key] == 1:
                    _LOGGER.warning(
                        "Keeping %s at %s on %s: %s is lower and not marked as a reset (logged once)",
                        key,
                        self.values.get(key, self.baselines.get(key)),
                        source,
                        value,
                    )
            else:
                accepted[key] = value
                if key in state.reset:
                    self.reset_seen.add(key)
        if wrong:
            _LOGGER.warning(
                "Ignoring values on %s that do not fit their points: %s", source, ", ".join(wrong)
            )
        self.values.update(accepted)
        self.inferred = state.inferred & accepted.keys()
        self.last_seq = state.seq
        self.last_ts = state.ts
        return frozenset(accepted)


@dataclass(slots=True)
class CollectorState:
    """What the collector told: its announcement, status, statistics and devices.

    Written only by the coordinator; everything else reads it.
    """

    topics: Topics
    title: str  # the entry's title: the collector's name until it announces itself
    announcement: Announcement | None = None
    unsupported_contract: int | None = None  # the contract version of a collector we cannot follow
    online: bool | None = None  # the collector's status (None: not received yet)
    devices: dict[str, DeviceRuntime] = field(default_factory=dict)
    stats: Stats | None = None

    @property
    def collector_id(self) -> str:
        """The collector this entry follows."""
        return self.topics.collector_id

    @property
    def collector_name(self) -> str:
        """The collector's announced name (the entry title until announced)."""
        return self.announcement.collector.name if self.announcement else self.title

    @property
    def usable(self) -> bool:
        """False until announced and while the collector speaks a contract version we do not support."""
        return self.unsupported_contract is None and self.announcement is not None

    def name_of(self, device_id: str | None) -> str:
        """The announced name of a device (None: of the collector)."""
        if device_id is None or (runtime := self.devices.get(device_id)) is None:
            return self.collector_name
        return runtime.definition.name

    def device_available(self, device_id: str) -> bool:
        """The collector is online and the device is not offline."""
        runtime = self.devices.get(device_id)
        return (
            self.usable and self.online is True and runtime is not None and runtime.availability != "offline"
        )

    def connection(self, device_id: str) -> Availability | None:
        """The device's connection as a user should see it (collector offline -> offline)."""
        runtime = self.devices.get(device_id)
        if runtime is None or self.online is None:
            return None
        if not self.online:
            return "offline"
        return runtime.availability

    def role_number(self, device_id: str, role: str) -> tuple[float, str | None] | None:
        """The first numeric value of a device's point with this role, and its unit."""
        runtime = self.devices.get(device_id)
        return None if runtime is None else runtime.role_number(role)

    def pv_power(self, device_id: str) -> float | None:
        """An inverter's current power (W); 0 while it sleeps, None while unknown or offline."""
        runtime = self.devices.get(device_id)
        if runtime is None or not self.device_available(device_id):
            return None
        if runtime.availability == "asleep":
            return 0.0
        reading = runtime.role_number("pv_power")
        return reading[0] if reading else None

    def inverters(self) -> list[str]:
        """The devices with health figures (a `pv_power` point)."""
        return [did for did, runtime in self.devices.items() if has_health(runtime.definition)]

    def irradiance(self) -> float | None:
        """The measured irradiance of the collector's irradiance point (W/m²), if any."""
        if self.announcement is None or (source := irradiance_source(self.announcement)) is None:
            return None
        runtime = self.devices.get(source[0].id)
        value = runtime.values.get(source[1].key) if runtime else None
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    def is_irradiance_source(self, device_id: str) -> bool:
        """True for the device whose irradiance every inverter's expectation uses."""
        if self.announcement is None:
            return False
        source = irradiance_source(self.announcement)
        return source is not None and source[0].id == device_id


@dataclass(slots=True, kw_only=True)
class PvMonitorData:
    """The runtime data of one entry."""

    state: CollectorState
    options: EntryOptions
    coordinator: PvMonitorCoordinator
    alerts: AlertEngine
    health: HealthTracker
    commands: CommandSender
