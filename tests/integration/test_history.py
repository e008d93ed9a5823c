"""The historian: states and long-term statistics in the harness's real recorder, and the back-fill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.history import get_significant_states
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.components.recorder.tasks import StatisticsTask
from homeassistant.components.sensor import SensorStateClass
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done

from custom_components.pv_monitor.backfill import Baseline, hour_floor, hourly_statistics
from custom_components.pv_monitor.contract import parse_point
from custom_components.pv_monitor.sensor import sensor_device_class, sensor_state_class
from tests.helpers import point_with_entity

from .conftest import FakeCollector

ENERGY = "sensor.inverter_lifetime_energy"
POWER = "sensor.inverter_ac_power"


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: Any) -> None:
    """The recorder is set up before Home Assistant."""


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Recorder, enable_custom_integrations: None) -> None:
    """The recorder first, then custom integrations (the harness needs `recorder_mock` set up first)."""


@pytest.fixture
def platforms() -> list[str]:
    """Sensors are what the recorder compiles statistics for."""
    return [Platform.SENSOR]


def start_collector(collector: FakeCollector, energy: float) -> None:
    """The collector comes up with the inverter's lifetime energy at `energy`."""
    collector.status(True)
    collector.announce()
    collector.availability("inverter", "online")
    collector.state("inverter", {"energy_total": energy, "ac_power": 1000})


async def compile_statistics(hass: HomeAssistant, *starts: datetime) -> None:
    """Compile the 5-minute periods beginning at `starts` (and the hour, for a period at :55) as the
    recorder's own 5-minute tick does, with its events (`recorder_hourly_statistics_generated`)."""
    for start in starts:
        get_instance(hass).queue_task(StatisticsTask(start, True))
    await async_wait_recording_done(hass)


async def hourly(hass: HomeAssistant, start: datetime, entity_id: str) -> list[dict[str, Any]]:
    rows = await hass.async_add_executor_job(
        statistics_during_period, hass, start, None, {entity_id}, "hour", None, {"state", "sum", "change"}
    )
    return [
        {
            "start": datetime.fromtimestamp(row["start"], UTC),
            "state": row["state"],
            "sum": row["sum"],
            "change": row["change"],
        }
        for row in rows.get(entity_id, [])
    ]


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ({"unit": "W", "device_class": "power", "state_class": "measurement"}, SensorStateClass.MEASUREMENT),
        ({"unit": "kWh", "device_class": "energy", "state_class": "total_increasing"}, "total_increasing"),
        # announced without one: a rating, a setting or a vendor code, no statistics
        ({"unit": "W", "device_class": "power"}, None),
        ({"unit": "kWh", "device_class": "energy_storage"}, None),
        ({"unit": "rpm"}, None),
        ({"unit": "W", "device_class": "power", "state_class": "total_increasing"}, None),
    ],
)
def test_state_class_as_announced(point: dict[str, Any], expected: str | None) -> None:
    """A numeric point gets the announced state class when its device class allows it, else none (as this
    collector announces it, with its `entity`, and as one before 0.2.0 did)."""
    announced = {"key": "x", "name": "X", "kind": "number", **point}
    for definition in (parse_point(point_with_entity(announced), "x"), parse_point(announced, "x")):
        assert sensor_state_class(definition, sensor_device_class(definition)) == expected


def test_hourly_statistics_follow_home_assistants_meter_rules() -> None:
    """Sums grow with the counter, a drop below 90 % starts a new cycle, empty hours carry over."""
    start = datetime(2025, 6, 1, 8, tzinfo=UTC)
    at = [(start + timedelta(minutes=m)).timestamp() for m in (10, 70, 80, 190, 200, 250)]
    readings = [(at[0], 11.0), (at[1], 2.0), (at[2], -1.0), (at[3], 3.0), (at[4], 2.9), (at[5], 99.0)]
    rows = hourly_statistics(Baseline(state=10.0, sum=5.0), readings, until=start + timedelta(hours=4))
    assert [(row["start"].hour, row["state"], row["sum"]) for row in rows] == [
        (8, 11.0, 6.0),  # 10 -> 11
        (9, 2.0, 8.0),  # reset: 11 -> 0 -> 2 (the negative value is ignored)
        (10, 2.0, 8.0),  # no reading: carried
        (11, 2.9, 8.9),  # 2 -> 3, then a dip to 2.9 counts as it is
    ]  # 12:10 is in the hour of `until`: the recorder compiles that one itself
    assert hourly_statistics(Baseline(state=1.0, sum=0.0), [(at[5], 5.0)], until=start) == []


