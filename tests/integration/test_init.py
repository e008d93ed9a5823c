"""Setting up the entry: discovery of devices and entities from the announcement, unload, reload."""

import copy
import json
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, mock_restore_cache_with_extra_data

from custom_components.pv_monitor.const import (
    ARRAY_OF_EVERY_INVERTER,
    CONF_ARRAY_PEAK_POWER,
    CONF_ARRAYS,
    CONF_AZIMUTH,
    CONF_BASE_TOPIC,
    CONF_COLLECTOR_ID,
    CONF_LOSSES,
    CONF_PEAK_POWER,
    CONF_TILT,
    DOMAIN,
)
from custom_components.pv_monitor.options import ARRAY_DEFAULTS

from .conftest import FakeCollector


async def test_entities_from_announcement(
    hass: HomeAssistant,
    running: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """One device per Modbus device via the collector, entities from the points."""
    collector = device_registry.async_get_device_by_identifier((DOMAIN, "home"), running.entry_id)
    assert collector is not None
    assert collector.name == "Home PV"
    assert collector.sw_version == "0.1.0"
    inverter = device_registry.async_get_device_by_identifier((DOMAIN, "home/inverter"), running.entry_id)
    assert inverter is not None
    assert inverter.via_device_id == collector.id
    assert (inverter.manufacturer, inverter.model, inverter.serial_number, inverter.sw_version) == (
        "SunSpec Simulated",
        "PV-5000",
        "SIM0001",
        "1.2.3",
    )
    state = hass.states.get("sensor.inverter_ac_power")
    assert state is not None
    assert state.state == "2345"
    assert state.attributes["unit_of_measurement"] == "W"
    assert state.attributes["device_class"] == "power"
    energy = hass.states.get("sensor.inverter_lifetime_energy")
    assert energy is not None
    assert energy.state == "10234.518"
    assert energy.attributes["state_class"] == "total_increasing"


async def test_unload_and_reload(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector
) -> None:
    """Unload ends the subscriptions; a reload gets everything back from the retained messages."""
    assert await hass.config_entries.async_unload(running.entry_id)
    await hass.async_block_till_done()
    assert running.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("sensor.inverter_ac_power").state == "unavailable"
    collector.state("inverter", {"ac_power": 1})  # nobody listens any more
    assert await hass.config_entries.async_setup(running.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_ac_power").state == "unavailable"  # nothing received yet
    collector.start()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_ac_power").state == "2345"


async def test_devices_follow_announcement(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """A device gone from the announcement is removed; a new one appears at once; removed points go."""
    announcement = collector.announcement
    weather = next(d for d in announcement["devices"] if d["id"] == "weather")
    announcement["devices"].remove(weather)
    battery = next(d for d in announcement["devices"] if d["id"] == "battery")
    battery["points"] = [p for p in battery["points"] if p["key"] != "firmware_text"]
    announcement["devices"].append(
        {
            "id": "meter2",
            "name": "Heat pump meter",
            "kind": "meter",
            "points": [
                {"key": "power", "name": "Power", "kind": "number", "unit": "W", "device_class": "power"}
            ],
        }
    )
    collector.announce(announcement)
    await hass.async_block_till_done()
    assert device_registry.async_get_device_by_identifier((DOMAIN, "home/weather"), running.entry_id) is None
    assert entity_registry.async_get("sensor.irradiance_sensor_irradiance") is None
    assert hass.states.get("sensor.irradiance_sensor_irradiance") is None
    assert entity_registry.async_get("sensor.battery_bms_firmware") is None
    assert hass.states.get("sensor.battery_state_of_charge").state == "64"
    new = device_registry.async_get_device_by_identifier((DOMAIN, "home/meter2"), running.entry_id)
    assert new is not None
    collector.availability("meter2", "online")
    collector.state("meter2", {"power": 2100})
    await hass.async_block_till_done()
    assert hass.states.get("sensor.heat_pump_meter_power").state == "2100"
    # the production alert needs an irradiance source, which left with the weather station
    assert entity_registry.async_get("binary_sensor.inverter_production_below_expected") is None


async def test_changed_point_definition_reloads(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector
) -> None:
    """A point described differently (here a new option) rebuilds the entities."""
    announcement = collector.announcement
    battery = next(d for d in announcement["devices"] if d["id"] == "battery")
    mode = next(p for p in battery["points"] if p["key"] == "battery_mode")
    mode["options"].append("eco")
    collector.announce(announcement)
    await hass.async_block_till_done()
    collector.start()  # the broker re-delivers the retained messages to the reloaded entry
    await hass.async_block_till_done()
    assert running.state is ConfigEntryState.LOADED
    state = hass.states.get("select.battery_operating_mode")
    assert state.attributes["options"] == ["auto", "charge", "discharge", "idle", "eco"]
    assert state.state == "auto"


async def test_incomplete_announcement_keeps_device(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broken point or device is left out with a warning, but nothing of it is deleted."""
    announcement = collector.announcement
    meter = next(d for d in announcement["devices"] if d["id"] == "meter")
    meter["points"][0]["kind"] = "complex"
    battery = next(d for d in announcement["devices"] if d["id"] == "battery")
    del battery["kind"]
    collector.raw("config", json.dumps(announcement))
    await hass.async_block_till_done()
    assert "devices(meter).points[0](power).kind: 'complex'" in caplog.text
    assert "devices(battery): missing 'kind'" in caplog.text
    assert entity_registry.async_get("sensor.grid_meter_power") is not None
    assert (
        device_registry.async_get_device_by_identifier((DOMAIN, "home/battery"), running.entry_id) is not None
    )
    assert hass.states.get("sensor.grid_meter_voltage_l1").state == "232.0"


async def test_remove_stale_device(
    hass: HomeAssistant,
    running: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    hass_ws_client: Any,
) -> None:
    """Users may delete devices the collector no longer announces, never current ones."""
    assert await async_setup_component(hass, "config", {})
    stale = device_registry.async_get_or_create(
        config_entry_id=running.entry_id, identifiers={(DOMAIN, "home/old")}, name="Old"
    )
    current = device_registry.async_get_device_by_identifier((DOMAIN, "home/meter"), running.entry_id)
    client = await hass_ws_client(hass)
    for device, allowed in ((current, False), (stale, True)):
        await client.send_json_auto_id(
            {
                "type": "config/device_registry/remove_config_entry",
                "config_entry_id": running.entry_id,
                "device_id": device.id,
            }
        )
        response = await client.receive_json()
        assert response["success"] is allowed


async def test_unsupported_contract(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    issue_registry: ir.IssueRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Another contract version: no entities, a repair issue naming both versions; fixed when it agrees."""
    collector.status(True)
    collector.raw(
        "config",
        json.dumps(
            {"contract": 2, "collector": {"id": "home", "name": "Home PV", "version": "9.0"}, "things": []}
        ),
    )
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, "unsupported_contract_home")
    assert issue is not None
    assert issue.translation_placeholders == {"collector": "Home PV", "version": "2", "supported": "1"}
    assert er.async_entries_for_config_entry(entity_registry, setup_integration.entry_id) == []
    collector.announce()
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, "unsupported_contract_home") is None
    assert er.async_entries_for_config_entry(entity_registry, setup_integration.entry_id) != []
    # a downgrade after entities exist makes them unavailable and raises the issue again
    collector.raw(
        "config",
        json.dumps({"contract": 0, "collector": {"id": "home", "name": "Home PV", "version": "0.0.1"}}),
    )
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_connection").state == "unavailable"
    assert issue_registry.async_get_issue(DOMAIN, "unsupported_contract_home") is not None
    assert await hass.config_entries.async_unload(setup_integration.entry_id)
    assert issue_registry.async_get_issue(DOMAIN, "unsupported_contract_home") is None


async def test_counters_restored(hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry) -> None:
    """After a restart energy counters show their last value until the collector reports, never 0."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State("sensor.inverter_lifetime_energy", "10200.5"),
                {"native_value": 10200.5, "native_unit_of_measurement": "kWh"},
            ),
            (
                State("sensor.inverter_ac_power", "1000"),
                {"native_value": 1000, "native_unit_of_measurement": "W"},
            ),
        ],
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    collector = FakeCollector(hass)
    collector.status(True)
    collector.announce()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_lifetime_energy").state == "10200.5"
    assert hass.states.get("sensor.inverter_ac_power").state == "unknown"
    collector.state("inverter", {"energy_total": 10201.0})
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_lifetime_energy").state == "10201.0"


@pytest.mark.parametrize("ha_restarted", [False, True])
async def test_pending_device_keeps_its_entities(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    entity_registry: er.EntityRegistry,
    ha_restarted: bool,
) -> None:
    """A restarted collector announces a SunSpec inverter as `pending` (no points before its model scan):
    nothing of the inverter is removed or rebuilt, and its values come back when the scan is done."""
    before = {e.unique_id: e.id for e in er.async_entries_for_config_entry(entity_registry, running.entry_id)}
    full = collector.announcement
    pending = json.loads(json.dumps(full))
    inverter = next(d for d in pending["devices"] if d["id"] == "inverter")
    inverter["points"] = []
    inverter["pending"] = True
    if ha_restarted:  # HA comes up while the retained announcement is the pending one
        assert await hass.config_entries.async_unload(running.entry_id)
        assert await hass.config_entries.async_setup(running.entry_id)
        await hass.async_block_till_done()
    collector.announce(pending)
    if ha_restarted:  # what the broker re-delivers besides the announcement
        collector.status(True)
        collector.availability("inverter", "online")
    await hass.async_block_till_done()
    after = {e.unique_id: e.id for e in er.async_entries_for_config_entry(entity_registry, running.entry_id)}
    assert after == before
    assert running.state is ConfigEntryState.LOADED
    collector.announce(full)
    collector.state("inverter", {"ac_power": 1234})
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_ac_power").state == "1234"
    final = {e.unique_id: e.id for e in er.async_entries_for_config_entry(entity_registry, running.entry_id)}
    assert final == before


async def test_standard_discovery_on_raises_a_repair_issue(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, issue_registry: ir.IssueRegistry
) -> None:
    """A collector that also publishes HA's standard MQTT discovery would make every entity twice."""
    assert issue_registry.async_get_issue(DOMAIN, "ha_discovery_duplicates_home") is None
    announcement = json.loads(json.dumps(collector.announcement))
    announcement["collector"]["ha_discovery"] = True
    collector.announce(announcement)
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, "ha_discovery_duplicates_home")
    assert issue is not None
    assert issue.translation_placeholders == {"collector": "Home PV"}
    assert hass.states.get("sensor.inverter_ac_power").state == "2345"  # the integration keeps working
    del announcement["collector"]["ha_discovery"]
    collector.announce(announcement)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, "ha_discovery_duplicates_home") is None


