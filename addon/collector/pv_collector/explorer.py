"""The register explorer: read a bounded range of registers and decode it, side by side with the profile.

A request names a device (its bus and unit id) or a bus and any unit id (to find devices), the table
(`holding`: function code 3, `input`: 4), the first address, a count of 1..125 registers (the most one
Modbus read may ask for) and how to decode them: a data type and the word and byte order. Nothing else is
ever sent: write function codes (5, 6, 15, 16, 22, 23) and anything that is not a read are refused with
`RequestRefused("write_refused")` before the bus is touched.

The read is one request on the bus, queued under the bus lock like every poll, without retries; it is a
tool's request (`pv_collector.transport.Origin.TOOL`): a refusal or a timeout is the user's finding, not an
error the collector counts. The answer
is decoded twice with the collector's own decoder (`pv_collector.decode`): register by register as the
chosen type (`values`), and every point of the device's profile that lies inside the range as the
collector decodes it when polling (`points`, with the point's scale factor, unit and name).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pv_collector.activity import failure_reason
from pv_collector.decode import decode, raw_value
from pv_collector.errors import ModbusError, ModbusExceptionResponse, RequestRefused
from pv_collector.model import DataType, Function, Order, Point, Value
from pv_collector.planner import MODBUS_MAX_READ
from pv_collector.transport import Bus, Origin

ADDRESSES = 0x10000
READ_FUNCTIONS = {
    "holding": Function.HOLDING,
    "input": Function.INPUT,
    3: Function.HOLDING,
    4: Function.INPUT,
}
WRITE_FUNCTIONS = frozenset({5, 6, 15, 16, 22, 23})  # write coil(s), register(s), mask write, read/write
WRITE_NAMES = ("write", "coil", "set", "mask")
TYPES = tuple(DataType(name) for name in ("u16", "s16", "u32", "s32", "u64", "s64", "f32", "f64", "string"))
ORDERS: tuple[Order, ...] = ("big", "little")


@dataclass(frozen=True, slots=True, kw_only=True)
class RangeRequest:
    """One validated explorer request."""

    bus: str
    unit_id: int
    device: str | None
    function: Function
    address: int
    count: int
    type: DataType
    word_order: Order
    byte_order: Order

    def as_dict(self) -> dict[str, Any]:
        """The request as JSON."""
        return {
            "bus": self.bus,
            "unit_id": self.unit_id,
            "device": self.device,
            "function": self.function.value,
            "address": self.address,
            "count": self.count,
            "type": self.type.value,
            "word_order": self.word_order,
            "byte_order": self.byte_order,
        }


def _integer(data: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = data.get(key)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestRefused(
            "invalid_request", f"{key}: expected a whole number {low}..{high}, got {value!r}"
        )
    return value


def _choice[T](data: Mapping[str, Any], key: str, options: Sequence[T], default: T) -> T:
    value = data.get(key, default)
    for option in options:
        if value == option:
            return option
    shown = " | ".join(str(option) for option in options)
    raise RequestRefused("invalid_request", f"{key}: expected one of {shown}, got {value!r}")


def _function(value: Any) -> Function:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value in WRITE_FUNCTIONS:
            raise RequestRefused("write_refused", f"function {value} writes: the explorer only reads")
    elif isinstance(value, str) and any(word in value.lower() for word in WRITE_NAMES):
        raise RequestRefused("write_refused", f"function {value!r} writes: the explorer only reads")
    function = READ_FUNCTIONS.get(value) if isinstance(value, str | int) else None
    if function is None:
        raise RequestRefused("invalid_request", f"function: expected holding (3) or input (4), got {value!r}")
    return function


def parse_request(data: Any, *, devices: Mapping[str, tuple[str, int]], buses: Sequence[str]) -> RangeRequest:
    """Validate an explorer request (a JSON object).

    `devices` maps each device id to its (bus, unit id); `buses` names the buses. Raises
    `RequestRefused` with `write_refused` for anything that would write, `unknown_device`/`unknown_bus`,
    or `invalid_request` naming the field.
    """
    if not isinstance(data, Mapping):
        raise RequestRefused("invalid_request", "expected a JSON object")
    function = _function(data.get("function", "holding"))
    device = data.get("device") or None
    if device is not None:
        if device not in devices:
            raise RequestRefused("unknown_device", f"device: {device!r} is not a device of this collector")
        bus, unit_id = devices[device]
    else:
        named = data.get("bus")
        if not isinstance(named, str) or named not in buses:
            raise RequestRefused("unknown_bus", f"bus: {named!r} is not a bus of this collector")
        bus, unit_id = named, _integer(data, "unit_id", 0, 255)
    address = _integer(data, "address", 0, ADDRESSES - 1)
    count = _integer(data, "count", 1, MODBUS_MAX_READ)
    if address + count > ADDRESSES:
        raise RequestRefused("invalid_request", f"count: {address} + {count} is past the last register 65535")
    return RangeRequest(
        bus=bus,
        unit_id=unit_id,
        device=device,
        function=function,
        address=address,
        count=count,
        type=DataType(_choice(data, "type", [t.value for t in TYPES], "u16")),
        word_order=_choice(data, "word_order", ORDERS, "big"),
        byte_order=_choice(data, "byte_order", ORDERS, "big"),
    )


def _json_number(value: Value | None) -> Value | str | None:
    """JSON has no NaN or infinity: those become the strings "NaN", "inf", "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def decode_as(request: RangeRequest, registers: Sequence[int]) -> list[dict[str, Any]]:
    """The registers decoded as the requested type, value after value (a string takes them all)."""
    if request.type is DataType.STRING:
        words = [(request.address, len(registers))]
    else:
        size = request.type.words
        words = [(request.address + i, size) for i in range(0, len(registers) - size + 1, size)]
    values = []
    for address, size in words:
        point = Point(
            key=f"r{address}",
            name=f"r{address}",
            address=address,
            function=request.function,
            type=request.type,
            count=size if request.type is DataType.STRING else 1,
            word_order=request.word_order,
            byte_order=request.byte_order,
        )
        start = address - request.address
        chunk = list(registers[start : start + size])
        values.append(
            {"address": address, "registers": chunk, "value": _json_number(raw_value(point, chunk))}
        )
    return values


