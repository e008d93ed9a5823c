"""Diagnostics: everything the integration knows, serials and secrets redacted."""

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry
from syrupy.assertion import SnapshotAssertion

from custom_components.pv_monitor.diagnostics import TO_REDACT

from .conftest import FakeCollector


async def test_diagnostics(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    hass_client: object,
    snapshot: SnapshotAssertion,
) -> None:
    """The download matches the snapshot and contains no serial number."""
    announcement = collector.announcement
    announcement["devices"][0]["credentials"] = {"username": "installer", "password": "1234"}
    collector.announce(announcement)
    await hass.async_block_till_done()
    assert await async_setup_component(hass, "diagnostics", {})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, running)
    assert diagnostics == snapshot
    text = str(diagnostics)
    for secret in ("SIM0001", "SDM-778899", "installer", "1234"):
        assert secret not in text


def test_redacted_keys_at_any_depth() -> None:
    """Serials and secrets are redacted at any depth, lists included (Home Assistant's redaction)."""
    data = {"a": [{"api_key": "k", "serial_number": "s", "ok": 1}], "mqtt_password": "p", "token": "t"}
    assert async_redact_data(data, TO_REDACT) == {
        "a": [{"api_key": "**REDACTED**", "serial_number": "**REDACTED**", "ok": 1}],
        "mqtt_password": "**REDACTED**",
        "token": "**REDACTED**",
    }
