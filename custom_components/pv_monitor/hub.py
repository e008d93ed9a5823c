"""The hub of one config entry: follows one collector over MQTT and keeps its devices' state.

It never owns an MQTT client: it subscribes and publishes through `homeassistant.components.mqtt`.
It parses every message with `contract`, keeps the latest announcement, availability, values and
statistics, keeps the device registry in step with the announcement, evaluates the alerts (and fires
`pv_monitor_alert` on every transition) and sends commands, waiting for their results.
Entities register listeners per device and read from here.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import uuid4

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import (
    device_registry as dr,
)
from homeassistant.helpers import (
    entity_registry as er,
)
from homeassistant.helpers import (
    issue_registry as ir,
)
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .alerts import (
    FREQUENCY_HYSTERESIS,
    VOLTAGE_HYSTERESIS,
    AlertState,
    AlertType,
    Thresholds,
    device_alerts,
    evaluate_battery_low,
    evaluate_fault,
    evaluate_production,
    evaluate_range,
    evaluate_string_imbalance,
    humanize,
    irradiance_source,
)
from .backfill import StatisticsBackfill
from .catalogue import collector_identifier, device_identifier, expected_entities, has_health
from .clearsky import Array, solar_position
from .const import (
    COMMAND_TIMEOUT,
    CONF_ARRAYS,
    CONF_AZIMUTH,
    CONF_BASE_TOPIC,
    CONF_COLLECTOR_ID,
    CONF_COMMAND_QOS,
    CONF_LOSSES,
    CONF_PEAK_POWER,
    CONF_TILT,
    DEFAULT_OPTIONS,
    DOMAIN,
    EVENT_ALERT,
    HEALTH_INTERVAL,
    ISSUE_DUPLICATE_COLLECTOR,
    ISSUE_HA_DISCOVERY,
    ISSUE_UNSUPPORTED_CONTRACT,
    PLATFORMS,
    signal_new_entities,
)
from .contract import (
    CONTRACT_VERSION,
    MAX_PAYLOAD_BYTES,
    Announcement,
    Availability,
    DeviceDef,
    EventMessage,
    InvalidPayload,
    Stats,
    Topics,
    Value,
    command_payload,
    parse_announcement,
    parse_availability,
    parse_event,
    parse_state,
    parse_stats,
    parse_status,
)
from .expected import expected_power
from .health import DaySummary, InverterHealth, energy_kwh

_LOGGER = logging.getLogger(__package__)

SUBSCRIBE_QOS = 1
NO_KEYS: frozenset[str] = frozenset()  # a notification about derived values only, no point changed
STORE_VERSION = 1
STORE_SAVE_DELAY = 60.0
# Translations of fault codes: bit names and operating states (strings.json).
FAULT_TEXT_KEY = "component.{domain}.entity.binary_sensor.inverter_fault.state_attributes.faults.state.{code}"

type PvMonitorConfigEntry = ConfigEntry[PvMonitorHub]


# Announcements from an instance that was replaced and came back within this time: two collectors.
DUPLICATE_WINDOW = timedelta(minutes=10)


@dataclass(slots=True)
class DeviceRuntime:
    """What the hub knows about one announced device."""

    definition: DeviceDef
    availability: Availability | None = None
    values: dict[str, Value] = field(default_factory=dict)
    inferred: frozenset[str] = frozenset()
    last_seq: int = 0
    last_ts: float | None = None


class PvMonitorHub:
    """Follows one collector: `<base>/<cid>/...`."""

    def __init__(self, hass: HomeAssistant, entry: PvMonitorConfigEntry) -> None:
        """Prepare; nothing is subscribed before `async_start`."""
        self.hass = hass
        self.entry = entry
        self.topics = Topics(entry.data[CONF_BASE_TOPIC], entry.data[CONF_COLLECTOR_ID])
        self.announcement: Announcement | None = None
        self.unsupported_contract: int | None = None
        self.collector_online: bool | None = None
        self.devices: dict[str, DeviceRuntime] = {}
        self.stats: Stats | None = None
        self.alerts: dict[tuple[str | None, AlertType], AlertState] = {}
        self._instances: list[tuple[str, datetime]] = []  # recent announcement instance tokens
        # When each alert last became active: lets notifications debounce a flapping alert.
        self._activated_at: dict[tuple[str | None, AlertType], datetime] = {}
        self.thresholds = Thresholds.from_options(entry.options)
        self._listeners: dict[str | None, list[Callable[[], None]]] = {}
        # While listeners run: the point keys the notification is about (None: anything may have changed).
        # Point entities whose key is not among them (and whose availability stays) skip their write.
        self.notified_keys: frozenset[str] | None = None
        self._pending: dict[str, asyncio.Future[EventMessage]] = {}
        self._offline_timers: dict[str | None, CALLBACK_TYPE] = {}
        self._early_states: dict[str, str | bytes | bytearray] = {}
        self._early_availability: dict[str, Availability] = {}
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._claimed: set[tuple[Platform, str]] = set()
        self.backfill = StatisticsBackfill(hass, self.topics.collector_id)
        # PV health (docs/pv-health.md).
        self.arrays = arrays_from_options(entry.options)
        self.health: dict[str, InverterHealth] = {}
        self.summary = DaySummary()
        self._store: Store[dict[str, Any]] = Store(hass, STORE_VERSION, f"{DOMAIN}.health.{entry.entry_id}")
        self._below_since: dict[str, datetime] = {}
        self._fault_cleared_at: dict[str, datetime] = {}
        self._hold_timers: dict[str, CALLBACK_TYPE] = {}
        self._texts_en: dict[str, str] = {}
        self._texts_local: dict[str, str] = {}

    # ------------------------------------------------------------------------------------ lifecycle

    @property
    def collector_id(self) -> str:
        """The collector this hub follows."""
        return self.topics.collector_id

    @property
    def collector_name(self) -> str:
        """The collector's announced name (the entry title until announced)."""
        return self.announcement.collector.name if self.announcement else self.entry.title

    async def async_start(self) -> None:
        """Restore today's health figures, subscribe to the collector's topics (retained messages then
        bring everything in) and start the health tick."""
        await self._async_load_health()
        self._texts_en = await async_get_translations(self.hass, "en", "entity", {DOMAIN})
        language = self.hass.config.language
        self._texts_local = (
            self._texts_en
            if language == "en"
            else await async_get_translations(self.hass, language, "entity", {DOMAIN})
        )
        self._unsubscribe.append(
            async_track_time_interval(self.hass, self._health_tick, timedelta(seconds=HEALTH_INTERVAL))
        )
        subscriptions: list[tuple[str, Callable[[mqtt.ReceiveMessage], None]]] = [
            (self.topics.config, self._on_config),
            (self.topics.status, self._on_status),
            (self.topics.availability_wildcard, self._on_availability),
            (self.topics.state_wildcard, self._on_state),
            (self.topics.event_wildcard, self._on_event),
            (self.topics.stats, self._on_stats),
        ]
        for topic, handler in subscriptions:
            self._unsubscribe.append(await mqtt.async_subscribe(self.hass, topic, handler, SUBSCRIBE_QOS))

    @callback
    def async_stop(self) -> None:
        """Unsubscribe, stop timers and abandon pending commands."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for cancel in self._offline_timers.values():
            cancel()
        self._offline_timers.clear()
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        for cancel in self._hold_timers.values():
            cancel()
        self._hold_timers.clear()
        self.backfill.async_stop()
        self._store.async_delay_save(self._health_data, 0)

    @callback
    def async_update_options(self) -> None:
        """New thresholds: evaluate every alert again."""
        self.thresholds = Thresholds.from_options(self.entry.options)
        arrays = arrays_from_options(self.entry.options)
        if arrays.keys() != self.arrays.keys() and self.announcement is not None and self.usable:
            self.arrays = arrays
            # A production alert appears or goes with an inverter's array.
            self._sync_registries(self.announcement)
            async_dispatcher_send(self.hass, signal_new_entities(self.entry.entry_id, Platform.BINARY_SENSOR))
        self.arrays = arrays
        for device_id in self.devices:
            self._evaluate_values(device_id)
        self._notify_all()

    # ------------------------------------------------------------------------------------ listeners

    @callback
    def async_add_listener(self, device_id: str | None, update: Callable[[], None]) -> CALLBACK_TYPE:
        """Call `update` when something of a device (None: the collector) changes."""
        listeners = self._listeners.setdefault(device_id, [])
        listeners.append(update)

        @callback
        def remove() -> None:
            listeners.remove(update)

        return remove

    @callback
    def _notify(self, device_id: str | None, keys: frozenset[str] | None = None) -> None:
        """Call the listeners of a device; `keys`: only these points changed (None: anything may have)."""
        outer = self.notified_keys
        self.notified_keys = keys
        try:
            for update in list(self._listeners.get(device_id, ())):
                update()
        finally:
            self.notified_keys = outer

    @callback
    def _notify_all(self) -> None:
        for device_id in list(self._listeners):
            self._notify(device_id)

    @callback
    def claim(self, platform: Platform, unique_id: str) -> bool:
        """True the first time a platform asks for a unique id (entities are created once)."""
        if (platform, unique_id) in self._claimed:
            return False
        self._claimed.add((platform, unique_id))
        return True

    @callback
    def release(self, platform: Platform, unique_id: str) -> None:
        """An entity went away; it may be created again."""
        self._claimed.discard((platform, unique_id))

    # ------------------------------------------------------------------------------------ queries

    @property
    def usable(self) -> bool:
        """False while the collector speaks a contract version this integration does not support."""
        return self.unsupported_contract is None and self.announcement is not None

    def device_available(self, device_id: str) -> bool:
        """The collector is online and the device is not offline."""
        runtime = self.devices.get(device_id)
        return (
            self.usable
            and self.collector_online is True
            and runtime is not None
            and runtime.availability != "offline"
        )

    def connection(self, device_id: str) -> Availability | None:
        """The device's connection as a user should see it (collector offline -> offline)."""
        runtime = self.devices.get(device_id)
        if runtime is None or self.collector_online is None:
            return None
        if not self.collector_online:
            return "offline"
        return runtime.availability

    def alerts_for(self, device_id: str | None) -> tuple[AlertType, ...]:
        """The alerts of a device (None: the collector)."""
        if device_id is None:
            return (AlertType.COLLECTOR_OFFLINE,)
        runtime = self.devices.get(device_id)
        if runtime is None or self.announcement is None:
            return ()
        return device_alerts(runtime.definition, self.announcement, self.arrays)

    def ha_device_id(self, device_id: str | None) -> str | None:
        """The device registry id of a device (None: the collector)."""
        identifier = (
            collector_identifier(self.collector_id)
            if device_id is None
            else device_identifier(self.collector_id, device_id)
        )
        device = dr.async_get(self.hass).async_get_device_by_identifier(
            (DOMAIN, identifier), self.entry.entry_id
        )
        return device.id if device else None

    # ------------------------------------------------------------------------------------ messages

    def _warn(self, msg: mqtt.ReceiveMessage, problem: str) -> None:
        _LOGGER.warning("Ignoring message on %s from collector %s: %s", msg.topic, self.collector_id, problem)

    @callback
    def _on_config(self, msg: mqtt.ReceiveMessage) -> None:
        if not msg.payload:
            _LOGGER.info("Collector %s withdrew its announcement", self.collector_id)
            return
        try:
            announcement = parse_announcement(msg.payload)
        except InvalidPayload as err:
            self._warn(msg, str(err))
            return
        if announcement.collector.id != self.collector_id:
            self._warn(msg, f"it announces collector '{announcement.collector.id}'")
            return
        issue_id = f"{ISSUE_UNSUPPORTED_CONTRACT}_{self.collector_id}"
        if not announcement.supported:
            if self.unsupported_contract != announcement.contract:
                _LOGGER.error(
                    "Collector %s speaks MQTT contract version %s, this integration supports version %s;"
                    " its entities stay unavailable until both agree",
                    self.collector_id,
                    announcement.contract,
                    CONTRACT_VERSION,
                )
            self.unsupported_contract = announcement.contract
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_UNSUPPORTED_CONTRACT,
                translation_placeholders={
                    "collector": announcement.collector.name,
                    "version": str(announcement.contract),
                    "supported": str(CONTRACT_VERSION),
                },
            )
            self._notify_all()
            return
        if self.unsupported_contract is not None:
            self.unsupported_contract = None
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        if announcement.problems:
            self._warn(msg, "left out of the announcement: " + "; ".join(announcement.problems))
        self._check_ha_discovery(announcement)
        self._check_duplicate(announcement)
        self._apply_announcement(announcement)

    def _check_duplicate(self, announcement: Announcement) -> None:
        """Two collectors running with one id announce in turns: A, B, A again. A restart is A, B, B."""
        instance = announcement.collector.instance
        if instance is None:
            return
        now = dt_util.utcnow()
        seen = self._instances
        if seen and seen[-1][0] == instance:
            seen[-1] = (instance, now)
            return
        back = any(token == instance and now - when < DUPLICATE_WINDOW for token, when in seen[:-1])
        seen.append((instance, now))
        del seen[:-3]
        if back:
            _LOGGER.error(
                "Two collectors announce themselves as %s (instances %s); give each its own collector id",
                self.collector_id,
                ", ".join(sorted({token for token, _ in seen})),
            )
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"{ISSUE_DUPLICATE_COLLECTOR}_{self.collector_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_DUPLICATE_COLLECTOR,
                translation_placeholders={"collector": announcement.collector.name, "id": self.collector_id},
            )

    def _check_ha_discovery(self, announcement: Announcement) -> None:
        """A collector that also publishes standard MQTT discovery makes every entity twice: say so."""
        issue_id = f"{ISSUE_HA_DISCOVERY}_{self.collector_id}"
        if not announcement.collector.ha_discovery:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_HA_DISCOVERY,
            translation_placeholders={"collector": announcement.collector.name},
        )

    def _apply_announcement(self, announcement: Announcement) -> None:
        previous = self.announcement
        if previous is not None:
            announcement = _keep_known_points(previous, announcement)
        if previous is not None and _definitions_changed(previous, announcement):
            # Entities keep their point definition; a changed one is rebuilt by a reload.
            _LOGGER.info("Collector %s changed its point definitions; reloading", self.collector_id)
            self.announcement = announcement
            self.hass.config_entries.async_schedule_reload(self.entry.entry_id)
            return
        if previous is not None and previous.collector.instance != announcement.collector.instance:
            for runtime in self.devices.values():
                runtime.last_seq = 0  # a restarted collector may have lost its sequence numbers
        self.announcement = announcement
        self._sync_registries(announcement)
        announced = {device.id: device for device in announcement.devices}
        for device_id in set(self.devices) - set(announced):
            if device_id not in announcement.incomplete:
                del self.devices[device_id]
                for key in [key for key in self.alerts if key[0] == device_id]:
                    del self.alerts[key]
                self._cancel_offline_timer(device_id)
        for device_id, definition in announced.items():
            if (known := self.devices.get(device_id)) is None:
                self.devices[device_id] = DeviceRuntime(definition=definition)
            else:
                known.definition = definition
                keys = {point.key for point in definition.points}
                known.values = {k: v for k, v in known.values.items() if k in keys}
        for platform in PLATFORMS:
            async_dispatcher_send(self.hass, signal_new_entities(self.entry.entry_id, platform))
        for device_id in announced:
            if (availability := self._early_availability.pop(device_id, None)) is not None:
                self._set_availability(device_id, availability)
            if (payload := self._early_states.pop(device_id, None)) is not None:
                self._apply_state(device_id, payload)
            self._evaluate_values(device_id)
        self._notify_all()

    def _sync_registries(self, announcement: Announcement) -> None:
        """Devices and entities in the registries follow the announcement."""
        device_registry = dr.async_get(self.hass)
        entry_id = self.entry.entry_id
        cid = self.collector_id
        collector = device_registry.async_get_or_create(
            config_entry_id=entry_id,
            identifiers={(DOMAIN, collector_identifier(cid))},
            manufacturer="PV Monitor",
            model="Collector",
            name=announcement.collector.name,
            sw_version=announcement.collector.version,
        )
        keep = {collector.id}
        for device in announcement.devices:
            entry = device_registry.async_get_or_create(
                config_entry_id=entry_id,
                identifiers={(DOMAIN, device_identifier(cid, device.id))},
                manufacturer=device.manufacturer,
                model=device.model,
                name=device.name,
                serial_number=device.serial,
                sw_version=device.firmware,
                via_device_id=collector.id,
            )
            keep.add(entry.id)
        keep_identifiers = {(DOMAIN, device_identifier(cid, did)) for did in announcement.incomplete}
        for stale in dr.async_entries_for_config_entry(device_registry, entry_id):
            if stale.id not in keep and not stale.identifiers & keep_identifiers:
                _LOGGER.info("Removing device %s: collector %s no longer announces it", stale.name, cid)
                device_registry.async_update_device(stale.id, remove_config_entry_id=entry_id)
        entity_registry = er.async_get(self.hass)
        expected = expected_entities(announcement, self.arrays)
        incomplete_devices = {
            registered.id
            for did in announcement.incomplete
            if (
                registered := device_registry.async_get_device_by_identifier(
                    (DOMAIN, device_identifier(cid, did)), entry_id
                )
            )
        }
        for entity in er.async_entries_for_config_entry(entity_registry, entry_id):
            if (
                Platform(entity.domain),
                entity.unique_id,
            ) in expected or entity.device_id in incomplete_devices:
                continue
            _LOGGER.info("Removing %s: collector %s no longer announces it", entity.entity_id, cid)
            entity_registry.async_remove(entity.entity_id)

    @callback
    def _on_status(self, msg: mqtt.ReceiveMessage) -> None:
        try:
            online = parse_status(msg.payload)
        except InvalidPayload as err:
            self._warn(msg, str(err))
            return
        previous = self.collector_online
        self.collector_online = online
        if online and previous is False:
            _LOGGER.info("Collector %s is back online", self.collector_id)
        elif not online and previous is not False:
            _LOGGER.info("Collector %s is offline; its entities are unavailable", self.collector_id)
        self._availability_alert(None, AlertType.COLLECTOR_OFFLINE, offline=not online)
        if not online:
            self._fail_pending()
        self._notify_all()

    @callback
    def _on_availability(self, msg: mqtt.ReceiveMessage) -> None:
        device_id = self.topics.device_of(msg.topic)
        if device_id is None:
            return
        try:
            availability = parse_availability(msg.payload)
        except InvalidPayload as err:
            self._warn(msg, str(err))
            return
        if device_id not in self.devices:
            # Retained messages come in any order: keep it until the device is announced.
            if len(self._early_availability) < 500:
                self._early_availability[device_id] = availability
            return
        self._set_availability(device_id, availability)

    def _set_availability(self, device_id: str, availability: Availability) -> None:
        runtime = self.devices[device_id]
        previous = runtime.availability
        runtime.availability = availability
        if availability == "offline" and previous != "offline":
            _LOGGER.info("Device %s of collector %s is offline", device_id, self.collector_id)
        elif previous == "offline" and availability != "offline":
            _LOGGER.info("Device %s of collector %s is %s again", device_id, self.collector_id, availability)
        self._availability_alert(device_id, AlertType.DEVICE_OFFLINE, offline=availability == "offline")
        self._evaluate_values(device_id)
        self._notify(device_id)

    @callback
    def _on_state(self, msg: mqtt.ReceiveMessage) -> None:
        device_id = self.topics.device_of(msg.topic)
        if device_id is None:
            return
        if device_id not in self.devices:
            # A state can overtake the announcement: keep the latest until the device is announced.
            if len(msg.payload) <= MAX_PAYLOAD_BYTES and len(self._early_states) < 500:
                self._early_states[device_id] = msg.payload
            return
        if (accepted := self._apply_state(device_id, msg.payload, msg.topic)) is not None:
            self._observe_peak(device_id)
            self._evaluate_values(device_id)
            if self._is_irradiance_source(device_id):
                # Other devices' points are unchanged: only their derived entities (alerts, health) follow.
                for other in self.devices:
                    if other != device_id:
                        self._evaluate_values(other)
                        self._notify(other, NO_KEYS)
            self._notify(device_id, accepted)

    def _apply_state(
        self, device_id: str, payload: str | bytes | bytearray, topic: str = ""
    ) -> frozenset[str] | None:
        """Take a state message's values; the keys accepted, None when the message is ignored."""
        runtime = self.devices[device_id]
        try:
            state = parse_state(payload)
        except InvalidPayload as err:
            _LOGGER.warning(
                "Ignoring message on %s from collector %s: %s", topic or device_id, self.collector_id, err
            )
            return None
        if state.buffered:
            # Late readings from the collector's outage queue also back-fill long-term statistics.
            self.backfill.add(runtime.definition, state)
        else:
            self.backfill.live_state()
        if not math.isfinite(state.ts):
            _LOGGER.warning(
                "Ignoring state of %s from collector %s: its time %s is not a time",
                device_id,
                self.collector_id,
                state.ts,
            )
            return None
        if state.seq <= runtime.last_seq:
            if runtime.last_ts is None or state.ts <= runtime.last_ts:
                _LOGGER.debug(
                    "Dropping state %s of %s: already seen %s", state.seq, device_id, runtime.last_seq
                )
                return None
            # Newer readings with a lower sequence number: the numbering restarted (or a corrupt message
            # had claimed a huge one). Follow the collector rather than drop its readings forever.
            _LOGGER.info(
                "Sequence numbers of %s of collector %s restarted at %s",
                device_id,
                self.collector_id,
                state.seq,
            )
        definition = runtime.definition
        accepted: dict[str, Value] = {}
        wrong: list[str] = []
        for key, value in state.values.items():
            point = definition.point(key)
            if point is None:
                continue  # unknown keys are ignored (a newer collector may send more)
            if point.accepts(value):
                accepted[key] = value
            else:
                wrong.append(f"{key}={value!r}")
        if wrong:
            _LOGGER.warning(
                "Ignoring values on %s from collector %s that do not fit their points: %s",
                topic or device_id,
                self.collector_id,
                ", ".join(wrong),
            )
        runtime.values.update(accepted)
        runtime.inferred = state.inferred & accepted.keys()
        runtime.last_seq = state.seq
        runtime.last_ts = state.ts
        return frozenset(accepted)

    @callback
    def _on_event(self, msg: mqtt.ReceiveMessage) -> None:
        device_id = self.topics.device_of(msg.topic)
        if device_id is None:
            return
        try:
            event = parse_event(msg.payload)
        except InvalidPayload as err:
            self._warn(msg, str(err))
            return
        if event.type == "point_rejected":
            _LOGGER.debug("Collector %s rejected a reading of %s: %s", self.collector_id, device_id, event)
            return
        if event.type != "command_result":
            return
        runtime = self.devices.get(device_id)
        if event.ok and runtime is not None and event.value is not None:
            point = runtime.definition.point(event.point)
            if point is not None and point.accepts(event.value):
                runtime.values[event.point] = event.value
                self._notify(device_id, frozenset((event.point,)))
        if event.id is not None and (future := self._pending.get(event.id)) and not future.done():
            future.set_result(event)

    @callback
    def _on_stats(self, msg: mqtt.ReceiveMessage) -> None:
        try:
            self.stats = parse_stats(msg.payload)
        except InvalidPayload as err:
            self._warn(msg, str(err))
            return
        self._notify(None)

    # ------------------------------------------------------------------------------------ alerts

    def _is_irradiance_source(self, device_id: str) -> bool:
        if self.announcement is None:
            return False
        source = irradiance_source(self.announcement)
        return source is not None and source[0].id == device_id

    def _availability_alert(self, device_id: str | None, alert: AlertType, *, offline: bool) -> None:
        """Offline alerts go on after the grace time and off at once."""
        key = (device_id, alert)
        if not offline:
            self._cancel_offline_timer(device_id)
            name = self.collector_name if device_id is None else self.devices[device_id].definition.name
            self._set_alert(
                device_id, alert, AlertState(active=False, reason="online", message=f"{name} is online")
            )
            return
        current = self.alerts.get(key)
        if (current is not None and current.active) or device_id in self._offline_timers:
            return
        grace = self.thresholds.offline_grace
        if grace <= 0:
            self._offline_elapsed(device_id, alert, None)
            return
        self._offline_timers[device_id] = async_call_later(
            self.hass, grace, partial(self._offline_elapsed, device_id, alert)
        )

    @callback
    def _offline_elapsed(self, device_id: str | None, alert: AlertType, _now: Any) -> None:
        self._offline_timers.pop(device_id, None)
        name = self.collector_name if device_id is None else self.devices[device_id].definition.name
        grace = self.thresholds.offline_grace
        self._set_alert(
            device_id,
            alert,
            AlertState(
                active=True,
                reason="offline",
                message=f"{name} has been offline for {grace:g} s",
                details={"grace_time": grace},
            ),
        )
        self._notify(device_id)

    def _cancel_offline_timer(self, device_id: str | None) -> None:
        if (cancel := self._offline_timers.pop(device_id, None)) is not None:
            cancel()

    def _evaluate_values(self, device_id: str) -> None:
        """Evaluate the value-based alerts of one device."""
        runtime = self.devices.get(device_id)
        if runtime is None or self.announcement is None:
            return
        device = runtime.definition
        values = runtime.values
        thresholds = self.thresholds
        now = dt_util.utcnow()
        for alert in device_alerts(device, self.announcement, self.arrays):
            current = self.alerts.get((device_id, alert))
            was_active = current is not None and current.active
            state: AlertState | None
            match alert:
                case AlertType.INVERTER_FAULT:
                    state = self._hold_fault(
                        device_id,
                        current,
                        evaluate_fault(device, values, english=self._fault_text_en, local=self._fault_text),
                        now,
                    )
                case AlertType.GRID_VOLTAGE:
                    state = evaluate_range(
                        device,
                        values,
                        role="grid_voltage",
                        low=thresholds.grid_voltage_min,
                        high=thresholds.grid_voltage_max,
                        hysteresis=VOLTAGE_HYSTERESIS,
                        was_active=was_active,
                        inferred=runtime.inferred,
                    )
                case AlertType.GRID_FREQUENCY:
                    state = evaluate_range(
                        device,
                        values,
                        role="grid_frequency",
                        low=thresholds.grid_frequency_min,
                        high=thresholds.grid_frequency_max,
                        hysteresis=FREQUENCY_HYSTERESIS,
                        was_active=was_active,
                        inferred=runtime.inferred,
                    )
                case AlertType.BATTERY_LOW:
                    state = evaluate_battery_low(
                        device, values, low=thresholds.battery_low_soc, was_active=was_active
                    )
                case AlertType.PRODUCTION_BELOW_EXPECTED:
                    state = self._delay_production(
                        device_id,
                        was_active,
                        evaluate_production(
                            device,
                            values,
                            expected=self.expected_power(device_id, now),
                            irradiance=self._irradiance(),
                            sun_elevation=self.sun_elevation(now),
                            thresholds=thresholds,
                            asleep=runtime.availability == "asleep",
                            was_active=was_active,
                        ),
                        now,
                    )
                case AlertType.STRING_IMBALANCE:
                    state = evaluate_string_imbalance(
                        device,
                        values,
                        threshold=thresholds.string_imbalance,
                        min_power=thresholds.string_min_power,
                        was_active=was_active,
                    )
                case _:
                    continue
            if state is not None:
                self._set_alert(device_id, alert, state)

    def _irradiance(self) -> float | None:
        if self.announcement is None or (source := irradiance_source(self.announcement)) is None:
            return None
        runtime = self.devices.get(source[0].id)
        value = runtime.values.get(source[1].key) if runtime else None
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    def _set_alert(self, device_id: str | None, alert: AlertType, state: AlertState) -> None:
        """Store an alert state; a change of `active` fires `pv_monitor_alert`."""
        previous = self.alerts.get((device_id, alert))
        self.alerts[(device_id, alert)] = state
        if state.active == (previous is not None and previous.active):
            return
        previous_activation = self._activated_at.get((device_id, alert))
        if state.active:
            now = dt_util.utcnow()
            self._activated_at[(device_id, alert)] = now
            self.summary.roll(dt_util.as_local(now).date())
            self.summary.alerts.append(
                {
                    "alert": str(alert),
                    "device": device_id,
                    "name": self.collector_name
                    if device_id is None
                    else self.devices[device_id].definition.name,
                    "time": now.isoformat(),
                    "message": state.message,
                }
            )
            self._store.async_delay_save(self._health_data, STORE_SAVE_DELAY)
        self.hass.bus.async_fire(
            EVENT_ALERT,
            {
                "entry_id": self.entry.entry_id,
                "collector_id": self.collector_id,
                "device_id": self.ha_device_id(device_id),
                "device": device_id,
                "alert": str(alert),
                "active": state.active,
                "value": state.value,
                "reason": state.reason,
                "message": state.message,
                "details": state.details,
                "previous_activation": previous_activation.isoformat() if previous_activation else None,
            },
        )

    def _fault_text(self, code: str) -> str:
        """A fault code in the user's language (English, then the code made readable, if untranslated)."""
        key = FAULT_TEXT_KEY.format(domain=DOMAIN, code=code)
        return self._texts_local.get(key) or self._texts_en.get(key) or humanize(code)

    def _fault_text_en(self, code: str) -> str:
        return self._texts_en.get(FAULT_TEXT_KEY.format(domain=DOMAIN, code=code)) or humanize(code)

    def _hold_fault(
        self, device_id: str, current: AlertState | None, state: AlertState | None, now: datetime
    ) -> AlertState | None:
        """Debounce: an active fault alert goes off only after the fault stayed clear `fault_hold_off` s.

        A fault that clears and comes back within the hold-off keeps the alert on: no new events.
        """
        if state is None or state.active or current is None or not current.active:
            self._fault_cleared_at.pop(device_id, None)
            self._cancel_hold_timer(device_id)
            return state
        hold_off = self.thresholds.fault_hold_off
        cleared = self._fault_cleared_at.setdefault(device_id, now)
        remaining = hold_off - (now - cleared).total_seconds()
        if remaining <= 0:
            self._fault_cleared_at.pop(device_id, None)
            self._cancel_hold_timer(device_id)
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
        self._evaluate_values(device_id)
        self._notify(device_id)

    def _cancel_hold_timer(self, device_id: str) -> None:
        if (cancel := self._hold_timers.pop(device_id, None)) is not None:
            cancel()

    def _delay_production(
        self, device_id: str, was_active: bool, state: AlertState | None, now: datetime
    ) -> AlertState | None:
        """Production must stay below expected for `production_alert_delay` s before the alert goes on."""
        if state is None:
            return None
        if not state.active:
            self._below_since.pop(device_id, None)
            return state
        if was_active:
            return state
        since = self._below_since.setdefault(device_id, now)
        if (now - since).total_seconds() >= self.thresholds.production_alert_delay:
            return state
        return replace(
            state,
            active=False,
            reason="below_expected_pending",
            details={**state.details, "below_since": since.isoformat()},
        )

    # ------------------------------------------------------------------------------------ health

    def array(self, device_id: str) -> Array | None:
        """The array configured for an inverter (options), if any."""
        return self.arrays.get(device_id)

    def peak_power_kw(self, device_id: str) -> float | None:
        """The inverter's array size in kWp: its array, else the option `array_peak_power`."""
        if (array := self.arrays.get(device_id)) is not None:
            return array.peak_power
        return self.thresholds.array_peak_power / 1000.0 if self.thresholds.array_peak_power > 0 else None

    def sun_elevation(self, now: datetime) -> float:
        """The sun's elevation at Home Assistant's home location, degrees."""
        return solar_position(now, self.hass.config.latitude, self.hass.config.longitude).elevation

    def expected_power(self, device_id: str, now: datetime | None = None) -> float | None:
        """Expected AC power of an inverter (W): measured irradiance, else the clear-sky model."""
        return expected_power(
            moment=now or dt_util.utcnow(),
            latitude=self.hass.config.latitude,
            longitude=self.hass.config.longitude,
            array=self.arrays.get(device_id),
            irradiance=self._irradiance(),
            peak_power=self.thresholds.array_peak_power,
        )

    def _role_number(self, device_id: str, role: str) -> tuple[float, str | None] | None:
        runtime = self.devices.get(device_id)
        if runtime is None:
            return None
        for point in runtime.definition.points_with_role(role):
            value = runtime.values.get(point.key)
            if point.kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
                return float(value), point.unit
        return None

    def _pv_power(self, device_id: str) -> float | None:
        """The inverter's current power; 0 while it sleeps, None while unknown or offline."""
        runtime = self.devices.get(device_id)
        if runtime is None or not self.device_available(device_id):
            return None
        if runtime.availability == "asleep":
            return 0.0
        reading = self._role_number(device_id, "pv_power")
        return reading[0] if reading else None

    def _counter_kwh(self, device_id: str, role: str) -> float | None:
        reading = self._role_number(device_id, role)
        return energy_kwh(*reading) if reading else None

    def _inverters(self) -> list[str]:
        return [did for did, runtime in self.devices.items() if has_health(runtime.definition)]

    def _observe_peak(self, device_id: str) -> None:
        if device_id not in self.health:
            return
        today = dt_util.as_local(dt_util.utcnow()).date()
        tracker = self.health[device_id]
        tracker.roll(today)
        tracker.observe_power(self._pv_power(device_id))
        self._observe_total_peak(today)

    def _observe_total_peak(self, today: Any) -> None:
        powers = [p for did in self._inverters() if (p := self._pv_power(did)) is not None]
        self.summary.roll(today)
        if powers:
            self.summary.peak_power = max(self.summary.peak_power, sum(powers))

    @callback
    def _health_tick(self, now: datetime) -> None:
        """Integrate expected and actual energy, roll over at midnight, judge the time-based alerts."""
        if not self.usable:
            return
        today = dt_util.as_local(now).date()
        for device_id in self._inverters():
            tracker = self.health.setdefault(device_id, InverterHealth())
            tracker.roll(today)
            tracker.step(
                now,
                expected=self.expected_power(device_id, now),
                power=self._pv_power(device_id),
                counter=self._counter_kwh(device_id, "pv_energy"),
            )
        self._observe_total_peak(today)
        for device_id in self.devices:
            if (export := self._counter_kwh(device_id, "grid_export_energy")) is not None:
                self.summary.export.update(export)
                break
        for device_id in self.devices:
            self._evaluate_values(device_id)
        self._store.async_delay_save(self._health_data, STORE_SAVE_DELAY)
        self._notify_all()

    def daily_summary(self) -> dict[str, Any]:
        """Today's figures of the collector: what the sunset summary reports."""
        trackers = [self.health[did] for did in self._inverters() if did in self.health]
        produced = sum(t.actual_energy for t in trackers)
        expected = sum(t.expected_energy for t in trackers)
        exported = self.summary.export.today
        self_consumption = (
            round(100.0 * max(produced - exported, 0.0) / produced, 1)
            if exported is not None and produced > 0
            else None
        )
        return {
            "energy_today": round(produced, 3) if trackers else None,
            "expected_energy_today": round(expected, 3) if trackers else None,
            "performance_ratio": round(100.0 * produced / expected, 1) if expected >= 0.01 else None,
            "peak_power": self.summary.peak_power,
            "grid_export_today": None if exported is None else round(exported, 3),
            "self_consumption": self_consumption,
            "alerts_today": list(self.summary.alerts),
        }

    async def _async_load_health(self) -> None:
        data = await self._store.async_load()
        if not data:
            return
        self.health = {did: InverterHealth.from_dict(item) for did, item in data.get("inverters", {}).items()}
        self.summary = DaySummary.from_dict(data.get("summary", {}))

    def _health_data(self) -> dict[str, Any]:
        return {
            "inverters": {did: tracker.to_dict() for did, tracker in self.health.items()},
            "summary": self.summary.to_dict(),
        }

    # ------------------------------------------------------------------------------------ commands

    def _fail_pending(self) -> None:
        """The collector went offline: commands in flight will get no result."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError())

    async def async_send_command(self, device_id: str, key: str, value: Value) -> EventMessage:
        """Publish a command and wait for its result; raise a translated error unless it succeeded."""
        placeholders = {"collector": self.collector_name, "device": device_id, "point": key}
        if self.collector_online is not True:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="collector_offline",
                translation_placeholders=placeholders,
            )
        runtime = self.devices.get(device_id)
        if runtime is None or runtime.availability in ("offline", "asleep"):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="device_unavailable",
                translation_placeholders=placeholders,
            )
        command_id = uuid4().hex
        future: asyncio.Future[EventMessage] = self.hass.loop.create_future()
        self._pending[command_id] = future

        @callback
        def _expire(_now: Any) -> None:
            if not future.done():
                future.set_exception(TimeoutError())

        cancel_timeout = async_call_later(self.hass, COMMAND_TIMEOUT, _expire)
        qos = int(self.entry.options.get(CONF_COMMAND_QOS, DEFAULT_OPTIONS[CONF_COMMAND_QOS]))
        try:
            await mqtt.async_publish(
                self.hass, self.topics.command(device_id, key), command_payload(value, command_id), qos, False
            )
            result = await future
        except ConnectionError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="collector_offline",
                translation_placeholders=placeholders,
            ) from err
        except TimeoutError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="command_timeout",
                translation_placeholders={**placeholders, "timeout": f"{COMMAND_TIMEOUT:g}"},
            ) from err
        finally:
            cancel_timeout()
            self._pending.pop(command_id, None)
        if not result.ok:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="command_refused",
                translation_placeholders={
                    **placeholders,
                    "error": result.error or "unknown",
                    "message": result.message or "",
                },
            )
        return result


def _keep_known_points(old: Announcement, new: Announcement) -> Announcement:
    """Devices announced without their final point list (pending or partly broken) keep the points
    known from the previous announcement, so a collector restart never removes or rebuilds entities."""
    if not new.incomplete:
        return new
    devices: list[DeviceDef] = []
    for device in new.devices:
        before = old.device(device.id)
        if device.id not in new.incomplete or before is None:
            devices.append(device)
            continue
        known = {point.key for point in device.points}
        kept = tuple(point for point in before.points if point.key not in known)
        devices.append(replace(device, points=device.points + kept))
    return replace(new, devices=tuple(devices))


def _definitions_changed(old: Announcement, new: Announcement) -> bool:
    """True when a point both announcements have is described differently."""
    for device in new.devices:
        if (before := old.device(device.id)) is None:
            continue
        for point in device.points:
            if (previous := before.point(point.key)) is not None and previous != point:
                return True
    return False


def arrays_from_options(options: Any) -> dict[str, Array]:
    """The arrays per inverter from the options (`arrays`: {device id: {peak_power, tilt, ...}})."""
    arrays: dict[str, Array] = {}
    for device_id, item in (options.get(CONF_ARRAYS) or {}).items():
        if float(item.get(CONF_PEAK_POWER, 0)) > 0:
            arrays[device_id] = Array(
                peak_power=float(item[CONF_PEAK_POWER]),
                tilt=float(item[CONF_TILT]),
                azimuth=float(item[CONF_AZIMUTH]),
                losses=float(item[CONF_LOSSES]),
            )
    return arrays
