"""Without a recorder, buffered readings are applied as usual and nothing is back-filled."""

import json
from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from .conftest import FakeCollector


async def test_buffered_states_without_recorder(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The late readings become states; the back-fill notes that there is no recorder."""
    caplog.set_level("DEBUG", "custom_components.pv_monitor")
    ts = collector.state("meter", {"energy_import": 5013.0})["ts"]
    late = collector.state("meter", {"energy_import": 5013.5, "power": 100}, ts=ts - 3600, buffered=True)
    collector.raw("meter/state", json.dumps(late))  # delivered twice: counted once
    await hass.async_block_till_done()
    assert hass.states.get("sensor.grid_meter_imported_energy").state == "5013.5"
    freezer.tick(timedelta(seconds=11))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert "No recorder: buffered readings of home are not back-filled" in caplog.text
