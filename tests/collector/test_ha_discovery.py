"""Home Assistant's standard MQTT discovery from the collector: the payloads (pure functions) and the
publishing against a real Mosquitto and the simulated devices (published, re-published on HA's birth
message, cleared when a device goes or the option is switched off)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pv_collector import __version__
from pv_collector.ha_discovery import (
    DiscoveryTopics,
    PublishedTopics,
    device_payload,
    numeric_value_template,
    plan,
    text_value_template,
)
from pv_collector.simulator import Simulation
from tests.collector.conftest import SIM_DEVICES, Recorder, collector_config, running, schema
from tests.helpers import eventually, point_with_entity, with_entities
from tests.mosquitto import Mosquitto

ROOT = Path(__file__).resolve().parents[2]
ANNOUNCEMENT = ROOT / "tests/integration/fixtures/announcement.json"  # one point of every kind
TOPICS = DiscoveryTopics(base="pv_monitor/home", collector_id="home")
PREFIX = "homeassistant/device"


def announcement() -> dict[str, Any]:
    """The fixture as this collector announces it (every point with its `entity`)."""
    document = with_entities(json.loads(ANNOUNCEMENT.read_text()))
    schema("announcement").validate(document)
    return document


def announced_device(device_id: str, kind: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    """An announced device with these points (their `entity` as the collector resolves it)."""
    return {
        "id": device_id,
        "name": device_id.upper(),
        "kind": kind,
        "points": list(map(point_with_entity, points)),
    }


def components(device_id: str) -> dict[str, Any]:
    device = next(d for d in announcement()["devices"] if d["id"] == device_id)
    payload = device_payload(TOPICS, device, "1.0", qos=1)
    result: dict[str, Any] = payload["components"]
    return result


# ------------------------------------------------------------------------------------------ payloads


def test_device_payload_shape() -> None:
    """Device, origin, the shared state topic and availability from status AND the device."""
    document = announcement()
    inverter = next(d for d in document["devices"] if d["id"] == "inverter")
    payload = device_payload(TOPICS, inverter, "1.0", qos=1)
    assert payload["device"]["identifiers"] == ["pv_monitor_home_inverter"]
    assert payload["device"]["name"] == inverter["name"]
    assert payload["device"]["via_device"] == "pv_monitor_home"
    assert payload["device"]["manufacturer"] == inverter["manufacturer"]
    assert payload["device"]["serial_number"] == inverter["serial"]
    assert payload["device"]["sw_version"] == inverter["firmware"]
    assert payload["origin"]["name"] == "PV Monitor collector"
    assert payload["origin"]["sw_version"] == "1.0"
    assert payload["state_topic"] == "pv_monitor/home/inverter/state"
    assert payload["qos"] == 1
    assert payload["availability_mode"] == "all"
    assert [a["topic"] for a in payload["availability"]] == [
        "pv_monitor/home/status",
        "pv_monitor/home/inverter/availability",
    ]
    point_keys = {p["key"] for p in inverter["points"]}
    assert point_keys <= set(payload["components"])
    unique_ids = [c["unique_id"] for c in payload["components"].values()]
    assert len(unique_ids) == len(set(unique_ids))


def test_number_sensor() -> None:
    """Unit, device class and state class as announced, precision as the integration shows it (every kWh
    counter with two decimals); template into the compact JSON."""
    energy = components("inverter")["energy_total"]
    assert energy["platform"] == "sensor"
    assert energy["unit_of_measurement"] == "kWh"
    assert energy["device_class"] == "energy"
    assert energy["state_class"] == "total_increasing"
    assert energy["suggested_display_precision"] == 2  # announced 3
    assert energy["value_template"] == numeric_value_template("energy_total")
    assert "value_json.v['energy_total']" in energy["value_template"]
    assert "command_topic" not in energy
    # counters stay available while the inverter sleeps (the collector keeps publishing them)
    assert "asleep" in energy["availability"][1]["value_template"]


def test_number_device_class_dropped_when_unit_does_not_fit() -> None:
    """The classes of the announced `entity` (the entity model drops what Home Assistant would refuse)."""
    points = [
        {"key": "p", "name": "P", "kind": "number", "unit": "kWh", "device_class": "power"},
        {"key": "q", "name": "Q", "kind": "number", "unit": "W", "device_class": "no_such_class"},
        {"key": "e", "name": "E", "kind": "number", "unit": "kWh", "device_class": "energy"},
        {
            "key": "m",
            "name": "M",
            "kind": "number",
            "unit": "W",
            "device_class": "power",
            "state_class": "total_increasing",
        },
    ]
    found = device_payload(TOPICS, announced_device("x", "other", points), "1.0")["components"]
    assert "device_class" not in found["p"]
    assert "state_class" not in found["p"]  # announced without one: a rating or setting, no statistics
    assert "device_class" not in found["q"]
    assert "state_class" not in found["e"]
    assert found["m"]["device_class"] == "power"
    assert "state_class" not in found["m"]


def test_an_advanced_point_is_created_disabled() -> None:
    """The contract's `advanced` (a SunSpec point outside the vocabulary): the entity exists, disabled."""
    points = [
        {"key": "ac_power", "name": "AC power", "kind": "number", "unit": "W", "device_class": "power"},
        {"key": "m701_throt_pct", "name": "Throttling In Pct", "kind": "number", "unit": "%",
         "category": "diagnostic", "advanced": True},
    ]  # fmt: skip
    found = device_payload(TOPICS, announced_device("x", "inverter", points), "1.0")["components"]
    assert found["m701_throt_pct"]["enabled_by_default"] is False
    assert found["m701_throt_pct"]["entity_category"] == "diagnostic"
    assert "enabled_by_default" not in found["ac_power"]  # Home Assistant's default: enabled


