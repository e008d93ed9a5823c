"""PV Monitor: photovoltaic devices announced by a PV Monitor collector over MQTT."""

from __future__ import annotations

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .alert_engine import AlertEngine
from .automations import async_install_blueprints
from .commands import CommandSender
from .const import CONF_ARRAY_PEAK_POWER, CONF_BASE_TOPIC, CONF_COLLECTOR_ID, DOMAIN, PLATFORMS
from .coordinator import PvMonitorCoordinator
from .health_tracker import HealthTracker
from .issues import async_clear_collector_issues, async_report_mqtt_missing
from .models import CollectorState, PvMonitorConfigEntry, PvMonitorData
from .options import EntryOptions, array_peak_power_as_array
from .registry import announces
from .services import async_setup_services
from .topics import Topics

__all__ = ["PvMonitorConfigEntry"]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions (they need a loaded entry to act on)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PvMonitorConfigEntry) -> bool:
    """Follow one collector: platforms first, then the subscriptions that feed them."""
    mqtt_ready = await mqtt.async_wait_for_mqtt_client(hass)
    async_report_mqtt_missing(hass, missing=not mqtt_ready)
    if not mqtt_ready:
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_not_setup")

    state = CollectorState(topics=_topics(entry), title=entry.title)
    options = EntryOptions.from_options(entry.options)
    health = HealthTracker(hass, entry.entry_id, state, options)
    alerts = AlertEngine(hass, entry.entry_id, state, options, health)
    commands = CommandSender(hass, state, options)
    coordinator = PvMonitorCoordinator(
        hass, entry, state, options, alerts=alerts, health=health, commands=commands
    )
    entry.runtime_data = PvMonitorData(
        state=state, options=options, coordinator=coordinator, alerts=alerts, health=health, commands=commands
    )
    # The alert blueprints are there from the start (the automation editor lists them).
    await async_install_blueprints(hass)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(coordinator.async_stop)
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    await coordinator.async_start()
    return True


async def _async_entry_updated(hass: HomeAssistant, entry: PvMonitorConfigEntry) -> None:
    """Another base topic or collector (reconfigure, rediscovery): reload to follow it. Otherwise the
    options changed: the alerts are evaluated again, no reload needed."""
    if entry.runtime_data.state.topics != _topics(entry):
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    entry.runtime_data.coordinator.async_update_options()


def _topics(entry: PvMonitorConfigEntry) -> Topics:
    return Topics(entry.data[CONF_BASE_TOPIC], entry.data[CONF_COLLECTOR_ID])


async def async_migrate_entry(hass: HomeAssistant, entry: PvMonitorConfigEntry) -> bool:
    """Old entries in today's form.

    1.1 -> 1.2: the array peak power option moves from W to kWp (one unit for array size).
    1.2 -> 1.3: that option leaves the alert thresholds (an array's size is asked in one place, the array
    step); its value becomes the array of every inverter without one of its own, which each announced
    inverter then gets as its own (options.py `array_peak_power_as_array`).
    """
    if entry.version > 1:
        return False  # a newer version of the integration wrote it
    if entry.minor_version < 2:
        options = dict(entry.options)
        if CONF_ARRAY_PEAK_POWER in options:
            options[CONF_ARRAY_PEAK_POWER] = float(options[CONF_ARRAY_PEAK_POWER]) / 1000.0
        hass.config_entries.async_update_entry(entry, options=options, minor_version=2)
    if entry.minor_version < 3:
        options = array_peak_power_as_array(entry.options)
        hass.config_entries.async_update_entry(entry, options=options, minor_version=3)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: PvMonitorConfigEntry) -> bool:
    """Unload the platforms; the subscriptions end with `async_on_unload`."""
    async_clear_collector_issues(hass, entry.runtime_data.state.collector_id)
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: PvMonitorConfigEntry, device_entry: dr.DeviceEntry
) -> bool:
    """A user may delete a device the collector no longer announces, never a current one."""
    return not announces(entry.runtime_data.state.announcement, device_entry)
