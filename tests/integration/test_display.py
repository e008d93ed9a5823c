"""How values look: one unit for power factors, the same decimals for every energy counter, no "-0"."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pv_monitor.contract import parse_point
from custom_components.pv_monitor.messages import DeviceDef, PointDef
from custom_components.pv_monitor.sensor import point_sensor_description
from tests.helpers import point_with_entity, with_entities

from .conftest import FakeCollector

METER = DeviceDef(id="m", name="Grid meter", kind="meter")


def as_announced(point: dict[str, Any]) -> list[PointDef]:
    """The point as this collector announces it (with its `entity`) and as one before 0.2.0 did."""
    return [parse_point(point_with_entity(point), "point"), parse_point(point, "point")]


def test_a_plain_power_factor_is_shown_in_percent() -> None:
    factor = {"key": "power_factor", "name": "PF", "kind": "number", "device_class": "power_factor"}
    for plain in as_announced({**factor, "precision": 3}):
        assert point_sensor_description(plain, METER).native_unit_of_measurement == "%"
        assert point_sensor_description(plain, METER).suggested_display_precision == 1
    for percent in as_announced({**factor, "unit": "%"}):
        assert point_sensor_description(percent, METER).native_unit_of_measurement == "%"


def test_energy_counters_show_the_same_decimals() -> None:
    for precision in (1, 2, 3):
        counter = {
            "key": "energy_import",
            "name": "Imported",
            "kind": "number",
            "unit": "kWh",
            "device_class": "energy",
            "state_class": "total_increasing",
            "precision": precision,
        }
        for point in as_announced(counter):
            assert point_sensor_description(point, METER).suggested_display_precision == 2


@pytest.mark.parametrize("resolved", [True, False], ids=["entity", "collector_before_0_2"])
async def test_values_as_shown(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    announcement: dict[str, Any],
    resolved: bool,
) -> None:
    """A plain factor of -0.066 is -6.6 %; a power of -0.3 W at 0 decimals is 0 W, not -0 W."""
    meter = next(device for device in announcement["devices"] if device["id"] == "meter")
    meter["points"].append(
        {"key": "power_factor", "name": "Power factor", "kind": "number", "device_class": "power_factor",
         "state_class": "measurement", "precision": 3}
    )  # fmt: skip
    collector.announce(with_entities(announcement) if resolved else announcement)
    await hass.async_block_till_done()
    collector.state("meter", {"power_factor": -0.066, "power": -0.3})
    await hass.async_block_till_done()
    factor = hass.states.get("sensor.grid_meter_power_factor")
    assert (factor.state, factor.attributes["unit_of_measurement"]) == ("-6.6", "%")
    assert hass.states.get("sensor.grid_meter_power").state == "0"