def test_writable_number() -> None:
    limit = components("inverter")["power_limit"]
    assert limit["platform"] == "number"
    assert limit["command_topic"] == "pv_monitor/home/inverter/set/power_limit"
    assert (limit["min"], limit["max"], limit["step"]) == (0, 100, 1)
    assert limit["mode"] == "slider"
    assert limit["unit_of_measurement"] == "%"
    assert "entity_category" not in limit  # a control users change (the timing settings are config)


def test_enum_bitfield_text_sensors() -> None:
    inverter = components("inverter")
    status = inverter["status"]
    assert status["platform"] == "sensor"
    assert status["device_class"] == "enum"
    assert status["options"][0] == "off"
    assert status["value_template"] == text_value_template("status")
    assert "this.state" in status["value_template"]
    assert "unit_of_measurement" not in status
    assert "state_class" not in status
    document = announcement()
    kinds = {(d["id"], p["key"]): p["kind"] for d in document["devices"] for p in d["points"]}
    bitfield = next(key for key, kind in kinds.items() if kind == "bitfield")
    text = next(key for key, kind in kinds.items() if kind == "text")
    assert components(bitfield[0])[bitfield[1]]["entity_category"] == "diagnostic"
    assert "this.state" in components(text[0])[text[1]]["value_template"]


def test_bool_enum_action_writables() -> None:
    document = announcement()
    points = [(d["id"], p) for d in document["devices"] for p in d["points"]]
    by_platform: dict[str, tuple[str, dict[str, Any]]] = {}
    for device_id, point in points:
        found = components(device_id)[point["key"]]
        by_platform.setdefault(found["platform"], (device_id, found))
    assert set(by_platform) == {"sensor", "number", "select", "switch", "binary_sensor", "button"}
    device_id, switch = by_platform["switch"]
    assert switch["command_topic"].startswith(f"pv_monitor/home/{device_id}/set/")
    assert (switch["payload_on"], switch["payload_off"]) == ("true", "false")
    assert (switch["state_on"], switch["state_off"]) == ("true", "false")
    _, binary = by_platform["binary_sensor"]
    assert "command_topic" not in binary
    assert binary["payload_on"] == "true"
    _, select = by_platform["select"]
    assert select["options"]
    assert "tojson" in select["command_template"]
    device_id, button = by_platform["button"]
    action = next(p["key"] for d, p in points if d == device_id and p["kind"] == "action")
    assert button["command_topic"] == f"pv_monitor/home/{device_id}/set/{action}"
    assert "value_template" not in button


def test_plan_enabled_disabled_pending_removed() -> None:
    document = announcement()
    first = plan(TOPICS, document, (), enabled=True)
    device_topics = {f"{PREFIX}/pv_monitor_home_{d['id']}/config" for d in document["devices"]}
    assert set(first.publish) == device_topics | {f"{PREFIX}/pv_monitor_home/config"}
    assert first.clear == ()
    assert first.remember == frozenset(first.publish)

    # a device is gone: its topic is cleared; a pending device keeps what it had, gets nothing new
    gone, pending = document["devices"][0]["id"], document["devices"][1]["id"]
    document["devices"] = document["devices"][1:]
    document["devices"][0] = {**document["devices"][0], "pending": True, "points": []}
    second = plan(TOPICS, document, first.remember, enabled=True)
    assert second.clear == (f"{PREFIX}/pv_monitor_home_{gone}/config",)
    assert f"{PREFIX}/pv_monitor_home_{pending}/config" not in second.publish
    assert f"{PREFIX}/pv_monitor_home_{pending}/config" in second.remember

    # switched off: everything published before is cleared and nothing is remembered
    third = plan(TOPICS, document, second.remember, enabled=False)
    assert set(third.clear) == second.remember
    assert not third.publish
    assert not third.remember


