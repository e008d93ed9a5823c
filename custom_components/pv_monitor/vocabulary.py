"""The point vocabulary: which announced points get a translated name (and states), per platform.

A point's key from the common vocabulary (docs/profiles.md) names it in the user's language
(strings.json `entity.<platform>.<translation key>`); a point outside it keeps its announced name.
Three rules keep names short next to the device's own name (entities have `has_entity_name`):

- string points `pv<n>_<quantity>` share the key `pv_<quantity>` with the placeholder `string`;
- a key that names the device's own kind is shortened on such a device (`battery_power` on a
  battery is "Power", on a hybrid inverter "Battery power");
- an announced name that starts with the device's name loses that prefix.

An enum point is translated only when every option it announces has a translated state.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final

from homeassistant.const import Platform

from .messages import DeviceDef, PointDef

VOCABULARY: Final[Mapping[Platform, frozenset[str]]] = {
    Platform.SENSOR: frozenset(
        {
            "ac_power", "energy_total", "energy_total_meter", "energy_today", "ac_current", "ac_power_l1",
            "ac_power_l2", "ac_power_l3", "ac_current_l1", "ac_current_l2", "ac_current_l3",
            "ac_voltage_l1", "ac_voltage_l2", "ac_voltage_l3", "ac_voltage_l1_l2", "ac_voltage_l2_l3",
            "ac_voltage_l3_l1", "ac_frequency", "ac_apparent_power", "ac_reactive_power", "power_factor",
            "dc_current", "dc_voltage", "dc_power", "temperature_cabinet", "temperature_heatsink",
            "temperature_transformer", "temperature_other", "status", "status_vendor", "running_state",
            "events", "mppt_events", "der_type", "device_type", "serial", "manufacturer", "model",
            "firmware", "rated_power", "rated_apparent_power", "rated_current", "rated_energy",
            "rated_charge_power", "rated_discharge_power", "setting_max_power", "setting_voltage_reference",
            "setting_voltage_max", "setting_voltage_min", "setting_max_apparent_power", "setting_ramp_rate",
            "pv_connection", "storage_connection", "grid_connection", "available_power", "active_controls",
            "isolation_resistance", "power_limit", "power_limit_window", "power_limit_revert_time",
            "power_limit_ramp_time", "storage_max_charge_power", "storage_control_mode",
            "storage_min_reserve", "storage_state", "storage_discharge_rate", "storage_charge_rate",
            "load_power", "grid_power", "ems_mode", "forced_power", "max_soc", "min_soc",
            "export_power_limit", "pv_voltage", "pv_current", "pv_power", "pv_energy", "pv_temperature",
            "pv_status", "pv_events", "power", "power_l1", "power_l2", "power_l3", "voltage", "voltage_l1",
            "voltage_l2", "voltage_l3", "voltage_l1_l2", "voltage_l2_l3", "voltage_l3_l1", "current",
            "current_l1", "current_l2", "current_l3", "frequency", "energy_import", "energy_export",
            "apparent_power", "reactive_power", "meter_events", "soc", "soh", "battery_power",
            "battery_voltage", "battery_current", "battery_temperature", "temperature", "energy_charged",
            "energy_discharged", "capacity", "battery_mode", "operating_mode", "charge_power_limit",
            "discharge_power_limit", "irradiance", "module_temperature", "ambient_temperature", "wind_speed"
        }
    ),
    Platform.NUMBER: frozenset(
        {
            "power_limit", "power_limit_window", "power_limit_revert_time", "power_limit_ramp_time",
            "forced_power", "max_soc", "min_soc", "export_power_limit", "charge_power_limit",
            "discharge_power_limit"
        }
    ),
    Platform.SELECT: frozenset(
        {
            "ems_mode", "battery_mode", "operating_mode"
        }
    ),
    Platform.SWITCH: frozenset(
        {
            "power_limit_enabled", "export_limit_enabled"
        }
    ),
    Platform.BINARY_SENSOR: frozenset(
        {
            "power_limit_enabled", "export_limit_enabled"
        }
    ),
    Platform.BUTTON: frozenset(),
}  # fmt: skip

# Translated states of the enum keys (sensor and select); an enum with other options keeps its name.
TRANSLATED_STATES: Final[Mapping[str, frozenset[str]]] = {
    "status": frozenset(
        {
            "external_ems_mode", "fault", "forced_mode", "initial_standby", "maintain_mode", "mppt", "off",
            "off_grid_mode", "restarting", "running", "shutting_down", "sleeping", "standby", "starting",
            "startup", "stop", "throttled"
        }
    ),
    "der_type": frozenset({"pv", "pv_storage"}),
    "device_type": frozenset({"sh10rt", "sh5_0rt", "sh6_0rt", "sh8_0rt"}),
    "storage_state": frozenset(
        {
            "charging", "discharging", "empty", "full", "holding", "off", "testing"
        }
    ),
    "ems_mode": frozenset({"external_ems", "forced", "self_consumption"}),
    "pv_status": frozenset(
        {
            "fault", "mppt", "off", "shutting_down", "sleeping", "standby", "starting", "test", "throttled"
        }
    ),
    "battery_mode": frozenset({"auto", "charge", "discharge", "idle", "stop"}),
    "operating_mode": frozenset({"auto", "charge", "discharge", "idle", "stop"}),
}  # fmt: skip

# Keys that name the device's own kind, shortened on a device of that kind (the device's name says it).
KIND_KEYS: Final[Mapping[str, Mapping[str, str]]] = {
    "battery": {
        "battery_power": "power",
        "battery_voltage": "voltage",
        "battery_current": "current",
        "battery_temperature": "temperature",
        "battery_mode": "operating_mode",
    },
    # A meter's `energy_total` is import + export, not a lifetime production.
    "meter": {"energy_total": "energy_total_meter", "meter_events": "events"},
}

# Keys whose names carry the placeholder `string`: only `pv<n>_<quantity>` points use them.
STRING_KEYS: Final = frozenset(
    {"pv_voltage", "pv_current", "pv_power", "pv_energy", "pv_temperature", "pv_status", "pv_events"}
)
# A second SunSpec model's copy of a vocabulary point (docs/profiles.md, "SunSpec profiles").
MODEL_COPY: Final = re.compile(r".+_m(?P<model>\d+)")
STRING_KEY: Final = re.compile(r"pv(?P<string>\d+)_(?P<quantity>[a-z_]+)")


@dataclass(frozen=True, slots=True)
class PointName:
    """How a point's entity is named: a translation key (with placeholders) or a plain name."""

    translation_key: str | None = None
    placeholders: Mapping[str, str] | None = None
    name: str | None = None


