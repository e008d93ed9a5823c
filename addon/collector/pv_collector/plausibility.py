"""The plausibility filter: garbage reads never reach the history.

A reading is rejected when it lies outside the point's declared `range`, when a `total_increasing`
counter goes backwards, or when a counter with `max_rate` grows faster than physically possible since the
last accepted reading. Rejected readings are left out of the state message, counted, logged once per
point (later ones at debug level), and reported as a `point_rejected` event at the start of every streak
of rejections.

A counter that stays below its last accepted value for `REBASE_AFTER` consecutive readings, all
consistent with each other, has really been reset (a replaced meter): the new value becomes the baseline.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from pv_collector.model import Point, Value

_LOGGER = logging.getLogger(__name__)

RATE_SLACK = 0.1  # relative slack on max_rate (clock jitter, read timing)
RATE_SLACK_SECONDS = 10.0  # plus this much time at max_rate (counter resolution, first reads)
REBASE_AFTER = 10


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one reading was not published (`error` is a contract event error code)."""

    point: str
    error: str  # out_of_range | counter_decrease | counter_jump
    message: str
    first_of_streak: bool


@dataclass(slots=True)
class _CounterState:
    value: float
    ts: float


class PlausibilityFilter:
    """Per-device state of the plausibility check."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self._counters: dict[str, _CounterState] = {}
        self._streaks: dict[str, int] = {}
        self._decreases: dict[str, list[float]] = {}
        self._logged: set[str] = set()

    def check(self, point: Point, value: Value, ts: float) -> Rejection | None:
        """None when `value` is plausible (and then remembered), else why it is not."""
        problem = self._problem(point, value, ts)
        if problem is None:
            self._streaks.pop(point.key, None)
            return None
        error, message = problem
        streak = self._streaks.get(point.key, 0) + 1
        self._streaks[point.key] = streak
        if point.key in self._logged:
            _LOGGER.debug("implausible reading", extra={"device": self.device_id, "point": point.key})
        else:
            self._logged.add(point.key)
            _LOGGER.warning(
                "implausible reading not published",
                extra={"device": self.device_id, "point": point.key, "reason": error, "detail": message},
            )
        return Rejection(point.key, error, message, streak == 1)

    def _problem(self, point: Point, value: Value, ts: float) -> tuple[str, str] | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        number = float(value)
        if not math.isfinite(number):
            return "out_of_range", f"{point.key}: {value} is not a finite number"
        if point.range is not None:
            low, high = point.range
            if not low <= number <= high:
                return "out_of_range", f"{point.key}: {value:g} is outside {low:g}..{high:g}"
        if point.state_class == "total_increasing" or point.max_rate is not None:
            return self._counter(point, number, ts)
        return None

    def _counter(self, point: Point, number: float, ts: float) -> tuple[str, str] | None:
        last = self._counters.get(point.key)
        if last is None:
            self._counters[point.key] = _CounterState(number, ts)
            return None
        if point.state_class == "total_increasing" and number < last.value:
            if self._is_reset(point.key, number):
                _LOGGER.warning(
                    "counter reset accepted",
                    extra={"device": self.device_id, "point": point.key, "from": last.value, "to": number},
                )
                self._counters[point.key] = _CounterState(number, ts)
                return None
            return "counter_decrease", f"{point.key}: {number:g} is below the last reading {last.value:g}"
        self._decreases.pop(point.key, None)
        if point.max_rate is not None and number > last.value:
            hours = max(ts - last.ts, 0.0) / 3600
            allowed = point.max_rate * (hours * (1 + RATE_SLACK) + RATE_SLACK_SECONDS / 3600)
            if point.precision is not None:
                allowed += 10.0**-point.precision
            if number - last.value > allowed:
                return (
                    "counter_jump",
                    f"{point.key}: +{number - last.value:g} in {ts - last.ts:.1f} s exceeds "
                    f"{point.max_rate:g} per hour",
                )
        self._counters[point.key] = _CounterState(number, ts)
        return None

    def _is_reset(self, key: str, number: float) -> bool:
        seen = self._decreases.setdefault(key, [])
        if seen and number < seen[-1]:
            seen.clear()  # not consistent with the previous low readings: still garbage
        seen.append(number)
        if len(seen) >= REBASE_AFTER:
            del self._decreases[key]
            return True
        return False
