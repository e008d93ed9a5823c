"""Options flow: what a set-up collector offers afterwards (a menu): its sensors in the Energy dashboard,
each inverter's array, a dashboard, alert automations from the shipped blueprints, the alert thresholds."""

from __future__ import annotations

from collections import Counter
from typing import Any

import probatio as vol
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
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

from .alerts import AlertType
from .automations import AutomationRequest, async_create_automations
from .catalogue import has_health
from .const import (
    CONF_ALERTS,
    CONF_ARRAYS,
    CONF_CHAT_ID,
    CONF_COMMAND_QOS,
    CONF_DAILY_SUMMARY,
    CONF_DEVICE,
    CONF_GRID_FREQUENCY_MAX,
    CONF_GRID_FREQUENCY_MIN,
    CONF_GRID_VOLTAGE_MAX,
    CONF_GRID_VOLTAGE_MIN,
    CONF_NOTIFY_ENTITIES,
    CONF_PEAK_POWER,
    DEFAULT_OPTIONS,
)
from .dashboard import async_create_dashboard
from .energy import async_add_to_energy_dashboard, async_plan, describe
from .models import PvMonitorConfigEntry
from .options import ARRAY_DEFAULTS, ARRAY_SCHEMA, OPTIONS_SCHEMA

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
        names = Counter(d.name for d in inverters)
        # A device's name; its id too only where two inverters share the name ("Inverter (inverter)" said
        # the same thing twice).
        options = [
            SelectOptionDict(value=d.id, label=d.name if names[d.name] == 1 else f"{d.name} ({d.id})")
            for d in inverters
        ]
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
