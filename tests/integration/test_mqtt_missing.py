"""Without MQTT: flows abort clearly, the entry waits and a repair issue explains why."""

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pv_monitor.const import DOMAIN, ISSUE_MQTT_NOT_SETUP


async def test_user_flow_without_mqtt(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_setup"


async def test_reconfigure_without_mqtt(hass: HomeAssistant, config_entry: MockConfigEntry) -> None:
    result = await config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_setup"


async def test_entry_without_mqtt(
    hass: HomeAssistant, config_entry: MockConfigEntry, issue_registry: ir.IssueRegistry
) -> None:
    """The entry retries later and a repair issue says MQTT is missing."""
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert config_entry.reason == "MQTT is not set up or not loaded"
    issue = issue_registry.async_get_issue(DOMAIN, ISSUE_MQTT_NOT_SETUP)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
