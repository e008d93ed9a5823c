"""Device triggers: every alert of a device going on (`<alert>_on`) or off (`<alert>_off`)."""

from __future__ import annotations

from typing import Final

import probatio as vol
from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE_ID, CONF_DOMAIN, CONF_EVENT_DATA, CONF_PLATFORM, CONF_TYPE
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType

from .alerts import AlertType
from .catalogue import collector_identifier
from .const import DOMAIN, EVENT_ALERT
from .models import PvMonitorData

TRIGGER_TYPES: Final = frozenset(f"{alert}_{edge}" for alert in AlertType for edge in ("on", "off"))

TRIGGER_SCHEMA: Final = DEVICE_TRIGGER_BASE_SCHEMA.extend({vol.Required(CONF_TYPE): vol.In(TRIGGER_TYPES)})


def _entry_data_and_device(hass: HomeAssistant, device_id: str) -> tuple[PvMonitorData, str | None] | None:
    """The runtime data of the entry owning a registry device, and the device's contract id (None: the
    collector)."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        return None
    entry = hass.config_entries.async_get_entry(device.config_entry_id)
    if entry is None or entry.domain != DOMAIN or entry.state is not ConfigEntryState.LOADED:
        return None
    data: PvMonitorData = entry.runtime_data
    collector_id = data.state.collector_id
    for domain, identifier in device.identifiers:
        if domain != DOMAIN:
            continue
        if identifier == collector_identifier(collector_id):
            return data, None
        cid, _, did = identifier.partition("/")
        if cid == collector_id and did:
            return data, did
    return None


async def async_get_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, str]]:
    """The alert triggers of a device."""
    found = _entry_data_and_device(hass, device_id)
    if found is None:
        return []
    data, contract_device = found
    return [
        {
            CONF_PLATFORM: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: f"{alert}_{edge}",
        }
        for alert in data.alerts.alerts_for(contract_device)
        for edge in ("on", "off")
    ]


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen for the `pv_monitor_alert` event of this device, alert and edge."""
    alert, _, edge = config[CONF_TYPE].rpartition("_")
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: EVENT_ALERT,
            CONF_EVENT_DATA: {
                "device_id": config[CONF_DEVICE_ID],
                "alert": alert,
                "active": edge == "on",
            },
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
