"""The plausibility filter: garbage reads never reach the history.

A reading is rejected when it is not finite or lies outside the point's declared `range`. Rejected readings
are left out of the state message, counted, logged once per point (later ones at debug level), and reported
as a `point_rejected` event at the start of every streak of rejections.

Energy counters (`total_increasing` points) are guarded against the two faults that double an Energy
dashboard: a spike, and a drop (to 0, or to another device's value). Every counter has a physical rate
bound (`rate_bound`): the point's `max_rate`, else, for energy counters, the device's power limit (its rated
power read from the device, or the profile's `max_power`). A counter has a baseline, the last value
published, kept in the data folder so that it survives restarts (`pv_collector.baselines`):

- A reading that continues from the baseline (not lower, not higher than the rate bound allows for the time
  since) is published and becomes the baseline.
- Any other reading is held back. Readings that do not fit the baseline but fit each other (each continues
  from the previous one at a plausible rate) form a track. A track that lasts `REBASE_AFTER` readings is
  believed: a track above the baseline is a jump (published), a track below `RESET_BELOW` times the baseline
  a reset (published with the point listed in the state message's `reset`, contract field). A track a
  little below the baseline (a device that counts on from an older value after a restart or a firmware
  correction) is never published: Home Assistant's recorder would take that dip off the Energy dashboard's
  sum (it counts a drop as a new cycle only below 90 % of the previous value, and warns of the dip:
  homeassistant/components/sensor/recorder.py `reset_detected`); it is held until the counter passes its
  baseline again. A lifetime counter (every counter but those declared `resets: daily`) never goes back to
  0: a track at 0 is not believed until it moves.
- Without a baseline (the very first start), a counter's first value is published once `FIRST_CONFIRM`
  readings agree; a first value of 0 only once it has lasted `ZERO_LASTS` seconds as well (devices read 0
  for a while after they start).
- A reading a hair below the baseline (within the point's resolution) is held back silently: float
  counters jitter, and a consumer would take any decrease for a reset.

Points that are not `total_increasing` but declare `max_rate` (a `total` that may go both ways) are
rejected when they grow faster than it since the last accepted reading (kept in memory only).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass

from pv_collector.model import Point, Profile, Value

_LOGGER = logging.getLogger(__name__)

RATE_SLACK = 0.1  # relative slack on the rate bound (clock jitter, read timing)
RATE_SLACK_SECONDS = 10.0  # plus this much time at the rate bound (counter resolution, first reads)
FIRST_CONFIRM = 3  # readings that must agree before a counter's very first value is published
REBASE_AFTER = 10  # consistent readings before a jump or a reset is believed
RESET_BELOW = 0.9  # a lasting track below this fraction of the baseline is a reset (as the recorder's)
ZERO_LASTS = 3600.0  # seconds a counter without a baseline must read 0 before 0 is its first value
RATED_POWER_HEADROOM = 2.0  # a device's rated power times this bounds its energy counters
ENERGY_UNITS_PER_WH = {"Wh": 1.0, "kWh": 1e-3, "MWh": 1e-6}  # energy counters' units, per Wh


def rate_bound(point: Point, max_power: float | None) -> float | None:
    """Largest plausible increase per hour of `point` in its own unit, None when there is none.

    `max_power` (W) is the device's power limit: its rated power times `RATED_POWER_HEADROOM` when the
    device reports one, else the profile's `max_power`. It bounds energy counters (device class `energy`,
    unit Wh, kWh or MWh) that declare no `max_rate` of their own.
    """
    if point.max_rate is not None:
        return point.max_rate
    per_wh = ENERGY_UNITS_PER_WH.get(point.unit or "")
    if max_power is None or per_wh is None or point.device_class != "energy":
        return None
    return max_power * per_wh


def counter_rate_bound(profile: Profile, point: Point) -> float | None:
    """The rate bound of a point of `profile` before any device was read: its `max_rate`, else for an
    energy counter the profile's `max_power` (a device's own rated power only tightens it at run time)."""
    return rate_bound(point, profile.max_power)


def counters_without_rate_bound(points: Iterable[Point], max_power: float | None) -> list[str]:
    """Keys of the `total_increasing` points of `points` that have no rate bound (see `rate_bound`).

    The one rule for every profile: a profile whose list is not empty does not load
    (`pv_collector.profile.counter_rate_problems`)."""
    return [
        point.key
        for point in points
        if point.state_class == "total_increasing" and rate_bound(point, max_power) is None
    ]


def number_text(value: float) -> str:
    """A number as text that tells two different values apart (shortest round-trip form)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one reading was not published (`error` is a contract event error code)."""

    point: str
    error: str  # out_of_range | counter_decrease | counter_jump
    message: str
    first_of_streak: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one reading: publish it (as a counter reset?), or not (why, if it is an error)."""

    publish: bool
    reset: bool = False
    rejection: Rejection | None = None


ACCEPT = Verdict(publish=True)
HOLD = Verdict(publish=False)  # not published, not an error: waiting for later readings to confirm it


@dataclass(slots=True)
class Baseline:
    """A counter's last published value and when it was read (Unix seconds)."""

    value: float
    ts: float


@dataclass(slots=True)
class _Track:
    """Readings that do not fit the baseline but fit each other."""

    last: float
    ts: float
    since: float
    count: int


