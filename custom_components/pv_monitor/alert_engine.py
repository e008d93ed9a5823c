"""The alerts of one collector over time: offline grace, fault hold-off, production delay, and the
`pv_monitor_alert` event on every transition.

The rules themselves are the pure functions of `alerts`. Their sentences are translations
(`entity.binary_sensor.<alert>.state_attributes.message.state.<reason>`), filled in with the rule's
placeholders in Home Assistant's language (English where a translation is missing).
"""

from __future__ import annotations

import logging
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .alerts import (
    RANGE_ALERTS,
    AlertState,
    AlertType,
    device_alerts,
    evaluate_battery_low,
    evaluate_connection,
    evaluate_fault,
    evaluate_production,
    evaluate_range,
    evaluate_string_imbalance,
    humanize,
)
from .const import DOMAIN, EVENT_ALERT, signal_device_updated
from .health_tracker import HealthTracker
from .models import CollectorState, DeviceRuntime
from .options import EntryOptions
from .registry import registry_device_id

_LOGGER = logging.getLogger(__package__)

_ALERT_TEXTS: Final = "component.{domain}.entity.binary_sensor.{alert}.state_attributes"
# Translations of fault codes: bit names and operating states (strings.json).
FAULT_TEXT_KEY: Final = _ALERT_TEXTS + ".faults.state.{code}"
# The sentence of an alert state, by reason; placeholders from `AlertState.placeholders`.
MESSAGE_KEY: Final = _ALERT_TEXTS + ".message.state.{reason}"

type AlertKey = tuple[str | None, AlertType]  # (device id, None for the collector; alert)


@dataclass(frozen=True, slots=True)
class RuleInput:
    """What a value-based rule is evaluated with: one alert of one device, now."""

    alert: AlertType
    device_id: str
    runtime: DeviceRuntime
    current: AlertState | None  # the alert's state so far
    now: datetime

    @property
    def was_active(self) -> bool:
        """The alert was on (rules clear with hysteresis)."""
        return self.current is not None and self.current.active


type Rule = Callable[[RuleInput], AlertState | None]


