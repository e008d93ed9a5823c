"""Actuators publish a command, wait for the collector's result and show only confirmed values."""

import asyncio
import json
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator, MqttMockHAClient

from custom_components.pv_monitor.const import COMMAND_TIMEOUT, CONF_COMMAND_QOS

from .conftest import FakeCollector


def call(hass: HomeAssistant, domain: str, service: str, data: dict[str, Any]) -> asyncio.Task[Any]:
    """Start a blocking service call in the background."""
    coro: Coroutine[Any, Any, Any] = hass.services.async_call(domain, service, data, blocking=True)
    return asyncio.ensure_future(coro)


@pytest.fixture
def published(mqtt_mock: MqttMockHAClient) -> asyncio.Queue[tuple[Any, ...]]:
    """What the integration publishes, in order: the MQTT mock's side effect hands every call over."""
    queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    async def _publish(*args: Any, **_kwargs: Any) -> None:
        queue.put_nowait(args)

    mqtt_mock.async_publish.side_effect = _publish
    return queue


async def sent_command(
    published: asyncio.Queue[tuple[Any, ...]], task: asyncio.Task[Any]
) -> tuple[str, dict[str, Any], int, bool]:
    """The command the service call `task` published: topic, payload, qos, retain (fails if the call
    ends without publishing)."""
    get = asyncio.ensure_future(published.get())
    done, _ = await asyncio.wait({get, task}, return_when=asyncio.FIRST_COMPLETED)
    if get not in done:
        get.cancel()
        raise AssertionError(f"nothing published; the call ended with {task.exception()!r}")
    topic, payload, qos, retain = get.result()
    return topic, json.loads(payload), qos, retain


@pytest.mark.parametrize(
    ("domain", "service", "data", "entity_id", "device", "point", "value", "before", "after"),
    [
        (
            "number",
            "set_value",
            {"value": 75},
            "number.inverter_active_power_limit",
            "inverter",
            "power_limit",
            75,
            "100",
            "75",
        ),
        (
            "select",
            "select_option",
            {"option": "charge"},
            "select.battery_operating_mode",
            "battery",
            "battery_mode",
            "charge",
            "auto",
            "charge",
        ),
        (
            "switch",
            "turn_on",
            {},
            "switch.inverter_active_power_limit_enabled",
            "inverter",
            "power_limit_enabled",
            True,
            "off",
            "on",
        ),
        (
            "switch",
            "turn_off",
            {},
            "switch.inverter_active_power_limit_enabled",
            "inverter",
            "power_limit_enabled",
            False,
            "off",
            "off",
        ),
    ],
)
async def test_command_confirmed(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    mqtt_mock: MqttMockHAClient,
    published: asyncio.Queue[tuple[Any, ...]],
    domain: str,
    service: str,
    data: dict[str, Any],
    entity_id: str,
    device: str,
    point: str,
    value: Any,
    before: str,
    after: str,
) -> None:
    """The value is published with an id; the state changes only with the collector's confirmation."""
    mqtt_mock.async_publish.reset_mock()
    task = call(hass, domain, service, {"entity_id": entity_id, **data})
    topic, payload, qos, retain = await sent_command(published, task)
    assert topic == f"pv_monitor/home/{device}/set/{point}"
    assert payload["value"] == value
    assert len(payload["id"]) == 32
    assert (qos, retain) == (1, False)
    assert hass.states.get(entity_id).state == before  # never optimistic
    collector.event(
        device, {"type": "command_result", "point": point, "ok": True, "value": value, "id": payload["id"]}
    )
    await task
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == after


async def test_confirmed_by_next_state(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    mqtt_mock: MqttMockHAClient,
    published: asyncio.Queue[tuple[Any, ...]],
) -> None:
    """The collector's read-back state carries the confirmed value (the result may omit it)."""
    mqtt_mock.async_publish.reset_mock()
    task = call(
        hass, "number", "set_value", {"entity_id": "number.battery_charge_power_limit", "value": 1200}
    )
    _topic, payload, _qos, _retain = await sent_command(published, task)
    assert payload["value"] == 1200
    collector.state("battery", {"charge_power_limit": 1200})
    collector.event(
        "battery", {"type": "command_result", "point": "charge_power_limit", "ok": True, "id": payload["id"]}
    )
    await task
    assert hass.states.get("number.battery_charge_power_limit").state == "1200"


