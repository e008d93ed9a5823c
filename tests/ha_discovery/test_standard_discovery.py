"""The real collector (simulated devices over Modbus TCP) publishes Home Assistant's standard discovery on a
real Mosquitto; Home Assistant's own MQTT integration creates the entities from it.

Checked: every announced point becomes an entity with the unit, device class and state class the PV Monitor
integration gives the same point, disabled where the announcement marks it advanced; values arrive through
the value templates and a state message that lacks a key leaves that entity's value alone; a command
through the MQTT `number` entity reaches the collector's set topic and is executed (the simulator's
register changes, the confirmed value comes back).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from homeassistant.const import ATTR_DEVICE_CLASS, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pv_monitor.catalogue import point_platform
from custom_components.pv_monitor.contract import parse_announcement
from custom_components.pv_monitor.number import number_description
from custom_components.pv_monitor.sensor import point_sensor_description
from pv_collector.app import Collector
from pv_collector.model import Function
from pv_collector.profile import SHIPPED_DIR
from pv_collector.simulator import Simulation
from tests.collector.conftest import Recorder, collector_config, running
from tests.helpers import eventually
from tests.mosquitto import Mosquitto

WAIT = 45.0  # polls; generous for a loaded 2-core CI machine
SLOW_POLL = 60.0  # one poll at start, then only command read-backs: values stay put during the test


def entity_id(hass: HomeAssistant, platform: str, unique_id: str) -> str | None:
    return er.async_get(hass).async_get_entity_id(str(platform), "mqtt", unique_id)


def state_of(hass: HomeAssistant, entity: str | None) -> str | None:
    state = hass.states.get(entity) if entity else None
    return state.state if state else None


ADVANCED_POINT = "soh"  # the battery's state of health, marked `advanced` in the test's copy of its profile


def battery_profile_with_an_advanced_point(folder: Path) -> str:
    """The simulated battery's shipped profile under another id, with one point marked `advanced` (the
    simulated devices announce none of their own: the inverter's generated SunSpec points, which were
    advanced, are points it does not implement and are not announced)."""
    shipped = yaml.safe_load((SHIPPED_DIR / "pv_sim_battery.yaml").read_text(encoding="utf-8"))
    shipped["id"] = "test_battery"
    for point in shipped["points"]:
        if point["key"] == ADVANCED_POINT:
            point["advanced"] = True
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_battery.yaml").write_text(yaml.safe_dump(shipped), encoding="utf-8")
    return "test_battery"


def config(tmp_path: Any, broker: Mosquitto, modbus_port: int) -> dict[str, Any]:
    document = collector_config(
        tmp_path / "data",
        broker.port,
        modbus_port,
        mqtt={"ha_discovery": {"enabled": True}},
    )
    battery_profile = battery_profile_with_an_advanced_point(Path(tmp_path) / "profiles")
    document["profile_dirs"] = [str(Path(tmp_path) / "profiles")]
    for device in document["buses"][0]["devices"]:  # collector_config polls fast; here once at start
        device["poll_interval"] = SLOW_POLL
        if device["profile"] == "pv_sim_battery":
            device["profile"] = battery_profile
    return document


async def retained_state_keys(port: int) -> dict[str, set[str]]:
    """The keys of every device's retained state message, as a new subscriber gets them."""
    recorder = Recorder(port)
    await asyncio.get_running_loop().run_in_executor(None, recorder.start)
    try:
        recorder.publish("test/marker", "x")  # retained messages come before it
        await recorder.wait("test/marker")
        return {
            message.topic.split("/")[2]: set(message.json()["v"])
            for message in recorder.messages
            if message.topic.startswith("pv_monitor/test/") and message.topic.endswith("/state")
        }
    finally:
        recorder.stop()


def final_announcement(collector: Collector) -> dict[str, Any] | None:
    document = collector.announcement().to_payload()
    return None if any(d.get("pending") for d in document["devices"]) else document


