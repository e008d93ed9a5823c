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
            "ac_power_l2", "ac_power_l3", "ac_current_l1", "ac_current_l2", "ac_current_l3", "ac_voltage_l1",
            "ac_voltage_l2", "ac_voltage_l3", "ac_voltage_l1_l2", "ac_voltage_l2_l3", "ac_voltage_l3_l1",
            "ac_frequency", "ac_apparent_power", "ac_reactive_power", "power_factor", "dc_current",
            "dc_voltage", "dc_power", "temperature_cabinet", "temperature_heatsink",
            "temperature_transformer", "temperature_other", "status", "status_vendor", "running_state",
            "events", "mppt_events", "der_type", "device_type", "serial", "manufacturer", "model", "firmware",
            "rated_power", "rated_apparent_power", "rated_current", "rated_energy", "rated_charge_power",
            "rated_discharge_power", "setting_max_power", "setting_voltage_reference", "setting_voltage_max",
            "setting_voltage_min", "setting_max_apparent_power", "setting_ramp_rate", "pv_connection",
            "storage_connection", "grid_connection", "available_power", "active_controls",
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
            "discharge_power_limit", "irradiance", "module_temperature", "ambient_temperature", "wind_speed",
            "pv_energy_today", "pv_energy_total", "energy_charged_today", "energy_discharged_today",
            "energy_import_today", "energy_export_today", "load_energy_today", "load_energy_total",
            "energy_output", "energy_ac_to_grid", "energy_self_consumed", "ac_voltage", "ac_frequency_l1",
            "pv_power_total", "backup_power", "backup_power_l1", "backup_power_l2", "backup_power_l3",
            "grid_power_l1", "grid_power_l2", "grid_power_l3", "grid_voltage_l1", "grid_voltage_l2",
            "grid_voltage_l3", "grid_frequency", "grid_ct_power", "ct2_power", "load_power_l1",
            "load_power_l2", "load_power_l3", "load_power_from_battery", "load_power_from_grid",
            "load_power_from_pv", "dc_pv_power", "dc_pv_current", "dc_system_power",
            "battery_power_magnitude", "battery_cycles", "charge_cycles", "battery_time_to_go", "time_to_go",
            "battery_temperature_max", "temperature_max", "battery_last_fault", "last_fault", "battery_dod",
            "battery_eod", "overdischarge_soc", "cell_temperature_max", "cell_temperature_min",
            "cell_voltage_max", "cell_voltage_min", "consumed_amphours", "bms_charge_current_limit",
            "bms_discharge_current_limit", "bms_charge_voltage_limit", "energy_available", "energy_max",
            "storage_ac_charge_policy", "alarm", "alarm_high_temperature", "alarm_high_voltage",
            "alarm_internal_failure", "alarm_low_soc", "alarm_low_voltage", "fault_1", "fault_2", "fault_3",
            "fault_4", "alarm_1", "alarm_2", "alarm_3", "device_fault_1", "device_fault_2", "grid_fault",
            "battery_fault", "backup_fault", "events_2", "events_bms", "manager_events", "wiring_errors",
            "export_control_mode", "fault_code", "warning_code", "rrcr_state", "model_code",
            "firmware_master", "condition", "grid_relay", "grid_status", "meter_status", "meter_type",
            "machine_type", "bdc_state", "battery_management_mode", "energy_manager_state",
            "operating_status", "priority", "work_mode", "export_limit_mode", "export_control_limit_mode",
            "advanced_power_control", "reactive_power_config", "power_limit_evu", "energy_import_l1",
            "energy_import_l2", "energy_import_l3", "energy_export_l1", "energy_export_l2",
            "energy_export_l3", "power_factor_l1", "power_factor_l2", "power_factor_l3", "power_import",
            "power_export", "current_neutral", "current_total", "power_demand", "power_demand_max",
            "current_demand_max", "phase_angle", "ct_ratio", "pt_ratio", "wiring", "measuring_system",
            "measurement_mode", "phase_sequence", "application", "active_input", "ess_active_soc_limit",
            "ess_battery_life_state"
        }
    ),
    Platform.NUMBER: frozenset(
        {
            "power_limit", "power_limit_window", "power_limit_revert_time", "power_limit_ramp_time",
            "forced_power", "max_soc", "min_soc", "export_power_limit", "charge_power_limit",
            "discharge_power_limit", "storage_min_reserve", "remote_command_timeout", "charge_current_limit",
            "discharge_current_limit", "battery_low_soc", "min_soc_on_grid", "grid_charge_soc",
            "grid_charge_max_soc", "export_limit", "power_limit_watts", "ess_grid_setpoint",
            "ess_max_charge_percent", "ess_max_discharge_percent"
        }
    ),
    Platform.SELECT: frozenset(
        {
            "ems_mode", "battery_mode", "operating_mode", "storage_control_mode", "storage_default_mode",
            "export_limit_mode", "active_power_control_mode", "load_limit", "ess_mode"
        }
    ),
    Platform.SWITCH: frozenset(
        {
            "power_limit_enabled", "export_limit_enabled", "grid_charge_enabled", "solar_export",
            "feed_in_dc_pv"
        }
    ),
    Platform.BINARY_SENSOR: frozenset(
        {
            "power_limit_enabled", "export_limit_enabled"
        }
    ),
    Platform.BUTTON: frozenset(),
}  # fmt: skip

