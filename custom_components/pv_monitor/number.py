"""Numbers: writable number points (power limits, charge/discharge power)."""

from __future__ import annotations

import asyncio
from typing import Any, override

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.components.number.const import DEVICE_CLASS_UNITS
from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_call_later

from .commands import command_error_handler
from .const import DOMAIN
from .entity import (
    PvMonitorPointEntity,
    accepted_device_class,
    async_setup_point_platform,
    point_description_fields,
)
from .messages import DeviceDef, PointDef
from .models import PvMonitorConfigEntry

# Calls run side by side: a burst of settings is debounced into one write (the collector serialises
# writes on its bus).
PARALLEL_UPDATES = 0

SLIDER_MAX_STEPS = 100  # ranges with more steps get a box
# Seconds without a new value before a burst of settings (the ± buttons) is written.
NUMBER_DEBOUNCE = 1.0
# How far a value may be off its step grid (in steps) and still be on it (float rounding).
STEP_TOLERANCE = 1e-6


def number_description(point: PointDef, device: DeviceDef) -> NumberEntityDescription:
    """Range, step, unit and mode from the announced point."""
    writable = point.writable
    assert writable is not None
    assert writable.min is not None
    assert writable.max is not None
    step = writable.step or (10**-point.precision if point.precision else 1.0)
    span = writable.max - writable.min
    return NumberEntityDescription(
        **point_description_fields(point, device, Platform.NUMBER),
        # the collector resolved the class; Home Assistant's own table guards it
        device_class=accepted_device_class(NumberDeviceClass, DEVICE_CLASS_UNITS, point.entity),
        native_min_value=writable.min,
        native_max_value=writable.max,
        native_step=step,
        native_unit_of_measurement=point.entity.unit,
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
    """A writable number: shows the value the collector confirmed.

    Values the point cannot take (outside its range, off its step grid) are refused before anything is
    sent. A Modbus write and its read-back take a bus cycle, so settings come in bursts from the ± buttons
    are debounced: only the last value of a burst (no new one for `NUMBER_DEBOUNCE` s) is written, and
    every call of the burst gets that write's outcome.
    """

    _platform_domain = Platform.NUMBER
    _pending: tuple[float | int, asyncio.Future[None]] | None = None
    _cancel_debounce: CALLBACK_TYPE | None = None

    @property
    @override
    def native_value(self) -> float | None:
        """The confirmed value."""
        value = self.point_value
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    @command_error_handler
    @override
    async def async_set_native_value(self, value: float) -> None:
        """Check the value, then send the burst's last value; the state changes when the collector
        confirms (raises `ServiceValidationError` for a value the point cannot take)."""
        self._check(value)
        send = int(value) if value.is_integer() else value
        if NUMBER_DEBOUNCE <= 0:
            await self.async_send(send)
            return
        if self._pending is not None:
            future = self._pending[1]
            self._pending = (send, future)
        else:
            future = self.hass.loop.create_future()
            self._pending = (send, future)
        if self._cancel_debounce is not None:
            self._cancel_debounce()
        self._cancel_debounce = async_call_later(self.hass, NUMBER_DEBOUNCE, self._debounced)
        await asyncio.shield(future)

    @callback
    def _debounced(self, _now: Any) -> None:
        self._cancel_debounce = None
        if self._pending is None:
            return
        value, future = self._pending
        self._pending = None
        self.hass.async_create_task(self._async_write(value, future), eager_start=True)

    async def _async_write(self, value: float | int, future: asyncio.Future[None]) -> None:
        try:
            await self.async_send(value)
        except Exception as err:
            if not future.done():
                future.set_exception(err)
        else:
            if not future.done():
                future.set_result(None)

    @override
    async def async_will_remove_from_hass(self) -> None:
        """Drop a burst not written yet."""
        if self._cancel_debounce is not None:
            self._cancel_debounce()
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].cancel()
        self._pending = None
        await super().async_will_remove_from_hass()

    def _check(self, value: float) -> None:
        """Raise `ServiceValidationError` (`invalid_number`) for a value outside the range or off the
        step grid from the minimum."""
        low, high, step = self.native_min_value, self.native_max_value, self.native_step or 1.0
        steps = (value - low) / step
        if (
            not (low - STEP_TOLERANCE <= value <= high + STEP_TOLERANCE)
            or abs(steps - round(steps)) > STEP_TOLERANCE
        ):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_number",
                translation_placeholders={
                    "name": self.name_for_messages,
                    "value": f"{value:g}",
                    "min": f"{low:g}",
                    "max": f"{high:g}",
                    "step": f"{step:g}",
                    "unit": self.native_unit_of_measurement or "",
                },
            )
