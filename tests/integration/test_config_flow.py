"""Config flow: MQTT discovery, the user step's scan, reconfigure and options."""

import asyncio
import json
from datetime import timedelta
from typing import Any
from unittest.mock import DEFAULT

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_MQTT, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.pv_monitor.const import (
    CONF_BASE_TOPIC,
    CONF_COLLECTOR_ID,
    CONF_GRID_VOLTAGE_MAX,
    CONF_GRID_VOLTAGE_MIN,
    DEFAULT_OPTIONS,
    DOMAIN,
    SCAN_SECONDS,
)

from .conftest import FakeCollector, load_fixture

pytestmark = pytest.mark.usefixtures("mqtt_mock")


def discovery(payload: str | bytes, topic: str = "pv_monitor/home/config") -> MqttServiceInfo:
    return MqttServiceInfo(
        topic=topic, payload=payload, qos=1, retain=True, subscribed_topic="pv_monitor/+/config", timestamp=0
    )


def announcement_for(collector_id: str, name: str) -> str:
    data = load_fixture("announcement.json")
    data["collector"].update(id=collector_id, name=name)
    return json.dumps(data)


async def configure_while_announced(
    hass: HomeAssistant,
    *,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
    flow_id: str,
    user_input: dict[str, Any],
    retained: dict[str, str],
) -> Any:
    """Submit a step that scans the broker; deliver `retained` announcements as the broker would."""
    topic = f"{user_input[CONF_BASE_TOPIC].strip()}/+/config"
    subscribed = asyncio.Event()

    def on_subscribe(subscription: str, *_args: Any, **_kwargs: Any) -> Any:
        if subscription == topic:
            subscribed.set()
        return DEFAULT  # the real subscription still happens (the mock wraps the real client)

    mqtt_mock.async_subscribe.side_effect = on_subscribe
    task = asyncio.ensure_future(hass.config_entries.flow.async_configure(flow_id, user_input))
    waiting = asyncio.ensure_future(subscribed.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    mqtt_mock.async_subscribe.side_effect = None
    for leaf, payload in retained.items():
        async_fire_mqtt_message(hass, f"{user_input[CONF_BASE_TOPIC].strip()}/{leaf}", payload, retain=True)
    freezer.tick(timedelta(seconds=SCAN_SECONDS + 1))
    async_fire_time_changed(hass)
    return await task


async def configure_reading_states(
    hass: HomeAssistant,
    *,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
    flow_id: str,
    user_input: dict[str, Any],
    states: dict[str, dict[str, Any]],
    wait: bool = False,
) -> Any:
    """Submit the step that reads the inverters' retained states (their rated power); deliver `states`
    as the broker would (device id -> values), and let the listening time pass when `wait`."""
    subscribed = asyncio.Event()

    def on_subscribe(subscription: str, *_args: Any, **_kwargs: Any) -> Any:
        if subscription.endswith("/config") and not subscription.endswith("/+/config"):
            subscribed.set()
        return DEFAULT

    mqtt_mock.async_subscribe.side_effect = on_subscribe
    task = asyncio.ensure_future(hass.config_entries.flow.async_configure(flow_id, user_input))
    waiting = asyncio.ensure_future(subscribed.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    mqtt_mock.async_subscribe.side_effect = None
    for device_id, values in states.items():
        payload = json.dumps({"ts": 1.0, "seq": 1, "v": values})
        async_fire_mqtt_message(hass, f"pv_monitor/home/{device_id}/state", payload, retain=True)
    if wait:
        freezer.tick(timedelta(seconds=SCAN_SECONDS + 1))
        async_fire_time_changed(hass)
    return await task


async def test_discovery_creates_entry(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    """A retained announcement starts a flow; confirming asks for the inverter's array (its rated power
    suggested as the peak power) and offers the Energy dashboard, then creates the entry."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(announcement_for("home", "Home PV"))
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] == {"name": "Home PV", "collector_id": "home", "devices": "4"}
    result = await configure_reading_states(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=result["flow_id"],
        user_input={},
        states={"inverter": {"rated_power": 5000, "ac_power": 1200}},
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "array")
    assert result["description_placeholders"] == {
        "device": "Inverter",
        "rated": "5",
        "irradiance": "Irradiance sensor",
    }
    suggested = {str(key): key.description["suggested_value"] for key in result["data_schema"].schema}
    assert suggested == {"peak_power": 5.0, "tilt": 30.0, "azimuth": 180.0, "losses": 14.0}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"peak_power": 5.5, "tilt": 35, "azimuth": 170, "losses": 14}
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "energy")
    sources = result["description_placeholders"]["sources"]
    assert "- Inverter: Lifetime energy, AC power" in sources
    assert "- Grid meter: Imported energy, Exported energy, Total power" in sources
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"energy_dashboard": True})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home PV"
    assert result["data"] == {CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "home"}
    assert result["options"] == {
        "arrays": {"inverter": {"peak_power": 5.5, "tilt": 35.0, "azimuth": 170.0, "losses": 14.0}},
        "energy_dashboard_pending": True,
    }
    assert result["result"].unique_id == "home"


async def test_discovery_without_rated_power_or_array(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    """No rated power reported within the listening time: nothing suggested; peak power 0 and no Energy
    dashboard leave both out."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(announcement_for("home", "Home PV"))
    )
    result = await configure_reading_states(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=result["flow_id"],
        user_input={},
        states={},
        wait=True,
    )
    assert result["description_placeholders"]["rated"] == "-"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"peak_power": 0, "tilt": 30, "azimuth": 180, "losses": 14}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"energy_dashboard": False})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {}


