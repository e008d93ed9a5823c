"""Both sides of the MQTT contract together: the REAL collector (a `pv-collector run` process) reads the
simulated devices (a `pv-collector simulate` process, real Modbus TCP) and publishes to a real Mosquitto;
Home Assistant's MQTT integration discovers it, the PV Monitor config flow sets it up, and the entities
carry exactly what the collector published. Every message on the wire is checked against the schemas.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from homeassistant.components import mqtt
from homeassistant.config_entries import SOURCE_MQTT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pv_monitor.const import DOMAIN
from tests.helpers import eventually
from tests.mosquitto import Mosquitto
from tests.system.peers import Process, read_power_limit_pct, start_simulator

CONTRACT = Path(__file__).parents[2] / "addon" / "collector" / "pv_collector" / "contract"
SCHEMAS = {
    kind: json.loads((CONTRACT / f"{kind}.schema.json").read_text())
    for kind in ("announcement", "state", "event", "stats")
}
# Which platform a point becomes, as docs/mqtt-contract.md and docs/integration.md describe it.
PLATFORM = {
    ("number", False): "sensor",
    ("number", True): "number",
    ("enum", False): "sensor",
    ("enum", True): "select",
    ("bool", False): "binary_sensor",
    ("bool", True): "switch",
    ("text", False): "sensor",
    ("bitfield", False): "sensor",
    ("action", True): "button",
}


@pytest.fixture
def simulator_port(broker: Mosquitto, tmp_path: Path) -> Generator[int]:
    """`pv-collector simulate` on a free port (requested after the broker, before hass)."""
    process, port = start_simulator(tmp_path / "simulator")
    try:
        yield port
    finally:
        process.stop()


@pytest.fixture
def collector_process(
    broker: Mosquitto, simulator_port: int, tmp_path: Path
) -> Generator[Callable[[], Process]]:
    """Starts `pv-collector run` on demand (after HA subscribed), stops it after the test."""
    config = {
        "collector": {"id": "sim", "name": "Simulated PV"},
        "data_dir": str(tmp_path / "data"),
        "metrics": {"enabled": False},
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "qos": {"state": 1}},
        "publish": {"stats_interval": 1},
        "buses": [
            {
                "name": "simulator",
                "type": "tcp",
                "host": "127.0.0.1",
                "port": simulator_port,
                "timeout": 1.0,
                "devices": [
                    {
                        "id": "inverter",
                        "name": "Inverter",
                        "unit_id": 1,
                        "profile": "sunspec",
                        "poll_interval": 0.5,
                    },
                    {
                        "id": "grid_meter",
                        "name": "Grid meter",
                        "unit_id": 2,
                        "profile": "sdm630",
                        "poll_interval": 0.5,
                    },
                    {
                        "id": "battery",
                        "name": "Battery",
                        "unit_id": 3,
                        "profile": "pv_sim_battery",
                        "poll_interval": 0.5,
                    },
                    {
                        "id": "weather",
                        "name": "Weather",
                        "unit_id": 4,
                        "profile": "pv_sim_environment",
                        "poll_interval": 0.5,
                    },
                ],
            }
        ],
    }
    path = tmp_path / "collector.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    started: list[Process] = []

    def start() -> Process:
        started.append(Process(tmp_path / f"collector-{len(started)}.log", "run", "--config", str(path)))
        return started[-1]

    yield start
    for process in started:
        process.stop()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    broker: Mosquitto, simulator_port: int, enable_custom_integrations: None
) -> None:
    """Real peers come before `hass` so that they are torn down after it."""


def matches(state: str, value: Any) -> bool:
    """An HA state string shows the published value."""
    if isinstance(value, bool):
        return state == ("on" if value else "off")
    if isinstance(value, int | float):
        try:
            return abs(float(state) - value) <= 1e-6 * max(1.0, abs(value))
        except ValueError:
            return False
    return state == str(value)


@pytest.mark.usefixtures("mock_hass_config")
async def test_real_collector_to_entities(
    hass: HomeAssistant,
    broker: Mosquitto,
    simulator_port: int,
    collector_process: Callable[[], Process],
) -> None:
    """Discovery, flow, entities with the published values, a confirmed write, the Last Will."""
    mqtt_entry = MockConfigEntry(
        domain="mqtt", data={"broker": "127.0.0.1", "port": broker.port}, version=1, minor_version=2
    )
    mqtt_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    await hass.async_block_till_done()

    wire: dict[str, list[Any]] = {"config": [], "state": [], "event": [], "stats": [], "status": []}
    last_state: dict[str, dict[str, Any]] = {}

    def record(msg: mqtt.ReceiveMessage) -> None:
        """Keep the contract's collector topics (`<cid>/<leaf>`) and device topics (`<cid>/<did>/<leaf>`)."""
        parts = msg.topic.split("/")
        leaf = parts[-1]
        collector_leaf = len(parts) == 3 and leaf in ("config", "status", "stats")
        device_leaf = len(parts) == 4 and leaf in ("state", "event")
        if not (collector_leaf or device_leaf):
            return
        payload = msg.payload if leaf == "status" else json.loads(msg.payload)
        wire[leaf].append(payload)
        if leaf == "state":
            last_state[msg.topic.split("/")[2]] = payload

    unsubscribe = await mqtt.async_subscribe(hass, "pv_monitor/sim/#", record)
    collector = collector_process()
    try:
        # Discovery through the manifest's MQTT topic starts the flow; the user confirms it.
        await eventually(
            lambda: bool(hass.config_entries.flow.async_progress_by_handler(DOMAIN)), "discovery flow"
        )
        flow = hass.config_entries.flow.async_progress_by_handler(DOMAIN)[0]
        assert flow["context"]["source"] == SOURCE_MQTT
        assert flow["context"]["unique_id"] == "sim"
        result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
        # The inverter's array (its rated power, read from its retained state, suggested) and the
        # Energy dashboard: the set-up's later steps, taken with what they suggest.
        assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "array")
        suggested = {str(key): key.description["suggested_value"] for key in result["data_schema"].schema}
        assert suggested["peak_power"] == 5.0  # the simulated inverter's WRtg, 5000 W
        result = await hass.config_entries.flow.async_configure(result["flow_id"], suggested)
        assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "energy")
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"energy_dashboard": False}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        entry = result["result"]
        assert entry.unique_id == "sim"

        await eventually(
            lambda: len(last_state) == 4, f"states of four devices; collector: {collector.output()}"
        )
        await eventually(
            lambda: not any(d.get("pending") for d in wire["config"][-1]["devices"]),
            "an announcement with every device's points (SunSpec scan done)",
        )
        announcement = wire["config"][-1]
        for kind, payloads in (
            ("announcement", wire["config"]),
            ("state", wire["state"]),
            ("stats", wire["stats"]),
        ):
            for payload in payloads:
                jsonschema.validate(payload, SCHEMAS[kind])

        # Every announced point is an entity on the platform its kind and writability say.
        entities = er.async_get(hass)
        devices = dr.async_get(hass)
        await eventually(
            lambda: len(dr.async_entries_for_config_entry(devices, entry.entry_id)) == 5,
            "the collector and its four devices in the device registry",
        )
        for device in announcement["devices"]:
            ha_device = devices.async_get_device_by_identifier(
                (DOMAIN, f"sim/{device['id']}"), entry.entry_id
            )
            assert ha_device is not None, device["id"]
            assert ha_device.manufacturer == device.get("manufacturer")
            assert ha_device.model == device.get("model")
            for point in device["points"]:
                platform = PLATFORM[(point["kind"], "writable" in point)]
                entity_id = entities.async_get_entity_id(
                    platform, DOMAIN, f"sim_{device['id']}_{point['key']}"
                )
                assert entity_id is not None, (device["id"], point["key"], platform)
                registry_entry = entities.async_get(entity_id)
                assert registry_entry is not None
                assert registry_entry.device_id == ha_device.id

        inverter = next(d for d in announcement["devices"] if d["id"] == "inverter")
        assert inverter["manufacturer"] == "PV Monitor"  # read from SunSpec model 1 of the simulator
        assert inverter["serial"] == "SIM0001"

        # Entity states show exactly the values of the latest state message (sensors, non-diagnostic).
        def shown(device_id: str) -> list[tuple[str, Any, str | None]]:
            device = next(d for d in announcement["devices"] if d["id"] == device_id)
            rows = []
            for point in device["points"]:
                if point["kind"] not in ("number", "enum") or "writable" in point:
                    continue
                if point["key"] not in last_state[device_id]["v"]:
                    continue
                entity_id = entities.async_get_entity_id("sensor", DOMAIN, f"sim_{device_id}_{point['key']}")
                assert entity_id is not None
                state = hass.states.get(entity_id)
                if state is not None and state.attributes.get("unit_of_measurement") != point.get("unit"):
                    continue  # HA shows it in the user's unit (e.g. m/s -> km/h for wind speed)
                rows.append(
                    (point["key"], last_state[device_id]["v"][point["key"]], state.state if state else None)
                )
            return rows

        for device_id in ("inverter", "grid_meter", "battery", "weather"):
            # The collector keeps publishing: compare once HA has caught up with one and the same message.
            await eventually(
                lambda d=device_id: all(s is not None and matches(s, v) for _k, v, s in shown(d)),
                f"{device_id} entities equal the published state: {shown(device_id)}",
            )
            assert len(shown(device_id)) >= 3, device_id

        # The collector's statistics become its diagnostic sensors (errors is enabled by default).
        errors_id = entities.async_get_entity_id("sensor", DOMAIN, "sim-stats-errors")
        assert errors_id is not None
        await eventually(
            lambda: hass.states.get(errors_id) is not None and hass.states.get(errors_id).state.isdigit(),
            f"collector statistics in HA: {hass.states.get(errors_id)}; last stats {wire['stats'][-1:]}",
        )

        # A write through HA reaches the device register and shows only once confirmed.
        limit_id = entities.async_get_entity_id("number", DOMAIN, "sim_inverter_power_limit")
        assert limit_id is not None
        await hass.services.async_call(
            "number", "set_value", {"entity_id": limit_id, "value": 40}, blocking=True
        )
        assert float(hass.states.get(limit_id).state) == 40
        assert await read_power_limit_pct(simulator_port) == 40
        await eventually(
            lambda: any(e["type"] == "command_result" and e["ok"] for e in wire["event"]),
            f"the confirmation event on the wire: {wire['event']}",
        )
        for event in wire["event"]:
            jsonschema.validate(event, SCHEMAS["event"])

        # Off the step grid (Home Assistant checks only min/max): the integration refuses it before
        # anything is sent, with a translated validation error; the entity keeps the confirmed value.
        events_before = len(wire["event"])
        with pytest.raises(ServiceValidationError) as refused:
            await hass.services.async_call(
                "number", "set_value", {"entity_id": limit_id, "value": 40.5}, blocking=True
            )
        assert refused.value.translation_key == "invalid_number"
        assert float(hass.states.get(limit_id).state) == 40
        assert await read_power_limit_pct(simulator_port) == 40
        assert len(wire["event"]) == events_before  # no command reached the collector

        # SIGKILL: the broker publishes the Last Will and every entity of the collector goes unavailable.
        collector.kill()
        power_id = entities.async_get_entity_id("sensor", DOMAIN, "sim_inverter_ac_power")
        assert power_id is not None
        # The will reaches the integration's and the test's own subscriptions in either order.
        await eventually(
            lambda: hass.states.get(power_id).state == "unavailable" and wire["status"][-1] == "offline",
            f"Last Will -> unavailable (status on the wire: {wire['status'][-3:]})",
        )

        # Restarted, it comes back without user action, with the same entities (none removed and re-made,
        # so names, areas and history a user gave them survive), even before the SunSpec scan is done.
        registry_before = {
            e.unique_id: e.id for e in er.async_entries_for_config_entry(entities, entry.entry_id)
        }
        restarted = collector_process()
        await eventually(
            lambda: (
                hass.states.get(power_id) is not None and hass.states.get(power_id).state != "unavailable"
            ),
            f"back after restart: {restarted.output()}",
        )
        registry_after = {
            e.unique_id: e.id for e in er.async_entries_for_config_entry(entities, entry.entry_id)
        }
        assert registry_after == registry_before
    finally:
        unsubscribe()
        for config_entry in hass.config_entries.async_entries(DOMAIN):
            assert await hass.config_entries.async_unload(config_entry.entry_id)
        assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()
