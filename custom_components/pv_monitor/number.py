"""Numbers: writable number points (power limits, charge/discharge power)."""

from __future__ import annotations

from typing import override

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.components.number.const import DEVICE_CLASS_UNITS
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .commands import command_error_handler
from .contract import DeviceDef, PointDef
from .entity import PvMonitorPointEntity, async_setup_point_platform, point_description_fields
from .models import PvMonitorConfigEntry

PARALLEL_UPDATES = 1

SLIDER_MAX_STEPS = 100  # ranges with more steps get a box


def number_description(point: PointDef, device: DeviceDef) -> NumberEntityDescription:
    """Range, step, unit and mode from the announced point."""
    writable = point.writable
    assert writable is not None
    assert writable.min is not None
    assert writable.max is not None
    step = writable.step or (10**-point.precision if point.precision else 1.0)
    span = writable.max - writable.min
    device_class: NumberDeviceClass | None = None
    if point.device_class is not None:
        try:
            device_class = NumberDeviceClass(point.device_class)
        except ValueError:
            device_class = None
        if device_class is not None and point.unit not in DEVICE_CLASS_UNITS.get(device_class, {point.unit}):
            device_class = None
    return NumberEntityDescription(
        **point_description_fields(point, device, Platform.NUMBER),
        device_class=device_class,
        native_min_value=writable.min,
        native_max_value=writable.max,
        native_step=step,
        native_unit_of_measurement=point.unit,
        mode=NumberMode.SLIDER if span / step <= SLIDER_MAX_STEPS else NumberMode.BOX,
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PvMonitorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add numbers whenever the announcement brings new ones."""
    async_setup_point_platform(
        hass,
        entry,
        async_add_entities,
        Platform.NUMBER,
        lambda data, device, point: PvMonitorNumber(data, device, point, number_description(point, device)),
    )


class PvMonitorNumber(PvMonitorPointEntity, NumberEntity):
    """A writable number: shows the value the collector confirmed."""

    _platform_domain = Platform.NUMBER

    @property
    @override
    def native_value(self) -> float | None:
        """The confirmed value."""
        value = self.point_value
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    @command_error_handler
    @override
    async def async_set_native_value(self, value: float) -> None:
        """Send the command; the state changes when the collector confirms."""
        await self.async_send(int(value) if value.is_integer() else value)
