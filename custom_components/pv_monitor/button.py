"""Buttons: action points."""

from __future__ import annotations

from typing import override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .catalogue import point_platform, point_unique_id
from .const import BUTTON_KEYS, signal_new_entities
from .entity import PvMonitorPointEntity, point_description_fields
from .hub import PvMonitorConfigEntry

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PvMonitorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add buttons whenever the announcement brings new ones."""
    hub = entry.runtime_data

    @callback
    def _async_add_new() -> None:
        if hub.announcement is None:
            return
        entities = [
            PvMonitorButton(
                hub, device, point, ButtonEntityDescription(**point_description_fields(point, BUTTON_KEYS))
            )
            for device in hub.announcement.devices
            for point in device.points
            if point_platform(point) is Platform.BUTTON
            and hub.claim(Platform.BUTTON, point_unique_id(hub.collector_id, device.id, point.key))
        ]
        if entities:
            async_add_entities(entities)

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_entities(entry.entry_id, Platform.BUTTON), _async_add_new)
    )


class PvMonitorButton(PvMonitorPointEntity, ButtonEntity):
    """An action point: pressing sends a command and waits for the collector's result."""

    _platform_domain = Platform.BUTTON

    @override
    async def async_press(self) -> None:
        """Send the action."""
        await self.hub.async_send_command(self.point_device, self.point.key, True)
