"""Config flow: MQTT discovery, a user step listing the announced collectors, reconfigure; then each
inverter's array and the Energy dashboard. The options flow is in options_flow.py."""

from __future__ import annotations

from typing import Any, override

import probatio as vol
from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState, ConfigFlow, ConfigFlowResult
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from .alerts import irradiance_source
from .catalogue import has_health
from .const import (
    CONF_ARRAYS,
    CONF_BASE_TOPIC,
    CONF_COLLECTOR_ID,
    CONF_ENERGY_DASHBOARD,
    CONF_ENERGY_PENDING,
    CONF_PEAK_POWER,
    DEFAULT_BASE_TOPIC,
    DOMAIN,
    RATED_POWER_KEY,
)
from .contract import InvalidPayload, parse_announcement
from .discovery import async_read_collector, async_scan_collectors
from .energy import describe_roles, energy_roles
from .messages import ID_PATTERN, Announcement, DeviceDef
from .options import ARRAY_DEFAULTS, ARRAY_SCHEMA
from .options_flow import PvMonitorOptionsFlow
from .topics import Topics, collector_id_from_config_topic


def _valid_base_topic(base_topic: str) -> bool:
    if not base_topic or any(c in base_topic for c in "+#") or base_topic != base_topic.strip("/ "):
        return False
    try:
        mqtt.valid_subscribe_topic(f"{base_topic}/+/config")
    except vol.Invalid:
        return False
    return True


