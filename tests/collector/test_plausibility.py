"""The plausibility filter and counter guard (pv_collector.plausibility) on its own: every rule of its module
docstring, one reading at a time. The same faults through the Modbus wire are in
tests/reliability/test_counters.py."""

from __future__ import annotations

import pytest

from pv_collector.model import Point
from pv_collector.plausibility import (
    FIRST_CONFIRM,
    REBASE_AFTER,
    ZERO_LASTS,
    Baseline,
    PlausibilityFilter,
    Verdict,
    counters_without_rate_bound,
    rate_bound,
)

POWER = Point(key="power", name="Power", address=0, range=(-20000, 20000))
ENERGY = Point(
    key="energy", name="Energy", address=2, state_class="total_increasing", max_rate=10.0, precision=3
)
TODAY = Point(
    key="today", name="Today", address=4, state_class="total_increasing", max_rate=10.0, resets="daily"
)
SUNSPEC_ENERGY = Point(
    key="energy_export", name="Export", address=6, unit="kWh", device_class="energy",
    state_class="total_increasing", precision=3,
)  # fmt: skip


def published(verdict: Verdict) -> bool:
    return verdict.publish


def confirmed(guard: PlausibilityFilter, point: Point, value: float, ts: float = 0.0) -> None:
    """Give `point` the baseline `value` (its first readings agree)."""
    for step in range(FIRST_CONFIRM):
        guard.check(point, value, ts + step)
    assert guard.baselines[point.key].value == value


def test_out_of_range_is_rejected_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    check = PlausibilityFilter("meter").check
    assert check(POWER, 1500, 0.0).publish
    first = check(POWER, 65535 * 10, 1.0).rejection
    assert first is not None
    assert (first.error, first.first_of_streak) == ("out_of_range", True)
    second = check(POWER, 99999, 2.0).rejection
    assert second is not None
    assert not second.first_of_streak
    assert check(POWER, 10, 3.0).publish
    assert check(POWER, float("nan"), 4.0).rejection is not None
    warnings = [r for r in caplog.records if r.getMessage() == "implausible reading not published"]
    assert len(warnings) == 1


def test_a_counters_first_value_waits_until_readings_agree() -> None:
    guard = PlausibilityFilter("meter")
    results = [guard.check(ENERGY, 100.0, float(step)) for step in range(FIRST_CONFIRM)]
    assert [r.publish for r in results] == [False] * (FIRST_CONFIRM - 1) + [True]
    assert all(r.rejection is None for r in results)  # held back, not an error


def test_a_first_reading_that_does_not_continue_starts_over() -> None:
    guard = PlausibilityFilter("meter")
    assert not guard.check(ENERGY, 10_733.72, 0.0).publish  # a spike as the very first reading
    results = [guard.check(ENERGY, 100.0 + step * 0.001, 1.0 + step) for step in range(FIRST_CONFIRM)]
    assert results[-1].publish
    assert guard.baselines["energy"].value == pytest.approx(100.0 + (FIRST_CONFIRM - 1) * 0.001)


def test_zero_is_a_first_value_only_when_it_lasts() -> None:
    guard = PlausibilityFilter("meter")
    assert not any(guard.check(ENERGY, 0.0, float(step)).publish for step in range(REBASE_AFTER * 2))
    assert guard.check(ENERGY, 0.0, ZERO_LASTS + 1).publish  # an hour of zeros: the counter is new


def test_rate_bound_spikes_and_decreases_are_rejected() -> None:
    guard = PlausibilityFilter("meter")
    confirmed(guard, ENERGY, 100.0)
    decrease = guard.check(ENERGY, 99.0, 3600.0).rejection
    assert decrease is not None
    assert decrease.error == "counter_decrease"
    # 10 kWh per hour at most: one hour later +10 is fine, +1000 is a spike.
    assert guard.check(ENERGY, 110.0, 3600.0).publish
    jump = guard.check(ENERGY, 1110.0, 3601.0).rejection
    assert jump is not None
    assert jump.error == "counter_jump"
    assert guard.check(ENERGY, 110.001, 3602.0).publish


def test_a_rejection_names_both_numbers_so_they_differ() -> None:
    """Issue 15 section 7: "17310.4 is below 17310.4"."""
    guard = PlausibilityFilter("meter")
    confirmed(guard, SUNSPEC_ENERGY, 117310.4)
    rejection = guard.check(SUNSPEC_ENERGY, 117310.35, 10.0).rejection
    assert rejection is not None
    assert rejection.message == "energy_export: 117310.35 is below the last reading 117310.4"


def test_a_lasting_lower_counter_is_a_reset() -> None:
    guard = PlausibilityFilter("meter")
    confirmed(guard, ENERGY, 21267.0)
    results = [guard.check(ENERGY, 5.0 + step * 0.001, 10.0 + step) for step in range(REBASE_AFTER)]
    assert not any(r.publish for r in results[:-1])
    assert results[-1] == Verdict(publish=True, reset=True)
    assert guard.check(ENERGY, 5.0 + REBASE_AFTER * 0.001, 30.0) == Verdict(publish=True)


