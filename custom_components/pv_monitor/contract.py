"""The MQTT contract (docs/mqtt-contract.md) as seen by the integration: topics and payload parsing.

Pure functions and dataclasses, no entity code and no Home Assistant state. Every `parse_*` function
accepts raw MQTT payloads and either returns a typed value or raises `InvalidPayload` with one message
naming what is wrong; the caller logs that message once and carries on. Unknown keys are ignored, as
the contract asks of consumers. Parts of an announcement that are broken (one device, one point) are
left out and listed in `Announcement.problems`, so one bad point does not hide a whole collector.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeIs

CONTRACT_VERSION: Final = 1
MAX_PAYLOAD_BYTES: Final = 256 * 1024

ID_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEY_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
NAME_PATTERN: Final = re.compile(r"^[a-z0-9_]{1,64}$")

type Value = float | int | str | bool
type PointKind = Literal["number", "enum", "text", "bitfield", "bool", "action"]
type Availability = Literal["online", "offline", "asleep"]

POINT_KINDS: Final = frozenset({"number", "enum", "text", "bitfield", "bool", "action"})
DEVICE_KINDS: Final = frozenset({"inverter", "meter", "battery", "environment", "other"})
STATE_CLASSES: Final = frozenset({"measurement", "total", "total_increasing"})
CATEGORIES: Final = frozenset({"diagnostic", "config"})
ROLES: Final = frozenset(
    {
        "pv_power", "pv_energy", "grid_power", "grid_import_energy", "grid_export_energy", "grid_voltage",
        "grid_frequency", "battery_power", "battery_soc", "battery_charge_energy",
        "battery_discharge_energy", "irradiance", "module_temperature", "ambient_temperature", "fault",
        "power_limit", "operating_state",
    }
)  # fmt: skip


class InvalidPayload(ValueError):
    """A payload does not follow the contract; the message names what is wrong."""


# ---------------------------------------------------------------------------------------------- topics


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one collector under a base topic."""

    base: str
    collector_id: str

    @property
    def root(self) -> str:
        """`<base>/<cid>`."""
        return f"{self.base}/{self.collector_id}"

    @property
    def config(self) -> str:
        """Retained announcement."""
        return f"{self.root}/config"

    @property
    def status(self) -> str:
        """Retained collector status and Last Will."""
        return f"{self.root}/status"

    @property
    def stats(self) -> str:
        """Collector statistics."""
        return f"{self.root}/stats"

    @property
    def availability_wildcard(self) -> str:
        """Per-device availability of every device."""
        return f"{self.root}/+/availability"

    @property
    def state_wildcard(self) -> str:
        """State of every device."""
        return f"{self.root}/+/state"

    @property
    def event_wildcard(self) -> str:
        """Events of every device."""
        return f"{self.root}/+/event"

    def command(self, device_id: str, key: str) -> str:
        """Where a command for one point is written."""
        return f"{self.root}/{device_id}/set/{key}"

    def device_of(self, topic: str) -> str | None:
        """The device id of a `<root>/<did>/<leaf>` topic, None when the topic is not one."""
        prefix = f"{self.root}/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 2 or not ID_PATTERN.match(parts[0]):
            return None
        return parts[0]


def collector_id_from_config_topic(topic: str) -> tuple[str, str] | None:
    """Split `<base>/<cid>/config` into (base, cid); None when the topic is not an announcement topic."""
    base, sep, rest = topic.rpartition("/")
    if not sep or rest != "config":
        return None
    base, sep, collector_id = base.rpartition("/")
    if not sep or not base or not ID_PATTERN.match(collector_id):
        return None
    return base, collector_id


# ---------------------------------------------------------------------------------------------- models


@dataclass(frozen=True, slots=True, kw_only=True)
class WritableDef:
    """What may be written to a point."""

    min: float | None = None
    max: float | None = None
    step: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PointDef:
    """One announced point of a device."""

    key: str
    name: str
    kind: PointKind
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


# ---------------------------------------------------------------------------------------------- helpers


def _decode(payload: str | bytes | bytearray) -> str:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidPayload(f"payload of {len(payload)} bytes is larger than {MAX_PAYLOAD_BYTES} bytes")
    if isinstance(payload, bytes | bytearray):
        try:
            return bytes(payload).decode("utf-8")
        except UnicodeDecodeError as err:
            raise InvalidPayload(f"payload is not UTF-8: {err}") from err
    return payload


