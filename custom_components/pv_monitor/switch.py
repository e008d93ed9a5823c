"""Switches: writable bool points."""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
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
    """Add switches whenever the announcement brings new ones."""
    async_setup_point_platform(
        hass,
        entry,
        async_add_entities,
        Platform.SWITCH,
        lambda data, device, point: PvMonitorSwitch(
            data,
            device,
            point,
            SwitchEntityDescription(**point_description_fields(point, device, Platform.SWITCH)),
        ),
    )


class PvMonitorSwitch(PvMonitorPointEntity, SwitchEntity):
    """A writable bool: shows the state the collector confirmed."""

    _platform_domain = Platform.SWITCH

    @property
    @override
    def extra_state_attributes(self) -> dict[str, str] | None:
        """Which command switched it on, when one did (setting a power limit enables it)."""
        return self.switched_on_by

    @property
    @override
    def is_on(self) -> bool | None:
        """The confirmed state."""
        value = self.point_value
        return value if isinstance(value, bool) else None

    @command_error_handler
    @override
    async def async_turn_on(self, /, **kwargs: Any) -> None:
        """Send `true`."""
        await self.async_send(True)

    @command_error_handler
    @override
    async def async_turn_off(self, /, **kwargs: Any) -> None:
        """Send `false`."""
        await self.async_send(False)
