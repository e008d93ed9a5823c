"""Actions of the integration: `pv_monitor.create_dashboard`."""

from __future__ import annotations

from typing import Final

import probatio as vol
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_get_config_entry

from .const import DOMAIN
from .dashboard import async_create_dashboard
from .models import PvMonitorConfigEntry

SERVICE_CREATE_DASHBOARD: Final = "create_dashboard"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"

CREATE_DASHBOARD_SCHEMA: Final = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions (once, in `async_setup`)."""

    async def create_dashboard(call: ServiceCall) -> ServiceResponse:
        entry: PvMonitorConfigEntry = async_get_config_entry(hass, DOMAIN, call.data[ATTR_CONFIG_ENTRY_ID])
        url_path = await async_create_dashboard(hass, entry)
        return {"url_path": url_path}

    hass.services.async_register(
        DOMAIN,
        SERVICE_CREATE_DASHBOARD,
        create_dashboard,
        schema=CREATE_DASHBOARD_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
