"""Alert rules: which alerts a device has and whether they are active. Pure functions, no HA state.

Every rule reads the point roles of the announcement (docs/mqtt-contract.md) and the thresholds of the
entry's options. A rule returns None when it cannot tell (no value yet), else an `AlertState` whose
`reason` is a stable code and whose `message` is an English sentence for notifications.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .const import (
    CONF_ARRAY_PEAK_POWER,
    CONF_BATTERY_LOW_SOC,
    CONF_FAULT_HOLD_OFF,
    CONF_GRID_FREQUENCY_MAX,
    CONF_GRID_FREQUENCY_MIN,
    CONF_GRID_VOLTAGE_MAX,
    CONF_GRID_VOLTAGE_MIN,
    CONF_OFFLINE_GRACE,
    CONF_PRODUCTION_ALERT_DELAY,
    CONF_PRODUCTION_BELOW_EXPECTED,
    CONF_PRODUCTION_MIN_ELEVATION,
    CONF_STRING_IMBALANCE,
    CONF_STRING_MIN_POWER,
    DEFAULT_OPTIONS,
)
from .contract import Announcement, DeviceDef, PointDef, Value
from .expected import MIN_IRRADIANCE

# How far back inside the limits a value must come before a range alert clears (stops flapping).
VOLTAGE_HYSTERESIS = 1.0
FREQUENCY_HYSTERESIS = 0.02
SOC_HYSTERESIS = 2.0
PRODUCTION_HYSTERESIS = 5.0  # percentage points
STRING_HYSTERESIS = 5.0  # percentage points

STRING_POWER_KEY = re.compile(r"pv(\d+)_power")

# Turns a fault code (bit name or enum option) into text; the hub passes translated texts.
type Describe = Callable[[str], str]


class AlertType(StrEnum):
    """The alerts of the integration; the value is the `alert` key of the `pv_monitor_alert` event."""

    COLLECTOR_OFFLINE = "collector_offline"
    DEVICE_OFFLINE = "device_offline"
    INVERTER_FAULT = "inverter_fault"
    GRID_VOLTAGE = "grid_voltage"
    GRID_FREQUENCY = "grid_frequency"
    BATTERY_LOW = "battery_low"
    PRODUCTION_BELOW_EXPECTED = "production_below_expected"
    STRING_IMBALANCE = "string_imbalance"


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """Alert thresholds from the entry's options."""

    grid_voltage_min: float
    grid_voltage_max: float
    grid_frequency_min: float
    grid_frequency_max: float
    battery_low_soc: float
    production_below_expected: float  # percent of the expected production
    array_peak_power: float  # W; 0 = unknown, no production estimate
    offline_grace: float  # seconds
    production_alert_delay: float  # seconds production must stay below expected
    production_min_elevation: float  # degrees of sun elevation below which nothing is judged
    string_imbalance: float  # percent below the siblings' mean
    string_min_power: float  # W: the siblings' mean must reach this
    fault_hold_off: float  # seconds a cleared fault must stay clear before its alert goes off

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Thresholds:
        """Thresholds from options, defaults for anything not set."""
        merged = {**DEFAULT_OPTIONS, **options}
        return cls(
            grid_voltage_min=float(merged[CONF_GRID_VOLTAGE_MIN]),
            grid_voltage_max=float(merged[CONF_GRID_VOLTAGE_MAX]),
            grid_frequency_min=float(merged[CONF_GRID_FREQUENCY_MIN]),
            grid_frequency_max=float(merged[CONF_GRID_FREQUENCY_MAX]),
            battery_low_soc=float(merged[CONF_BATTERY_LOW_SOC]),
            production_below_expected=float(merged[CONF_PRODUCTION_BELOW_EXPECTED]),
            array_peak_power=float(merged[CONF_ARRAY_PEAK_POWER]),
            offline_grace=float(merged[CONF_OFFLINE_GRACE]),
            production_alert_delay=float(merged[CONF_PRODUCTION_ALERT_DELAY]),
            production_min_elevation=float(merged[CONF_PRODUCTION_MIN_ELEVATION]),
            string_imbalance=float(merged[CONF_STRING_IMBALANCE]),
            string_min_power=float(merged[CONF_STRING_MIN_POWER]),
            fault_hold_off=float(merged[CONF_FAULT_HOLD_OFF]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertState:
    """The outcome of one rule."""

    active: bool
    reason: str
    message: str
    value: Value | None = None
    details: dict[str, Any] = field(default_factory=dict)


def operating_state_point(device: DeviceDef) -> PointDef | None:
    """The device's operating state: role `operating_state`, else an enum `status` with a `fault` option."""
    if points := [p for p in device.points_with_role("operating_state") if p.kind == "enum"]:
        return points[0]
    point = device.point("status")
    if point is not None and point.kind == "enum" and "fault" in point.options:
        return point
    return None


def fault_points(device: DeviceDef) -> list[PointDef]:
    """Bitfield points with role `fault`."""
    return [p for p in device.points_with_role("fault") if p.kind == "bitfield"]


def _numeric(device: DeviceDef, role: str) -> list[PointDef]:
    return [p for p in device.points_with_role(role) if p.kind == "number"]


def irradiance_source(announcement: Announcement) -> tuple[DeviceDef, PointDef] | None:
    """The first irradiance point of the collector (an environment sensor), if any."""
    for device in announcement.devices:
        if points := _numeric(device, "irradiance"):
            return device, points[0]
    return None


def string_power_points(device: DeviceDef) -> list[PointDef]:
    """The per-string DC power points `pv1_power`, `pv2_power`, ... (SunSpec model 160, vendor maps)."""
    return [p for p in device.points if p.kind == "number" and STRING_POWER_KEY.fullmatch(p.key)]


def humanize(code: str) -> str:
    """`dc_over_volt` -> `Dc over volt`: the fallback text of a code nothing translates."""
    text = code.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def device_alerts(
    device: DeviceDef, announcement: Announcement, arrays: Collection[str] = ()
) -> tuple[AlertType, ...]:
    """The alerts a device has, from its point roles (and the devices with an array configured)."""
    alerts = [AlertType.DEVICE_OFFLINE]
    if fault_points(device) or operating_state_point(device):
        alerts.append(AlertType.INVERTER_FAULT)
    if _numeric(device, "grid_voltage"):
        alerts.append(AlertType.GRID_VOLTAGE)
    if _numeric(device, "grid_frequency"):
        alerts.append(AlertType.GRID_FREQUENCY)
    if _numeric(device, "battery_soc"):
        alerts.append(AlertType.BATTERY_LOW)
    if _numeric(device, "pv_power") and (irradiance_source(announcement) is not None or device.id in arrays):
        alerts.append(AlertType.PRODUCTION_BELOW_EXPECTED)
    if len(string_power_points(device)) >= 2:
        alerts.append(AlertType.STRING_IMBALANCE)
    return tuple(alerts)


def evaluate_fault(
    device: DeviceDef,
    values: Mapping[str, Value],
    *,
    english: Describe = humanize,
    local: Describe = humanize,
) -> AlertState | None:
    """Inverter fault: a `fault` bitfield is not 0, or the operating state is `fault`.

    The codes (bit names, the operating state option) are decoded to text: `english` for the message
    (notifications), `local` (the user's language) for the attribute `fault_texts`.
    """
    known = False
    active: list[str] = []
    codes: dict[str, int] = {}
    for point in fault_points(device):
        value = values.get(point.key)
        if isinstance(value, int) and not isinstance(value, bool):
            known = True
            codes[point.key] = value
            active.extend(point.active_bits(value))
    state_point = operating_state_point(device)
    state = values.get(state_point.key) if state_point else None
    if state is not None:
        known = True
    if not known:
        return None
    details: dict[str, Any] = {
        "faults": active,
        "fault_texts": [local(code) for code in active],
        "fault_codes": codes,
        "operating_state": state,
    }
    if active or state == "fault":
        reason = "fault_bits" if active else "operating_state_fault"
        names = ", ".join(english(code) for code in active) if active else english("fault")
        return AlertState(
            active=True,
            reason=reason,
            message=f"{device.name}: fault active ({names})",
            value=", ".join(active) if active else state,
            details=details,
        )
    return AlertState(
        active=False, reason="no_fault", message=f"{device.name}: no fault", value=state, details=details
    )


def evaluate_string_imbalance(
    device: DeviceDef,
    values: Mapping[str, Value],
    *,
    threshold: float,
    min_power: float,
    was_active: bool,
) -> AlertState | None:
    """One string's power more than `threshold` % below the mean of its siblings (above `min_power`)."""
    readings = {
        p.key: float(v)
        for p in string_power_points(device)
        if isinstance(v := values.get(p.key), int | float) and not isinstance(v, bool)
    }
    if len(readings) < 2:
        return None
    limit = threshold - (STRING_HYSTERESIS if was_active else 0.0)
    worst: tuple[float, str, float] | None = None
    for key, power in readings.items():
        siblings = [v for k, v in readings.items() if k != key]
        mean = sum(siblings) / len(siblings)
        if mean < min_power:
            continue
        deficit = 100.0 * (mean - power) / mean
        if worst is None or deficit > worst[0]:
            worst = (deficit, key, mean)
    if worst is None:
        return AlertState(
            active=False,
            reason="low_power",
            message=f"{device.name}: strings below {min_power:g} W, not compared",
            details={"readings": readings},
        )
    deficit, key, mean = worst
    details = {
        "string": key,
        "readings": readings,
        "siblings_mean": round(mean, 1),
        "percent": round(deficit, 1),
    }
    if deficit > limit:
        return AlertState(
            active=True,
            reason="string_below_siblings",
            message=(
                f"{device.name}: string {key} produces {readings[key]:g} W, {deficit:.0f} % below the"
                f" other strings ({mean:.0f} W)"
            ),
            value=readings[key],
            details=details,
        )
    return AlertState(
        active=False,
        reason="balanced",
        message=f"{device.name}: strings balanced",
        value=readings[key],
        details=details,
    )


def evaluate_range(
    device: DeviceDef,
    values: Mapping[str, Value],
    *,
    role: str,
    low: float,
    high: float,
    hysteresis: float,
    was_active: bool,
    inferred: frozenset[str] = frozenset(),
) -> AlertState | None:
    """A measured quantity (grid voltage, grid frequency) outside [low, high] on any of its points."""
    readings = {
        p.key: float(v)
        for p in _numeric(device, role)
        if p.key not in inferred and isinstance(v := values.get(p.key), int | float)
    }
    if not readings:
        return None
    unit = (_numeric(device, role)[0].unit or "").strip()
    margin = hysteresis if was_active else 0.0
    for key, reading in readings.items():
        if reading < low + margin:
            return AlertState(
                active=True,
                reason="below_min",
                message=f"{device.name}: {key} = {reading:g} {unit} is below {low:g} {unit}".replace(
                    "  ", " "
                ),
                value=reading,
                details={"point": key, "readings": readings, "min": low, "max": high},
            )
        if reading > high - margin:
            return AlertState(
                active=True,
                reason="above_max",
                message=f"{device.name}: {key} = {reading:g} {unit} is above {high:g} {unit}".replace(
                    "  ", " "
                ),
                value=reading,
                details={"point": key, "readings": readings, "min": low, "max": high},
            )
    first = next(iter(readings.values()))
    return AlertState(
        active=False,
        reason="in_range",
        message=f"{device.name}: {role.replace('_', ' ')} within {low:g}..{high:g} {unit}".rstrip(),
        value=first,
        details={"readings": readings, "min": low, "max": high},
    )


def evaluate_battery_low(
    device: DeviceDef, values: Mapping[str, Value], *, low: float, was_active: bool
) -> AlertState | None:
    """Battery state of charge below the threshold."""
    points = _numeric(device, "battery_soc")
    soc = values.get(points[0].key) if points else None
    if not isinstance(soc, int | float) or isinstance(soc, bool):
        return None
    limit = low + (SOC_HYSTERESIS if was_active else 0.0)
    if soc < limit:
        return AlertState(
            active=True,
            reason="soc_below",
            message=f"{device.name}: battery at {soc:g} % is below {low:g} %",
            value=soc,
            details={"soc": soc, "threshold": low},
        )
    return AlertState(
        active=False,
        reason="soc_ok",
        message=f"{device.name}: battery at {soc:g} %",
        value=soc,
        details={"soc": soc, "threshold": low},
    )


def evaluate_production(
    device: DeviceDef,
    values: Mapping[str, Value],
    *,
    expected: float | None,
    irradiance: float | None,
    sun_elevation: float,
    thresholds: Thresholds,
    asleep: bool,
    was_active: bool,
) -> AlertState | None:
    """PV power below `production_below_expected` % of the expected power, judged only in daylight.

    Returns the condition right now; the hub holds it for `production_alert_delay` before the alert
    goes on.
    """
    if asleep:
        return AlertState(
            active=False, reason="asleep", message=f"{device.name}: asleep, no production expected"
        )
    points = _numeric(device, "pv_power")
    power = values.get(points[0].key) if points else None
    if not isinstance(power, int | float) or isinstance(power, bool) or expected is None:
        return None
    if sun_elevation < thresholds.production_min_elevation or (
        irradiance is not None and irradiance < MIN_IRRADIANCE
    ):
        return AlertState(
            active=False,
            reason="sun_low",
            message=f"{device.name}: sun too low to judge production",
            value=power,
            details={
                "power": power,
                "expected": round(expected, 1),
                "sun_elevation": round(sun_elevation, 1),
            },
        )
    ratio = 100.0 * power / expected if expected > 0 else 100.0
    limit = thresholds.production_below_expected + (PRODUCTION_HYSTERESIS if was_active else 0.0)
    details = {
        "power": power,
        "expected": round(expected, 1),
        "percent": round(ratio, 1),
        "sun_elevation": round(sun_elevation, 1),
    }
    if ratio < limit:
        return AlertState(
            active=True,
            reason="below_expected",
            message=(f"{device.name}: producing {power:g} W, {ratio:.0f} % of the expected {expected:.0f} W"),
            value=power,
            details=details,
        )
    return AlertState(
        active=False,
        reason="as_expected",
        message=f"{device.name}: producing {power:g} W of the expected {expected:.0f} W",
        value=power,
        details=details,
    )