async def test_button_press(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    mqtt_mock: MqttMockHAClient,
    published: asyncio.Queue[tuple[Any, ...]],
) -> None:
    """An action is published and waits for its result."""
    mqtt_mock.async_publish.reset_mock()
    task = call(hass, "button", "press", {"entity_id": "button.battery_reset_bms_errors"})
    topic, payload, _qos, _retain = await sent_command(published, task)
    assert topic == "pv_monitor/home/battery/set/reset_errors"
    assert not task.done()
    collector.event(
        "battery", {"type": "command_result", "point": "reset_errors", "ok": True, "id": payload["id"]}
    )
    await task


async def test_command_refused(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    mqtt_mock: MqttMockHAClient,
    published: asyncio.Queue[tuple[Any, ...]],
) -> None:
    """A refusal raises a translated error naming the reason; the state stays."""
    mqtt_mock.async_publish.reset_mock()
    task = call(hass, "number", "set_value", {"entity_id": "number.inverter_active_power_limit", "value": 50})
    _topic, payload, _qos, _retain = await sent_command(published, task)
    collector.event(
        "inverter",
        {
            "type": "command_result",
            "point": "power_limit",
            "ok": False,
            "error": "write_failed",
            "message": "power_limit: device answered exception 4",
            "id": payload["id"],
        },
    )
    with pytest.raises(HomeAssistantError) as err:
        await task
    assert err.value.translation_key == "command_refused"
    assert err.value.translation_placeholders["error"] == "write_failed"
    assert "exception 4" in err.value.translation_placeholders["message"]
    assert hass.states.get("number.inverter_active_power_limit").state == "100"


async def test_other_results_ignored(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    mqtt_mock: MqttMockHAClient,
    published: asyncio.Queue[tuple[Any, ...]],
) -> None:
    """Results of other consumers' commands (other ids) do not complete ours."""
    mqtt_mock.async_publish.reset_mock()
    task = call(hass, "number", "set_value", {"entity_id": "number.inverter_active_power_limit", "value": 60})
    _topic, payload, _qos, _retain = await sent_command(published, task)
    collector.event(
        "inverter",
        {
            "type": "command_result",
            "point": "power_limit",
            "ok": False,
            "error": "out_of_range",
            "id": "someone-else",
        },
    )
    collector.event(
        "inverter",
        {
            "type": "point_rejected",
            "point": "ac_power",
            "error": "out_of_range",
            "message": "ac_power: 99999 outside 0..10000",
        },
    )
    # Had either completed our command, the call would now fail (refused) instead of succeeding below.
    collector.event(
        "inverter",
        {"type": "command_result", "point": "power_limit", "ok": True, "value": 60, "id": payload["id"]},
    )
    await task
    assert hass.states.get("number.inverter_active_power_limit").state == "60"


async def test_command_timeout(
    hass: HomeAssistant,
    running: MockConfigEntry,
    mqtt_mock: MqttMockHAClient,
    published: asyncio.Queue[tuple[Any, ...]],
    freezer: FrozenDateTimeFactory,
) -> None:
    """No result within the timeout: a translated error."""
    mqtt_mock.async_publish.reset_mock()
    task = call(hass, "switch", "turn_on", {"entity_id": "switch.inverter_active_power_limit_enabled"})
    await sent_command(published, task)
    freezer.tick(timedelta(seconds=COMMAND_TIMEOUT + 1))
    async_fire_time_changed(hass)
    with pytest.raises(HomeAssistantError) as err:
        await task
    assert err.value.translation_key == "command_timeout"
    assert hass.states.get("switch.inverter_active_power_limit_enabled").state == "off"


async def test_collector_goes_offline_during_command(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    mqtt_mock: MqttMockHAClient,
    published: asyncio.Queue[tuple[Any, ...]],
) -> None:
    """The Last Will ends a pending command at once with a translated error."""
    mqtt_mock.async_publish.reset_mock()
    task = call(
        hass, "select", "select_option", {"entity_id": "select.battery_operating_mode", "option": "idle"}
    )
    await sent_command(published, task)
    collector.status(False)
    with pytest.raises(HomeAssistantError) as err:
        await task
    assert err.value.translation_key == "collector_offline"


