"""Modbus buses: one connection per configured bus (pv_collector.bus_link), one lock per bus.

A `Bus` serialises every request on its line (an RS-485 line or a gateway connection has one master and
one outstanding request), applies the per-request timeout (adapted to each device:
pv_collector.response_timer), retries with backoff, reconnects with backoff, and maps pymodbus' results
and exceptions onto the collector's `ModbusError` tree. What it receives is checked before it is believed
(pv_collector.reply_watch): an invalid reply is refused and retried like a timeout; on an RTU line, which
has no transaction id, a timeout or an invalid reply puts the line out of step: the bus stays quiet for
one full timeout (a late answer dies out), then opens the line again.

Device quirks (a profile's `connection`, applied per unit with `configure_unit`; docs/profiles.md): after
the connection is opened or reopened the bus stays silent `delay_after_connect` seconds (the longest any
device on the bus asks for; Huawei inverters answer nothing in their first second), it leaves at least
`request_interval` seconds between the end of one exchange with a device and the next request to it
(Growatt, SolaX), and a device with `write_function: 16` gets FC16 even for a single register (Deye and
Sofar refuse FC6). The waits happen under the bus lock, so nobody else talks meanwhile.

Every wait and every measured time is on the bus's `clock` (pv_collector.clock), so tests move time.

Each request has an `Origin`: the collector's own (polls, commands, the gateway's forwards) or a tool of the
collector's page (identify, the register explorer, recording an image). Both take the same path (lock,
quirks, timeouts, retries, the checks of the reply); only what the collector's published figures count of
them differs (see `Origin`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from pv_collector.bus_link import BusLink, ClientFactory, ModbusClient, make_client, set_timeout
from pv_collector.clock import SYSTEM_CLOCK, Clock
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
from pv_collector.replies import Asked, incomplete_problem
from pv_collector.reply_watch import ReplyWatch
from pv_collector.response_timer import ResponseTimer

_LOGGER = logging.getLogger(__name__)

RETRY_BACKOFF = 0.05  # seconds before the first retry; doubles per retry
RETRY_BACKOFF_MAX = 1.0
BUSY_CODES = frozenset({5, 6})  # acknowledge, server busy: worth a retry
GATEWAY_CODES = frozenset({10, 11})  # gateway path unavailable, target device failed to respond
TIMEOUTS_BEFORE_RECONNECT = 3  # consecutive timeouts on a TCP bus before its connection is renewed
_READ_CODES = {Function.HOLDING: 3, Function.INPUT: 4}
_PLAIN = Connection()  # a device without quirks


class Origin(StrEnum):
    """Whom a request is for, and so what the collector's published figures count of it.

    - `COLLECTOR`: the collector's own work (polls, commands, the gateway's forwards). Counted in full: the
      request by outcome and its latency (`Metrics.request`), a failure as an error by kind
      (`Metrics.error`: timeout, modbus_exception, ...; the `stats` message's `errors`, Home Assistant's
      errors sensor, `/metrics`, the page's overview), a failed connection attempt.
    - `TOOL`: a tool of the collector's page (identify, the register explorer, recording an image), asked by
      a user. Not a poll: identify asks registers a device refuses by design, the explorer reads what the
      user types. Such a request takes the bus's lock and its own path like any other, and its time counts
      in the bus's busy time (`Metrics.busy`: the line was taken), but neither its outcome nor its failure
      is counted anywhere the collector publishes errors or requests by outcome.
    """

    COLLECTOR = "collector"
    TOOL = "tool"


class UnitReader:
    """A `RegisterReader` for one unit id on a bus, its requests of one `Origin`."""

    def __init__(self, bus: Bus, unit_id: int, *, origin: Origin = Origin.COLLECTOR) -> None:
        self.bus = bus
        self.unit_id = unit_id
        self.origin = origin

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        """Read `count` registers (FC3 holding / FC4 input) with the bus's retries."""
        return await self.bus.read(self.unit_id, function, address, count, origin=self.origin)

    async def read_once(self, function: Function, address: int, count: int) -> list[int]:
        """Read without retries (probing a device known to be away)."""
        return await self.bus.read(self.unit_id, function, address, count, retries=0, origin=self.origin)

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
        client_factory: ClientFactory | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self.name = config.name
        self.metrics = metrics
        self.requests = 0  # every request sent on the wire, retries included
        self.writes = 0  # write requests (FC6/FC16) sent
        self.clock = clock  # every wait and every measured time of the bus
        self._link = BusLink(
            config,
            factory=client_factory or make_client,
            clock=clock,
            metrics=metrics,
            receiver=self._received,
        )
        self._watch = ReplyWatch(config, clock=clock, metrics=metrics)
        self._lock = asyncio.Lock()
        self._consecutive_timeouts = 0
        self._quiet_until = 0.0  # RTU: nothing is sent before this (the clock's time); late answers die out
        self._closed = False
        self._timers: dict[int, ResponseTimer] = {}
        self._units: dict[int, Connection] = {}  # the quirks of each device (its profile's `connection`)
        self._last_exchange: dict[int, float] = {}  # unit -> the clock's time its last exchange ended

    @property
    def stray_frames(self) -> int:
        """RTU: frames (or bytes) that arrived while no request was outstanding."""
        return self._watch.stray_frames

    @property
    def out_of_step(self) -> int:
        """RTU: stray frames that were no copy of the last reply (the pollers read their cycle again)."""
        return self._watch.out_of_step

    # ------------------------------------------------------------------ public API

    def reader(self, unit_id: int, *, origin: Origin = Origin.COLLECTOR) -> UnitReader:
        """A reader bound to one device of this bus (`Origin.TOOL` for a tool of the page)."""
        return UnitReader(self, unit_id, origin=origin)

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
        self,
        unit_id: int,
        function: Function,
        address: int,
        count: int,
        *,
        retries: int | None = None,
        origin: Origin = Origin.COLLECTOR,
    ) -> list[int]:
        """Read registers; raises `ModbusTimeout`, `ModbusExceptionResponse` or `ModbusConnectionError`.

        `origin`: `Origin.TOOL` for a tool of the page (not counted as the collector's request or error).
        """

        async def call(client: ModbusClient) -> Any:
            if function is Function.INPUT:
                return await client.read_input_registers(address, count=count, device_id=unit_id)
            return await client.read_holding_registers(address, count=count, device_id=unit_id)

        what = f"read {function.value} {address}+{count} unit {unit_id}"
        asked = Asked(unit_id, _READ_CODES[function], count)
        response = await self._request(call, retries, what, unit_id, asked=asked, origin=origin)
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
        RTU-framed bus waits that long before it believes a cycle (pv_collector.reply_watch)."""
        return self.timeout_for(unit_id)

    async def close(self) -> None:
        """Close the connection; the bus can not be used afterwards."""
        self._closed = True
        async with self._lock:
            self._link.drop()

    @property
    def connected(self) -> bool:
        """Whether the underlying client holds an open connection."""
        return self._link.connected

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
        origin: Origin = Origin.COLLECTOR,
    ) -> Any:
        attempts = 1 + (self.config.retries if retries is None else retries)
        delay = RETRY_BACKOFF
        last: ModbusError | None = None
        for attempt in range(attempts):
            if attempt:
                await self.clock.sleep(delay)  # lock released: other devices use the bus meanwhile
                delay = min(delay * 2, RETRY_BACKOFF_MAX)
            try:
                async with self._lock:
                    return await self._once(call, asked, adaptive=adaptive, origin=origin)
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
                if self._link.backing_off:
                    break  # waiting for the reconnect backoff: retrying now would not help
        assert last is not None
        _LOGGER.debug("request failed", extra={"bus": self.name, "request": what, "error": str(last)})
        raise last

    async def _once(
        self, call: Callable[[ModbusClient], Awaitable[Any]], asked: Asked, *, adaptive: bool, origin: Origin
    ) -> Any:
        if self._closed:
            raise ModbusConnectionError(f"bus {self.name} is closed")
        if (quiet := self._quiet_until - self.clock.monotonic()) > 0:
            await self.clock.sleep(quiet)  # the lock is held: nobody talks while a late answer may come
        counted = origin is Origin.COLLECTOR
        client = await self._link.open(counted=counted)
        unit_id = asked.unit
        await self._keep_quirks(unit_id)
        timer = self._timers.setdefault(unit_id, ResponseTimer())
        timeout = timer.timeout(self.config.timeout) if adaptive else self.config.timeout
        set_timeout(client, timeout)
        started = self.clock.monotonic()
        self.requests += 1
        outcome = "ok"
        self._watch.expect(asked)
        try:
            try:
                # pymodbus applies the timeout itself; the outer guard only protects against a hang (of real
                # I/O: it keeps the event loop's time, not the bus's clock).
                response = await asyncio.wait_for(call(client), timeout=timeout * 2 + 1)
                self._watch.asked = None
                await self._watch.believe(response, asked)
            except (TimeoutError, ModbusError, ModbusException) as err:
                outcome, raised = self._failure(err, client, asked, timer, timeout)
                if raised is err:
                    raise
                raise raised from err
            timer.answered(self.clock.monotonic() - started)
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
                seconds = self.clock.monotonic() - started
                if not counted:  # a tool's request (`Origin`): it took the line, nothing more
                    self.metrics.busy(self.name, seconds)
                else:
                    self.metrics.request(self.name, seconds, outcome)
                    if outcome != "ok":
                        self.metrics.error("modbus_exception" if outcome == "exception" else outcome)
            self._watch.asked = None
            self._last_exchange[unit_id] = self.clock.monotonic()

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
            self._link.drop()
            return "connection", ModbusConnectionError(f"bus {self.name}: {err}")
        if isinstance(err, LoggerSerialMismatch):  # the solarman client's own errors (pv_collector.solarman)
            return "connection", err
        if isinstance(err, ModbusConnectionError):
            self._link.drop()
            return "connection", err
        if isinstance(err, ModbusTimeout):  # a logger reports that the device behind it did not answer
            return "timeout", err
        if isinstance(err, ModbusError):
            return "exception", err
        return "exception", ModbusError(f"bus {self.name}: {err}")

    async def _keep_quirks(self, unit_id: int) -> None:
        """The silences devices ask for, before a request (the lock is held): after a new connection, and
        since the device's last exchange."""
        if self._link.fresh:
            self._link.fresh = False
            if (delay := self.delay_after_connect) > 0:
                await self.clock.sleep(delay)
        interval = self.unit_connection(unit_id).request_interval
        last = self._last_exchange.get(unit_id)
        if interval > 0 and last is not None and (wait := last + interval - self.clock.monotonic()) > 0:
            await self.clock.sleep(wait)

    def _received(self, original: Callable[..., int], data: bytes, addr: Any = None) -> int:
        """Every byte the client receives passes here first (wraps pymodbus' `callback_data`)."""
        return self._watch.received(getattr(self._link.client, "ctx", None), original, data, addr)

    def _invalid(self, asked: Asked, reason: str) -> None:
        """A reply was refused: the line (RTU) or the stream (TCP) may be out of step; start clean."""
        self._watch.report("invalid reply discarded", reason, asked.unit)
        if self.config.rtu_framing:
            self._out_of_step()
        else:
            self._link.drop(reconnect_now=True)

    def _after_timeout(self) -> None:
        self._consecutive_timeouts += 1
        if self.config.rtu_framing:
            self._out_of_step()
        elif self._consecutive_timeouts >= TIMEOUTS_BEFORE_RECONNECT:
            self._link.drop(reconnect_now=True)
            self._consecutive_timeouts = 0

    def _out_of_step(self) -> None:
        """RTU has no transaction id: a late answer could be taken for the answer to the next request.
        Stay quiet for one full timeout, then reopen the line (whatever arrived meanwhile is discarded)."""
        if not self.config.rtu_framing:
            return
        self._quiet_until = self.clock.monotonic() + self.config.timeout
        self._link.drop(reconnect_now=True)
