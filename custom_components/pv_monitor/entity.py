"""Base entities: device link, listener registration and availability rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict, override

from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .catalogue import collector_identifier, device_identifier, point_platform, point_unique_id
from .const import DOMAIN, PV_STRING_KEYS, TRANSLATED_STATES, signal_new_entities
from .contract import DeviceDef, PointDef, Value
from .hub import PvMonitorConfigEntry, PvMonitorHub


class PvMonitorEntity(Entity):
    """An entity of one device (device_id None: of the collector), updated by the hub."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _platform_domain: Platform

    def __init__(self, hub: PvMonitorHub, device_id: str | None, unique_id: str) -> None:
        """Link the entity to its device; the hub created the device from the announcement."""
        self.hub = hub
        self.device_key = device_id
        self._attr_unique_id = unique_id
        identifier = (
            collector_identifier(hub.collector_id)
            if device_id is None
            else device_identifier(hub.collector_id, device_id)
        )
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, identifier)})

    @override
    async def async_added_to_hass(self) -> None:
        """Follow the hub."""
        await super().async_added_to_hass()
        self.async_on_remove(self.hub.async_add_listener(self.device_key, self._handle_hub_update))

    @override
    async def async_will_remove_from_hass(self) -> None:
        """Let the platform create this entity again if it is announced again."""
        await super().async_will_remove_from_hass()
        assert self.unique_id is not None
        self.hub.release(self._platform_domain, self.unique_id)

    @callback
    def _handle_hub_update(self) -> None:
        self.async_write_ha_state()

    @property
    @override
    def available(self) -> bool:
        """Entities of a device follow the collector status and the device's availability."""
        if self.device_key is None:
            return self.hub.usable and self.hub.collector_online is True
        return self.hub.device_available(self.device_key)


class PvMonitorPointEntity(PvMonitorEntity):
    """An entity showing (or writing) one announced point."""

    def __init__(
        self, hub: PvMonitorHub, device: DeviceDef, point: PointDef, description: EntityDescription
    ) -> None:
        """Set up from the point's description (built by the platform with `point_description_fields`)."""
        super().__init__(hub, device.id, point_unique_id(hub.collector_id, device.id, point.key))
        self.point = point
        self.entity_description = description
        if point.key in PV_STRING_KEYS:
            self._attr_translation_placeholders = {"string": PV_STRING_KEYS[point.key][1]}
        self._written_available: bool | None = None

    @callback
    @override
    def _handle_hub_update(self) -> None:
        """Write the state when the point is among the changed keys or the availability changed."""
        keys = self.hub.notified_keys
        available = self.available
        if keys is not None and self.point.key not in keys and available == self._written_available:
            return
        self._written_available = available
        self.async_write_ha_state()

    @property
    def point_value(self) -> Value | None:
        """The latest confirmed value of the point."""
        runtime = self.hub.devices.get(self.point_device)
        return runtime.values.get(self.point.key) if runtime else None

    @property
    def point_device(self) -> str:
        """The contract id of the point's device."""
        assert self.device_key is not None
        return self.device_key

    @property
    @override
    def available(self) -> bool:
        """A sleeping device keeps counters and values inferred while asleep; others wait."""
        if not super().available:
            return False
        runtime = self.hub.devices[self.point_device]
        if runtime.availability == "asleep":
            return self.point.is_counter or self.point.key in runtime.inferred
        return True


class PointDescriptionFields(TypedDict, total=False):
    """The entity description fields every point entity shares."""

    key: str
    name: str
    translation_key: str
    entity_category: EntityCategory


def point_description_fields(point: PointDef, translated: frozenset[str]) -> PointDescriptionFields:
    """Key, category and naming: the translation of a known vocabulary key, else the announced name."""
    fields = PointDescriptionFields(key=point.key)
    if point.category is not None:
        fields["entity_category"] = EntityCategory(point.category)
    states = TRANSLATED_STATES.get(point.key)
    states_ok = point.kind != "enum" or (states is not None and set(point.options) <= states)
    if point.key in translated and states_ok:
        fields["translation_key"] = point.key
    elif point.key in PV_STRING_KEYS and point.kind == "number":
        fields["translation_key"] = PV_STRING_KEYS[point.key][0]
    else:
        fields["name"] = point.name
    return fields


def async_setup_point_platform(
    hass: HomeAssistant,
    entry: PvMonitorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    platform: Platform,
    make: Callable[[PvMonitorHub, DeviceDef, PointDef], Entity],
) -> None:
    """Add an entity (built by `make`) for every announced point of `platform`, now and whenever an
    announcement brings new ones; each point is claimed once, so re-announcements add no duplicates."""
    hub = entry.runtime_data

    @callback
    def _async_add_new() -> None:
        if hub.announcement is None:
            return
        entities = [
            make(hub, device, point)
            for device in hub.announcement.devices
            for point in device.points
            if point_platform(point) is platform
            and hub.claim(platform, point_unique_id(hub.collector_id, device.id, point.key))
        ]
        if entities:
            async_add_entities(entities)

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_entities(entry.entry_id, platform), _async_add_new)
    )
