"""Buttons: action points."""

from __future__ import annotations

from typing import override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
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
    """Add buttons whenever the announcement brings new ones."""
    async_setup_point_platform(
        hass,
        entry,
        async_add_entities,
        Platform.BUTTON,
        lambda data, device, point: PvMonitorButton(
            data,
            device,
            point,
            ButtonEntityDescription(**point_description_fields(point, device, Platform.BUTTON)),
        ),
    )


class PvMonitorButton(PvMonitorPointEntity, ButtonEntity):
    """An action point: pressing sends a command and waits for the collector's result."""

    _platform_domain = Platform.BUTTON

    @command_error_handler
    @override
    async def async_press(self) -> None:
        """Send the action."""
        await self.async_send(True)
