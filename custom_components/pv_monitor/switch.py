"""Switches: writable bool points."""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .catalogue import point_platform, point_unique_id
from .const import SWITCH_KEYS, signal_new_entities
from .entity import PvMonitorPointEntity, point_description_fields
from .hub import PvMonitorConfigEntry

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PvMonitorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add switches whenever the announcement brings new ones."""
    hub = entry.runtime_data

    @callback
    def _async_add_new() -> None:
        if hub.announcement is None:
            return
        entities = [
            PvMonitorSwitch(
                hub, device, point, SwitchEntityDescription(**point_description_fields(point, SWITCH_KEYS))
            )
            for device in hub.announcement.devices
            for point in device.points
            if point_platform(point) is Platform.SWITCH
            and hub.claim(Platform.SWITCH, point_unique_id(hub.collector_id, device.id, point.key))
        ]
        if entities:
            async_add_entities(entities)

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_entities(entry.entry_id, Platform.SWITCH), _async_add_new)
    )


class PvMonitorSwitch(PvMonitorPointEntity, SwitchEntity):
    """A writable bool: shows the state the collector confirmed."""

    _platform_domain = Platform.SWITCH

    @property
    @override
    def is_on(self) -> bool | None:
        """The confirmed state."""
        value = self.point_value
        return value if isinstance(value, bool) else None

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Send `true`."""
        await self.hub.async_send_command(self.point_device, self.point.key, True)

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Send `false`."""
        await self.hub.async_send_command(self.point_device, self.point.key, False)
