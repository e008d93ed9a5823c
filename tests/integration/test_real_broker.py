"""Against a real Mosquitto: retained messages published by a plain paho client create the entities."""

import asyncio
import json
import threading
from collections.abc import Generator
from typing import Any

import paho.mqtt.client as paho
import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.helpers import eventually
from tests.mosquitto import Mosquitto

from .conftest import load_fixture


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(broker: Mosquitto, enable_custom_integrations: None) -> None:
    """The broker comes before `hass` so that it is torn down after it."""


class PahoCollector:
    """A minimal collector over a real connection: retained announcement/state, a Last Will, commands."""

    def __init__(self, port: int) -> None:
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="pv_monitor_home")
        self.client.will_set("pv_monitor/home/status", "offline", qos=1, retain=True)
        self.client.on_message = self._on_message
        self.commands: list[dict[str, Any]] = []
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *_args: self.subscribed.set()
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()

    def publish(self, topic: str, payload: Any, retain: bool = True, wait: bool = True) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        info = self.client.publish(f"pv_monitor/home/{topic}", text, qos=1, retain=retain)
        if wait:  # never inside a paho callback: the network thread would wait for itself
            info.wait_for_publish(5)

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        command = json.loads(msg.payload)
        self.commands.append(command)
        device, _set, point = msg.topic.split("/")[2:]
        seq = 100 + len(self.commands)
        self.publish(
            f"{device}/state", {"ts": 1763900100.0, "seq": seq, "v": {point: command["value"]}}, wait=False
        )
        self.publish(
            f"{device}/event",
            {
                "ts": 1763900100.0,
                "type": "command_result",
                "point": point,
                "ok": True,
                "value": command["value"],
                "id": command["id"],
            },
            retain=False,
            wait=False,
        )

    def crash(self) -> None:
        """Drop the connection without DISCONNECT: the broker publishes the Last Will."""
        self.client.loop_stop()
        sock = self.client.socket()
        assert sock is not None
        sock.close()


def state_of(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return state.state if state else None


@pytest.fixture
def paho_collector(broker: Mosquitto) -> Generator[PahoCollector]:
    """The paho collector; its network thread is stopped after the test."""
    collector = PahoCollector(broker.port)
    yield collector
    collector.client.loop_stop()


@pytest.mark.usefixtures("mock_hass_config")
async def test_real_broker(
    hass: HomeAssistant, broker: Mosquitto, paho_collector: PahoCollector, config_entry: MockConfigEntry
) -> None:
    """Retained messages → entities; a command round trip; the Last Will → unavailable."""
    collector = paho_collector
    collector.publish("status", "online")
    collector.publish("config", load_fixture("announcement.json"))
    states = load_fixture("states.json")
    for device, state in states.items():
        collector.publish(f"{device}/availability", "online")
        collector.publish(f"{device}/state", state)
    collector.client.subscribe("pv_monitor/home/+/set/+", qos=1)
    assert await asyncio.get_running_loop().run_in_executor(None, collector.subscribed.wait, 5)

    mqtt_entry = MockConfigEntry(
        domain="mqtt", data={"broker": "127.0.0.1", "port": broker.port}, version=1, minor_version=2
    )
    mqtt_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    try:
        await eventually(lambda: state_of(hass, "sensor.inverter_ac_power") == "2345", "ac power 2345")
        assert state_of(hass, "sensor.grid_meter_imported_energy") == "5012.41"
        assert state_of(hass, "number.inverter_active_power_limit") == "100"

        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": "number.inverter_active_power_limit", "value": 40},
            blocking=True,
        )
        assert collector.commands[0]["value"] == 40
        await eventually(lambda: state_of(hass, "number.inverter_active_power_limit") == "40", "limit 40")

        collector.crash()
        await eventually(lambda: state_of(hass, "sensor.inverter_ac_power") == "unavailable", "unavailable")
        assert state_of(hass, "sensor.inverter_connection") == "offline"
    finally:
        assert await hass.config_entries.async_unload(config_entry.entry_id)
        assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()