def decode_points(
    request: RangeRequest,
    registers: Sequence[int],
    points: Sequence[Point],
    scale_factors: Mapping[str, int | None],
) -> list[dict[str, Any]]:
    """The profile's points inside the range, decoded as the collector decodes them when polling.

    A point's scale factor is taken from the range when its register is in it, else from `scale_factors`
    (the device's latest reading).
    """
    end = request.address + request.count
    inside = sorted(
        (
            p
            for p in points
            if p.function is request.function and request.address <= p.address and p.end <= end
        ),
        key=lambda p: (p.address, p.key),
    )
    factors = dict(scale_factors)
    for point in inside:
        if point.type is DataType.SUNSSF:
            start = point.address - request.address
            sf = decode(point, registers[start : start + point.words])
            factors[point.key] = sf if isinstance(sf, int) else None
    decoded = []
    for point in inside:
        start = point.address - request.address
        words = list(registers[start : start + point.words])
        value = decode(point, words, factors.get(point.sf) if point.sf else None)
        entry: dict[str, Any] = {
            "key": point.key,
            "name": point.name,
            "address": point.address,
            "words": point.words,
            "type": point.type.value,
            "value": _json_number(value),
        }
        if point.unit is not None:
            entry["unit"] = point.unit
        decoded.append(entry)
    return decoded


async def explore(
    bus: Bus,
    request: RangeRequest,
    points: Sequence[Point] = (),
    scale_factors: Mapping[str, int | None] | None = None,
) -> dict[str, Any]:
    """Read the range once (under the bus lock, no retries, a tool's request: `Origin.TOOL`) and decode it.

    Returns `{"ok": true, "request", "registers", "values", "points"}`, or `{"ok": false, "request",
    "reason", "message"}` (plus `code` for a Modbus exception) when the device did not answer or refused;
    `reason` is `timeout`, `connection`, `exception` or `modbus` as in `activity.failure_reason`.
    """
    try:
        registers = await bus.read(
            request.unit_id, request.function, request.address, request.count, retries=0, origin=Origin.TOOL
        )
    except ModbusError as err:
        reason, message = failure_reason(err)
        failed: dict[str, Any] = {
            "ok": False,
            "request": request.as_dict(),
            "reason": reason,
            "message": message,
        }
        if isinstance(err, ModbusExceptionResponse):
            failed["code"] = err.code
        return failed
    return {
        "ok": True,
        "request": request.as_dict(),
        "registers": registers,
        "values": decode_as(request, registers),
        "points": decode_points(request, registers, points, scale_factors or {}),
    }
