"""Three real collectors, one Home Assistant: `north` and `south` on the central broker, `east` at a site
bridged to it (examples/mosquitto-bridge.conf, base topic `site1/pv_monitor`). Three config entries, and
no cross-talk of devices, commands or alerts between them.

Runs under Home Assistant's harness, separately from the other system tests:

    .venv/bin/python -m pytest tests/system
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pv_monitor.const import (
    CONF_BASE_TOPIC,
    CONF_COLLECTOR_ID,
    CONF_OFFLINE_GRACE,
    DEFAULT_OPTIONS,
    DOMAIN,
    EVENT_ALERT,
)
from tests.helpers import eventually
from tests.mosquitto import Mosquitto

from .peers import Process, bridge_config, read_power_limit_pct, start_collector, start_simulator

WAIT = 30.0


@dataclass
class Site:
    collector_id: str
    base_topic: str
    modbus_port: int
    collector: Process


@pytest.fixture
def brokers(socket_enabled: None, tmp_path: Path) -> Generator[tuple[Mosquitto, Mosquitto]]:
    """The central broker (Home Assistant's) and a site broker bridged to it without a prefix change."""
    central = Mosquitto(tmp_path / "central")
    central.start()
    site = Mosquitto(tmp_path / "site", extra_config=bridge_config(central.port))
    site.start()
    yield central, site
    site.stop()
    central.stop()


@pytest.fixture
def sites(brokers: tuple[Mosquitto, Mosquitto], tmp_path: Path) -> Iterator[dict[str, Site]]:
    """A simulator and a collector process each for north, south (central broker) and east (site)."""
    central, site = brokers
    processes: list[Process] = []
    found: dict[str, Site] = {}
    try:
        for seed, (cid, broker, base) in enumerate(
            [
                ("north", central, "pv_monitor"),
                ("south", central, "pv_monitor"),
                ("east", site, "site1/pv_monitor"),
            ],
            start=1,
        ):
            simulator, port = start_simulator(tmp_path / f"sim-{cid}", seed=seed)
            processes.append(simulator)
            collector = start_collector(cid, tmp_path / cid, broker.port, port, poll=1.0)
            processes.append(collector)
            found[cid] = Site(cid, base, port, collector)
        yield found
    finally:
        for process in reversed(processes):
            process.stop()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    brokers: tuple[Mosquitto, Mosquitto], enable_custom_integrations: None
) -> None:
    """The brokers come before `hass` so that they are torn down after it."""


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The MQTT client leaves a periodic timer behind."""
    return True


def state_of(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return state.state if state else None


@pytest.mark.usefixtures("mock_hass_config")
async def test_three_collectors_three_entries_no_cross_talk(
    hass: HomeAssistant, brokers: tuple[Mosquitto, Mosquitto], sites: dict[str, Site]
) -> None:
    central, _site = brokers
    alerts: list[dict[str, Any]] = []

    def on_alert(event: Event) -> None:
        alerts.append(dict(event.data))

    hass.bus.async_listen(EVENT_ALERT, on_alert)
    mqtt_entry = MockConfigEntry(
        domain="mqtt", data={"broker": "127.0.0.1", "port": central.port}, version=1, minor_version=2
    )
    mqtt_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    entries: dict[str, MockConfigEntry] = {}
    for cid, site in sites.items():
        entry = MockConfigEntry(
            domain=DOMAIN,
            unique_id=cid,
            title=f"PV {cid}",
            data={CONF_BASE_TOPIC: site.base_topic, CONF_COLLECTOR_ID: cid},
            options={**DEFAULT_OPTIONS, CONF_OFFLINE_GRACE: 0},
        )
        entry.add_to_hass(hass)
        entries[cid] = entry
        assert await hass.config_entries.async_setup(entry.entry_id)
    try:
        assert len(hass.config_entries.async_entries(DOMAIN)) == 3
        # Every entry gets its own collector's inverter and meter, with live readings.
        devices = dr.async_get(hass)
        limits: dict[str, str] = {}
        for cid, entry in entries.items():
            limit = await eventually(
                lambda entry=entry: _maybe_entity(hass, entry, "number", "power_limit"),
                f"{cid}'s power limit entity",
            )
            limits[cid] = limit
            await eventually(
                lambda limit=limit: state_of(hass, limit) not in (None, "unavailable", "unknown"),
                f"{cid}'s power limit value",
            )
            owned = dr.async_entries_for_config_entry(devices, entry.entry_id)
            identifiers = {identifier for device in owned for (_domain, identifier) in device.identifiers}
            assert identifiers, cid
            assert all(cid in identifier for identifier in identifiers), identifiers
            assert all(device.config_entry_id == entry.entry_id for device in owned)
        by_entry = {
            cid: {d.id for d in dr.async_entries_for_config_entry(devices, e.entry_id)}
            for cid, e in entries.items()
        }
        assert not by_entry["north"] & by_entry["south"]
        assert not by_entry["north"] & by_entry["east"]
        assert not by_entry["south"] & by_entry["east"]

        # Commands: each number entity writes its own collector's inverter, nobody else's.
        before = {cid: await read_power_limit_pct(site.modbus_port) for cid, site in sites.items()}
        targets = {"north": 31, "east": 47}
        for cid, value in targets.items():
            assert before[cid] != value
            await hass.services.async_call(
                "number", "set_value", {"entity_id": limits[cid], "value": value}, blocking=True
            )
        after = {cid: await read_power_limit_pct(site.modbus_port) for cid, site in sites.items()}
        assert after == {"north": 31, "south": before["south"], "east": 47}
        await eventually(lambda: state_of(hass, limits["east"]) == "47", "east's limit through the bridge")
        assert state_of(hass, limits["south"]) == _number_text(before["south"])

        # Alerts: south's collector dies (Last Will); only south's entities and alerts react.
        alerts.clear()
        sites["south"].collector.kill()
        await eventually(lambda: state_of(hass, limits["south"]) == "unavailable", "south unavailable")
        offline = await eventually(
            lambda: [a for a in alerts if a["alert"] == "collector_offline" and a["active"]],
            "south's collector_offline alert",
        )
        assert {a["collector_id"] for a in offline} == {"south"}
        assert {a["entry_id"] for a in alerts} == {entries["south"].entry_id}
        assert state_of(hass, limits["north"]) == "31"
        assert state_of(hass, limits["east"]) == "47"
    finally:
        for entry in entries.values():
            assert await hass.config_entries.async_unload(entry.entry_id)
        assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()


def _maybe_entity(hass: HomeAssistant, entry: MockConfigEntry, domain: str, suffix: str) -> str | None:
    found = [
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.domain == domain and e.unique_id.endswith(suffix)
    ]
    return found[0] if len(found) == 1 else None


def _number_text(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)
