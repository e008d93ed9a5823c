"""Energy counters in Home Assistant's Energy statistics (issue 15, section 1): whatever a device's counter
did, the recorder's `sum` (what the Energy dashboard adds up) is the energy that really flowed.

The inputs are the issue's, fed as state messages of the contract (checked against its JSON Schema by
the fake collector) in the order and with the values the collector publishes for them
(docs/reliability.md, "Field faults": a spike, a 0 at start and a dip are never published, a meter
replacement is published as an explicit `reset`). Where an older or broken collector would publish the
fault anyway (a lower value without `reset`), the integration's last-resort guard keeps it out: the
entity keeps its last value and the diagnostics count it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done

from custom_components.pv_monitor.backfill import hour_floor
from custom_components.pv_monitor.diagnostics import async_get_config_entry_diagnostics

from .conftest import FakeCollector
from .test_history import compile_statistics

EXPORT = "sensor.grid_meter_exported_energy"
LIFETIME = "sensor.inverter_lifetime_energy"


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: Any) -> None:
    """The recorder is set up before Home Assistant."""


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Recorder, enable_custom_integrations: None) -> None:
    """The recorder first, then custom integrations."""


@pytest.fixture
def platforms() -> list[str]:
    """Sensors are what the recorder compiles statistics for."""
    return [Platform.SENSOR]


class Meter:
    """Feeds one counter's readings, one every 30 s from the start of an hour, and reads its statistics."""

    def __init__(
        self,
        hass: HomeAssistant,
        collector: FakeCollector,
        freezer: FrozenDateTimeFactory,
        device: str,
        key: str,
    ) -> None:
        self.hass, self.collector, self.freezer = hass, collector, freezer
        self.device, self.key = device, key
        self.start = hour_floor(dt_util.utcnow()) + timedelta(hours=1)
        self.at = self.start + timedelta(seconds=10)
        freezer.move_to(self.at)

    async def publish(self, *values: float, reset: bool = False) -> None:
        """State messages as the collector publishes them (`reset`: the first one marks a new meter)."""
        for index, value in enumerate(values):
            self.at += timedelta(seconds=30)
            self.freezer.move_to(self.at)
            extra = {"reset": [self.key]} if reset and index == 0 else {}
            self.collector.state(self.device, {self.key: value}, **extra)
            await self.hass.async_block_till_done()

    async def sums(self, entity_id: str) -> list[tuple[float, float]]:
        """(state, sum) of every 5-minute period since the start, compiled as the recorder does."""
        periods = [
            self.start + timedelta(minutes=5 * n)
            for n in range(int((self.at - self.start).seconds / 300) + 1)
        ]
        self.freezer.move_to(periods[-1] + timedelta(minutes=5, seconds=10))
        await compile_statistics(self.hass, *periods)
        await async_wait_recording_done(self.hass)
        rows = await self.hass.async_add_executor_job(
            statistics_during_period,
            self.hass,
            self.start,
            None,
            {entity_id},
            "5minute",
            None,
            {"state", "sum"},
        )
        return [(row["state"], row["sum"]) for row in rows.get(entity_id, [])]


async def start(collector: FakeCollector, **values: dict[str, float]) -> None:
    collector.status(True)
    collector.announce()
    for device, device_values in values.items():
        collector.availability(device, "online")
        collector.state(device, device_values)


async def test_a_spike_is_not_in_the_statistics(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    freezer: FrozenDateTimeFactory,
) -> None:
    """SunSpec meter export 3 354 220 Wh growing 10 Wh a poll, one read of 10 733 720 Wh: the collector
    publishes every true reading and not the spike; the sum is the 0.1 kWh that flowed."""
    meter = Meter(hass, collector, freezer, "meter", "energy_export")
    await start(collector, meter={"energy_export": 3354.22})
    await hass.async_block_till_done()
    true = [round(3354.22 + 0.01 * n, 2) for n in range(1, 11)]
    await meter.publish(*true[:4])  # the 5th read (the spike) is not published
    await meter.publish(*true[4:])
    assert (await meter.sums(EXPORT))[-1] == pytest.approx((3354.32, 0.1))