def test_readings_that_jump_about_are_never_a_reset() -> None:
    guard = PlausibilityFilter("meter")
    confirmed(guard, ENERGY, 21267.0)
    garbage = [5.0, 900.0, 7.0, 3000.0, 12.0, 4.0, 800.0, 9.0, 2.0, 700.0, 6.0, 1.0]
    assert not any(guard.check(ENERGY, value, 10.0 + i).publish for i, value in enumerate(garbage))


def test_a_lifetime_counter_never_goes_back_to_zero() -> None:
    guard = PlausibilityFilter("meter")
    confirmed(guard, ENERGY, 12345.6)
    assert not any(guard.check(ENERGY, 0.0, 10.0 + step).publish for step in range(REBASE_AFTER * 3))
    assert guard.check(ENERGY, 12345.6, 100.0).publish


def test_a_daily_counter_goes_back_to_zero_as_a_reset() -> None:
    guard = PlausibilityFilter("inverter")
    confirmed(guard, TODAY, 25.3)
    results = [guard.check(TODAY, 0.0, 10.0 + step) for step in range(REBASE_AFTER)]
    assert results[-1] == Verdict(publish=True, reset=True)


def test_a_jump_is_believed_when_later_readings_continue_from_it() -> None:
    guard = PlausibilityFilter("meter")
    confirmed(guard, ENERGY, 100.0)
    results = [guard.check(ENERGY, 5000.0 + step * 0.001, 10.0 + step) for step in range(REBASE_AFTER)]
    assert results[-1] == Verdict(publish=True)  # a jump, not a reset
    assert not any(r.publish for r in results[:-1])


def test_jitter_a_hair_below_is_held_back_silently() -> None:
    guard = PlausibilityFilter("meter")
    confirmed(guard, ENERGY, 100.0)
    for step in range(REBASE_AFTER * 2):
        verdict = guard.check(ENERGY, 99.999, 10.0 + step)
        assert verdict == Verdict(publish=False)


def test_a_persisted_baseline_judges_the_first_reading_after_a_restart() -> None:
    baselines = {"energy": Baseline(3354.22, 1000.0)}
    guard = PlausibilityFilter("meter", baselines)
    assert guard.check(ENERGY, 0.0, 1005.0).rejection is not None
    assert guard.check(ENERGY, 10733.72, 1010.0).rejection is not None
    assert guard.check(ENERGY, 3354.23, 1015.0).publish
    assert baselines["energy"] == Baseline(3354.23, 1015.0)  # updated in place for the store


def test_energy_counters_without_max_rate_are_bound_by_power() -> None:
    assert rate_bound(ENERGY, None) == 10.0
    assert rate_bound(SUNSPEC_ENERGY, 5000.0) == pytest.approx(5.0)  # 5 kW: 5 kWh per hour
    assert rate_bound(SUNSPEC_ENERGY, None) is None
    assert counters_without_rate_bound([ENERGY, SUNSPEC_ENERGY, POWER], None) == ["energy_export"]
    assert counters_without_rate_bound([ENERGY, SUNSPEC_ENERGY, POWER], 1e6) == []
    guard = PlausibilityFilter("inverter")
    for step in range(FIRST_CONFIRM):
        guard.check(SUNSPEC_ENERGY, 100.0, float(step), max_power=5000.0)
    assert guard.check(SUNSPEC_ENERGY, 100.5, 360.0, max_power=5000.0).publish  # 0.5 kWh in 6 min at 5 kW
    jump = guard.check(SUNSPEC_ENERGY, 110.0, 365.0, max_power=5000.0).rejection
    assert jump is not None
    assert jump.error == "counter_jump"


def test_a_counter_that_counts_on_from_a_little_lower_is_held_until_it_passes_its_baseline() -> None:
    """A device that restarts counting from a value a little below the last one published (the demo's
    simulator restarted: 4651.66 after 4652.20 kWh) is no reset: Home Assistant would take the dip off the
    Energy dashboard's sum. Nothing is published until the counter passes its baseline (before: the lower
    value was published as a reset after REBASE_AFTER readings)."""
    guard = PlausibilityFilter("inverter")
    confirmed(guard, SUNSPEC_ENERGY, 4652.20)
    readings = [4651.66 + step * 0.02 for step in range(REBASE_AFTER * 3)]  # 30 readings, catching up
    results = [guard.check(SUNSPEC_ENERGY, value, 10.0 + step) for step, value in enumerate(readings)]
    below = [r for value, r in zip(readings, results, strict=True) if value < 4652.20]
    above = [r for value, r in zip(readings, results, strict=True) if value >= 4652.20]
    assert len(below) > REBASE_AFTER  # long enough to have been believed as a reset before
    assert not any(r.publish for r in below)
    assert all(r == Verdict(publish=True) for r in above)


def test_a_drop_below_the_recorders_reset_threshold_is_a_reset() -> None:
    guard = PlausibilityFilter("meter")
    confirmed(guard, ENERGY, 1000.0)
    results = [guard.check(ENERGY, 899.0 + step * 0.001, 10.0 + step) for step in range(REBASE_AFTER)]
    assert results[-1] == Verdict(publish=True, reset=True)