async def test_discovery_from_broker(hass: HomeAssistant) -> None:
    """The manifest's MQTT topic makes Home Assistant start the flow from a real message."""
    async_fire_mqtt_message(
        hass, "pv_monitor/garage/config", announcement_for("garage", "Garage"), retain=True
    )
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [(flow["context"]["unique_id"], flow["step_id"]) for flow in flows] == [("garage", "confirm")]


async def test_discovery_updates_base_topic(hass: HomeAssistant) -> None:
    """Re-discovery of a configured collector aborts and records a changed base topic."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="home", data={CONF_BASE_TOPIC: "old", CONF_COLLECTOR_ID: "home"}
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery(announcement_for("home", "Home PV"), topic="site/a/home/config"),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_BASE_TOPIC] == "site/a"


async def test_rediscovered_running_collector_is_followed_under_its_new_base_topic(
    hass: HomeAssistant, running: MockConfigEntry
) -> None:
    """A running collector announced under another base topic: the entry records it and follows it
    (its update listener reloads it; Home Assistant no longer reloads entries that have one)."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery(announcement_for("home", "Home PV"), topic="site/home/config"),
    )
    await hass.async_block_till_done()
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "already_configured")
    assert running.data[CONF_BASE_TOPIC] == "site"
    FakeCollector(hass, base="site").start()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_ac_power").state == "2345"


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("pv_monitor/home/config", ""),
        ("pv_monitor/home/state", "{}"),
        ("pv_monitor/home/config", "not json"),
        ("pv_monitor/home/config", announcement_for("other", "Other")),
        ("pv_monitor/Bad Id/config", announcement_for("home", "Home PV")),
    ],
)
async def test_discovery_invalid(hass: HomeAssistant, topic: str, payload: str) -> None:
    """Anything but a valid announcement of the collector named in the topic is ignored."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(payload, topic=topic)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"


async def test_user_lists_announced_collectors(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    """The user step lists what announces under the base topic, without the configured ones."""
    MockConfigEntry(
        domain=DOMAIN, unique_id="barn", data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "barn"}
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await configure_while_announced(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=result["flow_id"],
        user_input={CONF_BASE_TOPIC: "pv_monitor"},
        retained={
            "home/config": announcement_for("home", "Home PV"),
            "barn/config": announcement_for("barn", "Barn"),
            "broken/config": "{",
            "removed/config": "",
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pick"
    options = result["data_schema"].schema[CONF_COLLECTOR_ID].config["options"]
    assert options == [{"value": "home", "label": "Home PV (home)"}]
    result = await configure_reading_states(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=result["flow_id"],
        user_input={CONF_COLLECTOR_ID: "home"},
        states={"inverter": {"rated_power": 5000}},
    )
    assert result["step_id"] == "array"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"peak_power": 0, "tilt": 30, "azimuth": 180, "losses": 14}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"energy_dashboard": False})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "home"}


async def test_user_none_found(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    """Nothing announced: the form says so; invalid base topics are refused before scanning."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await configure_while_announced(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=result["flow_id"],
        user_input={CONF_BASE_TOPIC: "elsewhere"},
        retained={},
    )
    assert result["errors"] == {"base": "no_collectors"}
    for bad in ("pv/#", "/pv", "", "a\x00b"):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_BASE_TOPIC: bad})
        assert result["errors"] == {CONF_BASE_TOPIC: "invalid_base_topic"}


