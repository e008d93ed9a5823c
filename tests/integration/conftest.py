"""Fixtures of the PV Monitor integration tests (the Home Assistant harness)."""

# The integration must be imported before anything else: otherwise Home Assistant's loader mounts the
# harness's own custom_components package (its testing configuration's) and never finds pv_monitor.
import custom_components.pv_monitor  # noqa: F401, I001

from collections.abc import Generator
import copy
from functools import cache
import json
from pathlib import Path
from typing import Any
from unittest.mock import PropertyMock, patch

import jsonschema
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.typing import MqttMockHAClient
from syrupy.assertion import SnapshotAssertion

from homeassistant.core import HomeAssistant

from custom_components.pv_monitor.const import CONF_BASE_TOPIC, CONF_COLLECTOR_ID, DOMAIN
from tests.deprecation_guard import pytest_runtest_setup, pytest_runtest_teardown  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMAS = Path(__file__).parents[2] / "addon" / "collector" / "pv_collector" / "contract"


@cache
def _fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def load_fixture(name: str) -> Any:
    """A fresh copy of a JSON fixture."""
    return json.loads(_fixture_text(name))


@cache
def _schema(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{kind}.schema.json").read_text())


def validate(kind: str, payload: Any) -> None:
    """Fail the test if a payload the fake collector sends is not a valid contract message."""
    jsonschema.validate(payload, _schema(kind))


class FakeCollector:
    """Plays the collector's side of the MQTT contract through the harness's MQTT hooks.

    Everything sent through the typed methods is validated against the contract's JSON Schemas first,
    so the tests feed real contract examples; `raw` sends anything (for malformed payloads).
    """

    def __init__(self, hass: HomeAssistant, base: str = "pv_monitor", collector_id: str = "home") -> None:
        self.hass = hass
        self.root = f"{base}/{collector_id}"
        self.seq: dict[str, int] = {}
        self.announcement: dict[str, Any] = load_fixture("announcement.json")

    def raw(self, leaf: str, payload: str | bytes) -> None:
        async_fire_mqtt_message(self.hass, f"{self.root}/{leaf}", payload)

    def announce(self, announcement: dict[str, Any] | None = None) -> None:
        if announcement is not None:
            self.announcement = announcement
        validate("announcement", self.announcement)
        self.raw("config", json.dumps(self.announcement))

    def status(self, online: bool) -> None:
        self.raw("status", "online" if online else "offline")

    def availability(self, device_id: str, value: str) -> None:
        assert value in ("online", "offline", "asleep")
        self.raw(f"{device_id}/availability", value)

    def state(self, device_id: str, values: dict[str, Any], **extra: Any) -> dict[str, Any]:
        seq = self.seq.get(device_id, 0) + 1
        self.seq[device_id] = seq
        payload = {"ts": 1763900000.0 + seq, "seq": seq, "v": values, **extra}
        validate("state", payload)
        self.raw(f"{device_id}/state", json.dumps(payload))
        return payload

    def event(self, device_id: str, event: dict[str, Any]) -> None:
        payload = {"ts": 1763900001.0, **event}
        validate("event", payload)
        self.raw(f"{device_id}/event", json.dumps(payload))

    def stats(self, stats: dict[str, Any] | None = None) -> None:
        payload = stats if stats is not None else load_fixture("stats.json")
        validate("stats", payload)
        self.raw("stats", json.dumps(payload))

    def start(self) -> None:
        """What a collector does on connect: status, announcement, availability and state of every device."""
        self.status(True)
        self.announce()
        states = load_fixture("states.json")
        for device in self.announcement["devices"]:
            self.availability(device["id"], "online")
            if device["id"] in states:
                self.state(device["id"], states[device["id"]]["v"])
        self.stats()


class PvMonitorSnapshotExtension(HomeAssistantSnapshotExtension):
    """Home Assistant's snapshot serializer, files in tests/integration/snapshots/."""

    snapshot_dirname = "snapshots"


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots serialized like core's (registry ids and timestamps masked)."""
    return snapshot.use_extension(PvMonitorSnapshotExtension)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Every test may load custom integrations."""


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Entities disabled by default are enabled (snapshots need every entity)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The MQTT test client leaves a periodic timer behind."""
    return True


@pytest.fixture
def announcement() -> dict[str, Any]:
    """The fixture announcement (a fresh copy)."""
    return copy.deepcopy(load_fixture("announcement.json"))


@pytest.fixture
def config_entry(hass: HomeAssistant) -> MockConfigEntry:
    """The config entry of collector `home`."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="home",
        title="Home PV",
        data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "home"},
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
def platforms() -> list[str] | None:
    """Override to load only some platforms (snapshot tests load one at a time)."""
    return None


@pytest.fixture
def mock_platforms(platforms: list[str] | None) -> Generator[None]:
    """Limit the platforms the integration loads."""
    if platforms is None:
        yield
        return
    with (
        patch("custom_components.pv_monitor.PLATFORMS", platforms),
        patch("custom_components.pv_monitor.coordinator.PLATFORMS", platforms),
    ):
        yield


@pytest.fixture
async def setup_integration(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, config_entry: MockConfigEntry, mock_platforms: None
) -> MockConfigEntry:
    """MQTT and the integration set up, nothing received yet."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


@pytest.fixture
def collector(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> FakeCollector:
    """The collector side of the contract."""
    return FakeCollector(hass)


@pytest.fixture
async def running(
    hass: HomeAssistant, setup_integration: MockConfigEntry, collector: FakeCollector
) -> MockConfigEntry:
    """Integration set up and the collector started: every device online with the fixture states."""
    collector.start()
    await hass.async_block_till_done()
    return setup_integration


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A configuration folder of the test's own: set-up installs the alert blueprints into it."""
    return hass_tmp_config_dir
