"""The Energy dashboard in one step: the collector's sensors by role go into Home Assistant's energy
preferences (the energy integration's own manager), shown first, never replacing or duplicating what the
user has there."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.components.energy.data import async_get_manager
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pv_monitor.const import CONF_ENERGY_PENDING

from .conftest import FakeCollector

SOLAR = {
    "type": "solar",
    "stat_energy_from": "sensor.inverter_lifetime_energy",
    "stat_rate": "sensor.inverter_ac_power",
    "name": "Inverter",
}
GRID = {
    "type": "grid",
    "stat_energy_from": "sensor.grid_meter_imported_energy",
    "stat_energy_to": "sensor.grid_meter_exported_energy",
    "stat_rate": "sensor.grid_meter_power",
    "power_config": {"stat_rate": "sensor.grid_meter_power"},
    "name": "Grid meter",
}
BATTERY = {
    "type": "battery",
    "stat_energy_from": "sensor.battery_discharged_energy",
    "stat_energy_to": "sensor.battery_charged_energy",
    "stat_rate": "sensor.battery_power",
    "power_config": {"stat_rate": "sensor.battery_power"},
    "stat_soc": "sensor.battery_state_of_charge",
    "name": "Battery",
}
# What a user already had: a gas meter and their own solar statistic.
USERS_OWN: list[dict[str, Any]] = [
    {
        "type": "gas",
        "stat_energy_from": "sensor.gas_meter",
        "stat_cost": None,
        "entity_energy_price": None,
        "number_energy_price": None,
    },
    {"type": "solar", "stat_energy_from": "sensor.roof_east", "config_entry_solar_forecast": None},
]


def _essentials(source: dict[str, Any]) -> dict[str, Any]:
    keys = ("type", "stat_energy_from", "stat_energy_to", "stat_rate", "power_config", "stat_soc", "name")
    return {key: source[key] for key in keys if source.get(key) is not None}


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: Any) -> None:
    """The energy integration needs the recorder."""


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Recorder, enable_custom_integrations: None) -> None:
    """The recorder first, then custom integrations."""


@pytest.fixture
async def energy(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "energy", {})


async def _options_energy_step(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    return dict(
        await hass.config_entries.options.async_configure(result["flow_id"], {"next_step_id": "energy"})
    )


async def test_options_step_adds_the_collector_and_keeps_the_users_sources(
    hass: HomeAssistant, energy: None, running: MockConfigEntry
) -> None:
    manager = await async_get_manager(hass)
    await manager.async_update({"energy_sources": [dict(s) for s in USERS_OWN]})  # type: ignore[typeddict-item]
    result = await _options_energy_step(hass, running)
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "energy")
    shown = result["description_placeholders"]["add"]
    assert shown.splitlines() == [
        "- Inverter: `sensor.inverter_lifetime_energy`, `sensor.inverter_ac_power`",
        "- Grid meter: `sensor.grid_meter_imported_energy`, `sensor.grid_meter_exported_energy`,"
        " `sensor.grid_meter_power`",
        "- Battery: `sensor.battery_discharged_energy`, `sensor.battery_charged_energy`,"
        " `sensor.battery_power`, `sensor.battery_state_of_charge`",
    ]
    assert result["description_placeholders"]["present"] == "-"
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "energy_added")
    assert manager.data is not None
    sources = [dict(s) for s in manager.data["energy_sources"]]
    assert sources[:2] == USERS_OWN  # untouched, in their place
    assert [_essentials(s) for s in sources[2:]] == [SOLAR, GRID, BATTERY]

    # Again: nothing is added twice.
    result = await _options_energy_step(hass, running)
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "energy_nothing_to_add")
    assert len(manager.data["energy_sources"]) == 5


async def test_a_statistic_the_user_has_is_not_added_again(
    hass: HomeAssistant, energy: None, running: MockConfigEntry
) -> None:
    """The user already counts the grid meter (with their tariff): the grid source is left out, shown
    as present, and their source keeps its price."""
    manager = await async_get_manager(hass)
    users_grid = {
        "type": "grid",
        "stat_energy_from": "sensor.grid_meter_imported_energy",
        "stat_energy_to": None,
        "stat_cost": None,
        "entity_energy_price": None,
        "number_energy_price": 0.31,
        "stat_compensation": None,
        "entity_energy_price_export": None,
        "number_energy_price_export": None,
        "cost_adjustment_day": 0.0,
    }
    await manager.async_update({"energy_sources": [users_grid]})  # type: ignore[typeddict-item]
    result = await _options_energy_step(hass, running)
    assert "sensor.grid_meter_imported_energy" in result["description_placeholders"]["present"]
    assert "grid_meter" not in result["description_placeholders"]["add"]
    await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert manager.data is not None
    sources = [dict(s) for s in manager.data["energy_sources"]]
    assert sources[0]["number_energy_price"] == 0.31
    assert [s["type"] for s in sources] == ["grid", "solar", "battery"]


async def test_without_the_energy_integration_the_step_says_so(
    hass: HomeAssistant, running: MockConfigEntry
) -> None:
    result = await _options_energy_step(hass, running)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "energy_failed")
    assert "energy integration is not loaded" in result["description_placeholders"]["error"]


async def test_set_up_choice_is_carried_out_once_the_entities_exist(
    hass: HomeAssistant, energy: None, config_entry: MockConfigEntry, mqtt_mock: Any, collector: FakeCollector
) -> None:
    """Chosen in the set-up flow: the sources are added as soon as the entities exist, once."""
    hass.config_entries.async_update_entry(config_entry, options={CONF_ENERGY_PENDING: True})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    manager = await async_get_manager(hass)
    assert not (manager.data or {}).get("energy_sources")
    collector.start()
    await hass.async_block_till_done()
    collector.state("inverter", {"ac_power": 1000})
    await hass.async_block_till_done()
    assert manager.data is not None
    assert [_essentials(s) for s in manager.data["energy_sources"]] == [SOLAR, GRID, BATTERY]
    assert CONF_ENERGY_PENDING not in config_entry.options
    collector.state("inverter", {"ac_power": 1100})
    await hass.async_block_till_done()
    assert len(manager.data["energy_sources"]) == 3


async def test_options_step_before_the_collector_announced_itself(
    hass: HomeAssistant, energy: None, setup_integration: MockConfigEntry
) -> None:
    """Set up while the collector has not announced its devices yet: nothing to offer, said so."""
    result = await _options_energy_step(hass, setup_integration)
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "not_announced")