def load_json_object(payload: str | bytes | bytearray) -> dict[str, Any]:
    """Decode a JSON object payload (size-checked)."""
    text = _decode(payload)
    try:
        data = json.loads(text)
    except ValueError as err:
        raise InvalidPayload(f"payload is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise InvalidPayload(f"payload is a JSON {type(data).__name__}, expected an object")
    return data


def _is_point_kind(value: object) -> TypeIs[PointKind]:
    return isinstance(value, str) and value in POINT_KINDS


def _is_number(value: object) -> TypeIs[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _str(data: dict[str, Any], key: str, where: str, *, required: bool, max_len: int = 100) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidPayload(f"{where}: missing '{key}'")
        return None
    if not isinstance(value, str) or (required and not value) or len(value) > max_len:
        raise InvalidPayload(f"{where}.{key}: {value!r} is not a string of at most {max_len} characters")
    return value


def _number(data: dict[str, Any], key: str, where: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if not _is_number(value):
        raise InvalidPayload(f"{where}.{key}: {value!r} is not a number")
    return value


def _choice(data: dict[str, Any], key: str, where: str, allowed: frozenset[str]) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise InvalidPayload(f"{where}.{key}: {value!r} is not one of {', '.join(sorted(allowed))}")
    return value


# ---------------------------------------------------------------------------------------------- parsers


def parse_writable(data: object, kind: str, where: str) -> WritableDef:
    """Parse a point's `writable` object."""
    if not isinstance(data, dict):
        raise InvalidPayload(f"{where}.writable: {data!r} is not an object")
    writable = WritableDef(
        min=_number(data, "min", f"{where}.writable"),
        max=_number(data, "max", f"{where}.writable"),
        step=_number(data, "step", f"{where}.writable"),
    )
    if kind == "number":
        if writable.min is None or writable.max is None:
            raise InvalidPayload(f"{where}.writable: a writable number needs 'min' and 'max'")
        if writable.min > writable.max:
            raise InvalidPayload(f"{where}.writable: min {writable.min} is larger than max {writable.max}")
    if writable.step is not None and writable.step <= 0:
        raise InvalidPayload(f"{where}.writable.step: {writable.step} is not larger than 0")
    return writable


def parse_point(data: object, where: str) -> PointDef:
    """Parse one point of a device."""
    if not isinstance(data, dict):
        raise InvalidPayload(f"{where}: {data!r} is not an object")
    key = data.get("key")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidPayload(f"{where}.key: {key!r} does not match {KEY_PATTERN.pattern}")
    where = f"{where}({key})"
    name = _str(data, "name", where, required=True)
    kind = data.get("kind")
    if not _is_point_kind(kind):
        raise InvalidPayload(f"{where}.kind: {kind!r} is not one of {', '.join(sorted(POINT_KINDS))}")
    device_class = data.get("device_class")
    if device_class is not None and (not isinstance(device_class, str) or not device_class):
        raise InvalidPayload(f"{where}.device_class: {device_class!r} is not a device class name")
    precision = data.get("precision")
    if precision is not None and (
        not isinstance(precision, int) or isinstance(precision, bool) or not 0 <= precision <= 10
    ):
        raise InvalidPayload(f"{where}.precision: {precision!r} is not an integer 0..10")
    options: tuple[str, ...] = ()
    if kind == "enum":
        raw_options = data.get("options")
        if (
            not isinstance(raw_options, list)
            or not raw_options
            or not all(isinstance(o, str) and NAME_PATTERN.match(o) for o in raw_options)
        ):
            raise InvalidPayload(f"{where}.options: {raw_options!r} is not a list of lower snake case names")
        options = tuple(dict.fromkeys(raw_options))
    bits: tuple[tuple[int, str], ...] = ()
    if kind == "bitfield":
        raw_bits = data.get("bits")
        if not isinstance(raw_bits, dict) or not all(
            isinstance(b, str)
            and b.isdigit()
            and len(b) <= 2
            and isinstance(n, str)
            and NAME_PATTERN.match(n)
            for b, n in raw_bits.items()
        ):
            raise InvalidPayload(f"{where}.bits: {raw_bits!r} is not a map of bit numbers to names")
        bits = tuple(sorted((int(b), n) for b, n in raw_bits.items()))
    writable: WritableDef | None = None
    if "writable" in data:
        writable = parse_writable(data["writable"], kind, where)
    elif kind == "action":
        raise InvalidPayload(f"{where}: an action point must be writable")
    unit = _str(data, "unit", where, required=False, max_len=20)
    return PointDef(
        key=key,
        name=name or key,
        kind=kind,
        unit=unit or None,
        device_class=device_class,
        state_class=_choice(data, "state_class", where, STATE_CLASSES),
        precision=precision,
        category=_choice(data, "category", where, CATEGORIES),  # type: ignore[arg-type]
        role=_choice(data, "role", where, ROLES),
        options=options,
        bits=bits,
        writable=writable,
        advanced=data.get("advanced") is True,
    )


def parse_device(data: object, where: str, problems: list[str], incomplete: set[str]) -> DeviceDef:
    """Parse one device; broken points are left out, listed in `problems`, the device in `incomplete`."""
    if not isinstance(data, dict):
        raise InvalidPayload(f"{where}: {data!r} is not an object")
    device_id = data.get("id")
    if not isinstance(device_id, str) or not ID_PATTERN.match(device_id):
        raise InvalidPayload(f"{where}.id: {device_id!r} does not match {ID_PATTERN.pattern}")
    where = f"devices({device_id})"
    name = _str(data, "name", where, required=True)
    kind = _choice(data, "kind", where, DEVICE_KINDS)
    if kind is None:
        raise InvalidPayload(f"{where}: missing 'kind'")
    if data.get("pending") is True:
        # The collector has not read this device's layout yet (e.g. the SunSpec model scan): its point
        # list is not final, so nothing known about the device may be dropped because of it.
        incomplete.add(device_id)
    raw_points = data.get("points")
    if not isinstance(raw_points, list):
        raise InvalidPayload(f"{where}.points: {raw_points!r} is not a list")
    points: list[PointDef] = []
    seen: set[str] = set()
    for index, raw_point in enumerate(raw_points):
        try:
            point = parse_point(raw_point, f"{where}.points[{index}]")
        except InvalidPayload as err:
            problems.append(str(err))
            incomplete.add(device_id)
            continue
        if point.key in seen:
            problems.append(f"{where}.points[{index}]: duplicate key '{point.key}'")
            incomplete.add(device_id)
            continue
        seen.add(point.key)
        points.append(point)
    poll_interval = _number(data, "poll_interval", where)
    return DeviceDef(
        id=device_id,
        name=name or device_id,
        kind=kind,
        manufacturer=_str(data, "manufacturer", where, required=False),
        model=_str(data, "model", where, required=False),
        serial=_str(data, "serial", where, required=False),
        firmware=_str(data, "firmware", where, required=False),
        profile=_str(data, "profile", where, required=False),
        poll_interval=poll_interval if poll_interval and poll_interval > 0 else None,
        points=tuple(points),
    )


def parse_collector(data: object) -> CollectorInfo:
    """Parse the `collector` object of an announcement."""
    if not isinstance(data, dict):
        raise InvalidPayload(f"collector: {data!r} is not an object")
    collector_id = data.get("id")
    if not isinstance(collector_id, str) or not ID_PATTERN.match(collector_id):
        raise InvalidPayload(f"collector.id: {collector_id!r} does not match {ID_PATTERN.pattern}")
    return CollectorInfo(
        id=collector_id,
        name=_str(data, "name", "collector", required=True) or collector_id,
        version=_str(data, "version", "collector", required=True, max_len=40) or "",
        instance=_str(data, "instance", "collector", required=False, max_len=64),
        ha_discovery=data.get("ha_discovery") is True,
    )


def parse_announcement(payload: str | bytes | bytearray) -> Announcement:
    """Parse a `<cid>/config` payload.

    An announcement of another contract version is returned with `supported` False and no devices:
    its layout may differ, so nothing but the collector identity is read from it.
    """
    data = load_json_object(payload)
    contract = data.get("contract")
    if not isinstance(contract, int) or isinstance(contract, bool):
        raise InvalidPayload(f"contract: {contract!r} is not a contract version number")
    collector = parse_collector(data.get("collector"))
    if contract != CONTRACT_VERSION:
        return Announcement(contract=contract, collector=collector, raw=data)
    raw_devices = data.get("devices")
    if not isinstance(raw_devices, list):
        raise InvalidPayload(f"devices: {raw_devices!r} is not a list")
    problems: list[str] = []
    incomplete: set[str] = set()
    devices: list[DeviceDef] = []
    seen: set[str] = set()
    for index, raw_device in enumerate(raw_devices):
        try:
            device = parse_device(raw_device, f"devices[{index}]", problems, incomplete)
        except InvalidPayload as err:
            problems.append(str(err))
            if isinstance(raw_device, dict) and isinstance(raw_device.get("id"), str):
                incomplete.add(raw_device["id"])
            continue
        if device.id in seen:
            problems.append(f"devices[{index}]: duplicate device id '{device.id}'")
            continue
        seen.add(device.id)
        devices.append(device)
    return Announcement(
        contract=contract,
        collector=collector,
        devices=tuple(devices),
        problems=tuple(problems),
        incomplete=frozenset(incomplete),
        raw=data,
    )


def parse_state(payload: str | bytes | bytearray) -> StateMessage:
    """Parse a `<did>/state` payload. Values are checked against points later (the coordinator knows them)."""
    data = load_json_object(payload)
    ts = data.get("ts")
    if not _is_number(ts) or ts < 0:
        raise InvalidPayload(f"ts: {ts!r} is not a non-negative number")
    seq = data.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise InvalidPayload(f"seq: {seq!r} is not a positive integer")
    raw_values = data.get("v")
    if not isinstance(raw_values, dict):
        raise InvalidPayload(f"v: {raw_values!r} is not an object")
    inferred = data.get("inferred", [])
    if not isinstance(inferred, list) or not all(isinstance(key, str) for key in inferred):
        raise InvalidPayload(f"inferred: {inferred!r} is not a list of point keys")
    buffered = data.get("buffered", False)
    reset = data.get("reset", [])
    if not isinstance(reset, list) or not all(isinstance(key, str) for key in reset):
        raise InvalidPayload(f"reset: {reset!r} is not a list of point keys")
    return StateMessage(
        ts=float(ts),
        seq=seq,
        values={k: v for k, v in raw_values.items() if isinstance(v, int | float | str | bool)},
        inferred=frozenset(inferred),
        buffered=buffered is True,
        reset=frozenset(reset),
    )


def parse_event(payload: str | bytes | bytearray) -> EventMessage:
    """Parse a `<did>/event` payload."""
    data = load_json_object(payload)
    ts = data.get("ts")
    if not _is_number(ts):
        raise InvalidPayload(f"ts: {ts!r} is not a number")
    event_type = data.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidPayload(f"type: {event_type!r} is not an event type")
    point = data.get("point")
    if not isinstance(point, str):
        raise InvalidPayload(f"point: {point!r} is not a point key")
    ok = data.get("ok")
    if event_type == "command_result" and not isinstance(ok, bool):
        raise InvalidPayload(f"ok: {ok!r} is not true or false")
    value = data.get("value")
    event_id = data.get("id")
    error = data.get("error")
    message = data.get("message")
    return EventMessage(
        ts=float(ts),
        type=event_type,
        point=point,
        ok=ok if isinstance(ok, bool) else None,
        value=value if isinstance(value, int | float | str | bool) else None,
        id=event_id if isinstance(event_id, str) and len(event_id) <= 64 else None,
        error=error if isinstance(error, str) else None,
        message=message if isinstance(message, str) else None,
    )


def parse_stats(payload: str | bytes | bytearray) -> Stats:
    """Parse a `<cid>/stats` payload; fields of the wrong type are reported."""
    data = load_json_object(payload)

    def count(key: str) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidPayload(f"{key}: {value!r} is not a non-negative integer")
        return value

    errors = data.get("errors")
    if errors is not None and (
        not isinstance(errors, dict)
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in errors.values())
    ):
        raise InvalidPayload(f"errors: {errors!r} is not a map of error kinds to counts")
    quarantined = data.get("quarantined")
    if quarantined is not None and (
        not isinstance(quarantined, dict)
        or not all(
            isinstance(keys, list) and all(isinstance(key, str) for key in keys)
            for keys in quarantined.values()
        )
    ):
        raise InvalidPayload(f"quarantined: {quarantined!r} is not a map of device ids to point keys")
    return Stats(
        ts=_number(data, "ts", "stats"),
        uptime=_number(data, "uptime", "stats"),
        cycle_seconds=_number(data, "cycle_seconds", "stats"),
        requests_per_cycle=_number(data, "requests_per_cycle", "stats"),
        messages_published=count("messages_published"),
        errors=None if errors is None else {str(k): int(v) for k, v in errors.items()},
        rejected_readings=count("rejected_readings"),
        queue_length=count("queue_length"),
        queue_dropped=count("queue_dropped"),
        quarantined=None
        if quarantined is None
        else {str(device): tuple(keys) for device, keys in quarantined.items()},
    )


def parse_status(payload: str | bytes | bytearray) -> bool:
    """Parse a collector status payload: True for `online`, False for `offline`."""
    text = _decode(payload).strip()
    if text not in ("online", "offline"):
        raise InvalidPayload(f"status: {text[:40]!r} is not 'online' or 'offline'")
    return text == "online"


def parse_availability(payload: str | bytes | bytearray) -> Availability:
    """Parse a device availability payload."""
    text = _decode(payload).strip()
    if text == "online":
        return "online"
    if text == "offline":
        return "offline"
    if text == "asleep":
        return "asleep"
    raise InvalidPayload(f"availability: {text[:40]!r} is not 'online', 'offline' or 'asleep'")


def command_payload(value: Value, command_id: str) -> str:
    """The JSON payload of a command."""
    return json.dumps({"value": value, "id": command_id}, separators=(",", ":"))
