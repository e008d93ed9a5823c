"""Replies are checked before they are believed (issue 15; `pv_collector.replies`).

The bus (pv_collector.transport) hands every byte pymodbus receives to its `ReplyWatch` first, which refuses
a reply whose function code, byte count, register count or length does not answer the outstanding request:
a `ModbusInvalidReply` naming the reason, counted as `invalid_reply`, retried like a timeout, never decoded.
Nothing pymodbus cannot decode escapes into asyncio (no traceback).

Stale replies: with Modbus TCP framing pymodbus matches every reply to its request by transaction id and
drops frames with another id, so a reply that arrives after its request timed out is never taken as the
answer to a later one. RTU frames (serial lines, RTU over TCP) carry no transaction id, so after a timeout
the bus closes its connection, which discards whatever the slow device still sends; the next request
opens it again.

On an RTU-framed bus bytes that arrive while no request is outstanding are stray: discarded, counted as
`stray_frame`; a copy of the last reply is harmless, anything else means the line is out of step
(`out_of_step` counts it, and the pollers read their cycle again, see poll_cycle.py). Once a bus has seen a
stray frame, every reply is held for `STRAY_GUARD` seconds: a frame arriving meanwhile makes the reply
ambiguous (refused and read again) unless it is a copy. Problems are logged once per episode per bus
(again after `EPISODE_QUIET` seconds without any).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

from pv_collector.clock import Clock
from pv_collector.config import BusConfig
from pv_collector.errors import ModbusInvalidReply
from pv_collector.metrics import Metrics
from pv_collector.replies import Asked, rtu_problem, tcp_problem

_LOGGER = logging.getLogger(__name__)

STRAY_GUARD = 0.05  # seconds a reply is held on an RTU bus that has seen stray frames
EPISODE_QUIET = 300.0  # seconds without invalid replies or stray frames that end an episode (logged again)


class ReplyWatch:
    """What one bus receives, checked against the request outstanding on it."""

    def __init__(self, config: BusConfig, *, clock: Clock, metrics: Metrics | None) -> None:
        self.config = config
        self.asked: Asked | None = None  # the request outstanding on the wire
        self.stray_frames = 0  # RTU: frames (or bytes) that arrived while no request was outstanding
        self.out_of_step = 0  # RTU: stray frames that were no copy of the last reply
        self._clock = clock
        self._metrics = metrics
        self._guard = 0.0  # RTU: seconds a reply is held before it is believed (STRAY_GUARD once strays came)
        self._last_reply = b""
        self._stray_after_reply = False
        self._guarding = False
        self._problem_at = -math.inf  # the clock's time of the last invalid reply or stray frame

    def expect(self, asked: Asked) -> None:
        """A request goes out: what arrives from now on must answer `asked`."""
        self.asked, self._stray_after_reply = asked, False

    async def believe(self, response: Any, asked: Asked) -> None:
        """Last checks of a decoded reply; on an RTU bus that has seen strays, hold it for the guard time.

        Raises `ModbusInvalidReply`.
        """
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
                await self._clock.sleep(
                    self._guard
                )  # lock held: a second frame now makes the reply ambiguous
            finally:
                self._guarding = False
        if self._stray_after_reply:
            raise ModbusInvalidReply("stray frame: another frame arrived right after the reply")

    def received(self, ctx: Any, original: Callable[..., int], data: bytes, addr: Any = None) -> int:
        """Bytes the client (pymodbus context `ctx`) received: handed on to pymodbus' `original` callback
        when they answer the request outstanding, else refused or discarded. Returns the bytes used."""
        asked = self.asked
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
        if self._metrics is not None:
            self._metrics.error("stray_frame")
        reason = "stray frame: a copy of the last reply" if copy else "stray frame: no request outstanding"
        self.report("stray frame discarded", reason, None)

    def report(self, message: str, reason: str, unit: int | None) -> None:
        """One warning per episode of invalid replies and stray frames on this bus, the rest at debug."""
        now = self._clock.monotonic()
        first = now - self._problem_at > EPISODE_QUIET
        self._problem_at = now
        extra: dict[str, Any] = {"bus": self.config.name, "reason": reason}
        if unit is not None:
            extra["unit"] = unit
        if first:
            extra["counted"] = "errors.invalid_reply, errors.stray_frame"
            _LOGGER.warning(message, extra=extra)
        else:
            _LOGGER.debug(message, extra=extra)


def _two_copies(data: bytes) -> bool:
    """Whether `data` is one frame twice (a device or converter that repeats its answer at once)."""
    half, odd = divmod(len(data), 2)
    return not odd and data[:half] == data[half:]