@pytest.mark.usefixtures("mock_hass_config")
async def test_entities_match_the_integration(
    hass: HomeAssistant, broker: Mosquitto, simulation: tuple[Simulation, int], tmp_path: Any
) -> None:
    """Same platform, unit, device class and state class as PV Monitor's own entity for every point."""
    _sim, modbus_port = simulation
    async with running(config(tmp_path, broker, modbus_port)) as collector:
        await eventually(lambda: final_announcement(collector), "the devices' layouts")
        document = final_announcement(collector)
        assert document is not None
        entry = MockConfigEntry(
            domain="mqtt", data={"broker": "127.0.0.1", "port": broker.port}, version=1, minor_version=2
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)

        announcement = parse_announcement(json.dumps(document))
        advanced = {
            f"pv_monitor_test_{device['id']}_{point['key']}"
            for device in document["devices"]
            for point in device["points"]
            if point.get("advanced")
        }
        assert advanced == {f"pv_monitor_test_battery_{ADVANCED_POINT}"}
        every: list[tuple[str, str, Any]] = []
        for device in announcement.devices:
            for point in device.points:
                every.append((device.id, f"pv_monitor_test_{device.id}_{point.key}", point))
        expected = [(d, uid, p) for d, uid, p in every if uid not in advanced]

        def all_created() -> bool:
            return all(entity_id(hass, point_platform(p), uid) for _d, uid, p in every)

        await eventually(all_created, "every point's entity")
        registry = er.async_get(hass)
        for _d, uid, point in every:
            registered = registry.async_get(entity_id(hass, point_platform(point), uid) or "")
            assert registered is not None
            disabled = registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION
            assert disabled == (uid in advanced), uid
        await eventually(
            lambda: all(
                state_of(hass, entity_id(hass, point_platform(p), uid)) not in (None, STATE_UNAVAILABLE)
                for _d, uid, p in expected
            ),
            "every enabled entity available",
        )
        # every numeric sensor whose key the collector's (retained) state carries shows a number
        reported = {
            f"pv_monitor_test_{device_id}_{key}"
            for device_id, keys in (await retained_state_keys(broker.port)).items()
            for key in keys
        }
        numeric = [
            entity_id(hass, "sensor", uid)
            for _d, uid, p in expected
            if uid in reported and p.kind == "number" and point_platform(p) == "sensor"
        ]
        assert len(numeric) > 40
        await eventually(
            lambda: all(state_of(hass, e) != STATE_UNKNOWN for e in numeric), "every reported value"
        )
        compared = 0
        devices = {device.id: device for device in announcement.devices}
        for device_id, unique_id, point in expected:
            platform = point_platform(point)
            if platform == "sensor":
                description: Any = point_sensor_description(point, devices[device_id])
            elif platform == "number":
                description = number_description(point, devices[device_id])
            else:
                continue
            state = hass.states.get(entity_id(hass, platform, unique_id) or "")
            assert state is not None
            attributes = state.attributes
            # the native unit (the state may show a converted one, e.g. wind speed in km/h, as the
            # integration's entity would too)
            entity = hass.data["entity_components"][platform].get_entity(state.entity_id)
            assert entity.native_unit_of_measurement == description.native_unit_of_measurement, unique_id
            assert attributes.get(ATTR_DEVICE_CLASS) == description.device_class, unique_id
            if platform == "sensor":
                assert attributes.get("state_class") == description.state_class, unique_id
                if state.entity_id in numeric:
                    float(state.state)  # a number, read through the value template
            compared += 1
        assert compared > 50  # the four simulated devices have many points

        # the devices: one per Modbus device, linked to the collector's
        devices = dr.async_get(hass)
        inverter = devices.async_get_device_by_identifier(
            ("mqtt", "pv_monitor_test_inverter"), entry.entry_id
        )
        collector_device = devices.async_get_device_by_identifier(("mqtt", "pv_monitor_test"), entry.entry_id)
        assert inverter is not None
        assert collector_device is not None
        assert inverter.via_device_id == collector_device.id
        assert inverter.serial_number

        await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("mock_hass_config")