async def test_no_command_while_offline(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, mqtt_mock: MqttMockHAClient
) -> None:
    """Collector or device offline: the actuator is unavailable and nothing is published."""
    collector.status(False)
    await hass.async_block_till_done()
    assert hass.states.get("number.inverter_active_power_limit").state == STATE_UNAVAILABLE
    mqtt_mock.async_publish.reset_mock()
    await hass.services.async_call(
        "number", "set_value", {"entity_id": "number.inverter_active_power_limit", "value": 10}, blocking=True
    )
    collector.status(True)
    collector.availability("battery", "offline")
    await hass.async_block_till_done()
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.battery_reset_bms_errors"}, blocking=True
    )
    mqtt_mock.async_publish.assert_not_called()


async def test_sleeping_device_refuses_command(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, mqtt_mock: MqttMockHAClient
) -> None:
    """A device asleep shows inferred values but gets no command: translated error, nothing published."""
    collector.availability("inverter", "asleep")
    collector.state("inverter", {"power_limit": 100}, inferred=["power_limit"])
    await hass.async_block_till_done()
    assert hass.states.get("number.inverter_active_power_limit").state == "100"
    mqtt_mock.async_publish.reset_mock()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": "number.inverter_active_power_limit", "value": 10},
            blocking=True,
        )
    assert err.value.translation_key == "device_unavailable"
    mqtt_mock.async_publish.assert_not_called()


async def test_command_qos_option(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    config_entry: MockConfigEntry,
    collector: FakeCollector,
    published: asyncio.Queue[tuple[Any, ...]],
) -> None:
    """Commands use the QoS chosen in the options."""
    hass.config_entries.async_update_entry(config_entry, options={CONF_COMMAND_QOS: "2"})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    collector.start()
    await hass.async_block_till_done()
    mqtt_mock.async_publish.reset_mock()
    task = call(hass, "switch", "turn_on", {"entity_id": "switch.inverter_active_power_limit_enabled"})
    _topic, payload, qos, _retain = await sent_command(published, task)
    assert qos == 2
    collector.event(
        "inverter",
        {
            "type": "command_result",
            "point": "power_limit_enabled",
            "ok": True,
            "value": True,
            "id": payload["id"],
        },
    )
    await task
    assert hass.states.get("switch.inverter_active_power_limit_enabled").state == "on"


