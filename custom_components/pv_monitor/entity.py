"""Base entities: device link, the per-device update signal and availability rules."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from enum import StrEnum
from typing import TypedDict, override

from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .catalogue import collector_identifier, device_identifier, point_platform, point_unique_id
from .const import DOMAIN, signal_device_updated, signal_new_entities
from .messages import DeviceDef, EntityDef, PointDef, Value
from .models import PvMonitorConfigEntry, PvMonitorData
from .vocabulary import point_name


class PvMonitorEntity(Entity):
    """An entity of one device (device None: of the collector), updated by the coordinator's signal."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _platform_domain: Platform
    _shown: tuple[object, ...] | None = None  # availability, state and attributes last written

    def __init__(self, data: PvMonitorData, device_id: str | None, unique_id: str) -> None:
        """Link the entity to its device; the coordinator created the device from the announcement."""
        self.data = data
        self.contract_device_id = device_id
        self._attr_unique_id = unique_id
        cid = data.state.collector_id
        identifier = collector_identifier(cid) if device_id is None else device_identifier(cid, device_id)
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, identifier)})

    @override
    async def async_added_to_hass(self) -> None:
        """Follow the device's updates."""
        await super().async_added_to_hass()
        signal = signal_device_updated(self.data.coordinator.entry.entry_id, self.contract_device_id)
        self.async_on_remove(async_dispatcher_connect(self.hass, signal, self._handle_device_update))

    @override
    async def async_will_remove_from_hass(self) -> None:
        """Let the platform create this entity again if it is announced again."""
        await super().async_will_remove_from_hass()
        assert self.unique_id is not None
        self.data.coordinator.async_entity_removed(self._platform_domain, self.unique_id)

    @callback
    def _handle_device_update(self, changed: frozenset[str] | None) -> None:
        """Something of the device changed (`changed`: the point keys, see `signal_device_updated`): write
        the state when what it shows changed (a device's connection and alerts stay the same through most
        of its state messages)."""
        shown = (self.available, self.state, self.extra_state_attributes)
        if shown == self._shown:
            return
        self._shown = shown
        self.async_write_ha_state()

    @property
    @override
    def available(self) -> bool:
        """Entities of a device follow the collector status and the device's availability."""
        if self.contract_device_id is None:
            return self.data.state.usable and self.data.state.online is True
        return self.data.state.device_available(self.contract_device_id)


class PvMonitorPointEntity(PvMonitorEntity):
    """An entity showing (or writing) one announced point."""

    contract_device_id: str

    def __init__(
        self, data: PvMonitorData, device: DeviceDef, point: PointDef, description: EntityDescription
    ) -> None:
        """Set up from the point's description (built by the platform with `point_description_fields`)."""
        super().__init__(data, device.id, point_unique_id(data.state.collector_id, device.id, point.key))
        self.point = point
        self.entity_description = description
        if (placeholders := point_name(point, device, self._platform_domain).placeholders) is not None:
            self._attr_translation_placeholders = dict(placeholders)
        self._written_available: bool | None = None

    @callback
    @override
    def _handle_device_update(self, changed: frozenset[str] | None) -> None:
        """Write the state when the point is among the changed keys or the availability changed."""
        available = self.available
        if changed is not None and self.point.key not in changed and available == self._written_available:
            return
        self._written_available = available
        self.async_write_ha_state()

    @property
    def switched_on_by(self) -> dict[str, str] | None:
        """Bool points: `{"switched_on_by": <point>}` while a command on that point switched it on."""
        runtime = self.data.state.devices.get(self.contract_device_id)
        by = runtime.switched_on_by.get(self.point.key) if runtime else None
        return None if by is None else {"switched_on_by": by}

    @property
    def name_for_messages(self) -> str:
        """The name users see (the state's friendly name), for error messages."""
        state = self.hass.states.get(self.entity_id) if self.hass is not None and self.entity_id else None
        return str(state.attributes.get("friendly_name", self.entity_id)) if state else str(self.entity_id)

    @property
    def point_value(self) -> Value | None:
        """The latest confirmed value of the point."""
        runtime = self.data.state.devices.get(self.contract_device_id)
        return runtime.values.get(self.point.key) if runtime else None

    async def async_send(self, value: Value) -> None:
        """Command the point to `value` and wait for the collector's confirmation (raises
        `commands.CommandError`; actuators map it with `command_error_handler`)."""
        await self.data.commands.async_send(self.contract_device_id, self.point.key, value)

    @property
    @override
    def available(self) -> bool:
        """A sleeping device keeps counters and values inferred while asleep; others wait."""
        if not super().available:
            return False
        runtime = self.data.state.devices[self.contract_device_id]
        if runtime.availability == "asleep":
            return self.point.is_counter or self.point.key in runtime.inferred
        return True


class PointDescriptionFields(TypedDict, total=False):
    """The entity description fields every point entity shares."""

    key: str
    name: str
    translation_key: str
    entity_category: EntityCategory
    entity_registry_enabled_default: bool


def accepted_device_class[C: StrEnum](
    device_classes: type[C], units: Mapping[C, Collection[object]], entity: EntityDef
) -> C | None:
    """The entity's device class if this Home Assistant knows it (`device_classes`) and accepts the
    entity's unit with it (`units`, the platform's table; a class it does not list takes any unit). Asks
    Home Assistant's own tables at run time: a guard, the collector resolved the class."""
    if entity.device_class is None:
        return None
    try:
        device_class = device_classes(entity.device_class)
    except ValueError:
        return None
    accepted = units.get(device_class)
    return device_class if accepted is None or entity.unit in accepted else None


def point_description_fields(
    point: PointDef, device: DeviceDef, platform: Platform
) -> PointDescriptionFields:
    """Key, category and naming (`vocabulary.point_name`): a translation key, else the announced name."""
    fields = PointDescriptionFields(key=point.key)
    if point.category is not None:
        fields["entity_category"] = EntityCategory(point.category)
    if point.advanced:
        fields["entity_registry_enabled_default"] = False
    named = point_name(point, device, platform)
    if named.translation_key is not None:
        fields["translation_key"] = named.translation_key
    else:
        fields["name"] = named.name or point.name
    return fields


def async_setup_point_platform(
    hass: HomeAssistant,
    entry: PvMonitorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    platform: Platform,
    make: Callable[[PvMonitorData, DeviceDef, PointDef], Entity],
) -> None:
    """Add an entity (built by `make`) for every announced point of `platform`, now and whenever an
    announcement brings new ones; each is created once, so re-announcements add no duplicates."""
    data = entry.runtime_data

    @callback
    def _async_add_new() -> None:
        if (announcement := data.state.announcement) is None:
            return
        cid = data.state.collector_id
        entities = [
            make(data, device, point)
            for device in announcement.devices
            for point in device.points
            if point_platform(point) is platform
            and data.coordinator.async_register_entity(platform, point_unique_id(cid, device.id, point.key))
        ]
        if entities:
            async_add_entities(entities)

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_entities(entry.entry_id, platform), _async_add_new)
    )