def point_name(point: PointDef, device: DeviceDef, platform: Platform) -> PointName:
    """The name of a point's entity on `platform` (see the module docstring for the rules)."""
    known = VOCABULARY[platform]
    key = KIND_KEYS.get(device.kind, {}).get(point.key, point.key)
    placeholders: dict[str, str] | None = None
    if match := STRING_KEY.fullmatch(point.key):
        key = f"pv_{match['quantity']}"
        placeholders = {"string": match["string"]}
    elif key in STRING_KEYS:
        key = ""  # its name needs a string number
    states = TRANSLATED_STATES.get(key)
    states_ok = point.kind != "enum" or (states is not None and set(point.options) <= states)
    if key in known and states_ok and not point.advanced:
        return PointName(translation_key=key, placeholders=placeholders)
    name = without_device_name(point.name, device.name)
    if point.advanced and (copy := MODEL_COPY.fullmatch(point.key)):
        # A second SunSpec model's copy of a vocabulary point (`ac_power_m701`): same name, so say which.
        name = f"{name} (SunSpec {copy['model']})"
    if point.advanced and point.key in _repeated_names(device):
        name = f"{name} ({point.key})"  # generated points whose definitions share a label
    return PointName(name=name)


@cache
def _repeated_names(device: DeviceDef) -> frozenset[str]:
    """Keys of the advanced points whose announced name another point of the device also has."""
    names = Counter(point.name for point in device.points)
    return frozenset(point.key for point in device.points if point.advanced and names[point.name] > 1)


def without_device_name(name: str, device_name: str) -> str:
    """`name` without a leading `device_name` ("Battery Battery power" is "Battery power" on a device
    named "Battery": the entity's full name puts the device's name first anyway)."""
    prefix = device_name.strip()
    if prefix and name.lower().startswith(prefix.lower() + " ") and len(name) > len(prefix) + 1:
        rest = name[len(prefix) + 1 :].strip()
        return rest[:1].upper() + rest[1:]
    return name