async def test_retained_messages_in_any_order(
    hass: HomeAssistant, setup_integration: MockConfigEntry, collector: FakeCollector
) -> None:
    """After a restart the broker re-delivers retained messages in any order: availability, state and
    statistics that arrive before the announcement still count."""
    collector.status(True)
    collector.availability("inverter", "online")
    collector.availability("meter", "offline")
    collector.state("inverter", {"ac_power": 1500})
    collector.stats()
    await hass.async_block_till_done()
    collector.announce()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_connection").state == "online"
    assert hass.states.get("sensor.inverter_ac_power").state == "1500"
    assert hass.states.get("sensor.grid_meter_connection").state == "offline"
    assert hass.states.get("sensor.grid_meter_power").state == "unavailable"
    assert hass.states.get("sensor.home_pv_errors").state == "3"


async def test_two_collectors_with_one_id_raise_a_repair_issue(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, issue_registry: ir.IssueRegistry
) -> None:
    """A restart changes the instance once (A, B, B): fine. Two collectors alternate (A, B, A): repair."""

    def announce(instance: str) -> None:
        announcement = json.loads(json.dumps(collector.announcement))
        announcement["collector"]["instance"] = instance
        collector.announce(announcement)

    for instance in ("first", "second", "second"):
        announce(instance)
        await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, "duplicate_collector_home") is None
    announce("first")
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, "duplicate_collector_home")
    assert issue is not None
    assert issue.translation_placeholders == {"collector": "Home PV", "id": "home"}
    assert await hass.config_entries.async_reload(running.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, "duplicate_collector_home") is None