async def test_user_all_configured(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    """Every announced collector is configured already: abort with a clear reason."""
    MockConfigEntry(
        domain=DOMAIN, unique_id="home", data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "home"}
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await configure_while_announced(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=result["flow_id"],
        user_input={CONF_BASE_TOPIC: "pv_monitor"},
        retained={"home/config": announcement_for("home", "Home PV")},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_new_collectors"


async def test_user_pick_configured_meanwhile(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    """A collector configured while the list was shown aborts the pick."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await configure_while_announced(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=result["flow_id"],
        user_input={CONF_BASE_TOPIC: "pv_monitor"},
        retained={"home/config": announcement_for("home", "Home PV")},
    )
    MockConfigEntry(
        domain=DOMAIN, unique_id="home", data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "home"}
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_COLLECTOR_ID: "home"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    """Reconfigure checks the collector announces under the new base topic, then updates the entry."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="home", data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "home"}
    )
    entry.add_to_hass(hass)
    MockConfigEntry(
        domain=DOMAIN, unique_id="barn", data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "barn"}
    ).add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    flow_id = result["flow_id"]
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_BASE_TOPIC: "site#", CONF_COLLECTOR_ID: "home"}
    )
    assert result["errors"] == {CONF_BASE_TOPIC: "invalid_base_topic"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_BASE_TOPIC: "site", CONF_COLLECTOR_ID: "Not Valid"}
    )
    assert result["errors"] == {CONF_COLLECTOR_ID: "invalid_collector_id"}
    result = await configure_while_announced(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=flow_id,
        user_input={CONF_BASE_TOPIC: "site", CONF_COLLECTOR_ID: "home"},
        retained={},
    )
    assert result["errors"] == {"base": "collector_not_found"}
    result = await configure_while_announced(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=flow_id,
        user_input={CONF_BASE_TOPIC: "site", CONF_COLLECTOR_ID: "home"},
        retained={"home/config": announcement_for("home", "Home PV 2")},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {CONF_BASE_TOPIC: "site", CONF_COLLECTOR_ID: "home"}
    assert entry.title == "Home PV 2"

    result = await entry.start_reconfigure_flow(hass)
    result = await configure_while_announced(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=result["flow_id"],
        user_input={CONF_BASE_TOPIC: "site", CONF_COLLECTOR_ID: "barn"},
        retained={"barn/config": announcement_for("barn", "Barn")},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"

    result = await entry.start_reconfigure_flow(hass)
    result = await configure_while_announced(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=result["flow_id"],
        user_input={CONF_BASE_TOPIC: "site", CONF_COLLECTOR_ID: "house"},
        retained={"house/config": announcement_for("house", "House")},
    )
    assert result["reason"] == "reconfigure_successful"
    assert (entry.unique_id, entry.data[CONF_COLLECTOR_ID]) == ("house", "house")


async def test_options(hass: HomeAssistant) -> None:
    """Thresholds are edited in one form (the array's size is not one of them); a maximum not above its
    minimum is refused."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="home", data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "home"}
    )
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={"chat_id": "42"})
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["energy", "array_device", "dashboard", "automations", "thresholds"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "thresholds"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "thresholds"
    # the array's size is asked in one place, the array step: not among the thresholds
    assert {str(key) for key in result["data_schema"].schema} == set(DEFAULT_OPTIONS)
    assert "array_peak_power" not in {str(key) for key in result["data_schema"].schema}
    user_input = {
        **DEFAULT_OPTIONS,
        "command_qos": "1",
        CONF_GRID_VOLTAGE_MIN: 250,
        CONF_GRID_VOLTAGE_MAX: 240,
        "grid_frequency_min": 50.5,
        "grid_frequency_max": 50.0,
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert result["errors"] == {
        CONF_GRID_VOLTAGE_MAX: "max_not_above_min",
        "grid_frequency_max": "max_not_above_min",
    }
    user_input.update({CONF_GRID_VOLTAGE_MIN: 200, CONF_GRID_VOLTAGE_MAX: 250, "grid_frequency_max": 51.0})
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_GRID_VOLTAGE_MAX] == 250
    assert entry.options["command_qos"] == "1"
    assert entry.options["chat_id"] == "42"  # the other steps' choices are kept


async def test_discovery_of_a_collector_without_inverters_goes_to_the_energy_step(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    """A collector with a meter only has no array to describe: confirming goes straight to the Energy step."""
    data = json.loads(announcement_for("home", "Home PV"))
    data["devices"] = [device for device in data["devices"] if device["id"] == "meter"]
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(json.dumps(data))
    )
    result = await configure_reading_states(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=result["flow_id"],
        user_input={},
        states={},
        wait=True,
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "energy")


async def test_discovery_asks_for_each_inverters_array_in_turn(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    """Two inverters: the array step is asked once for each, the first's rated power suggested for it."""
    data = json.loads(announcement_for("home", "Home PV"))
    inverter = next(device for device in data["devices"] if device["id"] == "inverter")
    data["devices"].append({**inverter, "id": "garage_inverter", "name": "Garage inverter"})
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(json.dumps(data))
    )
    result = await configure_reading_states(
        hass,
        mqtt_mock=mqtt_mock,
        freezer=freezer,
        flow_id=result["flow_id"],
        user_input={},
        states={"inverter": {"rated_power": 5000}, "garage_inverter": {"rated_power": 3000}},
    )
    assert [result["step_id"], result["description_placeholders"]["device"]] == ["array", "Inverter"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"peak_power": 5.0, "tilt": 30, "azimuth": 180, "losses": 14}
    )
    assert [result["step_id"], result["description_placeholders"]["device"]] == ["array", "Garage inverter"]
    suggested = {str(key): key.description["suggested_value"] for key in result["data_schema"].schema}
    assert suggested["peak_power"] == 3.0
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"peak_power": 0, "tilt": 30, "azimuth": 180, "losses": 14}
    )
    assert result["step_id"] == "energy"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"energy_dashboard": False})
    assert result["options"] == {
        "arrays": {"inverter": {"peak_power": 5.0, "tilt": 30.0, "azimuth": 180.0, "losses": 14.0}}
    }
