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
from typing import Any, Final, TypeIs

from .messages import (
    CATEGORIES,
    COMMAND_PLATFORMS,
    CONTRACT_VERSION,
    DEVICE_KINDS,
    ID_PATTERN,
    KEY_PATTERN,
    MAX_PAYLOAD_BYTES,
    NAME_PATTERN,
    PLATFORM_KINDS,
    POINT_KINDS,
    ROLES,
    STATE_CLASSES,
    Announcement,
    Availability,
    CollectorInfo,
    DeviceDef,
    EntityDef,
    EntityPlatform,
    EventMessage,
    PointDef,
    PointKind,
    StateMessage,
    Stats,
    Value,
    WritableDef,
)


class InvalidPayload(ValueError):
    """A payload does not follow the contract; the message names what is wrong."""


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


def _is_platform(value: object) -> TypeIs[EntityPlatform]:
    return isinstance(value, str) and value in PLATFORM_KINDS


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


def _precision(data: dict[str, Any], key: str, where: str) -> int | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10):
        raise InvalidPayload(f"{where}.{key}: {value!r} is not an integer 0..10")
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


def _device_class(data: dict[str, Any], where: str) -> str | None:
    device_class = data.get("device_class")
    if device_class is not None and (not isinstance(device_class, str) or not device_class):
        raise InvalidPayload(f"{where}.device_class: {device_class!r} is not a device class name")
    return device_class


def parse_entity(
    data: object,
    where: str,
    *,
    kind: PointKind,
    writable: WritableDef | None,
    unit: str | None,
    precision: int | None,
) -> EntityDef:
    """Parse a point's `entity`: the entity the collector resolved for it (a platform that cannot show the
    point's kind is refused); the display unit and precision default to the point's own."""
    if not isinstance(data, dict):
        raise InvalidPayload(f"{where}: {data!r} is not an object")
    platform = data.get("platform")
    if not _is_platform(platform):
        raise InvalidPayload(
            f"{where}.platform: {platform!r} is not one of {', '.join(sorted(PLATFORM_KINDS))}"
        )
    if kind not in PLATFORM_KINDS[platform] or (platform in COMMAND_PLATFORMS and writable is None):
        state = "writable" if writable is not None else "read-only"
        raise InvalidPayload(f"{where}.platform: a {platform} cannot show a {state} {kind} point")
    factor = _number(data, "display_factor", where)
    if factor is not None and factor <= 0:
        raise InvalidPayload(f"{where}.display_factor: {factor} is not larger than 0")
    display_precision = _precision(data, "display_precision", where)
    return EntityDef(
        platform=platform,
        device_class=_device_class(data, where),
        state_class=_choice(data, "state_class", where, STATE_CLASSES),
        unit=_str(data, "display_unit", where, required=False, max_len=20) or unit,
        precision=precision if display_precision is None else display_precision,
        factor=factor,
    )


# Collectors before 0.2.0 announced no `entity`: their consumers made it from the point's fields, with the
# two display rules below. Kept as it was for those collectors only: the entity model is the collector's
# (pv_collector/entity_model.py), so nothing is ever added here.
_ENERGY_DECIMALS_BEFORE_0_2: Final = {"Wh": 0, "kWh": 2, "MWh": 4}


def entity_of_collector_before_0_2(
    kind: PointKind,
    *,
    writable: WritableDef | None,
    unit: str | None,
    device_class: str | None,
    state_class: str | None,
    precision: int | None,
) -> EntityDef:
    """The entity of a point announced without `entity` by a collector before 0.2.0: the platform by kind
    and writability, the announced classes as they are (the platforms keep those Home Assistant accepts),
    energy counters with the same decimals and a plain power factor shown in %."""
    platform: EntityPlatform
    match kind:
        case "number" if writable is not None:
            return EntityDef(platform="number", device_class=device_class, unit=unit, precision=precision)
        case "number":
            shown_unit, factor = unit, None
            if device_class == "power_factor" and unit is None:
                shown_unit, precision, factor = "%", max((precision or 2) - 2, 0), 100
            elif device_class == "energy" and unit is not None and unit in _ENERGY_DECIMALS_BEFORE_0_2:
                precision = _ENERGY_DECIMALS_BEFORE_0_2[unit]
            return EntityDef(
                platform="sensor",
                device_class=device_class,
                state_class=state_class,
                unit=shown_unit,
                precision=precision,
                factor=factor,
            )
        case "enum":
            platform = "sensor" if writable is None else "select"
        case "bool":
            platform = "binary_sensor" if writable is None else "switch"
        case "action":
            platform = "button"
        case _:  # text, bitfield
            platform = "sensor"
    return EntityDef(platform=platform, unit=unit, precision=precision)


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
    device_class = _device_class(data, where)
    precision = _precision(data, "precision", where)
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
    unit = _str(data, "unit", where, required=False, max_len=20) or None
    state_class = _choice(data, "state_class", where, STATE_CLASSES)
    if "entity" in data:
        entity = parse_entity(
            data["entity"], f"{where}.entity", kind=kind, writable=writable, unit=unit, precision=precision
        )
    else:
        entity = entity_of_collector_before_0_2(
            kind,
            writable=writable,
            unit=unit,
            device_class=device_class,
            state_class=state_class,
            precision=precision,
        )
    return PointDef(
        key=key,
        name=name or key,
        kind=kind,
        entity=entity,
        unit=unit,
        device_class=device_class,
        state_class=state_class,
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
