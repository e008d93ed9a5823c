"""A `pv_collector.clock.Clock` for tests: time stands still until someone sleeps on it, and a sleep moves it
on by what was asked at once (after one turn of the event loop), so waits of seconds or hours take no
time and every deadline, backoff and schedule is exact.

Hand it to a `Bus` and a `DevicePoller` as `clock=`; read `now` and `slept` afterwards, or move time with
`advance()`. One task sleeping at a time is what it models: two tasks that sleep concurrently each move the
shared time by their own wait.
"""

from __future__ import annotations

import asyncio

START = 1000.0  # monotonic seconds the fake clock starts at (any value: only differences count)


class FakeClock:
    """Virtual monotonic time that moves only when slept on (or advanced by the test)."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.slept: list[float] = []  # every sleep asked for, in order (rounded to the nanosecond)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 9))
        if seconds > 0:
            self.now += seconds
        await asyncio.sleep(0)  # one turn of the loop: others run, as they would during a real wait

    def advance(self, seconds: float) -> None:
        """Time passes without anyone sleeping (a test waiting between two calls)."""
        self.now += seconds
