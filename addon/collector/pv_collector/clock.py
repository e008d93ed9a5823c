"""The time the Modbus side keeps: a monotonic clock for deadlines and intervals, and a sleep on it.

The bus (request timeouts measured, retry and reconnect backoff, the silences devices ask for, the quiet
time of an RTU line) and the pollers (cycle schedule, backoff while a device is away, quarantine retries,
the settle time of an RTU cycle, cycle durations) take it as `clock`, so a test moves time itself instead
of waiting for it (tests/collector/fake_clock.py). The collector runs on `SYSTEM_CLOCK`.

Wall-clock time, the timestamps of readings and the position of the sun, is another clock: the collector's
`clock` callable (Unix seconds), which tests move on their own.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds and a sleep that lasts that many of them."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds` of this clock (at once for 0 or less)."""
        ...


class SystemClock:
    """The machine's monotonic clock and asyncio's sleep."""

    def monotonic(self) -> float:
        """`time.monotonic()`, the clock asyncio's event loop keeps too."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep(seconds)`."""
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
