"""Alert automations created from the shipped blueprints, as the automation editor would write them."""

from __future__ import annotations

import filecmp
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config import load_yaml_config_file as real_load_yaml_config_file
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.pv_monitor.automations import SHIPPED_BLUEPRINTS

from .conftest import FakeCollector

REPO_BLUEPRINTS = Path(__file__).parents[2] / "blueprints" / "automation" / "pv_monitor"
ALERTS_ID = "pv_monitor_home_alerts"
SUMMARY_ID = "pv_monitor_home_daily_summary"


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A configuration directory of its own, with automations.yaml included like a fresh install."""
    Path(hass_tmp_config_dir, "configuration.yaml").write_text("automation: !include automations.yaml\n")
    Path(hass_tmp_config_dir, "automations.yaml").write_text("[]\n")
    return hass_tmp_config_dir


@pytest.fixture
def real_configuration_yaml(mock_hass_config: None) -> Iterator[None]:
    """Reloads read the real configuration.yaml (the MQTT fixture replaces it with a dict)."""
    with patch("homeassistant.config.load_yaml_config_file", real_load_yaml_config_file):
        yield


@pytest.fixture
async def automation(hass: HomeAssistant, running: MockConfigEntry, real_configuration_yaml: None) -> None:
    """The automation integration, loaded from configuration.yaml."""
    assert await async_setup_component(hass, "automation", {})
    await hass.async_block_till_done()


async def automations_step(
    hass: HomeAssistant, entry: MockConfigEntry, user_input: dict[str, Any]
) -> FlowResult:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "automations"}
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "automations")
    return await hass.config_entries.options.async_configure(result["flow_id"], user_input)


def write(path: Path, text: str) -> None:
    """Write a file of the configuration (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def read(path: Path) -> str:
    return path.read_text()


def test_shipped_blueprints_are_the_repositorys() -> None:
    """The integration's copies are byte-identical to blueprints/ at the repository root."""
    shipped = sorted(path.name for path in SHIPPED_BLUEPRINTS.glob("*.yaml"))
    assert shipped == sorted(path.name for path in REPO_BLUEPRINTS.glob("*.yaml"))
    assert shipped
    _match, mismatch, errors = filecmp.cmpfiles(SHIPPED_BLUEPRINTS, REPO_BLUEPRINTS, shipped, shallow=False)
    assert (mismatch, errors) == ([], [])


async def test_options_step_creates_automations(
    hass: HomeAssistant,
    running: MockConfigEntry,
    automation: None,
    hass_config_dir: str,
    collector: FakeCollector,
) -> None:
    """The step installs the blueprints, writes two automations that load, are on and send alerts."""
    telegram: list[ServiceCall] = async_mock_service(hass, "telegram_bot", "send_message")
    user_input = {"chat_id": "12345", "alerts": ["inverter_fault", "battery_low"], "daily_summary": True}
    result = await automations_step(hass, running, user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert running.options["chat_id"] == "12345"  # shown again next time

    config_dir = Path(hass_config_dir)
    for name in ("alert_telegram.yaml", "daily_summary_telegram.yaml"):
        assert (config_dir / "blueprints/automation/pv_monitor" / name).read_bytes() == (
            REPO_BLUEPRINTS / name
        ).read_bytes()
    written = load_yaml(str(config_dir / "automations.yaml"))
    assert [item["id"] for item in written] == [ALERTS_ID, SUMMARY_ID]
    assert written[0]["use_blueprint"] == {
        "path": "pv_monitor/alert_telegram.yaml",
        "input": {"alerts": ["inverter_fault", "battery_low"], "chat_id": "12345"},
    }
    # The daily summary reads the collector's "Production today": its figures and today's alerts.
    assert written[1]["use_blueprint"] == {
        "path": "pv_monitor/daily_summary_telegram.yaml",
        "input": {"summary_sensor": "sensor.home_pv_production_today", "chat_id": "12345"},
    }

    registry = er.async_get(hass)
    for automation_id in (ALERTS_ID, SUMMARY_ID):
        entity_id = registry.async_get_entity_id("automation", "automation", automation_id)
        assert entity_id is not None
        assert hass.states.get(entity_id).state == "on"

    # A battery low alert sends exactly one Telegram message.
    collector.state("battery", {"soc": 5})
    await hass.async_block_till_done()
    assert [(str(call.data["chat_id"]), "Battery low" in call.data["message"]) for call in telegram] == [
        ("12345", True)
    ]


async def test_running_again_updates_and_keeps_user_files(
    hass: HomeAssistant, running: MockConfigEntry, automation: None, hass_config_dir: str
) -> None:
    """A second run replaces the same automations; a blueprint the user edited is not overwritten."""
    blueprint = Path(hass_config_dir, "blueprints/automation/pv_monitor/alert_telegram.yaml")
    edited = read(REPO_BLUEPRINTS / "alert_telegram.yaml") + "# edited by the user\n"
    write(blueprint, edited)
    write(Path(hass_config_dir, "automations.yaml"), "- alias: mine\n  triggers: []\n  actions: []\n")

    await automations_step(hass, running, {"chat_id": "1", "alerts": ["battery_low"], "daily_summary": False})
    result = await automations_step(
        hass,
        running,
        {"notify_entities": ["notify.telegram_chat"], "alerts": ["inverter_fault"], "daily_summary": False},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    written = load_yaml(str(Path(hass_config_dir, "automations.yaml")))
    assert [item.get("alias") for item in written] == ["mine", "PV Monitor alerts (Home PV)"]
    assert written[1]["use_blueprint"]["input"] == {
        "alerts": ["inverter_fault"],
        "telegram_target": ["notify.telegram_chat"],
    }
    assert read(blueprint) == edited


async def test_options_step_errors(hass: HomeAssistant, running: MockConfigEntry) -> None:
    """No target, no alerts, or no automation integration: the form says so and nothing is written."""
    result = await automations_step(hass, running, {"alerts": ["battery_low"]})
    assert result["errors"] == {"base": "no_target"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"chat_id": "1", "alerts": []}
    )
    assert result["errors"] == {"alerts": "no_alerts"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"chat_id": "1", "alerts": ["battery_low"]}
    )
    assert result["errors"] == {"base": "automations_failed"}
    assert "automation integration is not loaded" in result["description_placeholders"]["error"]


async def test_automations_yaml_not_included(
    hass: HomeAssistant, running: MockConfigEntry, hass_config_dir: str, real_configuration_yaml: None
) -> None:
    """A configuration.yaml without automations.yaml: the user is told how to fix it."""
    write(Path(hass_config_dir, "configuration.yaml"), "automation: []\n")
    assert await async_setup_component(hass, "automation", {})
    result = await automations_step(hass, running, {"chat_id": "1", "alerts": ["battery_low"]})
    assert result["errors"] == {"base": "automations_failed"}
    assert "automation: !include automations.yaml" in result["description_placeholders"]["error"]


async def test_invalid_blueprint_is_reported(
    hass: HomeAssistant, running: MockConfigEntry, automation: None, hass_config_dir: str
) -> None:
    """A broken blueprint in the configuration: the validation error is shown, nothing written."""
    blueprint = Path(hass_config_dir, "blueprints/automation/pv_monitor/alert_telegram.yaml")
    write(blueprint, "blueprint:\n  name: broken\n")
    result = await automations_step(hass, running, {"chat_id": "1", "alerts": ["battery_low"]})
    assert result["errors"] == {"base": "automations_failed"}
    assert "not valid" in result["description_placeholders"]["error"]
    assert load_yaml(str(Path(hass_config_dir, "automations.yaml"))) == []


async def test_blueprints_are_there_before_the_step(hass: HomeAssistant, running: MockConfigEntry) -> None:
    """Set-up installs the blueprints: the automation editor offers them before any step ran."""
    folder = Path(hass.config.config_dir, "blueprints/automation/pv_monitor")
    names = await hass.async_add_executor_job(lambda: sorted(path.name for path in folder.glob("*.yaml")))
    assert names == [
        "alert_telegram.yaml",
        "daily_summary_telegram.yaml",
    ]


async def test_step_says_the_telegram_bot_is_needed(hass: HomeAssistant, running: MockConfigEntry) -> None:
    """Without the Telegram bot integration the chat picker is empty: the form says why."""
    result = await hass.config_entries.options.async_init(running.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "automations"}
    )
    assert result["errors"] == {"base": "no_telegram_bot"}
    MockConfigEntry(domain="telegram_bot").add_to_hass(hass)
    result = await hass.config_entries.options.async_init(running.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "automations"}
    )
    assert result["errors"] == {}