async def test_a_dip_to_zero_is_kept_out(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A lifetime counter reads 0 for a while. The collector never publishes it; a 0 that arrives anyway
    (not marked as a reset) is not written, and the sum is what flowed (Home Assistant would otherwise
    start a new meter cycle at 0 and count the whole counter again)."""
    meter = Meter(hass, collector, freezer, "inverter", "energy_total")
    await start(collector, inverter={"energy_total": 10000.0, "ac_power": 1000})
    await hass.async_block_till_done()
    await meter.publish(10000.5, 0.0, 0.0, 10001.0, 10001.5)
    assert hass.states.get(LIFETIME).state == "10001.5"
    assert (await meter.sums(LIFETIME))[-1] == pytest.approx((10001.5, 1.5))
    diagnostics = await async_get_config_entry_diagnostics(hass, setup_integration)
    assert diagnostics["devices"]["inverter"]["counter_decreases_kept_out"] == {"energy_total": 2}


async def test_a_glitch_right_after_a_restart_is_kept_out(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Home Assistant restarts; the first reading after it is a glitch far below the counter (not marked
    as a reset). The entity comes back with its last value and keeps it; the sum counts only what flowed."""
    meter = Meter(hass, collector, freezer, "inverter", "energy_total")
    await start(collector, inverter={"energy_total": 5000.0, "ac_power": 1000})
    await hass.async_block_till_done()
    await meter.publish(5000.2, 5000.4)
    await async_wait_recording_done(hass)
    assert await hass.config_entries.async_unload(setup_integration.entry_id)  # Home Assistant stops ...
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(setup_integration.entry_id)  # ... and starts again:
    await hass.async_block_till_done()
    # the broker delivers the retained messages; the collector's state is a glitch
    await start(collector, inverter={"energy_total": 12.3, "ac_power": 1000})
    await hass.async_block_till_done()
    assert hass.states.get(LIFETIME).state == "5000.4"
    await meter.publish(5000.6, 5000.8)
    assert (await meter.sums(LIFETIME))[-1] == pytest.approx((5000.8, 0.8))


async def test_a_zero_at_start_is_not_in_the_statistics(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Sungrow lifetime energy reads 0 for the first polls, then 12 345.6 kWh: the collector publishes the
    real value first (never the 0), so the counter's statistics start there and count only what flows."""
    meter = Meter(hass, collector, freezer, "inverter", "energy_total")
    await start(collector, inverter={"ac_power": 1000})
    await hass.async_block_till_done()
    await meter.publish(12345.6, 12345.7, 12345.8)
    assert (await meter.sums(LIFETIME))[-1] == pytest.approx((12345.8, 0.2))


@pytest.mark.parametrize("marked", [True, False])
async def test_a_replaced_meter(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    freezer: FrozenDateTimeFactory,
    marked: bool,
) -> None:
    """The export meter is replaced: 3 354.30 kWh on the old one, then 0.05 on the new one. Marked as a
    reset (the collector does, once the lower readings last) it is a new meter cycle and the sum goes on
    with the new meter's energy; not marked, the entity keeps the old meter's value (nothing is counted
    twice, the new meter's energy waits until it is marked)."""
    meter = Meter(hass, collector, freezer, "meter", "energy_export")
    await start(collector, meter={"energy_export": 3354.20})
    await hass.async_block_till_done()
    await meter.publish(3354.25, 3354.30)
    await meter.publish(0.05, 0.10, 0.15, reset=marked)
    sums = await meter.sums(EXPORT)
    if marked:
        assert hass.states.get(EXPORT).state == "0.15"
        assert sums[-1] == pytest.approx((0.15, 0.25))  # 0.10 on the old meter + 0.15 on the new one
    else:
        assert hass.states.get(EXPORT).state == "3354.3"
        assert sums[-1] == pytest.approx((3354.30, 0.10))