async def test_history_of_a_sensor(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Every reading becomes a state in the history, at the time it arrived."""
    start = dt_util.utcnow()
    start_collector(collector, 100.0)
    await hass.async_block_till_done()
    for power in (2000, 2500):
        freezer.tick(timedelta(seconds=30))
        collector.state("inverter", {"ac_power": power})
        await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    history = await hass.async_add_executor_job(
        get_significant_states, hass, start - timedelta(seconds=1), None, [POWER]
    )
    states = [state for state in history[POWER] if state.state != "unknown"]  # before the first reading
    assert [state.state for state in states] == ["1000", "2000", "2500"]
    assert states[2].last_updated - states[1].last_updated == timedelta(seconds=30)
    assert states[0].attributes["unit_of_measurement"] == "W"


async def test_statistics_of_an_energy_counter_with_a_meter_reset(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    freezer: FrozenDateTimeFactory,
) -> None:
    """10 -> 11 -> 2 (marked as a reset by the collector) -> 3 within five minutes: the sum counts
    1 + 3 = 4 kWh."""
    period = hour_floor(dt_util.utcnow()) + timedelta(hours=1)
    freezer.move_to(period + timedelta(seconds=10))
    start_collector(collector, 10.0)
    for energy in (11.0, 2.0, 3.0):
        freezer.tick(timedelta(seconds=30))
        reset = {"reset": ["energy_total"]} if energy == 2.0 else {}
        collector.state("inverter", {"energy_total": energy}, **reset)
        await hass.async_block_till_done()
    freezer.move_to(period + timedelta(minutes=5, seconds=10))
    await compile_statistics(hass, period)
    stats = await hass.async_add_executor_job(
        statistics_during_period, hass, period, None, {ENERGY}, "5minute", None, {"state", "sum"}
    )
    assert [(row["state"], row["sum"]) for row in stats[ENERGY]] == [(3.0, 4.0)]


async def test_backfill_after_an_outage(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Buffered readings rewrite the hours of the gap; the hour they arrive in is not counted twice."""
    h0 = hour_floor(dt_util.utcnow()) + timedelta(hours=1)
    freezer.move_to(h0 + timedelta(minutes=1))
    start_collector(collector, 100.0)
    await hass.async_block_till_done()
    freezer.move_to(h0 + timedelta(minutes=7))
    collector.state("inverter", {"energy_total": 101.0})  # the last live reading
    await hass.async_block_till_done()
    freezer.move_to(h0 + timedelta(minutes=10, seconds=10))
    await compile_statistics(hass, h0, h0 + timedelta(minutes=5))

    # The broker is gone from 0:12 to 3:20; the recorder keeps compiling the held value.
    for hour in range(2):
        freezer.move_to(h0 + timedelta(hours=hour + 1, seconds=10))
        await compile_statistics(hass, h0 + timedelta(hours=hour, minutes=55))
    before = await hourly(hass, h0, ENERGY)
    assert [(row["state"], row["sum"]) for row in before] == [(101.0, 1.0), (101.0, 1.0)]

    # Back at 3:20 the collector drains its queue: readings every 30 minutes, a meter reset at 1:45.
    freezer.move_to(h0 + timedelta(hours=3, minutes=20))
    queued = {15: 102.0, 45: 104.0, 75: 110.0, 105: 2.0, 135: 5.0, 165: 7.0, 195: 9.0}
    for minute, energy in queued.items():
        ts = (h0 + timedelta(minutes=minute)).timestamp()
        reset = {"reset": ["energy_total"]} if energy == 2.0 else {}  # the collector marks the reset
        collector.state("inverter", {"energy_total": energy}, ts=ts, buffered=True, **reset)
        await hass.async_block_till_done()
        freezer.tick(timedelta(milliseconds=1))  # they arrive one after the other, as on a real broker
    collector.state("inverter", {"energy_total": 10.0})  # live again
    await hass.async_block_till_done()
    async_fire_time_changed(hass)
    await async_wait_recording_done(hass)
    assert hass.states.get(ENERGY).state == "10.0"
    # Hour 2:00 has not been compiled yet: nothing may be imported into it before the recorder did.
    assert [row["start"] for row in await hourly(hass, h0, ENERGY)] == [h0, h0 + timedelta(hours=1)]

    await compile_statistics(hass, h0 + timedelta(hours=2, minutes=55))
    freezer.tick(timedelta(seconds=61))
    async_fire_time_changed(hass)
    await async_wait_recording_done(hass)
    await async_wait_recording_done(hass)
    assert "Back-filling 3 hours of sensor.inverter_lifetime_energy" in caplog.text

    # The recorder then compiles the hour the readings arrived in, from its own 5-minute statistics.
    freezer.move_to(h0 + timedelta(hours=4, seconds=10))
    await compile_statistics(hass, h0 + timedelta(hours=3, minutes=20), h0 + timedelta(hours=3, minutes=55))
    rows = await hourly(hass, h0, ENERGY)
    assert [(row["start"] - h0, row["state"], row["sum"]) for row in rows] == [
        (timedelta(hours=0), 104.0, 4.0),  # 100 -> 101 live, -> 102 -> 104 buffered
        (timedelta(hours=1), 2.0, 12.0),  # -> 110, reset, -> 2
        (timedelta(hours=2), 7.0, 17.0),  # -> 5 -> 7
        (timedelta(hours=3), 10.0, 20.0),  # -> 9 buffered, -> 10 live: counted once
    ]
    assert [row["change"] for row in rows[1:]] == [8.0, 5.0, 3.0]


async def test_backfill_needs_statistics_to_continue_from(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Readings from before the counter's first statistic have nothing to continue from: left alone."""
    h0 = hour_floor(dt_util.utcnow()) + timedelta(hours=1)
    freezer.move_to(h0 + timedelta(minutes=1))
    start_collector(collector, 100.0)
    await hass.async_block_till_done()
    freezer.move_to(h0 + timedelta(hours=2, minutes=1))
    await compile_statistics(hass, h0 + timedelta(hours=1, minutes=55))
    before = await hourly(hass, h0, ENERGY)
    assert [(row["state"], row["sum"]) for row in before] == [(100.0, 0.0)]
    collector.state(
        "inverter", {"energy_total": 150.0}, ts=(h0 + timedelta(minutes=30)).timestamp(), buffered=True
    )
    await hass.async_block_till_done()
    freezer.tick(timedelta(seconds=11))
    async_fire_time_changed(hass)
    await async_wait_recording_done(hass)
    assert await hourly(hass, h0, ENERGY) == before


def test_readings_are_converted_to_the_statistics_unit() -> None:
    """Statistics kept in kWh take readings announced in Wh; an unrelated unit is refused."""
    from custom_components.pv_monitor.backfill import _converted, _PendingCounter

    metadata: Any = {"unit_of_measurement": "kWh", "unit_class": "energy"}
    assert _converted(_PendingCounter(unit="Wh", readings={1.0: 1500.0}), metadata) == {1.0: 1.5}
    assert _converted(_PendingCounter(unit="kWh", readings={1.0: 2.0}), metadata) == {1.0: 2.0}
    assert _converted(_PendingCounter(unit="m³", readings={1.0: 2.0}), metadata) is None
