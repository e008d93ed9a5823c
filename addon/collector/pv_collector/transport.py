"""Modbus buses: one pymodbus async client per configured bus (a `SolarmanClient` for a Solarman V5 data
logger, pv_collector.solarman), one lock per bus.

A `Bus` serialises every request on its line (an RS-485 line or a gateway connection has one master and
one outstanding request), applies the per-request timeout, retries with backoff, reconnects with backoff,
and maps pymodbus' results and exceptions onto the collector's `ModbusError` tree.

Stale replies: with Modbus TCP framing pymodbus matches every reply to its request by transaction id and
drops frames with another id, so a reply that arrives after its request timed out is never taken as the
answer to a later one. RTU frames (serial lines, RTU over TCP) carry no transaction id, so after a timeout
the bus closes its connection, which discards whatever the slow device still sends; the next request
opens it again.

Replies are checked before they are believed (issue 15; `pv_collector.replies`). The bus sees every byte
pymodbus receives (it wraps the client's `callback_data`, pymodbus 3.16's entry point for received data)
and refuses a reply whose function code, byte count, register count or length does not answer the
outstanding request: a `ModbusInvalidReply` naming the reason, counted as `invalid_reply`, retried like a
timeout, never decoded. Nothing pymodbus cannot decode escapes into asyncio (no traceback). On an
RTU-framed bus bytes that arrive while no request is outstanding are stray: discarded, counted as
`stray_frame`; a copy of the last reply is harmless, anything else means the line is out of step
(`out_of_step` counts it, and the pollers read their cycle again, see poller.py). Once a bus has seen a
stray frame, every reply is held for `STRAY_GUARD` seconds: a frame arriving meanwhile makes the reply
ambiguous (refused and read again) unless it is a copy. Problems are logged once per episode per bus
(again after `EPISODE_QUIET` seconds without any).

Adaptive timeouts: the bus measures every device's response time (a smoothed mean and mean deviation, as
TCP does for its retransmission timer) and waits for a read at most `3 * mean + 4 * deviation` (at least
`ADAPTIVE_MIN`), never longer than the configured `timeout`. A fast meter that stops answering is given
up on quickly; a slow one on the same line is given the time it needs. After a timeout the next request to
that device waits the full configured time again until an answer re-measures it. Writes always wait the
full time.

Device quirks (a profile's `connection`, applied per unit with `configure_unit`; docs/profiles.md): after
the connection is opened or reopened the bus stays silent `delay_after_connect` seconds (the longest any
device on the bus asks for; Huawei inverters answer nothing in their first second), it leaves at least
`request_interval` seconds between the end of one exchange with a device and the next request to it
(Growatt, SolaX), and a device with `write_function: 16` gets FC16 even for a single register (Deye and
Sofar refuse FC6). The waits happen under the bus lock, so nobody else talks meanwhile; they use the
injectable `clock` and `sleep`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import termios
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType

from pv_collector.config import BusConfig
from pv_collector.errors import (
    LoggerSerialMismatch,
    ModbusConnectionError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusInvalidReply,
    ModbusTimeout,
    RegisterError,
)
from pv_collector.metrics import Metrics
from pv_collector.model import Connection, Function
from pv_collector.replies import Asked, incomplete_problem, rtu_problem, tcp_problem
from pv_collector.solarman import SolarmanClient

_LOGGER = logging.getLogger(__name__)

RETRY_BACKOFF = 0.05  # seconds before the first retry; doubles per retry
RETRY_BACKOFF_MAX = 1.0
RECONNECT_MIN = 0.5  # seconds between connection attempts; doubles while they fail
RECONNECT_MAX = 30.0
BUSY_CODES = frozenset({5, 6})  # acknowledge, server busy: worth a retry
GATEWAY_CODES = frozenset({10, 11})  # gateway path unavailable, target device failed to respond
TIMEOUTS_BEFORE_RECONNECT = 3  # consecutive timeouts on a TCP bus before its connection is renewed
ADAPTIVE_MIN = 0.1  # seconds: the shortest timeout the adaptation may choose
STRAY_GUARD = 0.05  # seconds a reply is held on an RTU bus that has seen stray frames
EPISODE_QUIET = 300.0  # seconds without invalid replies or stray frames that end an episode (logged again)
_READ_CODES = {Function.HOLDING: 3, Function.INPUT: 4}
_RTT_GAIN = 0.125  # weight of a new sample in the smoothed response time (RFC 6298's alpha)
_RTTVAR_GAIN = 0.25  # weight of a new sample in the mean deviation (RFC 6298's beta)


class ResponseTimer:
    """Smoothed response time of one device and the timeout it implies."""

    __slots__ = ("deviation", "mean", "samples", "timed_out")

    def __init__(self) -> None:
        self.mean = 0.0
        self.deviation = 0.0
        self.samples = 0
        self.timed_out = False

    def answered(self, seconds: float) -> None:
        """A reply (data or exception) arrived after `seconds`."""
        if self.samples == 0:
            self.mean, self.deviation = seconds, seconds / 2
        else:
            self.deviation += _RTTVAR_GAIN * (abs(seconds - self.mean) - self.deviation)
            self.mean += _RTT_GAIN * (seconds - self.mean)
        self.samples += 1
        self.timed_out = False

    def timeout(self, maximum: float) -> float:
        """Seconds to wait for the next reply: adapted, within ADAPTIVE_MIN..maximum."""
        if self.samples == 0 or self.timed_out:
            return maximum
        return min(maximum, max(ADAPTIVE_MIN, 3 * self.mean + 4 * self.deviation))


type ModbusClient = AsyncModbusSerialClient | AsyncModbusTcpClient | SolarmanClient
_PLAIN = Connection()  # a device without quirks


class UnitReader:
    """A `RegisterReader` for one unit id on a bus."""

    def __init__(self, bus: Bus, unit_id: int) -> None:
        self.bus = bus
        self.unit_id = unit_id

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        """Read `count` registers (FC3 holding / FC4 input) with the bus's retries."""
        return await self.bus.read(self.unit_id, function, address, count)

    async def read_once(self, function: Function, address: int, count: int) -> list[int]:
        """Read without retries (probing a device known to be away)."""
        return await self.bus.read(self.unit_id, function, address, count, retries=0)

    async def write(self, address: int, values: list[int]) -> None:
        """Write registers (FC6 for one, FC16 for more; FC16 always for a device that asks for it)."""
        await self.bus.write_registers(self.unit_id, address, values)


