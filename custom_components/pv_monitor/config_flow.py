"""Config flow: MQTT discovery, a user step listing the announced collectors, reconfigure, options."""

from __future__ import annotations

from typing import Any, override

import probatio as vol
from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState, ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    EntityWithDeviceFilterSelectorConfig,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from .alerts import AlertType, irradiance_source
from .automations import AutomationRequest, async_create_automations
from .catalogue import has_health
from .const import (
    CONF_ALERTS,
    CONF_ARRAYS,
    CONF_BASE_TOPIC,
    CONF_CHAT_ID,
    CONF_COLLECTOR_ID,
    CONF_COMMAND_QOS,
    CONF_DAILY_SUMMARY,
    CONF_DEVICE,
    CONF_ENERGY_DASHBOARD,
    CONF_ENERGY_PENDING,
    CONF_GRID_FREQUENCY_MAX,
    CONF_GRID_FREQUENCY_MIN,
    CONF_GRID_VOLTAGE_MAX,
    CONF_GRID_VOLTAGE_MIN,
    CONF_NOTIFY_ENTITIES,
    CONF_PEAK_POWER,
    DEFAULT_BASE_TOPIC,
    DEFAULT_OPTIONS,
    DOMAIN,
    RATED_POWER_KEY,
)
from .contract import InvalidPayload, parse_announcement
from .dashboard import async_create_dashboard
from .discovery import async_read_collector, async_scan_collectors
from .energy import async_add_to_energy_dashboard, async_plan, describe, describe_roles, energy_roles
from .messages import ID_PATTERN, Announcement, DeviceDef
from .models import PvMonitorConfigEntry
from .options import ARRAY_DEFAULTS, ARRAY_SCHEMA, OPTIONS_SCHEMA
from .topics import Topics, collector_id_from_config_topic


def _valid_base_topic(base_topic: str) -> bool:
    if not base_topic or any(c in base_topic for c in "+#") or base_topic != base_topic.strip("/ "):
        return False
    try:
        mqtt.valid_subscribe_topic(f"{base_topic}/+/config")
    except vol.Invalid:
        return False
    return True


AUTOMATIONS_SCHEMA = vol.Schema(
    {
        vol.Optional(CONF_NOTIFY_ENTITIES): EntitySelector(
            EntitySelectorConfig(
                filter=[EntityWithDeviceFilterSelectorConfig(domain="notify", integration="telegram_bot")],
                multiple=True,
            )
        ),
        vol.Optional(CONF_CHAT_ID): TextSelector(),
        vol.Required(CONF_ALERTS): SelectSelector(
            SelectSelectorConfig(
                options=[str(alert) for alert in AlertType],
                multiple=True,
                mode=SelectSelectorMode.LIST,
                translation_key=CONF_ALERTS,
            )
        ),
        vol.Optional(CONF_DAILY_SUMMARY, default=True): BooleanSelector(),
    }
)


class PvMonitorConfigFlow(ConfigFlow, domain=DOMAIN):
    """One config entry per collector; unique id = collector id."""

    VERSION = 1
    # 1.2: the option `array_peak_power` is in kWp (was W), as every array's peak power.
    MINOR_VERSION = 2

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
        """Alert thresholds and command QoS."""
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