class PvMonitorConfigFlow(ConfigFlow, domain=DOMAIN):
    """One config entry per collector; unique id = collector id."""

    VERSION = 1
    # 1.2: the option `array_peak_power` is in kWp (was W), as every array's peak power.
    # 1.3: no `array_peak_power`: its value is the array of each inverter without one (options `arrays`).
    MINOR_VERSION = 3

    def __init__(self) -> None:
        """Nothing found yet."""
        self._base_topic = DEFAULT_BASE_TOPIC
        self._announcement: Announcement | None = None
        self._found: dict[str, Announcement] = {}
        self._inverters: list[DeviceDef] = []
        self._rated_kw: dict[str, float] = {}
        self._arrays: dict[str, dict[str, float]] = {}
        self._arrays_seen: list[str] = []

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: Any) -> PvMonitorOptionsFlow:
        """The energy dashboard, arrays, a dashboard, automations and the alert thresholds."""
        return PvMonitorOptionsFlow()

    @override
    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """A collector's retained announcement arrived on `pv_monitor/<cid>/config`."""
        parsed = collector_id_from_config_topic(discovery_info.topic)
        if parsed is None or not discovery_info.payload:
            return self.async_abort(reason="invalid_discovery_info")
        base_topic, collector_id = parsed
        try:
            announcement = parse_announcement(discovery_info.payload)
        except InvalidPayload:
            return self.async_abort(reason="invalid_discovery_info")
        if announcement.collector.id != collector_id:
            return self.async_abort(reason="invalid_discovery_info")
        await self.async_set_unique_id(collector_id)
        # A running entry follows a new base topic through its update listener (no reload here).
        self._abort_if_unique_id_configured(updates={CONF_BASE_TOPIC: base_topic}, reload_on_update=False)
        self._base_topic = base_topic
        self._announcement = announcement
        self.context["title_placeholders"] = {"name": announcement.collector.name}
        return await self.async_step_confirm()

    async def async_step_confirm(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask before adding a discovered collector."""
        assert self._announcement is not None
        if user_input is not None:
            return await self._async_after_collector_chosen(self._announcement)
        self._set_confirm_only()
        return self.async_show_form(
            step_id="confirm",
            description_placeholders={
                "name": self._announcement.collector.name,
                "collector_id": self._announcement.collector.id,
                "devices": str(len(self._announcement.devices)),
            },
        )

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the base topic, then list the collectors announced under it."""
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            return self.async_abort(reason="mqtt_not_setup")
        errors: dict[str, str] = {}
        if user_input is not None:
            base_topic = user_input[CONF_BASE_TOPIC].strip()
            if not _valid_base_topic(base_topic):
                errors[CONF_BASE_TOPIC] = "invalid_base_topic"
            else:
                found = await async_scan_collectors(self.hass, base_topic)
                configured = self._async_current_ids(include_ignore=False)
                new = {cid: announcement for cid, announcement in found.items() if cid not in configured}
                if not found:
                    errors["base"] = "no_collectors"
                elif not new:
                    return self.async_abort(reason="no_new_collectors")
                else:
                    self._base_topic = base_topic
                    self._found = new
                    return await self.async_step_pick()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema({vol.Required(CONF_BASE_TOPIC): TextSelector()}),
                user_input or {CONF_BASE_TOPIC: DEFAULT_BASE_TOPIC},
            ),
            errors=errors,
        )

    async def async_step_pick(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick one of the announced collectors."""
        if user_input is not None:
            announcement = self._found[user_input[CONF_COLLECTOR_ID]]
            await self.async_set_unique_id(announcement.collector.id, raise_on_progress=False)
            self._abort_if_unique_id_configured()
            return await self._async_after_collector_chosen(announcement)
        options = [
            SelectOptionDict(value=cid, label=f"{announcement.collector.name} ({cid})")
            for cid, announcement in sorted(self._found.items())
        ]
        return self.async_show_form(
            step_id="pick",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_COLLECTOR_ID): SelectSelector(
                        SelectSelectorConfig(options=options, mode=SelectSelectorMode.LIST)
                    )
                }
            ),
        )

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Change the base topic or the collector this entry follows."""
        entry = self._get_reconfigure_entry()
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            return self.async_abort(reason="mqtt_not_setup")
        errors: dict[str, str] = {}
        if user_input is not None:
            base_topic = user_input[CONF_BASE_TOPIC].strip()
            collector_id = user_input[CONF_COLLECTOR_ID].strip()
            if not _valid_base_topic(base_topic):
                errors[CONF_BASE_TOPIC] = "invalid_base_topic"
            elif not ID_PATTERN.match(collector_id):
                errors[CONF_COLLECTOR_ID] = "invalid_collector_id"
            elif (
                announcement := (await async_scan_collectors(self.hass, base_topic)).get(collector_id)
            ) is None:
                errors["base"] = "collector_not_found"
            else:
                await self.async_set_unique_id(collector_id, raise_on_progress=False)
                if collector_id != entry.unique_id:
                    self._abort_if_unique_id_configured()
                # A loaded entry's update listener reloads it to follow the new topic or collector;
                # one that is not loaded (set-up failed) is reloaded here.
                data_updates = {CONF_BASE_TOPIC: base_topic, CONF_COLLECTOR_ID: collector_id}
                title = announcement.collector.name
                if entry.state is ConfigEntryState.LOADED:
                    return self.async_update_and_abort(
                        entry, unique_id=collector_id, title=title, data_updates=data_updates
                    )
                return self.async_update_reload_and_abort(
                    entry, unique_id=collector_id, title=title, data_updates=data_updates
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(
                    {
                        vol.Required(CONF_BASE_TOPIC): TextSelector(),
                        vol.Required(CONF_COLLECTOR_ID): TextSelector(),
                    }
                ),
                user_input or dict(entry.data),
            ),
            errors=errors,
        )

    async def _async_after_collector_chosen(self, announcement: Announcement) -> ConfigFlowResult:
        """The collector is chosen: describe its arrays (PV health), then offer the Energy dashboard.

        Its latest announcement (a SunSpec inverter's points come after its model scan) and retained
        values (each inverter's rated power) are read first.
        """
        announcement, values = await async_read_collector(
            self.hass, Topics(self._base_topic, announcement.collector.id), announcement
        )
        self._announcement = announcement
        self._inverters = [device for device in announcement.devices if has_health(device)]
        for device in self._inverters:
            point = device.point(RATED_POWER_KEY)
            rated = values.get(device.id, {}).get(RATED_POWER_KEY)
            factor = {"W": 0.001, "kW": 1.0}.get(point.unit or "") if point else None
            if isinstance(rated, int | float) and not isinstance(rated, bool) and rated > 0 and factor:
                self._rated_kw[device.id] = round(rated * factor, 2)
        if self._inverters:
            return await self.async_step_array()
        return await self.async_step_energy()

    async def async_step_array(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The array of each inverter in turn: peak power (default: the inverter's rated power), tilt and
        azimuth. Peak power 0 leaves the array out (its health figures say why they are unknown)."""
        assert self._announcement is not None
        device = self._inverters[len(self._arrays_seen)]
        if user_input is not None:
            self._arrays_seen.append(device.id)
            if user_input[CONF_PEAK_POWER] > 0:
                self._arrays[device.id] = {key: float(user_input[key]) for key in ARRAY_DEFAULTS}
            if len(self._arrays_seen) < len(self._inverters):
                return await self.async_step_array()
            return await self.async_step_energy()
        suggested = {**ARRAY_DEFAULTS, CONF_PEAK_POWER: self._rated_kw.get(device.id, 0.0)}
        irradiance = irradiance_source(self._announcement)
        return self.async_show_form(
            step_id="array",
            data_schema=self.add_suggested_values_to_schema(ARRAY_SCHEMA, suggested),
            description_placeholders={
                "device": device.name,
                "rated": f"{self._rated_kw[device.id]:g}" if device.id in self._rated_kw else "-",
                "irradiance": irradiance[0].name if irradiance else "-",
            },
            last_step=False,
        )

    async def async_step_energy(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Offer to add the collector's sensors to the Energy dashboard (done once they exist)."""
        announcement = self._announcement
        assert announcement is not None
        if user_input is not None or not energy_roles(announcement):
            options: dict[str, Any] = {CONF_ARRAYS: self._arrays} if self._arrays else {}
            if user_input is not None and user_input.get(CONF_ENERGY_DASHBOARD):
                options[CONF_ENERGY_PENDING] = True
            return self.async_create_entry(
                title=announcement.collector.name,
                data={CONF_BASE_TOPIC: self._base_topic, CONF_COLLECTOR_ID: announcement.collector.id},
                options=options,
            )
        return self.async_show_form(
            step_id="energy",
            data_schema=vol.Schema({vol.Required(CONF_ENERGY_DASHBOARD, default=True): BooleanSelector()}),
            description_placeholders={"sources": describe_roles(announcement)},
        )
