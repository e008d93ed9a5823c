"""The entry's options: their forms (the options flow's schemas) and their typed values (alert
thresholds, the arrays per inverter, the command QoS), and the move of the retired threshold
`array_peak_power` into the arrays.

One reader of `ConfigEntry.options` for the whole integration; defaults come from `const.DEFAULT_OPTIONS`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import probatio as vol
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from .clearsky import DEFAULT_LOSSES, Array
from .const import (
    ARRAY_OF_EVERY_INVERTER,
    CONF_ARRAY_PEAK_POWER,
    CONF_ARRAYS,
    CONF_AZIMUTH,
    CONF_BATTERY_LOW_SOC,
    CONF_COMMAND_QOS,
    CONF_FAULT_HOLD_OFF,
    CONF_GRID_FREQUENCY_MAX,
    CONF_GRID_FREQUENCY_MIN,
    CONF_GRID_VOLTAGE_MAX,
    CONF_GRID_VOLTAGE_MIN,
    CONF_LOSSES,
    CONF_OFFLINE_GRACE,
    CONF_PEAK_POWER,
    CONF_PRODUCTION_ALERT_DELAY,
    CONF_PRODUCTION_BELOW_EXPECTED,
    CONF_PRODUCTION_MIN_ELEVATION,
    CONF_STRING_IMBALANCE,
    CONF_STRING_MIN_POWER,
    CONF_TILT,
    DEFAULT_OPTIONS,
)


def _number(minimum: float, maximum: float, step: float, unit: str) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum, max=maximum, step=step, unit_of_measurement=unit, mode=NumberSelectorMode.BOX
        )
    )


OPTIONS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_GRID_VOLTAGE_MIN): _number(0, 1000, 0.1, "V"),
        vol.Required(CONF_GRID_VOLTAGE_MAX): _number(0, 1000, 0.1, "V"),
        vol.Required(CONF_GRID_FREQUENCY_MIN): _number(0, 100, 0.01, "Hz"),
        vol.Required(CONF_GRID_FREQUENCY_MAX): _number(0, 100, 0.01, "Hz"),
        vol.Required(CONF_BATTERY_LOW_SOC): _number(0, 100, 1, "%"),
        vol.Required(CONF_PRODUCTION_BELOW_EXPECTED): _number(0, 100, 1, "%"),
        vol.Required(CONF_PRODUCTION_ALERT_DELAY): _number(0, 86400, 1, "s"),
        vol.Required(CONF_PRODUCTION_MIN_ELEVATION): _number(0, 90, 1, "°"),
        vol.Required(CONF_STRING_IMBALANCE): _number(1, 100, 1, "%"),
        vol.Required(CONF_STRING_MIN_POWER): _number(0, 100_000, 1, "W"),
        vol.Required(CONF_FAULT_HOLD_OFF): _number(0, 86400, 1, "s"),
        vol.Required(CONF_OFFLINE_GRACE): _number(0, 86400, 1, "s"),
        vol.Required(CONF_COMMAND_QOS): SelectSelector(
            SelectSelectorConfig(
                options=["0", "1", "2"], mode=SelectSelectorMode.LIST, translation_key=CONF_COMMAND_QOS
            )
        ),
    }
)

ARRAY_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_PEAK_POWER): _number(0, 100_000, 0.01, "kWp"),
        vol.Required(CONF_TILT): _number(0, 90, 1, "°"),
        vol.Required(CONF_AZIMUTH): _number(0, 359, 1, "°"),
        vol.Required(CONF_LOSSES): _number(0, 99, 0.5, "%"),
    }
)
ARRAY_DEFAULTS: dict[str, float] = {
    CONF_PEAK_POWER: 0.0,
    CONF_TILT: 30.0,
    CONF_AZIMUTH: 180.0,
    CONF_LOSSES: DEFAULT_LOSSES,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """Alert thresholds from the entry's options; field names are the option keys (const.CONF_*)."""

    grid_voltage_min: float  # V
    grid_voltage_max: float  # V
    grid_frequency_min: float  # Hz
    grid_frequency_max: float  # Hz
    battery_low_soc: float  # %
    production_below_expected: float  # percent of the expected production
    offline_grace: float  # seconds
    production_alert_delay: float  # seconds production must stay below expected
    production_min_elevation: float  # degrees of sun elevation below which nothing is judged
    string_imbalance: float  # percent below the siblings' mean
    string_min_power: float  # W: the siblings' mean must reach this
    fault_hold_off: float  # seconds a cleared fault must stay clear before its alert goes off

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Thresholds:
        """Thresholds from options (each field is read from the option of its name), defaults for
        anything not set."""
        merged = {**DEFAULT_OPTIONS, **options}
        return cls(**{item.name: float(merged[item.name]) for item in fields(cls)})


