"""PV Monitor: photovoltaic devices announced by a PV Monitor collector over MQTT."""

from __future__ import annotations

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.typing import ConfigType

from .catalogue import device_identifier
from .const import (
    DOMAIN,
    ISSUE_DUPLICATE_COLLECTOR,
    ISSUE_MQTT_NOT_SETUP,
    ISSUE_UNSUPPORTED_CONTRACT,
    PLATFORMS,
)
from .hub import PvMonitorConfigEntry, PvMonitorHub
from .services import async_setup_services

__all__ = ["PvMonitorConfigEntry"]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions (they need a loaded entry to act on)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PvMonitorConfigEntry) -> bool:
    """Follow one collector: platforms first, then the subscriptions that feed them."""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        ir.async_create_issue(
            hass,
            DOMAIN,
            ISSUE_MQTT_NOT_SETUP,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_MQTT_NOT_SETUP,
            learn_more_url="https://www.home-assistant.io/integrations/mqtt/",
        )
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_not_setup")
    ir.async_delete_issue(hass, DOMAIN, ISSUE_MQTT_NOT_SETUP)

    hub = PvMonitorHub(hass, entry)
    entry.runtime_data = hub
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(hub.async_stop)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hub.async_start()
    return True


async def _async_options_updated(hass: HomeAssistant, entry: PvMonitorConfigEntry) -> None:
    """Thresholds changed: the alerts are evaluated again, no reload needed."""
    entry.runtime_data.async_update_options()


async def async_unload_entry(hass: HomeAssistant, entry: PvMonitorConfigEntry) -> bool:
    """Unload the platforms; the subscriptions end with `async_on_unload`."""
    collector_id = entry.runtime_data.collector_id
    for issue in (ISSUE_UNSUPPORTED_CONTRACT, ISSUE_DUPLICATE_COLLECTOR):
        ir.async_delete_issue(hass, DOMAIN, f"{issue}_{collector_id}")
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: PvMonitorConfigEntry, device_entry: dr.DeviceEntry
) -> bool:
    """A user may delete a device the collector no longer announces, never a current one."""
    hub = entry.runtime_data
    if hub.announcement is None:
        return True
    current = {(DOMAIN, hub.collector_id)} | {
        (DOMAIN, device_identifier(hub.collector_id, device.id)) for device in hub.announcement.devices
    }
    return not device_entry.identifiers & current
