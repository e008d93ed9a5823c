"""Selects: writable enum points (operating modes)."""

from __future__ import annotations

from typing import override

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .commands import command_error_handler
from .entity import PvMonitorPointEntity, async_setup_point_platform, point_description_fields
from .models import PvMonitorConfigEntry

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PvMonitorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add selects whenever the announcement brings new ones."""
    async_setup_point_platform(
        hass,
        entry,
        async_add_entities,
        Platform.SELECT,
        lambda data, device, point: PvMonitorSelect(
            data,
            device,
            point,
            SelectEntityDescription(
                **point_description_fields(point, device, Platform.SELECT), options=list(point.options)
            ),
        ),
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

    @command_error_handler
    @override
    async def async_select_option(self, option: str) -> None:
        """Send the command; the state changes when the collector confirms."""
        await self.async_send(option)