class Bus:
    """One serial line, TCP connection, RTU-over-TCP gateway or Solarman V5 data logger."""

    def __init__(
        self,
        config: BusConfig,
        *,
        metrics: Metrics | None = None,
        client_factory: Callable[[BusConfig], ModbusClient] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.name = config.name
        self.metrics = metrics
        self.requests = 0  # every request sent on the wire, retries included
        self.writes = 0  # write requests (FC6/FC16) sent
        self._client_factory = client_factory or make_client
        self._client: ModbusClient | None = None
        self._lock = asyncio.Lock()
        self._next_connect = 0.0
        self._connect_delay = RECONNECT_MIN
        self._consecutive_timeouts = 0
        self._quiet_until = 0.0  # RTU: nothing is sent before this (monotonic); late answers die out
        self._closed = False
        self._was_connected = False
        self._timers: dict[int, ResponseTimer] = {}
        self.stray_frames = 0  # RTU: frames (or bytes) that arrived while no request was outstanding
        self.out_of_step = 0  # RTU: stray frames that were no copy of the last reply
        self._asked: Asked | None = None  # the request outstanding on the wire
        self._guard = 0.0  # RTU: seconds a reply is held before it is believed (STRAY_GUARD once strays came)
        self._last_reply = b""
        self._stray_after_reply = False
        self._guarding = False
        self._problem_at = -math.inf  # monotonic time of the last invalid reply or stray frame
        self._clock = clock  # the device quirks' waits (delay after connecting, interval between requests)
        self._sleep = sleep
        self._units: dict[int, Connection] = {}  # the quirks of each device (its profile's `connection`)
        self._last_exchange: dict[int, float] = {}  # unit -> `clock` time its last exchange ended
        self._fresh = False  # the connection was just opened: delay_after_connect is due

    # ------------------------------------------------------------------ public API

    def reader(self, unit_id: int) -> UnitReader:
        """A reader bound to one device of this bus."""
        return UnitReader(self, unit_id)

    def configure_unit(self, unit_id: int, connection: Connection) -> None:
        """Apply a device's quirks (its profile's `connection`): interval between requests, write function,
        and the bus's delay after connecting (the longest of its devices')."""
        self._units[unit_id] = connection

    def unit_connection(self, unit_id: int) -> Connection:
        """The quirks applied to `unit_id` (defaults when none were configured)."""
        return self._units.get(unit_id, _PLAIN)

    @property
    def delay_after_connect(self) -> float:
        """Seconds of silence after the connection is (re)opened: the longest any device asks for."""
        return max((c.delay_after_connect for c in self._units.values()), default=0.0)

    def timeout_for(self, unit_id: int) -> float:
        """Seconds the next read of `unit_id` waits for a reply (adapted, at most the configured timeout)."""
        timer = self._timers.get(unit_id)
        return self.config.timeout if timer is None else timer.timeout(self.config.timeout)

    def response_time(self, unit_id: int) -> float | None:
        """Smoothed response time of `unit_id` in seconds, None before its first reply."""
        timer = self._timers.get(unit_id)
        return timer.mean if timer is not None and timer.samples else None

    async def read(
        self, unit_id: int, function: Function, address: int, count: int, *, retries: int | None = None
    ) -> list[int]:
        """Read registers; raises `ModbusTimeout`, `ModbusExceptionResponse` or `ModbusConnectionError`."""

        async def call(client: ModbusClient) -> Any:
            if function is Function.INPUT:
                return await client.read_input_registers(address, count=count, device_id=unit_id)
            return await client.read_holding_registers(address, count=count, device_id=unit_id)

        what = f"read {function.value} {address}+{count} unit {unit_id}"
        asked = Asked(unit_id, _READ_CODES[function], count)
        response = await self._request(call, retries, what, unit_id, asked=asked)
        return list(getattr(response, "registers", []) or [])

    async def write_registers(self, unit_id: int, address: int, values: list[int]) -> None:
        """Write one register (FC6) or several (FC16); FC16 for one as well when the device's
        `write_function` is 16. Writes are never retried after a timeout.

        Raises `RegisterError` for an empty `values`, else what a read raises.
        """
        if not values:
            raise RegisterError("nothing to write")
        single = len(values) == 1 and self.unit_connection(unit_id).write_function == 6

        async def call(client: ModbusClient) -> Any:
            self.writes += 1
            if single:
                return await client.write_register(address, values[0], device_id=unit_id)
            return await client.write_registers(address, values, device_id=unit_id)

        asked = Asked(unit_id, 6 if single else 16)
        what = f"write {address}+{len(values)} unit {unit_id}"
        await self._request(call, 0, what, unit_id, asked=asked, adaptive=False)

    def settle_time(self, unit_id: int) -> float:
        """Seconds after a device's last reply within which a displaced answer would arrive: a poller on an
        RTU-framed bus waits that long before it believes a cycle (see module doc)."""
        return self.timeout_for(unit_id)

    async def close(self) -> None:
        """Close the connection; the bus can not be used afterwards."""
        self._closed = True
        async with self._lock:
            self._drop_client()

    @property
    def connected(self) -> bool:
        """Whether the underlying client holds an open connection."""
        return self._client is not None and bool(self._client.connected)

    # ------------------------------------------------------------------ internals

    async def _request(
        self,
        call: Callable[[ModbusClient], Awaitable[Any]],
        retries: int | None,
        what: str,
        unit_id: int,
        *,
        asked: Asked,
        adaptive: bool = True,
    ) -> Any:
        attempts = 1 + (self.config.retries if retries is None else retries)
        delay = RETRY_BACKOFF
        last: ModbusError | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(delay)  # lock released: other devices use the bus meanwhile
                delay = min(delay * 2, RETRY_BACKOFF_MAX)
            try:
                async with self._lock:
                    return await self._once(call, asked, adaptive=adaptive)
            except ModbusExceptionResponse as err:
                if err.code not in BUSY_CODES:
                    raise
                last = err
            except (ModbusTimeout, ModbusInvalidReply) as err:
                last = err
            except LoggerSerialMismatch:
                raise  # the configuration is wrong: asking again cannot help
            except ModbusConnectionError as err:
                last = err
                if self._next_connect > time.monotonic():
                    break  # waiting for the reconnect backoff: retrying now would not help
        assert last is not None
        _LOGGER.debug("request failed", extra={"bus": self.name, "request": what, "error": str(last)})
        raise last

    async def _once(
        self, call: Callable[[ModbusClient], Awaitable[Any]], asked: Asked, *, adaptive: bool
    ) -> Any:
        if self._closed:
            raise ModbusConnectionError(f"bus {self.name} is closed")
        if (quiet := self._quiet_until - time.monotonic()) > 0:
            await asyncio.sleep(quiet)  # the lock is held: nobody talks while a late answer may come
        client = await self._connected_client()
        unit_id = asked.unit
        await self._keep_quirks(unit_id)
        timer = self._timers.setdefault(unit_id, ResponseTimer())
        timeout = timer.timeout(self.config.timeout) if adaptive else self.config.timeout
        _set_timeout(client, timeout)
        started = time.monotonic()
        self.requests += 1
        outcome = "ok"
        self._asked, self._stray_after_reply = asked, False
        try:
            try:
                # pymodbus applies the timeout itself; the outer guard only protects against a hang.
                response = await asyncio.wait_for(call(client), timeout=timeout * 2 + 1)
                self._asked = None
                await self._believe(response, asked)
            except (TimeoutError, ModbusError, ModbusException) as err:
                outcome, raised = self._failure(err, client, asked, timer, timeout)
                if raised is err:
                    raise
                raise raised from err
            timer.answered(time.monotonic() - started)
            if response.isError():
                code = int(getattr(response, "exception_code", 0) or 0)
                outcome = "exception"
                if code in GATEWAY_CODES:
                    raise ModbusTimeout(f"bus {self.name}: gateway reports the device unreachable ({code})")
                raise ModbusExceptionResponse(code)
            self._consecutive_timeouts = 0
            return response
        finally:
            if self.metrics is not None:
                self.metrics.request(self.name, time.monotonic() - started, outcome)
                if outcome != "ok":
                    self.metrics.error("modbus_exception" if outcome == "exception" else outcome)
            self._asked = None
            self._last_exchange[unit_id] = self._clock()

    def _failure(
        self, err: Exception, client: ModbusClient, asked: Asked, timer: ResponseTimer, timeout: float
    ) -> tuple[str, Exception]:
        """What a failed exchange was (the metrics' outcome) and the error to raise (`err` itself: raised
        again as it is); drops the connection where it cannot be trusted any more."""
        if isinstance(err, ModbusInvalidReply):
            self._invalid(asked, err.reason)
            return "invalid_reply", err
        if isinstance(err, TimeoutError | ModbusIOException):
            leftover = bytes(getattr(getattr(client, "ctx", None), "recv_buffer", b""))
            if leftover:  # something came, but no answer: say what was wrong with it
                reason = incomplete_problem(leftover, asked, rtu=self.config.rtu_framing)
                self._invalid(asked, reason)
                return "invalid_reply", ModbusInvalidReply(reason)
            timer.timed_out = True
            self._after_timeout()
            return "timeout", ModbusTimeout(f"bus {self.name}: no answer within {timeout:g} s")
        if isinstance(err, ConnectionException):
            self._drop_client()
            return "connection", ModbusConnectionError(f"bus {self.name}: {err}")
        if isinstance(err, LoggerSerialMismatch):  # the solarman client's own errors (pv_collector.solarman)
            return "connection", err
        if isinstance(err, ModbusConnectionError):
            self._drop_client()
            return "connection", err
        if isinstance(err, ModbusTimeout):  # a logger reports that the device behind it did not answer
            return "timeout", err
        if isinstance(err, ModbusError):
            return "exception", err
        return "exception", ModbusError(f"bus {self.name}: {err}")

    async def _keep_quirks(self, unit_id: int) -> None:
        """The silences devices ask for, before a request (the lock is held): after a new connection, and
        since the device's last exchange."""
        if self._fresh:
            self._fresh = False
            if (delay := self.delay_after_connect) > 0:
                await self._sleep(delay)
        interval = self.unit_connection(unit_id).request_interval
        last = self._last_exchange.get(unit_id)
        if interval > 0 and last is not None and (wait := last + interval - self._clock()) > 0:
            await self._sleep(wait)

    async def _believe(self, response: Any, asked: Asked) -> None:
        """Last checks of a decoded reply; on an RTU bus that has seen strays, hold it for the guard time."""
        if not response.isError():
            function = int(getattr(response, "function_code", 0))
            if function != asked.function:
                raise ModbusInvalidReply(f"wrong function code {function} (asked {asked.function})")
            registers = getattr(response, "registers", None) or []
            if asked.count is not None and len(registers) != asked.count:
                found = 2 * len(registers)
                raise ModbusInvalidReply(f"wrong byte count: {found} for {asked.count} registers")
        if self.config.rtu_framing and self._guard:
            self._guarding = True
            try:
                await asyncio.sleep(self._guard)  # lock held: a second frame now makes the reply ambiguous
            finally:
                self._guarding = False
        if self._stray_after_reply:
            raise ModbusInvalidReply("stray frame: another frame arrived right after the reply")

    def _received(self, original: Callable[..., int], data: bytes, addr: Any = None) -> int:
        """Every byte the client receives passes here first (wraps pymodbus' `callback_data`)."""
        ctx = getattr(self._client, "ctx", None)
        asked = self._asked
        future: asyncio.Future[Any] | None = getattr(ctx, "response_future", None)
        if asked is None or future is None or future.done():
            self._stray(data)
            return len(data)
        if self.config.rtu_framing:
            problem = rtu_problem(data, asked)
        else:
            problem = tcp_problem(data, asked, int(getattr(ctx, "request_transaction_id", 0) or 0))
        if problem is None:
            try:
                used = int(original(data, addr))
            except Exception as err:  # whatever pymodbus cannot decode is a bad reply, never a traceback
                problem = f"undecodable reply ({type(err).__name__}: {err})"
            else:
                if future.done() and not future.cancelled() and future.exception() is None:
                    self._last_reply = bytes(data[:used])
                return used
        if not future.done():
            if self.config.rtu_framing and problem.startswith("stray frame") and not _two_copies(data):
                # A frame nobody asked for came glued to this reply: an earlier reply of the cycle may have
                # been a stray taken for its answer (the one displaced arrives now). The pollers read their
                # cycle again, as for a stray frame that comes alone (`_stray`).
                self.out_of_step += 1
            future.set_exception(ModbusInvalidReply(problem))
        return len(data)

    def _stray(self, data: bytes) -> None:
        """Bytes that arrived while no request was outstanding: discarded and counted (see module doc)."""
        if not data or not self.config.rtu_framing:
            return
        self.stray_frames += 1
        copy = data == self._last_reply
        if copy:
            pass  # a device or converter that repeats its answer: harmless once it is discarded
        elif self._guarding:
            self._stray_after_reply = True  # the reply being held is ambiguous: refused and read again
        else:
            self.out_of_step += 1  # an answer may have been displaced: the pollers read their cycle again
        self._guard = min(STRAY_GUARD, self.config.timeout)
        if self.metrics is not None:
            self.metrics.error("stray_frame")
        reason = "stray frame: a copy of the last reply" if copy else "stray frame: no request outstanding"
        self._report("stray frame discarded", reason, None)

    def _invalid(self, asked: Asked, reason: str) -> None:
        """A reply was refused: the line (RTU) or the stream (TCP) may be out of step; start clean."""
        self._report("invalid reply discarded", reason, asked.unit)
        if self.config.rtu_framing:
            self._out_of_step()
        else:
            self._drop_client(reconnect_now=True)

    def _report(self, message: str, reason: str, unit: int | None) -> None:
        """One warning per episode of invalid replies and stray frames on this bus, the rest at debug."""
        now = time.monotonic()
        first = now - self._problem_at > EPISODE_QUIET
        self._problem_at = now
        extra: dict[str, Any] = {"bus": self.name, "reason": reason}
        if unit is not None:
            extra["unit"] = unit
        if first:
            extra["counted"] = "errors.invalid_reply, errors.stray_frame"
            _LOGGER.warning(message, extra=extra)
        else:
            _LOGGER.debug(message, extra=extra)

    def _after_timeout(self) -> None:
        self._consecutive_timeouts += 1
        if self.config.rtu_framing:
            self._out_of_step()
        elif self._consecutive_timeouts >= TIMEOUTS_BEFORE_RECONNECT:
            self._drop_client(reconnect_now=True)
            self._consecutive_timeouts = 0

    def _out_of_step(self) -> None:
        """RTU has no transaction id: a late answer could be taken for the answer to the next request.
        Stay quiet for one full timeout, then reopen the line (whatever arrived meanwhile is discarded)."""
        if not self.config.rtu_framing:
            return
        self._quiet_until = time.monotonic() + self.config.timeout
        self._drop_client(reconnect_now=True)

    async def _connected_client(self) -> ModbusClient:
        if self._client is not None and self._client.connected:
            return self._client
        now = time.monotonic()
        if now < self._next_connect:
            raise ModbusConnectionError(
                f"bus {self.name}: {self.config.endpoint} unreachable, next attempt in "
                f"{self._next_connect - now:.1f} s"
            )
        self._drop_client()
        client = self._client_factory(self.config)
        try:
            ok = await client.connect()
        except (OSError, termios.error, ModbusException) as err:
            # termios.error: a serial port that refuses the line settings (parity, speed) asked for
            ok = False
            _LOGGER.debug("connect failed", extra={"bus": self.name, "error": str(err)})
        if not ok:
            client.close()
            self._next_connect = time.monotonic() + self._connect_delay
            self._connect_delay = min(self._connect_delay * 2, RECONNECT_MAX)
            if self.metrics is not None:
                self.metrics.error("connection")
            if self._was_connected:
                _LOGGER.debug("bus connection failed", extra={"bus": self.name})
            raise ModbusConnectionError(f"bus {self.name}: cannot connect to {self.config.endpoint}")
        if not self._was_connected:
            _LOGGER.info("bus connected", extra={"bus": self.name, "endpoint": self.config.endpoint})
        self._was_connected = True
        self._connect_delay = RECONNECT_MIN
        self._client = client
        self._fresh = True
        ctx = getattr(client, "ctx", None)
        if ctx is not None and hasattr(ctx, "callback_data"):
            original = ctx.callback_data
            ctx.callback_data = lambda data, addr=None: self._received(original, data, addr)
        return client

    def _drop_client(self, *, reconnect_now: bool = False) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if reconnect_now:
            self._next_connect = 0.0


def _set_timeout(client: ModbusClient, timeout: float) -> None:
    """The time the client waits for the next reply (seconds)."""
    if isinstance(client, SolarmanClient):
        client.timeout = timeout
    else:
        client.ctx.comm_params.timeout_connect = timeout  # pymodbus reads it for every request


def _two_copies(data: bytes) -> bool:
    """Whether `data` is one frame twice (a device or converter that repeats its answer at once)."""
    half, odd = divmod(len(data), 2)
    return not odd and data[:half] == data[half:]


def make_client(config: BusConfig) -> ModbusClient:
    """The client for a bus: pymodbus' (its own retries and reconnects off: the bus does them), or the
    Solarman V5 adapter for a `solarman` bus."""
    if config.type == "solarman":
        return SolarmanClient(config)
    client: AsyncModbusSerialClient | AsyncModbusTcpClient
    if config.type == "serial":
        client = AsyncModbusSerialClient(
            str(config.serial_port),
            framer=FramerType.RTU,
            baudrate=config.baudrate,
            bytesize=config.bytesize,
            parity=config.parity,
            stopbits=config.stopbits,
            timeout=config.timeout,
            retries=0,
            reconnect_delay=0,
            name=config.name,
        )
    else:
        client = AsyncModbusTcpClient(
            config.host or "127.0.0.1",
            port=config.port,
            framer=FramerType.RTU if config.type == "rtu_over_tcp" else FramerType.SOCKET,
            timeout=config.timeout,
            retries=0,
            reconnect_delay=0,
            name=config.name,
        )
    client.set_max_no_responses(1_000_000)  # the bus decides when to reconnect
    return client
