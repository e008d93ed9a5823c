"""The MQTT contract (docs/mqtt-contract.md) as seen by the integration: payload parsing (the points of an
announcement in contract_points.py, the field readers in contract_fields.py).

Pure functions and dataclasses, no entity code and no Home Assistant state. Every `parse_*` function
accepts raw MQTT payloads and either returns a typed value or raises `InvalidPayload` with one message
naming what is wrong; the caller logs that message once and carries on. Unknown keys are ignored, as
the contract asks of consumers. Parts of an announcement that are broken (one device, one point) are
left out and listed in `Announcement.problems`, so one bad point does not hide a whole collector.
"""

from __future__ import annotations

import json

from .contract_fields import (
    InvalidPayload,
    decode_text,
    is_number,
    load_json_object,
    read_choice,
    read_id,
    read_number,
    read_object,
    read_str,
)
from .contract_points import parse_point
from .messages import (
    CONTRACT_VERSION,
    DEVICE_KINDS,
    ID_PATTERN,
    MAX_ANNOUNCEMENT_BYTES,
    Announcement,
    Availability,
    CollectorInfo,
    DeviceDef,
    EventMessage,
    PointDef,
    StateMessage,
    Stats,
    Value,
)

# The parsers, with the error they raise and the point parser (contract_points.py) re-exported.
__all__ = [
    "InvalidPayload",
    "command_payload",
    "parse_announcement",
    "parse_availability",
    "parse_collector",
    "parse_device",
    "parse_event",
    "parse_point",
    "parse_state",
    "parse_stats",
    "parse_status",
]


def parse_device(data: object, where: str, problems: list[str], incomplete: set[str]) -> DeviceDef:
    """Parse one device; broken points are left out, listed in `problems`, the device in `incomplete`."""
    data = read_object(data, where)
    device_id = read_id(data, "id", where, ID_PATTERN)
    where = f"devices({device_id})"
    name = read_str(data, "name", where, required=True)
    kind = read_choice(data, "kind", where, DEVICE_KINDS)
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
    poll_interval = read_number(data, "poll_interval", where)
    return DeviceDef(
        id=device_id,
        name=name or device_id,
        kind=kind,
        manufacturer=read_str(data, "manufacturer", where, required=False),
        model=read_str(data, "model", where, required=False),
        serial=read_str(data, "serial", where, required=False),
        firmware=read_str(data, "firmware", where, required=False),
        profile=read_str(data, "profile", where, required=False),
        poll_interval=poll_interval if poll_interval and poll_interval > 0 else None,
        points=tuple(points),
    )


def parse_collector(data: object) -> CollectorInfo:
    """Parse the `collector` object of an announcement."""
    data = read_object(data, "collector")
    collector_id = read_id(data, "id", "collector", ID_PATTERN)
    return CollectorInfo(
        id=collector_id,
        name=read_str(data, "name", "collector", required=True) or collector_id,
        version=read_str(data, "version", "collector", required=True, max_len=40) or "",
        instance=read_str(data, "instance", "collector", required=False, max_len=64),
        ha_discovery=data.get("ha_discovery") is True,
    )


def parse_announcement(payload: str | bytes | bytearray) -> Announcement:
    """Parse a `<cid>/config` payload.

    An announcement of another contract version is returned with `supported` False and no devices:
    its layout may differ, so nothing but the collector identity is read from it.
    """
    data = load_json_object(payload, MAX_ANNOUNCEMENT_BYTES)
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
    if not is_number(ts) or ts < 0:
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
    if not is_number(ts):
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
        ts=read_number(data, "ts", "stats"),
        uptime=read_number(data, "uptime", "stats"),
        cycle_seconds=read_number(data, "cycle_seconds", "stats"),
        requests_per_cycle=read_number(data, "requests_per_cycle", "stats"),
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
    text = decode_text(payload).strip()
    if text not in ("online", "offline"):
        raise InvalidPayload(f"status: {text[:40]!r} is not 'online' or 'offline'")
    return text == "online"


def parse_availability(payload: str | bytes | bytearray) -> Availability:
    """Parse a device availability payload."""
    text = decode_text(payload).strip()
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