class PlausibilityFilter:
    """Per-device state of the plausibility check. `baselines` (point key -> `Baseline`) is shared with
    the store that persists it; the filter updates it in place."""

    def __init__(self, device_id: str, baselines: MutableMapping[str, Baseline] | None = None) -> None:
        self.device_id = device_id
        self.baselines: MutableMapping[str, Baseline] = {} if baselines is None else baselines
        self._last: dict[str, Baseline] = {}  # rate-checked points that are not counters
        self._tracks: dict[str, _Track] = {}
        self._streaks: dict[str, int] = {}
        self._logged: set[str] = set()

    def check(self, point: Point, value: Value, ts: float, *, max_power: float | None = None) -> Verdict:
        """The verdict on `value` read at `ts` (a published value becomes the point's baseline).

        `max_power` (W) bounds energy counters without `max_rate` (see `rate_bound`)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return ACCEPT
        number = float(value)
        problem: tuple[str, str] | None = None
        verdict = ACCEPT
        if not math.isfinite(number):
            problem = ("out_of_range", f"{point.key}: {value} is not a finite number")
        elif point.range is not None and not point.range[0] <= number <= point.range[1]:
            low, high = point.range
            problem = ("out_of_range", f"{point.key}: {number_text(number)} is outside {low:g}..{high:g}")
        elif point.state_class == "total_increasing":
            verdict = self._counter(point, number, ts, rate_bound(point, max_power))
        elif point.max_rate is not None:
            problem = self._rate(point, number, ts)
        if verdict.rejection is not None:
            problem = (verdict.rejection.error, verdict.rejection.message)
        if problem is None:
            if verdict.publish:
                self._streaks.pop(point.key, None)
            return verdict
        return Verdict(publish=False, rejection=self._reject(point, *problem))

    def _reject(self, point: Point, error: str, message: str) -> Rejection:
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

    # ------------------------------------------------------------------ counters

    def _counter(self, point: Point, number: float, ts: float, bound: float | None) -> Verdict:
        key = point.key
        base = self.baselines.get(key)
        if base is not None and _continues(base, number, ts, bound, point):
            return self._accept(key, number, ts)
        if base is not None and base.value - _resolution(point) <= number < base.value:
            return HOLD  # jitter a hair below the baseline: neither published nor a reset
        track = self._follow(key, number, ts, bound, point)
        if base is None:
            lasting = track.count >= REBASE_AFTER and ts - track.since >= ZERO_LASTS
            if (track.count >= FIRST_CONFIRM and number != 0) or lasting:
                _LOGGER.info(
                    "counter's first value confirmed",
                    extra={"device": self.device_id, "point": key, "value": number, "readings": track.count},
                )
                return self._accept(key, number, ts)
            return HOLD
        dip = RESET_BELOW * base.value <= number < base.value
        if track.count >= REBASE_AFTER and (number != 0 or point.resets == "daily") and not dip:
            reset = number < base.value
            _LOGGER.warning(
                "counter reset accepted" if reset else "counter jump accepted",
                extra={
                    "device": self.device_id,
                    "point": key,
                    "from": number_text(base.value),
                    "to": number_text(number),
                    "readings": track.count,
                },
            )
            verdict = self._accept(key, number, ts)
            return Verdict(publish=True, reset=True) if reset else verdict
        if number < base.value:
            message = f"{key}: {number_text(number)} is below the last reading {number_text(base.value)}"
            return Verdict(publish=False, rejection=Rejection(key, "counter_decrease", message, False))
        seconds = max(ts - base.ts, 0.0)
        message = (
            f"{key}: +{number_text(number - base.value)} in {seconds:.1f} s exceeds "
            f"{number_text(bound or 0.0)} per hour"
        )
        return Verdict(publish=False, rejection=Rejection(key, "counter_jump", message, False))

    def _accept(self, key: str, number: float, ts: float) -> Verdict:
        self.baselines[key] = Baseline(number, ts)
        self._tracks.pop(key, None)
        return ACCEPT

    def _follow(self, key: str, number: float, ts: float, bound: float | None, point: Point) -> _Track:
        """Continue the point's track with this reading, or start a new one."""
        track = self._tracks.get(key)
        if track is not None and _continues(Baseline(track.last, track.ts), number, ts, bound, point):
            track.last, track.ts, track.count = number, ts, track.count + 1
            return track
        track = _Track(last=number, ts=ts, since=ts, count=1)
        self._tracks[key] = track
        return track

    # ------------------------------------------------------------------ other rate-checked points

    def _rate(self, point: Point, number: float, ts: float) -> tuple[str, str] | None:
        last = self._last.get(point.key)
        if last is not None and number > last.value:
            allowed = _allowed(point.max_rate, max(ts - last.ts, 0.0), point)
            if number - last.value > allowed:
                return (
                    "counter_jump",
                    f"{point.key}: +{number_text(number - last.value)} in {ts - last.ts:.1f} s exceeds "
                    f"{number_text(point.max_rate or 0.0)} per hour",
                )
        self._last[point.key] = Baseline(number, ts)
        return None


def _resolution(point: Point) -> float:
    return 10.0**-point.precision if point.precision is not None else 0.0


def _allowed(bound: float | None, seconds: float, point: Point) -> float:
    """The largest plausible increase in `seconds` at `bound` per hour (with slack)."""
    if bound is None:
        return math.inf
    return bound * (seconds / 3600 * (1 + RATE_SLACK) + RATE_SLACK_SECONDS / 3600) + _resolution(point)


def _continues(last: Baseline, number: float, ts: float, bound: float | None, point: Point) -> bool:
    """Whether `number` read at `ts` can follow `last`: not lower, not faster than `bound`."""
    return last.value <= number <= last.value + _allowed(bound, max(ts - last.ts, 0.0), point)