async def test_partial_state_and_command(
    hass: HomeAssistant, broker: Mosquitto, simulation: tuple[Simulation, int], tmp_path: Any
) -> None:
    """A state message without some keys leaves those entities alone; a number command is executed."""
    sim, modbus_port = simulation
    async with running(config(tmp_path, broker, modbus_port)) as collector:
        await eventually(lambda: final_announcement(collector), "the devices' layouts")
        entry = MockConfigEntry(
            domain="mqtt", data={"broker": "127.0.0.1", "port": broker.port}, version=1, minor_version=2
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)

        document = final_announcement(collector)
        assert document is not None
        inverter = next(d for d in document["devices"] if d["id"] == "inverter")
        keys = {p["key"]: p for p in inverter["points"]}
        await eventually(
            lambda: entity_id(hass, "sensor", "pv_monitor_test_inverter_ac_power"), "ac power entity"
        )
        await eventually(
            lambda: entity_id(hass, "number", "pv_monitor_test_inverter_power_limit"), "limit entity"
        )
        ac_power = entity_id(hass, "sensor", "pv_monitor_test_inverter_ac_power")
        limit = entity_id(hass, "number", "pv_monitor_test_inverter_power_limit")
        reported = (await retained_state_keys(broker.port))["inverter"]
        wanted = [
            key
            for key, point in keys.items()
            if key != "ac_power"
            and key in reported
            and "writable" not in point
            and not point.get("advanced")  # created disabled: no state
            and point["kind"] in ("number", "enum", "bitfield")
        ]

        def values_shown() -> bool:
            """Every wanted entity exists (HA creates them one by one) and shows a value."""
            found = {key: entity_id(hass, "sensor", f"pv_monitor_test_inverter_{key}") for key in wanted}
            return all(
                state_of(hass, e) not in (None, STATE_UNKNOWN, STATE_UNAVAILABLE) for e in found.values()
            ) and state_of(hass, ac_power) not in (None, STATE_UNKNOWN, STATE_UNAVAILABLE)

        await eventually(
            values_shown,
            "inverter values: "
            + str(
                [
                    (k, state_of(hass, entity_id(hass, "sensor", f"pv_monitor_test_inverter_{k}")))
                    for k in wanted
                ]
            ),
        )
        others = {key: entity_id(hass, "sensor", f"pv_monitor_test_inverter_{key}") for key in wanted}
        assert any(keys[key]["kind"] == "enum" for key in others)  # the text template is exercised too
        before = {key: state_of(hass, e) for key, e in others.items()}

        # a message carrying only ac_power (as publish-on-change sends): the others keep their values
        client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        try:
            partial = {"ts": time.time(), "seq": 1_000_000, "v": {"ac_power": 1234}}
            info = client.publish("pv_monitor/test/inverter/state", json.dumps(partial), qos=1)
            await hass.async_add_executor_job(info.wait_for_publish, 5)
            await eventually(lambda: state_of(hass, ac_power) == "1234", "the partial state")
            assert {key: state_of(hass, e) for key, e in others.items()} == before

            # a command through Home Assistant's MQTT number entity
            commands: list[bytes] = []
            client.on_message = lambda _c, _u, msg: commands.append(bytes(msg.payload))
            subscribed = asyncio.Event()
            loop = asyncio.get_running_loop()
            client.on_subscribe = lambda *_a: loop.call_soon_threadsafe(subscribed.set)
            client.subscribe("pv_monitor/test/inverter/set/power_limit", qos=1)
            await asyncio.wait_for(subscribed.wait(), 5)
            point = collector.pollers["inverter"].points["power_limit"]
            raw_before = sim.registers(1, Function.HOLDING, point.address, 1)
            assert state_of(hass, limit) != "40"
            await hass.services.async_call(
                "number", "set_value", {"entity_id": limit, "value": 40}, blocking=True
            )
            await eventually(lambda: commands, "the command on the set topic")
            assert commands[0] == b"40"
            await eventually(lambda: state_of(hass, limit) == "40", "the confirmed value")
            assert sim.registers(1, Function.HOLDING, point.address, 1) != raw_before
        finally:
            client.loop_stop()
            client.disconnect()
        await hass.config_entries.async_unload(entry.entry_id)