class _Placeholders(dict[str, str]):
    """Placeholders for `str.format_map`: an unknown one stays `{name}` instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, placeholders: Mapping[str, str]) -> str:
    """A translated sentence with its placeholders filled in (`{name}` as in Home Assistant)."""
    try:
        return string.Formatter().vformat(template, (), _Placeholders(placeholders))
    except (ValueError, IndexError):  # a broken translation: show it rather than fail
        return template


class AlertEngine:
    """Evaluates the alerts of one collector's devices and fires an event on every transition."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        state: CollectorState,
        options: EntryOptions,
        health: HealthTracker,
    ) -> None:
        """No alert known yet; texts come with `async_load_texts`."""
        self.hass = hass
        self._entry_id = entry_id
        self._state = state
        self._options = options
        self._health = health
        self.alerts: dict[AlertKey, AlertState] = {}
        # When each alert last became active: lets notifications debounce a flapping alert.
        self._activated_at: dict[AlertKey, datetime] = {}
        self._offline_timers: dict[str | None, CALLBACK_TYPE] = {}
        self._hold_timers: dict[str, CALLBACK_TYPE] = {}
        self._below_since: dict[str, datetime] = {}
        self._fault_cleared_at: dict[str, datetime] = {}
        self._texts_english: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        self._rules: dict[AlertType, Rule] = {
            AlertType.INVERTER_FAULT: self._fault,
            AlertType.GRID_VOLTAGE: self._range,
            AlertType.GRID_FREQUENCY: self._range,
            AlertType.BATTERY_LOW: self._battery,
            AlertType.PRODUCTION_BELOW_EXPECTED: self._production,
            AlertType.STRING_IMBALANCE: self._strings,
        }

    async def async_load_texts(self) -> None:
        """Load the alert texts in Home Assistant's language and in English (the fallback)."""
        self._texts_english = await async_get_translations(self.hass, "en", "entity", {DOMAIN})
        language = self.hass.config.language
        self._texts = (
            self._texts_english
            if language == "en"
            else await async_get_translations(self.hass, language, "entity", {DOMAIN})
        )

    @callback
    def async_stop(self) -> None:
        """Cancel the timers."""
        for cancel in [*self._offline_timers.values(), *self._hold_timers.values()]:
            cancel()
        self._offline_timers.clear()
        self._hold_timers.clear()

    def alerts_for(self, device_id: str | None) -> tuple[AlertType, ...]:
        """The alerts of a device (None: the collector)."""
        if device_id is None:
            return (AlertType.COLLECTOR_OFFLINE,)
        runtime = self._state.devices.get(device_id)
        if runtime is None or self._state.announcement is None:
            return ()
        return device_alerts(runtime.definition, self._state.announcement, self._options.arrays)

    def state_of(self, device_id: str | None, alert: AlertType) -> AlertState | None:
        """The latest state of one alert, None while it cannot be told."""
        return self.alerts.get((device_id, alert))

    def unknown_reason(self, device_id: str | None, alert: AlertType) -> str | None:
        """Why an alert cannot be told: `no_array` for a production alert without an array."""
        if (
            alert is AlertType.PRODUCTION_BELOW_EXPECTED
            and device_id is not None
            and self._health.expected_power(device_id) is None
        ):
            return "no_array"
        return None

    def message(self, alert: AlertType, state: AlertState) -> str:
        """The sentence of an alert state in Home Assistant's language."""
        key = MESSAGE_KEY.format(domain=DOMAIN, alert=alert, reason=state.reason)
        template = self._texts.get(key) or self._texts_english.get(key)
        if template is None:
            return f"{state.placeholders.get('device', '')}: {humanize(state.reason)}"
        return fill(template, state.placeholders)

    def _fault_text(self, code: str) -> str:
        """A fault code in the user's language (English, then the code made readable, if untranslated)."""
        key = FAULT_TEXT_KEY.format(domain=DOMAIN, alert=AlertType.INVERTER_FAULT, code=code)
        return self._texts.get(key) or self._texts_english.get(key) or humanize(code)

    @callback
    def forget_device(self, device_id: str) -> None:
        """A device is no longer announced: its alerts and timers go."""
        for key in [key for key in self.alerts if key[0] == device_id]:
            del self.alerts[key]
        self._cancel(self._offline_timers, device_id)
        self._cancel(self._hold_timers, device_id)

    @staticmethod
    def _cancel[K](timers: dict[K, CALLBACK_TYPE], key: K) -> None:
        if (cancel := timers.pop(key, None)) is not None:
            cancel()

    # ------------------------------------------------------------------ collector and device offline

    @callback
    def availability(self, device_id: str | None, *, offline: bool) -> None:
        """Offline alerts go on after the grace time and off at once (device None: the collector)."""
        alert = AlertType.COLLECTOR_OFFLINE if device_id is None else AlertType.DEVICE_OFFLINE
        grace = self._options.thresholds.offline_grace
        if not offline:
            self._cancel(self._offline_timers, device_id)
            self._set(
                device_id,
                alert,
                evaluate_connection(self._state.name_of(device_id), offline=False, grace=grace),
            )
            return
        current = self.alerts.get((device_id, alert))
        if (current is not None and current.active) or device_id in self._offline_timers:
            return
        if grace <= 0:
            self._offline_elapsed(device_id, alert, None)
            return
        self._offline_timers[device_id] = async_call_later(
            self.hass, grace, partial(self._offline_elapsed, device_id, alert)
        )

    @callback
    def _offline_elapsed(self, device_id: str | None, alert: AlertType, _now: Any) -> None:
        self._offline_timers.pop(device_id, None)
        grace = self._options.thresholds.offline_grace
        self._set(
            device_id, alert, evaluate_connection(self._state.name_of(device_id), offline=True, grace=grace)
        )
        async_dispatcher_send(self.hass, signal_device_updated(self._entry_id, device_id), None)

    # ------------------------------------------------------------------ value-based alerts

    @callback
    def evaluate(self, device_id: str, now: datetime | None = None) -> None:
        """Evaluate the value-based alerts of one device."""
        runtime = self._state.devices.get(device_id)
        if runtime is None or self._state.announcement is None:
            return
        now = now or dt_util.utcnow()
        for alert in self.alerts_for(device_id):
            if (rule := self._rules.get(alert)) is None:
                continue  # offline alerts follow availability
            current = self.alerts.get((device_id, alert))
            if (state := rule(RuleInput(alert, device_id, runtime, current, now))) is not None:
                self._set(device_id, alert, state)
            elif (
                alert is AlertType.PRODUCTION_BELOW_EXPECTED
                and self._health.expected_power(device_id) is None
            ):
                # Nothing describes the array any more (removed): its old judgement must not stay.
                self.alerts.pop((device_id, alert), None)
                self._below_since.pop(device_id, None)

    @staticmethod
    def _active(state: AlertState | None) -> bool:
        return state is not None and state.active

    def _range(self, rule: RuleInput) -> AlertState | None:
        return evaluate_range(
            rule.runtime.definition,
            rule.runtime.values,
            rule=RANGE_ALERTS[rule.alert],
            thresholds=self._options.thresholds,
            was_active=rule.was_active,
            inferred=rule.runtime.inferred,
        )

    def _battery(self, rule: RuleInput) -> AlertState | None:
        return evaluate_battery_low(
            rule.runtime.definition,
            rule.runtime.values,
            low=self._options.thresholds.battery_low_soc,
            was_active=rule.was_active,
        )

    def _strings(self, rule: RuleInput) -> AlertState | None:
        thresholds = self._options.thresholds
        return evaluate_string_imbalance(
            rule.runtime.definition,
            rule.runtime.values,
            threshold=thresholds.string_imbalance,
            min_power=thresholds.string_min_power,
            was_active=rule.was_active,
        )

    def _fault(self, rule: RuleInput) -> AlertState | None:
        """Debounce: an active fault alert goes off only after the fault stayed clear `fault_hold_off` s.

        A fault that clears and comes back within the hold-off keeps the alert on: no new events.
        """
        device_id, current, now = rule.device_id, rule.current, rule.now
        state = evaluate_fault(rule.runtime.definition, rule.runtime.values, describe=self._fault_text)
        if state is None or state.active or current is None or not current.active:
            self._fault_cleared_at.pop(device_id, None)
            self._cancel(self._hold_timers, device_id)
            return state
        hold_off = self._options.thresholds.fault_hold_off
        cleared = self._fault_cleared_at.setdefault(device_id, now)
        remaining = hold_off - (now - cleared).total_seconds()
        if remaining <= 0:
            self._fault_cleared_at.pop(device_id, None)
            self._cancel(self._hold_timers, device_id)
            return state
        if device_id not in self._hold_timers:
            self._hold_timers[device_id] = async_call_later(
                self.hass, remaining, partial(self._hold_elapsed, device_id)
            )
        return replace(
            current,
            reason="fault_clearing",
            details={**current.details, "cleared_at": cleared.isoformat(), "hold_off": hold_off},
        )

    @callback
    def _hold_elapsed(self, device_id: str, _now: Any) -> None:
        self._hold_timers.pop(device_id, None)
        self.evaluate(device_id)
        async_dispatcher_send(self.hass, signal_device_updated(self._entry_id, device_id), None)

    def _production(self, rule: RuleInput) -> AlertState | None:
        """Production must stay below expected for `production_alert_delay` s before the alert goes on."""
        device_id, now, was_active = rule.device_id, rule.now, rule.was_active
        thresholds = self._options.thresholds
        state = evaluate_production(
            rule.runtime.definition,
            rule.runtime.values,
            expected=self._health.expected_power(device_id, now),
            irradiance=self._state.irradiance(),
            sun_elevation=self._health.sun_elevation(now),
            thresholds=thresholds,
            asleep=rule.runtime.availability == "asleep",
            was_active=was_active,
        )
        if state is None:
            return None
        if not state.active:
            self._below_since.pop(device_id, None)
            return state
        if was_active:
            return state
        since = self._below_since.setdefault(device_id, now)
        if (now - since).total_seconds() >= thresholds.production_alert_delay:
            return state
        return replace(
            state,
            active=False,
            reason="below_expected_pending",
            details={**state.details, "below_since": since.isoformat()},
        )

    # ------------------------------------------------------------------ transitions

    def _set(self, device_id: str | None, alert: AlertType, state: AlertState) -> None:
        """Store an alert state; a change of `active` fires `pv_monitor_alert`."""
        key = (device_id, alert)
        previous = self.alerts.get(key)
        self.alerts[key] = state
        if state.active == self._active(previous):
            return
        previous_activation = self._activated_at.get(key)
        message = self.message(alert, state)
        if state.active:
            now = dt_util.utcnow()
            self._activated_at[key] = now
            self._health.record_alert(
                {
                    "alert": str(alert),
                    "device": device_id,
                    "name": self._state.name_of(device_id),
                    "time": now.isoformat(),
                    "reason": state.reason,
                    "placeholders": dict(state.placeholders),
                    "message": message,
                },
                now,
            )
        self.hass.bus.async_fire(
            EVENT_ALERT,
            {
                "entry_id": self._entry_id,
                "collector_id": self._state.collector_id,
                "device_id": registry_device_id(
                    self.hass, self._entry_id, self._state.collector_id, device_id
                ),
                "device": device_id,
                "alert": str(alert),
                "active": state.active,
                "value": state.value,
                "reason": state.reason,
                "placeholders": dict(state.placeholders),
                "message": message,
                "details": state.details,
                "previous_activation": previous_activation.isoformat() if previous_activation else None,
            },
        )
