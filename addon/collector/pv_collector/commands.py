"""Commands: `<base>/<cid>/<did>/set/<point>` payloads turned into checked Modbus writes.

A payload is a bare value (`75`, `on`, `mppt`, empty for an action) or JSON `{"value": 75, "id": "c0ffee"}`.
The point must be announced writable, the value within `min`/`max`, on the `step` grid from `min`, or
among `options`; the device must be online. Then the value is encoded, written (FC6 for one register,
FC16 for more), read back and compared; the confirmed value goes out in an immediate state message and a
`command_result` event follows. Anything refused produces a `command_result` event with the reason and
no Modbus write. No payload can crash the collector.

A point with a `revert_point` (SunSpec's power limit) is written after the device's configured revert
timeout (`power_limit_revert`), so the device drops the limit by itself when nobody renews it; if that
write fails, the limit is not written. A point with an `enable_point` is switched on after it is written.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pv_collector.config import ID_PATTERN
from pv_collector.decode import decode, encode
from pv_collector.errors import CommandError, ModbusConnectionError, ModbusError, ModbusTimeout
from pv_collector.messages import EventMessage
from pv_collector.model import DataType, Point, Value
from pv_collector.poller import DevicePoller

_LOGGER = logging.getLogger(__name__)

MAX_PAYLOAD = 1024
MAX_ID_LENGTH = 64
TRUE_WORDS = frozenset({"true", "on", "1", "yes"})
FALSE_WORDS = frozenset({"false", "off", "0", "no"})

type EventCallback = Callable[[str, EventMessage], None]


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command payload."""

    value: object
    id: str | None = None
    has_value: bool = True


def parse_payload(payload: bytes) -> Command:
    """Bare value or JSON `{"value": ..., "id": ...}`; raises `CommandError("invalid_value")`."""
    if len(payload) > MAX_PAYLOAD:
        raise CommandError("invalid_value", f"payload: longer than {MAX_PAYLOAD} bytes")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CommandError("invalid_value", "payload: not UTF-8 text") from None
    if not text:
        return Command(None, has_value=False)
    try:
        data = json.loads(text)
    except ValueError:
        return Command(text)  # a bare word: on, off, an option name
    if isinstance(data, dict):
        command_id = data.get("id")
        if command_id is not None and (not isinstance(command_id, str) or len(command_id) > MAX_ID_LENGTH):
            raise CommandError(
                "invalid_value", f"payload: id must be a string of at most {MAX_ID_LENGTH} characters"
            )
        return Command(data.get("value"), command_id, "value" in data)
    if isinstance(data, list):
        raise CommandError("invalid_value", "payload: a list is not a value")
    return Command(data)


def _as_number(point: Point, value: object) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise CommandError("invalid_value", f"{point.key}: {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandError("invalid_value", f"{point.key}: {value!r} is not a number")
    return value


def _as_bool(point: Point, value: object) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, str | int) else ""
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CommandError("invalid_value", f"{point.key}: {value!r} is not on/off or true/false")


def _grid_tolerance(step: float) -> float:
    return max(abs(step) * 1e-6, 1e-9)


def check_value(point: Point, command: Command) -> object:
    """The value to encode for `point`; else `CommandError` (not_writable, out_of_range, invalid_value)."""
    if point.kind == "action":
        return None
    if point.writable is None:
        raise CommandError("not_writable", f"{point.key} is not writable")
    if not command.has_value or command.value is None:
        raise CommandError("invalid_value", f"{point.key}: no value given")
    value = command.value
    if point.kind == "bool":
        return _as_bool(point, value)
    if point.kind == "enum":
        options = list((point.options or {}).values())
        if not isinstance(value, str) or value not in options:
            raise CommandError("invalid_value", f"{point.key}: {value!r} is not one of {', '.join(options)}")
        return value
    if point.kind != "number":
        raise CommandError("not_writable", f"{point.key} ({point.kind}) cannot be written")
    number = _as_number(point, value)
    low, high, step = point.writable.min, point.writable.max, point.writable.step
    if (low is not None and number < low) or (high is not None and number > high):
        shown = f"{number:g}"
        raise CommandError("out_of_range", f"{point.key}: {shown} is outside {_fmt(low)}..{_fmt(high)}")
    if step:
        origin = low if low is not None else 0.0
        steps = (number - origin) / step
        if abs(steps - round(steps)) * abs(step) > _grid_tolerance(step):
            raise CommandError(
                "invalid_value", f"{point.key}: {number:g} is not on the step {step:g} from {origin:g}"
            )
    if isinstance(number, float) and number.is_integer() and point.type is not DataType.F32:
        return int(number)
    return number


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _matches(point: Point, wanted: object, got: Value | None, scale_factor: int | None) -> bool:
    if got is None:
        return False
    if point.kind != "number":
        return got == wanted
    if isinstance(got, bool) or not isinstance(got, int | float) or not isinstance(wanted, int | float):
        return False
    raw_unit = abs(point.scale) * 10.0 ** (scale_factor or 0)
    tolerance = max(raw_unit / 2, abs(float(wanted)) * 1e-6, 1e-9)
    if point.writable is not None and point.writable.step:
        tolerance = max(tolerance, point.writable.step / 2 * 0.999)
    return abs(float(got) - float(wanted)) <= tolerance