class PvMonitorOptionsFlow(OptionsFlow):
    """Alert thresholds (applied at once, no reload), the dashboard and the alert automations."""

    config_entry: PvMonitorConfigEntry
    _device: str

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """What to do."""
        return self.async_show_menu(
            step_id="init",
            menu_options=["energy", "array_device", "dashboard", "automations", "thresholds"],
        )

    async def async_step_array_device(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Which inverter's array to describe."""
        announcement = self.config_entry.runtime_data.state.announcement
        inverters = [d for d in (announcement.devices if announcement else ()) if has_health(d)]
        if not inverters:
            return self.async_abort(reason="no_inverters")
        if user_input is not None:
            self._device = user_input[CONF_DEVICE]
            return await self.async_step_array()
        options = [SelectOptionDict(value=d.id, label=f"{d.name} ({d.id})") for d in inverters]
        return self.async_show_form(
            step_id="array_device",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_DEVICE): SelectSelector(
                        SelectSelectorConfig(options=options, mode=SelectSelectorMode.LIST)
                    )
                }
            ),
        )

    async def async_step_array(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The inverter's array: peak power, tilt, azimuth and losses (peak power 0 removes it)."""
        arrays: dict[str, Any] = dict(self.config_entry.options.get(CONF_ARRAYS) or {})
        if user_input is not None:
            if user_input[CONF_PEAK_POWER] > 0:
                arrays[self._device] = {key: float(user_input[key]) for key in ARRAY_DEFAULTS}
            else:
                arrays.pop(self._device, None)
            return self.async_create_entry(data={**self.config_entry.options, CONF_ARRAYS: arrays})
        current = {**ARRAY_DEFAULTS, **arrays.get(self._device, {})}
        return self.async_show_form(
            step_id="array",
            data_schema=self.add_suggested_values_to_schema(ARRAY_SCHEMA, current),
            description_placeholders={"device": self._device},
        )

    async def async_step_energy(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show exactly which sensors would be added to the Energy dashboard (and which are there
        already); confirming adds them, leaving everything else in the Energy dashboard as it is."""
        data = self.config_entry.runtime_data
        if data.state.announcement is None:
            return self.async_abort(reason="not_announced")
        plan = await async_plan(self.hass, data.state.announcement, self.config_entry.entry_id)
        if not plan.add:
            return self.async_abort(
                reason="energy_nothing_to_add", description_placeholders={"present": describe(plan.present)}
            )
        if user_input is not None:
            try:
                await async_add_to_energy_dashboard(self.hass, plan)
            except HomeAssistantError as err:
                return self.async_abort(reason="energy_failed", description_placeholders={"error": str(err)})
            return self.async_abort(
                reason="energy_added", description_placeholders={"added": describe(plan.add)}
            )
        return self.async_show_form(
            step_id="energy",
            description_placeholders={"add": describe(plan.add), "present": describe(plan.present) or "-"},
        )

    async def async_step_thresholds(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form with every threshold."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if user_input[CONF_GRID_VOLTAGE_MIN] >= user_input[CONF_GRID_VOLTAGE_MAX]:
                errors[CONF_GRID_VOLTAGE_MAX] = "max_not_above_min"
            if user_input[CONF_GRID_FREQUENCY_MIN] >= user_input[CONF_GRID_FREQUENCY_MAX]:
                errors[CONF_GRID_FREQUENCY_MAX] = "max_not_above_min"
            if not errors:
                return self.async_create_entry(data={**self.config_entry.options, **user_input})
        current = {**DEFAULT_OPTIONS, **self.config_entry.options, **(user_input or {})}
        current[CONF_COMMAND_QOS] = str(current[CONF_COMMAND_QOS])
        return self.async_show_form(
            step_id="thresholds",
            data_schema=self.add_suggested_values_to_schema(OPTIONS_SCHEMA, current),
            errors=errors,
        )

    async def async_step_dashboard(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Create (or update) the collector's dashboard."""
        if user_input is None:
            return self.async_show_form(step_id="dashboard")
        try:
            url_path = await async_create_dashboard(self.hass, self.config_entry)
        except HomeAssistantError as err:
            return self.async_abort(reason="dashboard_failed", description_placeholders={"error": str(err)})
        return self.async_abort(reason="dashboard_created", description_placeholders={"url": f"/{url_path}"})

    async def async_step_automations(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick a Telegram target and alerts; create automations from the shipped blueprints."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            notify = list(user_input.get(CONF_NOTIFY_ENTITIES) or [])
            chat_id = str(user_input.get(CONF_CHAT_ID) or "").strip()
            if not notify and not chat_id:
                errors["base"] = "no_target"
            elif not user_input[CONF_ALERTS]:
                errors[CONF_ALERTS] = "no_alerts"
            else:
                request = AutomationRequest(
                    notify_entities=notify,
                    chat_id=chat_id,
                    alerts=list(user_input[CONF_ALERTS]),
                    daily_summary=bool(user_input.get(CONF_DAILY_SUMMARY)),
                )
                try:
                    await async_create_automations(self.hass, self.config_entry.runtime_data, request)
                except HomeAssistantError as err:
                    errors["base"] = "automations_failed"
                    placeholders["error"] = str(err)
                else:
                    return self.async_create_entry(data={**self.config_entry.options, **user_input})
        current = {CONF_ALERTS: [str(alert) for alert in AlertType], **self.config_entry.options}
        if user_input is None and not self.hass.config_entries.async_entries("telegram_bot"):
            # The chat picker lists the Telegram bot's notify entities: say why it is empty.
            errors["base"] = "no_telegram_bot"
        return self.async_show_form(
            step_id="automations",
            data_schema=self.add_suggested_values_to_schema(AUTOMATIONS_SCHEMA, user_input or current),
            errors=errors,
            description_placeholders=placeholders,
        )
