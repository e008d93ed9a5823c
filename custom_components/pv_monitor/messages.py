"""The MQTT contract's messages (docs/mqtt-contract.md) as the integration holds them: its constants, value
types and frozen dataclasses (announcement, devices, points, state, event, stats). `contract.py` parses
payloads into these; nothing here touches MQTT or Home Assistant."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

CONTRACT_VERSION: Final = 1
MAX_PAYLOAD_BYTES: Final = 256 * 1024  # a state, event, statistics or status message
# The announcement describes every point of every device (about 120 bytes a point, 2,000 points at 256 KiB
# with their `entity`): it may be larger; Mosquitto's own limit is 256 MB.
MAX_ANNOUNCEMENT_BYTES: Final = 4 * 1024 * 1024

ID_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEY_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
NAME_PATTERN: Final = re.compile(r"^[a-z0-9_]{1,64}$")

type Value = float | int | str | bool
type PointKind = Literal["number", "enum", "text", "bitfield", "bool", "action"]
type EntityPlatform = Literal["sensor", "binary_sensor", "number", "select", "switch", "button"]
type Availability = Literal["online", "offline", "asleep"]

POINT_KINDS: Final = frozenset({"number", "enum", "text", "bitfield", "bool", "action"})
DEVICE_KINDS: Final = frozenset({"inverter", "meter", "battery", "environment", "other"})
STATE_CLASSES: Final = frozenset({"measurement", "total", "total_increasing"})
CATEGORIES: Final = frozenset({"diagnostic", "config"})
# The kinds of point the entities of each platform can show; the platforms that send commands need a
# writable point.
PLATFORM_KINDS: Final[dict[EntityPlatform, frozenset[str]]] = {
    "sensor": frozenset({"number", "enum", "text", "bitfield", "bool"}),
    "binary_sensor": frozenset({"bool"}),
    "number": frozenset({"number"}),
    "select": frozenset({"enum"}),
    "switch": frozenset({"bool"}),
    "button": frozenset({"action"}),
}
COMMAND_PLATFORMS: Final = frozenset({"number", "select", "switch", "button"})
ROLES: Final = frozenset(
    {
        "pv_power", "pv_energy", "grid_power", "grid_import_energy", "grid_export_energy", "grid_voltage",
        "grid_frequency", "battery_power", "battery_soc", "battery_charge_energy",
        "battery_discharge_energy", "irradiance", "module_temperature", "ambient_temperature", "fault",
        "power_limit", "operating_state",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class WritableDef:
    """What may be written to a point."""

    min: float | None = None
    max: float | None = None
    step: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityDef:
    """The Home Assistant entity of a point: what the collector resolved (contract `point.entity`), or for
    an older collector what `contract_points.entity_of_collector_before_0_2` reads from the point."""

    platform: EntityPlatform
    device_class: str | None = None
    state_class: str | None = None
    unit: str | None = None  # the unit shown (the announced display unit, else the point's)
    precision: int | None = None  # suggested display precision (the announced one, else the point's)
    factor: float | None = None  # the value shown is the reading times this


@dataclass(frozen=True, slots=True, kw_only=True)
class PointDef:
    """One announced point of a device."""

    key: str
    name: str
    kind: PointKind
    entity: EntityDef
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    precision: int | None = None
    category: Literal["diagnostic", "config"] | None = None
    role: str | None = None
    options: tuple[str, ...] = ()
    bits: tuple[tuple[int, str], ...] = ()
    writable: WritableDef | None = None
    advanced: bool = False  # most users do not need it: its entity is created disabled

    @property
    def is_counter(self) -> bool:
        """True for energy-like counters (they keep their last value while a device sleeps)."""
        return self.state_class in ("total", "total_increasing")

    def accepts(self, value: object) -> bool:
        """True when `value` is a valid state value for this point."""
        match self.kind:
            case "number":
                return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            case "enum":
                return isinstance(value, str) and value in self.options
            case "text":
                return isinstance(value, str)
            case "bitfield":
                return isinstance(value, int) and not isinstance(value, bool) and value >= 0
            case "bool":
                return isinstance(value, bool)
            case _:  # action points have no state
                return False

    def active_bits(self, value: int) -> list[str]:
        """Names of the set bits of a bitfield value, in bit order (unnamed bits as `bit_<n>`)."""
        names = dict(self.bits)
        return [names.get(bit, f"bit_{bit}") for bit in range(value.bit_length()) if value >> bit & 1]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceDef:
    """One announced Modbus device."""

    id: str
    name: str
    kind: str
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    profile: str | None = None
    poll_interval: float | None = None
    points: tuple[PointDef, ...] = ()

    def point(self, key: str) -> PointDef | None:
        """The point with this key, if announced."""
        for point in self.points:
            if point.key == key:
                return point
        return None

    def points_with_role(self, role: str) -> list[PointDef]:
        """Announced points carrying a role."""
        return [point for point in self.points if point.role == role]


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectorInfo:
    """Who announced."""

    id: str
    name: str
    version: str
    instance: str | None = None
    ha_discovery: bool = False  # also publishes standard Home Assistant MQTT discovery


@dataclass(frozen=True, slots=True, kw_only=True)
class Announcement:
    """A parsed announcement. `problems` lists the parts that were left out and why."""

    contract: int
    collector: CollectorInfo
    devices: tuple[DeviceDef, ...] = ()
    problems: tuple[str, ...] = ()
    incomplete: frozenset[str] = frozenset()  # ids of devices announced with parts left out
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def supported(self) -> bool:
        """True when the integration understands this contract version."""
        return self.contract == CONTRACT_VERSION

    def device(self, device_id: str) -> DeviceDef | None:
        """The device with this id, if announced."""
        for device in self.devices:
            if device.id == device_id:
                return device
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class StateMessage:
    """A device state message. `values` holds the raw JSON values; the coordinator checks them per point."""

    ts: float
    seq: int
    values: dict[str, Value]
    inferred: frozenset[str] = frozenset()
    buffered: bool = False
    reset: frozenset[str] = frozenset()  # counters that really started again (a lower value is no glitch)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventMessage:
    """A device event (`command_result` or `point_rejected`)."""

    ts: float
    type: str
    point: str
    ok: bool | None = None
    value: Value | None = None
    id: str | None = None
    error: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats:
    """Collector statistics; every field is optional."""

    ts: float | None = None
    uptime: float | None = None
    cycle_seconds: float | None = None
    requests_per_cycle: float | None = None
    messages_published: int | None = None
    errors: dict[str, int] | None = None
    rejected_readings: int | None = None
    queue_length: int | None = None
    queue_dropped: int | None = None
    quarantined: dict[str, tuple[str, ...]] | None = None  # device id -> point keys the device refuses

    @property
    def quarantined_total(self) -> int | None:
        """Points the collector quarantined because their device refuses their registers."""
        return None if self.quarantined is None else sum(len(keys) for keys in self.quarantined.values())

    @property
    def errors_total(self) -> int | None:
        """All errors counted since the collector started (None when not reported)."""
        return None if self.errors is None else sum(self.errors.values())