def test_published_topics_file(tmp_path: Path) -> None:
    store = PublishedTopics(tmp_path / "data")
    assert store.load() == frozenset()
    store.save({"b", "a"})
    assert store.load() == {"a", "b"}
    store.path.write_text("{not json")
    assert store.load() == frozenset()
    store.save(())
    assert not store.path.exists()


# ------------------------------------------------------------------------------------------ real broker


async def retained_discovery(port: int) -> dict[str, Any]:
    """What a new subscriber gets retained under homeassistant/device/# right now."""
    fresh = Recorder(port)
    fresh.start()
    try:
        # retained messages come right after the subscription, before a message published after it
        fresh.publish("test/marker", "x")
        await fresh.wait("test/marker")
        return {m.topic: m.json() for m in fresh.messages if m.topic.startswith(PREFIX) and m.retain}
    finally:
        fresh.stop()


async def test_collector_publishes_and_clears(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    """On: a message per device (after the announcement, again on HA's birth message). A device removed
    from the configuration and then the option switched off: the retained messages are removed."""
    _sim, modbus_port = simulation
    data = tmp_path / "data"
    on = {"ha_discovery": {"enabled": True}}
    config = collector_config(data, broker.port, modbus_port, mqtt=on)
    inverter_topic = f"{PREFIX}/pv_monitor_test_inverter/config"
    meter_topic = f"{PREFIX}/pv_monitor_test_meter/config"
    async with running(config):
        announced = await recorder.wait(
            "pv_monitor/test/config", lambda m: all(not d.get("pending") for d in m.json()["devices"])
        )
        schema("announcement").validate(announced.json())
        assert announced.json()["collector"]["ha_discovery"] is True
        message = await recorder.wait(inverter_topic, lambda m: bool(m.json()["components"]))
        payload = message.json()
        assert payload["origin"]["sw_version"] == __version__
        points = next(d for d in announced.json()["devices"] if d["id"] == "inverter")["points"]
        assert {p["key"] for p in points} <= set(payload["components"])
        assert recorder.on(meter_topic)
        # HA's birth message: everything is published again
        count = len(recorder.on(meter_topic))
        recorder.publish("homeassistant/status", "online")
        await eventually(lambda: len(recorder.on(meter_topic)) > count, what="re-published discovery")
    retained = await retained_discovery(broker.port)
    assert set(retained) == {f"{PREFIX}/pv_monitor_test/config"} | {
        f"{PREFIX}/pv_monitor_test_{d['id']}/config" for d in SIM_DEVICES
    }
    assert set(json.loads((data / "ha_discovery.json").read_text())["topics"]) == set(retained)

    # the meter is no longer configured: its discovery message is removed
    without_meter = [d for d in SIM_DEVICES if d["id"] != "meter"]
    config = collector_config(data, broker.port, modbus_port, mqtt=on, devices=without_meter)
    recorder.clear()
    async with running(config):
        await recorder.wait(meter_topic, lambda m: m.payload == b"")
        await recorder.wait(inverter_topic, lambda m: bool(m.payload))
    retained = await retained_discovery(broker.port)
    assert inverter_topic in retained
    assert meter_topic not in retained

    # switched off: every topic published earlier is removed, and the announcement says nothing
    config = collector_config(data, broker.port, modbus_port)
    recorder.clear()
    async with running(config):
        announced = await recorder.wait("pv_monitor/test/config")
        assert "ha_discovery" not in announced.json()["collector"]
        await recorder.wait(inverter_topic, lambda m: m.payload == b"")
    assert await retained_discovery(broker.port) == {}
    assert not (data / "ha_discovery.json").exists()


@pytest.mark.parametrize("prefix", ["custom_ha"])
async def test_custom_prefix_and_birth(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path, prefix: str
) -> None:
    """Another discovery prefix: messages go there, and `<prefix>/status` online re-publishes them."""
    _sim, modbus_port = simulation
    on = {"ha_discovery": {"enabled": True, "prefix": prefix}}
    config = collector_config(tmp_path / "data", broker.port, modbus_port, mqtt=on, devices=SIM_DEVICES[1:2])
    topic = f"{prefix}/device/pv_monitor_test_meter/config"
    async with running(config):
        await recorder.wait(topic)
        count = len(recorder.on(topic))
        recorder.publish(f"{prefix}/status", "online")
        await eventually(lambda: len(recorder.on(topic)) > count, what="re-published on the birth message")
    assert not [m for m in recorder.messages if m.topic.startswith(PREFIX)]
