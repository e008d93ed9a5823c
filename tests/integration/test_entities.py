"""The entity catalogue (snapshots, one platform at a time) and how entities follow MQTT.

The collector here announces as this collector does: every point with its `entity` (test_entity_model.py
shows that the announcement of a collector before 0.2.0, without it, makes the same entities).
"""

from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from pytest_homeassistant_custom_component.typing import MqttMockHAClient
from syrupy.assertion import SnapshotAssertion

from tests.helpers import point_with_entity, with_entities

from .conftest import FakeCollector


@pytest.fixture
def collector(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> FakeCollector:
    """The collector side of the contract, announcing the fixture as this collector does."""
    fake = FakeCollector(hass)
    fake.announcement = with_entities(fake.announcement)
    return fake


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    "platforms",
    [
        [Platform.SENSOR],
        [Platform.BINARY_SENSOR],
        [Platform.NUMBER],
        [Platform.SELECT],
        [Platform.SWITCH],
        [Platform.BUTTON],
    ],
    ids=lambda platforms: str(platforms[0]),
)
async def test_entity_catalogue(
    hass: HomeAssistant,
    running: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every entity the fixture announcement yields, with its registry entry and state."""
    await snapshot_platform(hass, entity_registry, snapshot, running.entry_id)


async def test_sensor_kinds(hass: HomeAssistant, running: MockConfigEntry) -> None:
    """Numbers, enums, bitfields, text and bools map onto the right entities."""
    status = hass.states.get("sensor.inverter_operating_state")
    assert status is not None
    assert status.state == "mppt"
    assert status.attributes["device_class"] == "enum"
    assert "fault" in status.attributes["options"]
    events = hass.states.get("sensor.inverter_events")
    assert events is not None
    assert (events.state, events.attributes["active"]) == ("0", [])
    text = hass.states.get("sensor.battery_bms_firmware")
    assert text is not None
    assert text.state == "BMS 2.4.1"
    relay = hass.states.get("binary_sensor.inverter_grid_relay_closed")
    assert relay is not None
    assert relay.state == "on"
    voltage = hass.states.get("sensor.inverter_ac_voltage_l1")
    assert voltage is not None
    assert voltage.attributes["unit_of_measurement"] == "V"
    assert voltage.attributes["state_class"] == "measurement"
    string_voltage = hass.states.get("sensor.inverter_pv1_voltage")
    assert string_voltage is not None
    assert string_voltage.name == "Inverter PV1 voltage"


async def test_state_updates(hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector) -> None:
    """A state message changes the values it carries and leaves the others."""
    collector.state("inverter", {"ac_power": 3100, "events": 0b1001})
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_ac_power").state == "3100"
    assert hass.states.get("sensor.inverter_lifetime_energy").state == "10234.518"
    events = hass.states.get("sensor.inverter_events")
    assert (events.state, events.attributes["active"]) == ("9", ["ground_fault", "over_temperature"])


async def test_duplicate_and_old_states_dropped(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector
) -> None:
    """A state with a sequence number already seen is a duplicate (e.g. a retained re-delivery)."""
    collector.state("meter", {"power": 500})
    await hass.async_block_till_done()
    collector.seq["meter"] -= 2
    collector.state("meter", {"power": 999})
    await hass.async_block_till_done()
    assert hass.states.get("sensor.grid_meter_power").state == "500"


async def test_collector_last_will(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector
) -> None:
    """The Last Will makes every entity unavailable except the alerts and connections that explain why."""
    collector.status(False)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_ac_power").state == STATE_UNAVAILABLE
    assert hass.states.get("number.inverter_active_power_limit").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.home_pv_errors").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.inverter_connection").state == "offline"
    assert hass.states.get("binary_sensor.home_pv_offline").state == "off"  # grace time
    collector.status(True)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_ac_power").state == "2345"
    assert hass.states.get("sensor.inverter_connection").state == "online"


async def test_device_availability(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector
) -> None:
    """Per-device availability: offline makes that device unavailable; asleep keeps counters."""
    collector.availability("meter", "offline")
    await hass.async_block_till_done()
    assert hass.states.get("sensor.grid_meter_power").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.grid_meter_connection").state == "offline"
    assert hass.states.get("sensor.inverter_ac_power").state == "2345"

    collector.availability("inverter", "asleep")
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_connection").state == "asleep"
    assert hass.states.get("sensor.inverter_lifetime_energy").state == "10234.518"
    assert hass.states.get("sensor.inverter_ac_voltage_l1").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.inverter_ac_power").state == STATE_UNAVAILABLE
    collector.state("inverter", {"ac_power": 0}, inferred=["ac_power"])
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_ac_power").state == "0"

    collector.availability("inverter", "online")
    collector.availability("meter", "online")
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_ac_voltage_l1").state == "231.4"
    assert hass.states.get("sensor.grid_meter_power").state == "-1200"


async def test_availability_logged_once(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, caplog: pytest.LogCaptureFixture
) -> None:
    """Lost and back are each logged once, however often the status repeats."""
    for _ in range(3):
        collector.status(False)
        collector.availability("meter", "offline")
    await hass.async_block_till_done()
    for _ in range(3):
        collector.status(True)
        collector.availability("meter", "online")
    await hass.async_block_till_done()
    assert caplog.text.count("Collector home is offline") == 1
    assert caplog.text.count("Collector home is back online") == 1
    assert caplog.text.count("Device meter of collector home is offline") == 1
    assert caplog.text.count("Device meter of collector home is online again") == 1


async def test_values_before_first_state(
    hass: HomeAssistant, setup_integration: MockConfigEntry, collector: FakeCollector
) -> None:
    """Announced but not read yet: unknown. A state that overtook the announcement is applied."""
    collector.status(True)
    collector.state("meter", {"power": 42})
    collector.announce()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.grid_meter_power").state == "42"
    assert hass.states.get("sensor.inverter_ac_power").state == STATE_UNKNOWN
    assert hass.states.get("sensor.inverter_connection").state == STATE_UNKNOWN


async def test_collector_statistics(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector
) -> None:
    """Statistics become diagnostic sensors; figures not reported make theirs unavailable."""
    errors = hass.states.get("sensor.home_pv_errors")
    assert errors.state == "3"
    assert errors.attributes["timeout"] == 3
    assert hass.states.get("sensor.home_pv_queue_length").state == "0"
    quarantined = hass.states.get("sensor.home_pv_quarantined_points")
    assert (quarantined.state, quarantined.attributes["meter"]) == ("1", ["power_factor"])
    collector.stats({"ts": 1763900060.0, "queue_length": 12})
    await hass.async_block_till_done()
    assert hass.states.get("sensor.home_pv_queue_length").state == "12"
    assert hass.states.get("sensor.home_pv_errors").state == STATE_UNAVAILABLE


async def test_disabled_by_default(
    hass: HomeAssistant, running: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Noisy collector figures are disabled by default, the useful ones are not."""
    poll = entity_registry.async_get("sensor.home_pv_poll_duration")
    assert poll is not None
    assert poll.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert poll.entity_category == "diagnostic"
    errors = entity_registry.async_get("sensor.home_pv_errors")
    assert errors is not None
    assert errors.disabled_by is None


@pytest.mark.parametrize("resolved", [True, False], ids=["entity", "collector_before_0_2"])
async def test_announced_classes_checked(
    hass: HomeAssistant, setup_integration: MockConfigEntry, collector: FakeCollector, resolved: bool
) -> None:
    """Device and state classes Home Assistant would reject are dropped, not passed on: by the collector's
    entity model, else (an older collector, or a class this Home Assistant refuses) by Home Assistant's own
    tables."""
    announcement = collector.announcement
    points: list[dict[str, Any]] = [
        {"key": "a", "name": "Wrong unit", "kind": "number", "unit": "kWh", "device_class": "power"},
        {"key": "b", "name": "Unknown class", "kind": "number", "device_class": "flux_capacity"},
        {
            "key": "c",
            "name": "Wrong state class",
            "kind": "number",
            "unit": "W",
            "device_class": "power",
            "state_class": "total_increasing",
        },
        {"key": "d", "name": "Enum class", "kind": "number", "device_class": "enum"},
        {
            "key": "e",
            "name": "Setpoint",
            "kind": "number",
            "unit": "%",
            "device_class": "power",
            "precision": 1,
            "writable": {"min": 0, "max": 100},
        },
        {
            "key": "f",
            "name": "Wide",
            "kind": "number",
            "unit": "W",
            "device_class": "bogus",
            "writable": {"min": 0, "max": 10000, "step": 1},
        },
        {
            "key": "g",
            "name": "Counter",
            "kind": "number",
            "unit": "W",
            "device_class": "power",
            "writable": {"min": 0, "max": 10},
        },
    ]
    if resolved:
        points = [point_with_entity(point) for point in points]
    refused = {"platform": "sensor", "device_class": "power", "state_class": "measurement"}
    points.append({"key": "h", "name": "Refused", "kind": "number", "unit": "kWh", "entity": refused})
    announcement["devices"].append({"id": "odd", "name": "Odd", "kind": "other", "points": points})
    collector.status(True)
    collector.announce(announcement)
    await hass.async_block_till_done()
    wrong_unit = hass.states.get("sensor.odd_wrong_unit")
    assert "device_class" not in wrong_unit.attributes
    assert wrong_unit.attributes["unit_of_measurement"] == "kWh"
    assert "device_class" not in hass.states.get("sensor.odd_unknown_class").attributes
    wrong_state_class = hass.states.get("sensor.odd_wrong_state_class")
    assert wrong_state_class.attributes["device_class"] == "power"
    assert "state_class" not in wrong_state_class.attributes
    assert "device_class" not in hass.states.get("sensor.odd_enum_class").attributes
    setpoint = hass.states.get("number.odd_setpoint")
    assert (setpoint.attributes["step"], setpoint.attributes["mode"]) == (0.1, "box")
    assert "device_class" not in setpoint.attributes
    wide = hass.states.get("number.odd_wide")
    assert (wide.attributes["mode"], "device_class" in wide.attributes) == ("box", False)
    assert hass.states.get("number.odd_counter").attributes["mode"] == "slider"
    refused_here = hass.states.get("sensor.odd_refused")  # announced, but not with kWh in this HA
    assert "device_class" not in refused_here.attributes
    assert refused_here.attributes["state_class"] == "measurement"


async def test_only_changed_points_are_written(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, freezer: FrozenDateTimeFactory
) -> None:
    """A state message carrying one point rewrites that entity only (publish-on-change stays cheap)."""
    before_power = hass.states.get("sensor.inverter_ac_power")
    before_voltage = hass.states.get("sensor.grid_meter_voltage_l1")
    before_energy = hass.states.get("sensor.inverter_lifetime_energy")
    freezer.tick(5)
    collector.state("inverter", {"ac_power": 1111})
    await hass.async_block_till_done()
    power = hass.states.get("sensor.inverter_ac_power")
    assert power.state == "1111"
    assert power.last_reported > before_power.last_reported
    assert hass.states.get("sensor.inverter_lifetime_energy").last_reported == before_energy.last_reported
    assert hass.states.get("sensor.grid_meter_voltage_l1").last_reported == before_voltage.last_reported


async def test_a_reading_writes_only_what_it_changed(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector
) -> None:
    """A publish-on-change message with one value writes that value's entity and what it changes (the
    house's power), not the device's connection or alerts, which stay the same."""
    written: list[str] = []

    @callback
    def record(event: Event[Any]) -> None:
        written.append(event.data["entity_id"])

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    hass.bus.async_listen(EVENT_STATE_REPORTED, record, event_filter=callback(lambda _data: True))
    collector.state("meter", {"energy_import": 17311.0})
    await hass.async_block_till_done()
    assert sorted(written) == ["sensor.grid_meter_imported_energy"]
    written.clear()
    collector.state("battery", {"battery_power": 1234})
    await hass.async_block_till_done()
    assert sorted(written) == ["sensor.battery_power", "sensor.home_pv_consumption"]