def arrays_from_options(options: Mapping[str, Any]) -> dict[str, Array]:
    """The arrays per inverter (`arrays`: {device id: {peak_power kWp, tilt °, azimuth °, losses %}}).

    An array with peak power 0 is no array; the array of every inverter (`ARRAY_OF_EVERY_INVERTER`,
    see `arrays_for_announced_inverters`) is no inverter's array yet.
    """
    arrays: dict[str, Array] = {}
    for device_id, item in (options.get(CONF_ARRAYS) or {}).items():
        if device_id != ARRAY_OF_EVERY_INVERTER and float(item.get(CONF_PEAK_POWER, 0)) > 0:
            arrays[device_id] = Array(
                peak_power=float(item[CONF_PEAK_POWER]),
                tilt=float(item[CONF_TILT]),
                azimuth=float(item[CONF_AZIMUTH]),
                losses=float(item[CONF_LOSSES]),
            )
    return arrays


def array_peak_power_as_array(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options of version 1.2 in those of 1.3: the retired threshold `array_peak_power` (kWp; the size
    of the array of every inverter without one of its own) asked the array's size in a second place.

    Its value (> 0) becomes the array of every inverter (`ARRAY_OF_EVERY_INVERTER`: that peak power, the
    default tilt, azimuth and losses), the key goes. The migration runs before the collector announces
    its inverters: `arrays_for_announced_inverters` makes it theirs then.
    """
    migrated = dict(options)
    peak_power = float(migrated.pop(CONF_ARRAY_PEAK_POWER, 0) or 0)
    if peak_power > 0:
        migrated[CONF_ARRAYS] = {
            **(migrated.get(CONF_ARRAYS) or {}),
            ARRAY_OF_EVERY_INVERTER: {**ARRAY_DEFAULTS, CONF_PEAK_POWER: peak_power},
        }
    return migrated


def arrays_for_announced_inverters(
    options: Mapping[str, Any], inverters: Collection[str]
) -> dict[str, Any] | None:
    """The options once the array of every inverter (left by the migration) is each announced
    inverter's: a copy for each of `inverters` without an array of its own, and the key gone; so from
    then on every array belongs to one inverter and is changed in the array step. None when there is
    nothing to do (no such array, or no inverter announced yet: it waits)."""
    arrays: dict[str, Any] = dict(options.get(CONF_ARRAYS) or {})
    if ARRAY_OF_EVERY_INVERTER not in arrays or not inverters:
        return None
    every = arrays.pop(ARRAY_OF_EVERY_INVERTER)
    for device_id in inverters:
        if float((arrays.get(device_id) or {}).get(CONF_PEAK_POWER, 0)) <= 0:  # peak power 0: no array
            arrays[device_id] = dict(every)
    return {**options, CONF_ARRAYS: arrays}


@dataclass(slots=True)
class EntryOptions:
    """The options in force; shared by the coordinator, the alert engine, the health tracker and the
    command sender, and replaced in place when the user changes them (no reload)."""

    thresholds: Thresholds
    arrays: dict[str, Array] = field(default_factory=dict)
    command_qos: int = int(DEFAULT_OPTIONS[CONF_COMMAND_QOS])

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> EntryOptions:
        """Read every option (defaults for anything not set)."""
        return cls(
            thresholds=Thresholds.from_options(options),
            arrays=arrays_from_options(options),
            command_qos=int(options.get(CONF_COMMAND_QOS, DEFAULT_OPTIONS[CONF_COMMAND_QOS])),
        )

    def update(self, options: Mapping[str, Any]) -> bool:
        """Take new options; True when the set of inverters with an array changed (entities follow)."""
        new = EntryOptions.from_options(options)
        arrays_changed = new.arrays.keys() != self.arrays.keys()
        self.thresholds = new.thresholds
        self.arrays = new.arrays
        self.command_qos = new.command_qos
        return arrays_changed