async def settle() -> None:
    """Let the calls in flight run until they wait (a blocking call never finishes before its write)."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture(autouse=True)
def no_debounce(request: pytest.FixtureRequest) -> Iterator[None]:
    """Commands go out at once unless a test is about the debounce."""
    if "debounced" in request.node.name:
        yield
        return
    with patch("custom_components.pv_monitor.number.NUMBER_DEBOUNCE", 0):
        yield


async def test_value_off_the_step_grid_is_refused_before_sending(
    hass: HomeAssistant,
    running: MockConfigEntry,
    mqtt_mock: MqttMockHAClient,
    hass_client: ClientSessionGenerator,
) -> None:
    """2.5 for a point that takes whole steps: a translated validation error (HTTP 400 over REST),
    nothing published, and the state written again with the confirmed value."""
    assert await async_setup_component(hass, "api", {})
    mqtt_mock.async_publish.reset_mock()
    entity_id = "number.inverter_active_power_limit"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "number", "set_value", {"entity_id": entity_id, "value": 2.5}, blocking=True
        )
    assert err.value.translation_key == "invalid_number"
    assert err.value.translation_placeholders["step"] == "1"
    assert "2.5" in str(err.value)
    assert "in steps of 1" in str(err.value)
    mqtt_mock.async_publish.assert_not_called()
    assert hass.states.get(entity_id).state == "100"
    client = await hass_client()
    response = await client.post(
        "/api/services/number/set_value", json={"entity_id": entity_id, "value": 2.5}
    )
    assert response.status == 400
    mqtt_mock.async_publish.assert_not_called()


async def test_value_the_device_refuses_is_a_validation_error(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    mqtt_mock: MqttMockHAClient,
    published: asyncio.Queue[tuple[Any, ...]],
) -> None:
    mqtt_mock.async_publish.reset_mock()
    task = call(hass, "number", "set_value", {"entity_id": "number.inverter_active_power_limit", "value": 50})
    _topic, payload, _qos, _retain = await sent_command(published, task)
    collector.event(
        "inverter",
        {
            "type": "command_result",
            "point": "power_limit",
            "ok": False,
            "error": "invalid_value",
            "message": "power_limit: 50 is not accepted",
            "id": payload["id"],
        },
    )
    with pytest.raises(ServiceValidationError) as err:
        await task
    assert err.value.translation_key == "value_refused"
    assert "does not accept" in str(err.value)
    assert hass.states.get("number.inverter_active_power_limit").state == "100"


async def test_a_burst_of_settings_is_debounced_into_one_write(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    mqtt_mock: MqttMockHAClient,
    published: asyncio.Queue[tuple[Any, ...]],
    freezer: FrozenDateTimeFactory,
) -> None:
    """Nine clicks on + in a row (faster than the debounce time): one write, of the last value, once the
    clicks stop; every call returns when the collector confirmed it."""
    mqtt_mock.async_publish.reset_mock()
    entity_id = "number.battery_charge_power_limit"
    tasks = []
    for click in range(1, 10):
        tasks.append(call(hass, "number", "set_value", {"entity_id": entity_id, "value": 1000 + 50 * click}))
        await settle()
    assert published.empty()
    freezer.tick(timedelta(seconds=1))
    async_fire_time_changed(hass)
    topic, payload, _qos, _retain = await sent_command(published, tasks[-1])
    assert (topic, payload["value"]) == ("pv_monitor/home/battery/set/charge_power_limit", 1450)
    collector.event(
        "battery",
        {
            "type": "command_result",
            "point": "charge_power_limit",
            "ok": True,
            "value": 1450,
            "id": payload["id"],
        },
    )
    await asyncio.gather(*tasks)
    assert published.empty()
    assert hass.states.get(entity_id).state == "1450"


async def test_setting_the_power_limit_says_it_switched_the_limit_on(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    mqtt_mock: MqttMockHAClient,
    published: asyncio.Queue[tuple[Any, ...]],
) -> None:
    """The inverter enables its limit when the limit is written: the switch says why it went on."""
    switch = "switch.inverter_active_power_limit_enabled"
    collector.state("inverter", {"power_limit_enabled": False})
    await hass.async_block_till_done()
    assert hass.states.get(switch).state == "off"
    task = call(hass, "number", "set_value", {"entity_id": "number.inverter_active_power_limit", "value": 60})
    _topic, payload, _qos, _retain = await sent_command(published, task)
    collector.state("inverter", {"power_limit": 60, "power_limit_enabled": True})
    collector.event(
        "inverter",
        {"type": "command_result", "point": "power_limit", "ok": True, "value": 60, "id": payload["id"]},
    )
    await task
    await hass.async_block_till_done()
    state = hass.states.get(switch)
    assert (state.state, state.attributes["switched_on_by"]) == ("on", "power_limit")
    collector.state("inverter", {"power_limit_enabled": False})
    await hass.async_block_till_done()
    assert "switched_on_by" not in hass.states.get(switch).attributes


async def test_a_debounced_burst_the_device_refuses_fails_every_click(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    mqtt_mock: MqttMockHAClient,
    published: asyncio.Queue[tuple[Any, ...]],
    freezer: FrozenDateTimeFactory,
) -> None:
    """Two clicks, one write, refused by the device: both calls get the refusal, the state stays."""
    mqtt_mock.async_publish.reset_mock()
    entity_id = "number.battery_charge_power_limit"
    before = hass.states.get(entity_id).state
    tasks = [
        call(hass, "number", "set_value", {"entity_id": entity_id, "value": value}) for value in (1100, 1150)
    ]
    await settle()
    freezer.tick(timedelta(seconds=1))
    async_fire_time_changed(hass)
    _topic, payload, _qos, _retain = await sent_command(published, tasks[-1])
    collector.event(
        "battery",
        {
            "type": "command_result",
            "point": "charge_power_limit",
            "ok": False,
            "error": "invalid_value",
            "message": "charge_power_limit: 1150 is not accepted",
            "id": payload["id"],
        },
    )
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(result) for result in results] == [ServiceValidationError, ServiceValidationError]
    assert hass.states.get(entity_id).state == before


async def test_a_debounced_burst_is_dropped_when_the_entity_goes(
    hass: HomeAssistant,
    running: MockConfigEntry,
    mqtt_mock: MqttMockHAClient,
    published: asyncio.Queue[tuple[Any, ...]],
    freezer: FrozenDateTimeFactory,
) -> None:
    """Unloading the entry while a click waits for the debounce: nothing is written later."""
    mqtt_mock.async_publish.reset_mock()
    entity_id = "number.battery_charge_power_limit"
    task = call(hass, "number", "set_value", {"entity_id": entity_id, "value": 1200})
    await settle()
    assert await hass.config_entries.async_unload(running.entry_id)
    freezer.tick(timedelta(seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert published.empty()
