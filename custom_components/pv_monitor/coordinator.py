"""The coordinator of one entry: follows one collector over MQTT (`<base>/<cid>/...`).

It never owns an MQTT client: it subscribes through `homeassistant.components.mqtt`. It parses every
message with `contract`, writes what it learns into the entry's `CollectorState`, keeps the registries
in step with the announcement, lets the alert engine and the health tracker follow, and tells the
entities of a device what changed: `async_dispatcher_send(hass, signal_device_updated(entry, device),
changed)`, where `changed` is the point keys whose values changed (empty: only derived figures such as
alerts and health changed) or None when anything may have.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from homeassistant.components import mqtt
from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval

from .alert_engine import AlertEngine
from .backfill import StatisticsBackfill
from .catalogue import has_health
from .commands import CommandSender
from .const import (
    HEALTH_INTERVAL,
    PLATFORMS,
    signal_device_updated,
    signal_new_entities,
)
from .contract import (
    InvalidPayload,
    parse_announcement,
    parse_availability,
    parse_event,
    parse_state,
    parse_stats,
    parse_status,
)
from .energy import PendingEnergyDashboard
from .health_tracker import HealthTracker
from .issues import DuplicateCollectorDetector, async_report_contract, async_report_ha_discovery
from .messages import CONTRACT_VERSION, MAX_PAYLOAD_BYTES, Announcement, Availability, DeviceDef
from .models import CollectorState, DeviceRuntime, PvMonitorConfigEntry
from .options import EntryOptions, arrays_for_announced_inverters
from .registry import async_sync_registries

_LOGGER = logging.getLogger(__package__)

SUBSCRIBE_QOS = 1
# Messages of devices not announced yet (retained messages come in any order) kept at most.
MAX_EARLY_DEVICES = 500


class PvMonitorCoordinator:
    """Subscribes to one collector's topics and applies its messages."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PvMonitorConfigEntry,
        state: CollectorState,
        options: EntryOptions,
        *,
        alerts: AlertEngine,
        health: HealthTracker,
        commands: CommandSender,
    ) -> None:
        """Prepare; nothing is subscribed before `async_start`."""
        self.hass = hass
        self.entry = entry
        self.state = state
        self.options = options
        self.alerts = alerts
        self.health = health
        self.commands = commands
        self.backfill = StatisticsBackfill(hass, state.collector_id)
        self._duplicates = DuplicateCollectorDetector(hass, state.collector_id)
        self._early_states: dict[str, str | bytes | bytearray] = {}
        self._early_availability: dict[str, Availability] = {}
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._created: set[tuple[Platform, str]] = set()
        self._energy = PendingEnergyDashboard(hass, entry)

    @property
    def collector_id(self) -> str:
        """The collector this coordinator follows."""
        return self.state.collector_id

    async def async_start(self) -> None:
        """Restore today's health figures, subscribe to the collector's topics (retained messages then
        bring everything in) and start the health tick."""
        await self.health.async_load()
        await self.alerts.async_load_texts()
        self.backfill.async_start()
        self._unsubscribe.append(
            async_track_time_interval(self.hass, self._tick, timedelta(seconds=HEALTH_INTERVAL))
        )
        topics = self.state.topics
        subscriptions: list[tuple[str, Callable[[mqtt.ReceiveMessage], None]]] = [
            (topics.config, self._on_config),
            (topics.status, self._on_status),
            (topics.availability_wildcard, self._on_availability),
            (topics.state_wildcard, self._on_state),
            (topics.event_wildcard, self._on_event),
            (topics.stats, self._on_stats),
        ]
        for topic, handler in subscriptions:
            self._unsubscribe.append(await mqtt.async_subscribe(self.hass, topic, handler, SUBSCRIBE_QOS))

    @callback
    def async_stop(self) -> None:
        """Unsubscribe, stop timers, abandon pending commands and store the health figures."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self.alerts.async_stop()
        self.commands.async_stop()
        self.backfill.async_stop()
        self.health.async_save_soon(0)

    @callback
    def async_update_options(self) -> None:
        """New options: evaluate every alert again; an array added or removed adds or removes the
        inverter's production alert."""
        arrays_changed = self.options.update(self.entry.options)
        if arrays_changed and self.state.announcement is not None and self.state.usable:
            async_sync_registries(
                self.hass, self.entry.entry_id, self.state.announcement, self.options.arrays
            )
            async_dispatcher_send(self.hass, signal_new_entities(self.entry.entry_id, Platform.BINARY_SENSOR))
        for device_id in self.state.devices:
            self.alerts.evaluate(device_id)
        self._notify_all()

    @callback
    def async_register_entity(self, platform: Platform, unique_id: str) -> bool:
        """True the first time a platform asks for a unique id: its entity is to be created (once)."""
        if (platform, unique_id) in self._created:
            return False
        self._created.add((platform, unique_id))
        return True

    @callback
    def async_entity_removed(self, platform: Platform, unique_id: str) -> None:
        """An entity went away; it may be created again."""
        self._created.discard((platform, unique_id))

    @callback
    def _notify(self, device_id: str | None, changed: frozenset[str] | None = None) -> None:
        async_dispatcher_send(self.hass, signal_device_updated(self.entry.entry_id, device_id), changed)

    @callback
    def _notify_all(self) -> None:
        self._notify(None)
        for device_id in list(self.state.devices):
            self._notify(device_id)

    @callback
    def _tick(self, now: datetime) -> None:
        """Integrate the health figures and judge the time-based alerts."""
        if not self.state.usable:
            return
        self.health.tick(now)
        for device_id in self.state.devices:
            self.alerts.evaluate(device_id, now)
        self._notify_all()

    # ------------------------------------------------------------------ announcement and status

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
        async_report_contract(self.hass, self.collector_id, announcement)
        if not announcement.supported:
            if self.state.unsupported_contract != announcement.contract:
                _LOGGER.error(
                    "Collector %s speaks MQTT contract version %s, this integration supports version %s;"
                    " its entities stay unavailable until both agree",
                    self.collector_id,
                    announcement.contract,
                    CONTRACT_VERSION,
                )
            self.state.unsupported_contract = announcement.contract
            self._notify_all()
            return
        self.state.unsupported_contract = None
        if announcement.problems:
            self._warn(msg, "left out of the announcement: " + "; ".join(announcement.problems))
        async_report_ha_discovery(self.hass, announcement)
        self._duplicates.observe(announcement)
        self._apply_announcement(announcement)

    def _adopt_array_of_every_inverter(self, announcement: Announcement) -> None:
        """The array the migration left for every inverter (the retired `array_peak_power`) becomes the
        own array of each announced inverter without one, before anything reads the arrays."""
        inverters = [device.id for device in announcement.devices if has_health(device)]
        if (options := arrays_for_announced_inverters(self.entry.options, inverters)) is not None:
            self.options.update(options)
            self.hass.config_entries.async_update_entry(self.entry, options=options)

    def _apply_announcement(self, announcement: Announcement) -> None:
        state = self.state
        previous = state.announcement
        if previous is not None:
            announcement = _keep_known_points(previous, announcement)
            if _definitions_changed(previous, announcement):
                # Entities keep their point definition; a changed one is rebuilt by a reload.
                _LOGGER.info("Collector %s changed its point definitions; reloading", self.collector_id)
                state.announcement = announcement
                self.hass.config_entries.async_schedule_reload(self.entry.entry_id)
                return
            if previous.collector.instance != announcement.collector.instance:
                for runtime in state.devices.values():
                    runtime.last_seq = 0  # a restarted collector may have lost its sequence numbers
        state.announcement = announcement
        self._adopt_array_of_every_inverter(announcement)
        async_sync_registries(self.hass, self.entry.entry_id, announcement, self.options.arrays)
        announced = {device.id: device for device in announcement.devices}
        for device_id in set(state.devices) - set(announced) - announcement.incomplete:
            del state.devices[device_id]
            self.alerts.forget_device(device_id)
        for device_id, definition in announced.items():
            if (known := state.devices.get(device_id)) is None:
                state.devices[device_id] = DeviceRuntime(definition=definition)
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
                self._apply_state(device_id, payload, device_id)
            self.alerts.evaluate(device_id)
        self._notify_all()

    @callback
    def _on_status(self, msg: mqtt.ReceiveMessage) -> None:
        try:
            online = parse_status(msg.payload)
        except InvalidPayload as err:
            self._warn(msg, str(err))
            return
        previous = self.state.online
        self.state.online = online
        if online and previous is False:
            _LOGGER.info("Collector %s is back online", self.collector_id)
        elif not online and previous is not False:
            _LOGGER.info("Collector %s is offline; its entities are unavailable", self.collector_id)
        self.alerts.availability(None, offline=not online)
        if not online:
            self.commands.fail_pending()
        self._notify_all()

    @callback
    def _on_availability(self, msg: mqtt.ReceiveMessage) -> None:
        if (device_id := self.state.topics.device_of(msg.topic)) is None:
            return
        try:
            availability = parse_availability(msg.payload)
        except InvalidPayload as err:
            self._warn(msg, str(err))
            return
        if device_id not in self.state.devices:
            # Retained messages come in any order: keep it until the device is announced.
            if len(self._early_availability) < MAX_EARLY_DEVICES:
                self._early_availability[device_id] = availability
            return
        self._set_availability(device_id, availability)

    def _set_availability(self, device_id: str, availability: Availability) -> None:
        runtime = self.state.devices[device_id]
        previous = runtime.availability
        runtime.availability = availability
        if availability == "offline" and previous != "offline":
            _LOGGER.info("Device %s of collector %s is offline", device_id, self.collector_id)
        elif previous == "offline" and availability != "offline":
            _LOGGER.info("Device %s of collector %s is %s again", device_id, self.collector_id, availability)
        self.alerts.availability(device_id, offline=availability == "offline")
        self.alerts.evaluate(device_id)
        self._notify(device_id)

    # ------------------------------------------------------------------ readings, events, statistics

    @callback
    def _on_state(self, msg: mqtt.ReceiveMessage) -> None:
        if (device_id := self.state.topics.device_of(msg.topic)) is None:
            return
        if device_id not in self.state.devices:
            # A state can overtake the announcement: keep the latest until the device is announced.
            if len(msg.payload) <= MAX_PAYLOAD_BYTES and len(self._early_states) < MAX_EARLY_DEVICES:
                self._early_states[device_id] = msg.payload
            return
        if (accepted := self._apply_state(device_id, msg.payload, msg.topic)) is None:
            return
        self.health.observe_peak(device_id)
        self.alerts.evaluate(device_id)
        self._energy.check(self.state.announcement)
        if self.state.is_irradiance_source(device_id):
            # Other devices' points are unchanged: only their derived entities (alerts, health) follow.
            for other in self.state.devices:
                if other != device_id:
                    self.alerts.evaluate(other)
                    self._notify(other, frozenset())
        self._notify(device_id, accepted)
        # The collector's live figures (the house's power) follow every reading; written when changed.
        self._notify(None, frozenset())

    def _apply_state(
        self, device_id: str, payload: str | bytes | bytearray, source: str
    ) -> frozenset[str] | None:
        """Take a state message's values; the keys accepted, None when the message is ignored."""
        runtime = self.state.devices[device_id]
        try:
            state = parse_state(payload)
        except InvalidPayload as err:
            _LOGGER.warning("Ignoring message on %s from collector %s: %s", source, self.collector_id, err)
            return None
        if state.buffered:
            # Late readings from the collector's outage queue also back-fill long-term statistics.
            self.backfill.add(runtime.definition, state)
        else:
            self.backfill.live_state()
        before = {key: value for key, value in runtime.values.items() if isinstance(value, bool)}
        accepted = runtime.take(state, f"{source} from collector {self.collector_id}")
        for key in accepted or ():
            value = runtime.values.get(key)
            if value is True and before.get(key) is not True:
                # Switched on right after a command on another point: say which (a power limit enables
                # its switch on the device's side).
                command = self.commands.recent_command(device_id)
                if command is not None and command != key:
                    runtime.switched_on_by[key] = command
            elif value is False:
                runtime.switched_on_by.pop(key, None)
        return accepted

    @callback
    def _on_event(self, msg: mqtt.ReceiveMessage) -> None:
        if (device_id := self.state.topics.device_of(msg.topic)) is None:
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
        runtime = self.state.devices.get(device_id)
        if event.ok and runtime is not None and event.value is not None:
            point = runtime.definition.point(event.point)
            if point is not None and point.accepts(event.value):
                runtime.values[event.point] = event.value
                self._notify(device_id, frozenset((event.point,)))
        self.commands.resolve(event)

    @callback
    def _on_stats(self, msg: mqtt.ReceiveMessage) -> None:
        try:
            self.state.stats = parse_stats(msg.payload)
        except InvalidPayload as err:
            self._warn(msg, str(err))
            return
        self._notify(None)


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
