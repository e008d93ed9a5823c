"""Alerts: binary sensors from point roles and thresholds, `pv_monitor_alert` events, device triggers."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_get_device_automations,
)

from custom_components.pv_monitor.const import (
    CONF_ARRAYS,
    CONF_BATTERY_LOW_SOC,
    CONF_FAULT_HOLD_OFF,
    CONF_OFFLINE_GRACE,
    DOMAIN,
    EVENT_ALERT,
)
from custom_components.pv_monitor.device_trigger import async_get_triggers
from custom_components.pv_monitor.options import ARRAY_DEFAULTS

from .conftest import FakeCollector

# The inverter's array of 8 kWp (default tilt, azimuth and losses).
ARRAY_8_KWP = {CONF_ARRAYS: {"inverter": {**ARRAY_DEFAULTS, "peak_power": 8.0}}}


def device_id(hass: HomeAssistant, entry: MockConfigEntry, identifier: str) -> str:
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, identifier), entry.entry_id)
    assert device is not None
    return device.id


async def test_grid_voltage_transitions(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector
) -> None:
    """Out of range fires an event with the reason; back in range (past the hysteresis) fires again."""
    events = async_capture_events(hass, EVENT_ALERT)
    collector.state("meter", {"voltage_l1": 255.3})
    await hass.async_block_till_done()
    state = hass.states.get("binary_sensor.grid_meter_grid_voltage_out_of_range")
    assert state.state == "on"
    assert state.attributes["reason"] == "above_max"
    assert state.attributes["point"] == "voltage_l1"
    assert len(events) == 1
    data = events[0].data
    assert data["entry_id"] == running.entry_id
    assert data["collector_id"] == "home"
    assert data["device_id"] == device_id(hass, running, "home/meter")
    assert data["device"] == "meter"
    assert (data["alert"], data["active"], data["value"], data["reason"]) == (
        "grid_voltage",
        True,
        255.3,
        "above_max",
    )
    assert "255.3 V is above 253 V" in data["message"]

    collector.state("meter", {"voltage_l1": 252.5})  # inside, but within the hysteresis: still on
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.grid_meter_grid_voltage_out_of_range").state == "on"
    collector.state("meter", {"voltage_l1": 231.0})
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.grid_meter_grid_voltage_out_of_range").state == "off"
    assert [(e.data["alert"], e.data["active"]) for e in events] == [
        ("grid_voltage", True),
        ("grid_voltage", False),
    ]

    collector.state("meter", {"frequency": 49.6})
    await hass.async_block_till_done()
    frequency = hass.states.get("binary_sensor.grid_meter_grid_frequency_out_of_range")
    assert (frequency.state, frequency.attributes["reason"]) == ("on", "below_min")


async def test_inverter_fault(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, freezer: FrozenDateTimeFactory
) -> None:
    """A fault bit or the operating state `fault` raises the fault alert, with the active fault names
    decoded to text; it goes off once the fault stayed clear for the hold-off time."""
    events = async_capture_events(hass, EVENT_ALERT)
    collector.state("inverter", {"events": 0b11})
    await hass.async_block_till_done()
    fault = hass.states.get("binary_sensor.inverter_fault")
    assert fault.state == "on"
    assert fault.attributes["faults"] == ["ground_fault", "dc_over_voltage"]
    assert fault.attributes["fault_texts"] == ["Ground fault", "DC overvoltage"]
    assert fault.attributes["fault_codes"] == {"events": 3}
    assert "fault active (Ground fault, DC overvoltage)" in events[-1].data["message"]
    collector.state("inverter", {"events": 0, "status": "fault"})
    await hass.async_block_till_done()
    fault = hass.states.get("binary_sensor.inverter_fault")
    assert (fault.state, fault.attributes["reason"]) == ("on", "operating_state_fault")
    collector.state("inverter", {"status": "mppt"})
    await hass.async_block_till_done()
    fault = hass.states.get("binary_sensor.inverter_fault")
    assert (fault.state, fault.attributes["reason"]) == ("on", "fault_clearing")  # held, no event yet
    freezer.tick(timedelta(seconds=301))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.inverter_fault").state == "off"
    fault_events = [e.data for e in events if e.data["alert"] == "inverter_fault"]
    assert [e["active"] for e in fault_events] == [True, False]
    assert fault_events[0]["previous_activation"] is None
    collector.state(
        "inverter", {"events": 0b1}
    )  # back after the hold-off: the event says when it was last on
    await hass.async_block_till_done()
    fault_events = [e.data for e in events if e.data["alert"] == "inverter_fault"]
    assert fault_events[-1]["active"] is True
    assert [e["previous_activation"] is None for e in fault_events] == [True, False, False]
    assert datetime.fromisoformat(fault_events[-1]["previous_activation"]) <= dt_util.utcnow()


async def test_flapping_fault_fires_one_event(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, freezer: FrozenDateTimeFactory
) -> None:
    """A fault that clears and comes back within the hold-off sends one `active` event, and one
    `inactive` event once it stayed clear for the whole hold-off."""
    hass.config_entries.async_update_entry(running, options={CONF_FAULT_HOLD_OFF: 120})
    await hass.async_block_till_done()
    events = async_capture_events(hass, EVENT_ALERT)
    for _ in range(5):
        collector.state("inverter", {"events": 0b1000})
        await hass.async_block_till_done()
        freezer.tick(timedelta(seconds=30))
        async_fire_time_changed(hass)
        collector.state("inverter", {"events": 0})
        await hass.async_block_till_done()
        freezer.tick(timedelta(seconds=60))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
        assert hass.states.get("binary_sensor.inverter_fault").state == "on"
    assert [(e.data["alert"], e.data["active"]) for e in events] == [("inverter_fault", True)]
    assert events[0].data["details"]["fault_texts"] == ["Overtemperature"]
    freezer.tick(timedelta(seconds=61))  # 121 s clear
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.inverter_fault").state == "off"
    assert [(e.data["alert"], e.data["active"]) for e in events] == [
        ("inverter_fault", True),
        ("inverter_fault", False),
    ]
    summary = hass.states.get("sensor.home_pv_production_today")
    assert [a["alert"] for a in summary.attributes["alerts_today"]] == ["inverter_fault"]


async def test_battery_low_and_options(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector
) -> None:
    """Battery low follows the SoC threshold of the options, changed without a reload."""
    collector.state("battery", {"soc": 8})
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.battery_low_charge").state == "on"
    hass.config_entries.async_update_entry(running, options={**running.options, CONF_BATTERY_LOW_SOC: 5})
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.battery_low_charge").state == "off"
    assert hass.states.get("sensor.battery_state_of_charge").state == "8"


async def test_production_below_expected(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, freezer: FrozenDateTimeFactory
) -> None:
    """With an irradiance sensor and the inverter's array, production below expected for the alert
    delay raises the alert while the sun is high; at night nothing is judged."""
    freezer.move_to("2025-06-21T19:00:00+00:00")  # local noon at the harness's home (San Diego)
    entity_id = "binary_sensor.inverter_production_below_expected"
    assert hass.states.get(entity_id).state == STATE_UNKNOWN  # no array configured: no estimate
    assert hass.states.get(entity_id).attributes["reason"] == "no_array"  # and it says why
    hass.config_entries.async_update_entry(running, options=ARRAY_8_KWP)
    await hass.async_block_till_done()
    # 720 W/m² x 8 kWp, cells at 42.5 °C (x 0.93), 14 % losses = 4607 W expected; 2345 W is 51 %
    assert hass.states.get(entity_id).state == "off"
    collector.state("inverter", {"ac_power": 1500})
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert (state.state, state.attributes["expected"], state.attributes["reason"]) == (
        "off",
        4606.8,
        "below_expected_pending",
    )
    freezer.tick(timedelta(seconds=840))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == "off"  # 14 min: not yet
    freezer.tick(timedelta(seconds=61))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert (state.state, state.attributes["reason"]) == ("on", "below_expected")
    collector.state("weather", {"irradiance": 300})  # a cloud: 2028 W expected
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == "off"
    freezer.move_to("2025-06-22T07:00:00+00:00")  # midnight in San Diego: sun far below the horizon
    collector.state("inverter", {"ac_power": 0})
    collector.state("weather", {"irradiance": 720})
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).attributes["reason"] == "sun_low"
    collector.availability("inverter", "asleep")
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).attributes["reason"] == "asleep"


async def test_offline_alerts_after_grace_time(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, freezer: FrozenDateTimeFactory
) -> None:
    """Collector and device offline alerts go on after the grace time, off at once."""
    events = async_capture_events(hass, EVENT_ALERT)
    collector.availability("meter", "offline")
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.grid_meter_offline").state == "off"
    freezer.tick(timedelta(seconds=61))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.grid_meter_offline").state == "on"
    assert hass.states.get("binary_sensor.grid_meter_grid_voltage_out_of_range").state == STATE_UNAVAILABLE

    collector.status(False)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.home_pv_offline").state == "off"
    freezer.tick(timedelta(seconds=61))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    collector_alert = hass.states.get("binary_sensor.home_pv_offline")
    assert (collector_alert.state, collector_alert.attributes["reason"]) == ("on", "offline")
    assert hass.states.get("binary_sensor.grid_meter_offline").state == STATE_UNAVAILABLE

    collector.status(True)
    collector.availability("meter", "online")
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.home_pv_offline").state == "off"
    assert hass.states.get("binary_sensor.grid_meter_offline").state == "off"
    assert [(e.data["alert"], e.data["active"], e.data["device"]) for e in events] == [
        ("device_offline", True, "meter"),
        ("collector_offline", True, None),
        ("collector_offline", False, None),
        ("device_offline", False, "meter"),
    ]


async def test_short_outage_raises_nothing(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, freezer: FrozenDateTimeFactory
) -> None:
    """Back within the grace time: no alert, no event."""
    events = async_capture_events(hass, EVENT_ALERT)
    collector.status(False)
    await hass.async_block_till_done()
    freezer.tick(timedelta(seconds=30))
    async_fire_time_changed(hass)
    collector.status(True)
    await hass.async_block_till_done()
    freezer.tick(timedelta(seconds=60))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.home_pv_offline").state == "off"
    assert events == []


async def test_zero_grace_time(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector
) -> None:
    """Grace time 0: the alert goes on with the Last Will."""
    hass.config_entries.async_update_entry(running, options={CONF_OFFLINE_GRACE: 0})
    await hass.async_block_till_done()
    collector.status(False)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.home_pv_offline").state == "on"


async def test_device_triggers_listed(hass: HomeAssistant, running: MockConfigEntry) -> None:
    """Each device offers `<alert>_on` / `<alert>_off` for the alerts it has."""
    triggers = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, device_id(hass, running, "home/meter")
    )
    types = {trigger["type"] for trigger in triggers if trigger["domain"] == DOMAIN}
    assert types == {
        "device_offline_on",
        "device_offline_off",
        "grid_voltage_on",
        "grid_voltage_off",
        "grid_frequency_on",
        "grid_frequency_off",
    }
    collector_triggers = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, device_id(hass, running, "home")
    )
    assert {t["type"] for t in collector_triggers if t["domain"] == DOMAIN} == {
        "collector_offline_on",
        "collector_offline_off",
    }


async def test_device_trigger_fires_automation(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, service_calls: list[ServiceCall]
) -> None:
    """An automation on `battery_low_on` runs when the battery gets low, not when it recovers."""
    battery = device_id(hass, running, "home/battery")
    trigger: dict[str, Any] = {
        "platform": "device",
        "domain": DOMAIN,
        "device_id": battery,
        "type": "battery_low_on",
    }
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                {
                    "triggers": [trigger],
                    "actions": {
                        "action": "test.notify",
                        "data": {"message": "{{ trigger.event.data.message }}"},
                    },
                }
            ]
        },
    )
    collector.state("battery", {"soc": 4})
    await hass.async_block_till_done()
    collector.state("battery", {"soc": 50})
    await hass.async_block_till_done()
    assert [call.data["message"] for call in service_calls] == ["Battery: battery at 4 % is below 10 %"]


async def test_triggers_of_unknown_device(hass: HomeAssistant, running: MockConfigEntry) -> None:
    """A device of another integration has no PV Monitor triggers."""
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "x")}
    )
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device.id)
    assert [t for t in triggers if t["domain"] == DOMAIN] == []


@pytest.mark.parametrize("value", [0, 40])
async def test_unknown_without_values(
    hass: HomeAssistant, setup_integration: MockConfigEntry, collector: FakeCollector, value: int
) -> None:
    """Before any reading an alert is unknown; the first reading decides it without an event if fine."""
    events = async_capture_events(hass, EVENT_ALERT)
    collector.status(True)
    collector.announce()
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.battery_low_charge").state == STATE_UNKNOWN
    collector.state("battery", {"soc": value})
    await hass.async_block_till_done()
    expected = "on" if value < 10 else "off"
    assert hass.states.get("binary_sensor.battery_low_charge").state == expected
    assert [e.data["alert"] for e in events] == (["battery_low"] if value < 10 else [])


async def test_removing_the_array_clears_the_production_alert(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, freezer: FrozenDateTimeFactory
) -> None:
    """An alert that went on stays only while an array gives an expectation: without one it is unknown
    again (and says why), never the old result."""
    freezer.move_to("2025-06-21T19:00:00+00:00")
    entity_id = "binary_sensor.inverter_production_below_expected"
    hass.config_entries.async_update_entry(running, options=ARRAY_8_KWP)
    collector.state("inverter", {"ac_power": 500})
    await hass.async_block_till_done()
    freezer.tick(timedelta(seconds=901))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == "on"
    hass.config_entries.async_update_entry(running, options={CONF_ARRAYS: {}})
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert (state.state, state.attributes["reason"]) == (STATE_UNKNOWN, "no_array")
    assert hass.states.get("sensor.inverter_expected_power").attributes["reason"] == "no_array"
    assert hass.states.get("sensor.inverter_performance_ratio_today").attributes["reason"] == "no_array"


async def test_no_device_triggers_for_devices_that_are_not_a_running_collectors(
    hass: HomeAssistant, running: MockConfigEntry
) -> None:
    """Unknown devices, another integration's devices, devices whose identifiers name another collector,
    and the devices of an unloaded entry offer no PV Monitor triggers (and do not fail)."""
    devices = dr.async_get(hass)
    other_entry = MockConfigEntry(domain="other")
    other_entry.add_to_hass(hass)
    foreign = devices.async_get_or_create(config_entry_id=other_entry.entry_id, identifiers={("other", "x")})
    stray = devices.async_get_or_create(
        config_entry_id=running.entry_id, identifiers={("other", "y"), (DOMAIN, "elsewhere/meter")}
    )
    for device in ("no-such-device", foreign.id, stray.id):
        assert await async_get_triggers(hass, device) == []
    meter = device_id(hass, running, "home/meter")
    assert await async_get_triggers(hass, meter) != []
    assert await hass.config_entries.async_unload(running.entry_id)
    assert await async_get_triggers(hass, meter) == []