async def test_array_peak_power_of_version_1_1_in_watts_becomes_an_array(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    """An entry of version 1.1 stored the retired array peak power option in W: loaded, it is an array
    in kWp waiting for the announcement (one unit for array sizes everywhere)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="home",
        version=1,
        minor_version=1,
        data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "home"},
        options={CONF_ARRAY_PEAK_POWER: 8000, "battery_low_soc": 15},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.minor_version == 3
    assert entry.options == {
        CONF_ARRAYS: {ARRAY_OF_EVERY_INVERTER: {**ARRAY_DEFAULTS, CONF_PEAK_POWER: 8.0}},
        "battery_low_soc": 15,
    }


def _entry_of_version_1_2(hass: HomeAssistant, **options: Any) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="home",
        title="Home PV",
        version=1,
        minor_version=2,
        data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "home"},
        options=options,
    )
    entry.add_to_hass(hass)
    return entry


async def test_array_peak_power_becomes_the_inverters_array(
    hass: HomeAssistant, mqtt_mock: Any, collector: FakeCollector, freezer: FrozenDateTimeFactory
) -> None:
    """The threshold step's old "PV array peak power" (5 kWp) is not lost: it becomes the array of the
    inverter (default tilt, azimuth and losses), shown prefilled in the array step, and the inverter's
    expected power is what it was (720 W/m² x 5 kWp x 0.8 = 2880 W by the old flat estimate)."""
    freezer.move_to("2025-06-21T19:00:00+00:00")  # local noon at the harness's home
    entry = _entry_of_version_1_2(hass, **{CONF_ARRAY_PEAK_POWER: 5.0, "battery_low_soc": 15})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.minor_version == 3
    assert CONF_ARRAY_PEAK_POWER not in entry.options
    collector.start()
    await hass.async_block_till_done()

    array = {**ARRAY_DEFAULTS, CONF_PEAK_POWER: 5.0}
    assert entry.options == {CONF_ARRAYS: {"inverter": array}, "battery_low_soc": 15}
    expected = float(hass.states.get("sensor.inverter_expected_power").state)
    assert expected == pytest.approx(2880.0, abs=1.0)  # the array's model: 2879.3 W
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "array_device"}
    )
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"device": "inverter"})
    assert result["step_id"] == "array"
    suggested = {str(key): key.description["suggested_value"] for key in result["data_schema"].schema}
    assert suggested == array

    # once: a reload (the announcement again) changes nothing
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    collector.start()
    await hass.async_block_till_done()
    assert entry.options == {CONF_ARRAYS: {"inverter": array}, "battery_low_soc": 15}


async def test_array_peak_power_leaves_the_inverters_own_arrays(
    hass: HomeAssistant, mqtt_mock: Any, collector: FakeCollector, announcement: dict[str, Any]
) -> None:
    """An inverter with an array of its own keeps it; only inverters without one get the old size."""
    second = copy.deepcopy(next(d for d in announcement["devices"] if d["id"] == "inverter"))
    second["id"] = "garage"
    second["name"] = "Garage inverter"
    announcement["devices"].append(second)
    own = {CONF_PEAK_POWER: 8.0, CONF_TILT: 20.0, CONF_AZIMUTH: 170.0, CONF_LOSSES: 10.0}
    entry = _entry_of_version_1_2(hass, **{CONF_ARRAY_PEAK_POWER: 5.0, CONF_ARRAYS: {"inverter": own}})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    collector.announcement = announcement
    collector.start()
    await hass.async_block_till_done()
    assert entry.options == {
        CONF_ARRAYS: {"inverter": own, "garage": {**ARRAY_DEFAULTS, CONF_PEAK_POWER: 5.0}}
    }


async def test_no_array_peak_power_changes_no_array(
    hass: HomeAssistant, mqtt_mock: Any, collector: FakeCollector
) -> None:
    """An old entry without an array peak power (0: unknown) keeps its arrays as they are."""
    own = {CONF_PEAK_POWER: 8.0, CONF_TILT: 20.0, CONF_AZIMUTH: 170.0, CONF_LOSSES: 10.0}
    entry = _entry_of_version_1_2(hass, **{CONF_ARRAY_PEAK_POWER: 0.0, CONF_ARRAYS: {"inverter": own}})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    collector.start()
    await hass.async_block_till_done()
    assert (entry.minor_version, entry.options) == (3, {CONF_ARRAYS: {"inverter": own}})


async def test_an_entry_of_a_newer_version_is_not_loaded(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Version 2 was written by a newer integration: this one does not guess at it."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="home",
        version=2,
        data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "home"},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