# The states of a battery's mode (a battery's own `battery_mode` is its `operating_mode`).
_BATTERY_MODES: Final = frozenset(
    {
        "auto", "charge", "discharge", "idle", "stop", "no_battery", "standby", "to_be_charged",
        "to_be_discharged", "offline", "running", "fault", "sleep", "charging", "discharging", "off",
        "charge_excess_pv", "charge_pv_first", "charge_pv_and_ac", "maximize_export", "discharge_to_loads",
        "maximize_self_consumption", "init_wait_start", "init_before_boot", "init_before_boot_delay",
        "init_wait_boot", "initializing", "init_measure_voltage", "init_calculate_voltage",
        "init_wait_bus_voltage", "init_wait_lynx_shunt", "error", "unused", "shutdown", "slave_updating",
        "going_to_run", "pre_charging", "contactor_check"
    }
)  # fmt: skip
# Translated states of the enum keys (sensor and select); an enum with other options keeps its name.
TRANSLATED_STATES: Final[Mapping[str, frozenset[str]]] = {
    "status": frozenset(
        {
            "external_ems_mode", "fault", "forced_mode", "initial_standby", "maintain_mode", "mppt", "off",
            "off_grid_mode", "restarting", "running", "shutting_down", "sleeping", "standby", "starting",
            "startup", "stop", "throttled", "waiting_standby", "waiting_normal", "waiting_fault",
            "waiting_flash", "self_test_standby", "self_test_normal", "self_test_fault", "self_test_flash",
            "sys_fault_standby", "sys_fault_normal", "sys_fault_flash", "flash_standby", "flash_normal",
            "flash_fault", "flash_flash", "pv_bat_online_standby", "pv_bat_online_normal",
            "pv_bat_online_fault", "pv_bat_online_flash", "bat_online_standby", "bat_online_normal",
            "bat_online_fault", "bat_online_flash", "pv_offline_standby", "pv_offline_normal",
            "pv_offline_fault", "pv_offline_flash", "bat_offline_standby", "bat_offline_normal",
            "bat_offline_fault", "bat_offline_flash", "self_check", "normal", "alarm", "activating",
            "waiting", "checking", "on_grid", "off_grid", "recoverable_fault", "unrecoverable_fault", "idle",
            "wait", "flash", "check", "standby_initializing", "standby_insulation_check",
            "standby_irradiation_check", "standby_grid_check", "on_grid_power_limited",
            "on_grid_self_derating", "shutdown_command", "shutdown_ovgr", "shutdown_communication_lost",
            "shutdown_power_limited", "shutdown_manual_startup_required", "shutdown_dc_switch_off",
            "shutdown_rapid_cutoff", "shutdown_input_underpower", "shutdown_ess_end_of_discharge",
            "grid_scheduling_cosphi_p", "grid_scheduling_q_u", "grid_scheduling_pf_u",
            "grid_scheduling_dry_contact", "grid_scheduling_q_p", "spot_check_ready", "spot_checking",
            "inspecting", "afci_self_check", "iv_scanning", "dc_input_detection", "off_grid_charging",
            "standby_no_irradiation", "init", "iso_meas", "grid_check", "start_up", "feed_in",
            "ext_switch_off", "update", "grid_sync", "grid_pre_check", "grid_switch_off", "overheating",
            "shutdown", "improper_dc_voltage", "esb", "unknown", "locked", "detection",
            "emergency_power_supply", "permanent_fault", "upgrade", "self_charging", "svg", "pid",
            "off_grid_waiting", "self_testing", "open_loop", "soft_start", "generating", "grid_overvoltage",
            "grid_undervoltage", "grid_overfrequency", "grid_underfrequency", "grid_impedance_too_large",
            "no_grid", "grid_imbalance", "grid_frequency_jitter", "grid_overcurrent", "grid_tracking_fault",
            "dc_overvoltage", "dc_bus_overvoltage", "dc_bus_uneven_voltage", "dc_bus_uneven_voltage_2",
            "dc_a_path_overcurrent", "dc_b_path_overcurrent", "dc_input_disturbance", "grid_disturbance",
            "dsp_initialization_protection", "over_temperature", "pv_insulation_fault",
            "leakage_current_protection", "relay_detection_protection", "dsp_b_protection",
            "dc_component_too_large", "undervoltage_12v", "under_temperature", "arc_self_test_protection",
            "arc_protection", "dsp_sram_exception", "dsp_flash_exception", "dsp_pc_pointer_abnormal",
            "dsp_key_register_exception", "grid_disturbance_2", "grid_current_sampling_abnormal",
            "igbt_overcurrent", "grid_transient_overcurrent", "battery_overvoltage_hardware",
            "llc_hardware_overcurrent", "battery_overvoltage", "battery_undervoltage",
            "battery_not_connected", "bypass_overvoltage", "bypass_overload", "run", "key_stop",
            "emergency_stop", "alarm_run", "derating_run", "dispatch_run", "communication_fault"
        }
    ),
    "der_type": frozenset(
        {
            "pv", "pv_storage"
        }
    ),
    "device_type": frozenset(
        {
            "sh10rt", "sh5_0rt", "sh6_0rt", "sh8_0rt", "sg3_0rt", "sg4_0rt", "sg5_0rt", "sg6_0rt", "sg7_0rt",
            "sg8_0rt", "sg10rt", "sg12rt", "sg15rt", "sg17rt", "sg20rt"
        }
    ),
    "storage_state": frozenset(
        {
            "charging", "discharging", "empty", "full", "holding", "off", "testing", "standby", "init",
            "charge", "discharge", "fault", "preserve_charge", "idle", "power_saving"
        }
    ),
    "ems_mode": frozenset(
        {
            "external_ems", "forced", "self_consumption"
        }
    ),
    "pv_status": frozenset(
        {
            "fault", "mppt", "off", "shutting_down", "sleeping", "standby", "starting", "test", "throttled"
        }
    ),
    "storage_control_mode": frozenset(
        {
            "self_use", "feed_in_first", "back_up", "peak_shaving", "adaptive", "fixed_charge_discharge",
            "maximise_self_consumption", "maximize_self_consumption", "time_of_use_lg", "fully_fed_to_grid",
            "time_of_use_luna2000", "time_of_use", "tou", "timing", "passive", "off_grid", "generator",
            "feed_in_priority", "feedin_priority", "disabled", "backup_only", "remote_control", "backup",
            "manual", "optimized_revenue", "battery_wake_up", "optimized_revenue_and_backup"
        }
    ),
    "storage_default_mode": frozenset(
        {
            "off", "charge_excess_pv", "charge_pv_first", "charge_pv_and_ac", "maximize_export",
            "discharge_to_loads", "maximize_self_consumption"
        }
    ),
    "storage_ac_charge_policy": frozenset(
        {
            "disabled", "always_allowed", "fixed_energy_limit", "percent_of_production"
        }
    ),
    "alarm": frozenset(
        {
            "no_alarm", "alarm"
        }
    ),
    "alarm_high_temperature": frozenset(
        {
            "no_alarm", "alarm"
        }
    ),
    "alarm_high_voltage": frozenset(
        {
            "no_alarm", "alarm"
        }
    ),
    "alarm_internal_failure": frozenset(
        {
            "no_alarm", "alarm"
        }
    ),
    "alarm_low_soc": frozenset(
        {
            "no_alarm", "alarm"
        }
    ),
    "alarm_low_voltage": frozenset(
        {
            "no_alarm", "alarm"
        }
    ),
    "condition": frozenset(
        {
            "fault", "off", "ok", "warning"
        }
    ),
    "grid_relay": frozenset(
        {
            "closed", "open"
        }
    ),
    "grid_status": frozenset(
        {
            "not_connected", "connected", "fault", "on_grid", "off_grid"
        }
    ),
    "meter_status": frozenset(
        {
            "not_ok", "ok", "offline", "normal", "communication_error"
        }
    ),
    "meter_type": frozenset(
        {
            "single_phase", "three_phase"
        }
    ),
    "machine_type": frozenset(
        {
            "x1", "x3"
        }
    ),
    "bdc_state": frozenset(
        {
            "not_connected", "bdc1", "bdc2", "bdc1_and_bdc2"
        }
    ),
    "battery_management_mode": frozenset(
        {
            "internal", "external_digital_io", "external_modbus"
        }
    ),
    "energy_manager_state": frozenset(
        {
            "idle", "emergency_battery_charge", "winter_mode_step_1", "winter_mode_step_2"
        }
    ),
    "operating_status": frozenset(
        {
            "normal", "initial_standby", "control_shutdown", "downtime", "standby", "derating", "limited",
            "bypass_overload"
        }
    ),
    "priority": frozenset(
        {
            "load_first", "battery_first", "grid_first"
        }
    ),
    "work_mode": frozenset(
        {
            "waiting", "self_test", "fault", "flash", "pv_bat_online", "bat_online", "pv_offline",
            "bat_offline"
        }
    ),
    "export_limit_mode": frozenset(
        {
            "disabled", "enabled", "rs485", "rs232", "ct", "balanced"
        }
    ),
    "export_control_limit_mode": frozenset(
        {
            "total", "per_phase"
        }
    ),
    "advanced_power_control": frozenset(
        {
            "disabled", "enabled"
        }
    ),
    "reactive_power_config": frozenset(
        {
            "fixed_cosphi", "fixed_q", "cosphi_p", "q_u_q_p", "rrcr"
        }
    ),
    "active_power_control_mode": frozenset(
        {
            "unlimited", "di_active_scheduling", "zero_power_grid_connection",
            "power_limited_grid_connection_w", "power_limited_grid_connection_pct"
        }
    ),
    "load_limit": frozenset(
        {
            "allow_export", "essentials", "zero_export"
        }
    ),
    "wiring": frozenset(
        {
            "three_phase_four_wire", "three_phase_three_wire"
        }
    ),
    "measuring_system": frozenset(
        {
            "three_phase_neutral", "three_phase_1_current", "two_phase", "single_phase", "three_phase"
        }
    ),
    "measurement_mode": frozenset(
        {
            "a_easy_connection", "b_bidirectional"
        }
    ),
    "phase_sequence": frozenset(
        {
            "l1_l2_l3", "l1_l3_l2"
        }
    ),
    "application": frozenset(
        {
            "a", "b", "c", "d", "e", "f", "g", "h"
        }
    ),
    "active_input": frozenset(
        {
            "not_available", "grid", "generator", "shore_power", "not_connected"
        }
    ),
    "ess_battery_life_state": frozenset(
        {
            "bl_disabled", "restarting", "self_consumption", "self_consumption_3", "self_consumption_4",
            "discharge_disabled", "force_charge", "sustain", "keep_batteries_charged", "bl_disabled_10",
            "bl_disabled_low_soc"
        }
    ),
    "ess_mode": frozenset(
        {
            "with_phase_compensation", "without_phase_compensation", "external_control"
        }
    ),
    "battery_mode": _BATTERY_MODES,
    "operating_mode": _BATTERY_MODES,
}  # fmt: skip

# Keys that name the device's own kind, shortened on a device of that kind (the device's name says it).
KIND_KEYS: Final[Mapping[str, Mapping[str, str]]] = {
    "battery": {
        "battery_power": "power",
        "battery_voltage": "voltage",
        "battery_current": "current",
        "battery_temperature": "temperature",
        "battery_mode": "operating_mode",
        "battery_cycles": "charge_cycles",
        "battery_time_to_go": "time_to_go",
        "battery_temperature_max": "temperature_max",
        "battery_last_fault": "last_fault",
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
