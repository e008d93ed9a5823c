"""Selects: writable enum points (operating modes)."""

from __future__ import annotations

from typing import override

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .catalogue import point_platform, point_unique_id
from .const import SELECT_KEYS, signal_new_entities
from .entity import PvMonitorPointEntity, point_description_fields
from .hub import PvMonitorConfigEntry

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PvMonitorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add selects whenever the announcement brings new ones."""
    hub = entry.runtime_data

    @callback
    def _async_add_new() -> None:
        if hub.announcement is None:
            return
        entities = [
            PvMonitorSelect(
                hub,
                device,
                point,
                SelectEntityDescription(
                    **point_description_fields(point, SELECT_KEYS), options=list(point.options)
                ),
            )
            for device in hub.announcement.devices
            for point in device.points
            if point_platform(point) is Platform.SELECT
            and hub.claim(Platform.SELECT, point_unique_id(hub.collector_id, device.id, point.key))
        ]
        if entities:
            async_add_entities(entities)

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_entities(entry.entry_id, Platform.SELECT), _async_add_new)
    )


class PvMonitorSelect(PvMonitorPointEntity, SelectEntity):
    """A writable enum: shows the option the collector confirmed."""

    _platform_domain = Platform.SELECT

    @property
    @override
    def current_option(self) -> str | None:
        """The confirmed option."""
        value = self.point_value
        return value if isinstance(value, str) else None

    @override
    async def async_select_option(self, option: str) -> None:
        """Send the command; the state changes when the collector confirms."""
        await self.hub.async_send_command(self.point_device, self.point.key, option)