class CommandHandler:
    """Executes commands for the devices of one collector."""

    def __init__(
        self,
        pollers: Mapping[str, DevicePoller],
        publish_event: EventCallback,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.pollers = pollers
        self.publish_event = publish_event
        self.wall_clock = wall_clock  # the collector's clock: readings and events carry the same time
        self._locks: dict[str, asyncio.Lock] = {}
        self._warned: set[str] = set()

    async def handle(self, device_id: str, point_key: str, payload: bytes) -> None:
        """Execute one command; every outcome is an event, no exception escapes."""
        command_id: str | None = None
        try:
            poller = self.pollers.get(device_id)
            if poller is None:
                if ID_PATTERN.match(device_id) and device_id not in self._warned:
                    self._warned.add(device_id)
                    _LOGGER.warning("command for an unknown device", extra={"device": device_id})
                return
            command = parse_payload(payload)
            command_id = command.id
            lock = self._locks.setdefault(device_id, asyncio.Lock())
            async with lock:
                value = await self._execute(poller, point_key, command)
            self._result(device_id, point_key, command_id, ok=True, value=value)
        except CommandError as err:
            _LOGGER.info(
                "command refused",
                extra={"device": device_id, "point": point_key, "reason": err.code, "detail": str(err)},
            )
            self._result(device_id, point_key, command_id, ok=False, error=err.code, message=str(err))
        except Exception as err:  # never let a payload take the collector down
            _LOGGER.exception("command failed", extra={"device": device_id, "point": point_key})
            self._result(
                device_id,
                point_key,
                command_id,
                ok=False,
                error="write_failed",
                message=f"{point_key}: {type(err).__name__}",
            )

    async def _execute(self, poller: DevicePoller, key: str, command: Command) -> Value:
        point = poller.points.get(key)
        if point is None or point.hidden:
            raise CommandError("unknown_point", f"{key!r} is not a point of {poller.id}")
        value = check_value(point, command)
        if poller.availability != "online":
            raise CommandError("device_offline", f"{poller.id} is {poller.availability}")
        scale_factor = await self._scale_factor(poller, point)
        registers = encode(point, value, scale_factor)
        revert = poller.device.power_limit_revert
        revert_point = poller.points.get(point.revert_point) if point.revert_point else None
        if revert_point is not None and revert is not None:
            await self._write(poller, revert_point, encode(revert_point, revert), f"{key}: revert timeout")
        await self._write(poller, point, registers, key)
        enable_point = poller.points.get(point.enable_point) if point.enable_point else None
        if enable_point is not None:
            await self._write(poller, enable_point, encode(enable_point, True), f"{key}: enabling")
        _LOGGER.info(
            "command written",
            extra={"device": poller.id, "point": key, "value": value, "registers": registers},
        )
        if point.kind == "action":
            return True
        try:
            readback = await poller.reader.read(point.function, point.address, point.words)
        except ModbusError as err:
            raise CommandError(
                "readback_mismatch", f"{key}: written, but reading back failed ({err})"
            ) from err
        confirmed = decode(point, readback, scale_factor)
        if not _matches(point, value, confirmed, scale_factor):
            raise CommandError("readback_mismatch", f"{key}: wrote {value!r}, device reports {confirmed!r}")
        assert confirmed is not None
        poller.values[key] = confirmed
        poller.states.values({key: confirmed}, poller.wall_clock(), force=True)
        return confirmed

    @staticmethod
    async def _write(poller: DevicePoller, point: Point, registers: list[int], what: str) -> None:
        try:
            await poller.reader.write(point.target, registers)  # its write_address, if it has one
        except ModbusError as err:
            code = (
                "device_offline" if isinstance(err, ModbusTimeout | ModbusConnectionError) else "write_failed"
            )
            raise CommandError(code, f"{what}: writing failed ({err})") from err

    async def _scale_factor(self, poller: DevicePoller, point: Point) -> int | None:
        if point.sf is None:
            return None
        known = poller.scale_factor(point)
        if known is not None:
            return known
        sf_point = poller.sf_point(point)
        if sf_point is None:
            raise CommandError("write_failed", f"{point.key}: scale factor {point.sf} is unknown")
        try:
            registers = await poller.reader.read(sf_point.function, sf_point.address, sf_point.words)
        except ModbusError as err:
            raise CommandError("device_offline", f"{point.key}: scale factor unreadable ({err})") from err
        value = decode(sf_point, registers)
        if not isinstance(value, int) or isinstance(value, bool):
            raise CommandError("write_failed", f"{point.key}: scale factor {point.sf} is not available")
        poller.values[sf_point.key] = value
        return value

    def _result(
        self,
        device_id: str,
        point: str,
        command_id: str | None,
        *,
        ok: bool,
        value: Value | None = None,
        error: str | None = None,
        message: str | None = None,
    ) -> None:
        event = EventMessage.command_result(
            round(self.wall_clock(), 3),
            point,
            ok=ok,
            value=value,
            error=error,
            message=message,
            command_id=command_id,
        )
        self.publish_event(device_id, event)
