"""Alert rules: which alerts a device has and whether they are active. Pure functions, no HA state.

Every rule reads the point roles of the announcement (docs/mqtt-contract.md) and the thresholds of the
entry's options. A rule returns None when it cannot tell (no value yet), else an `AlertState`: a stable
`reason` code and the `placeholders` of its sentence. The sentences themselves are translations
(`entity.binary_sensor.<alert>.state_attributes.message.state.<reason>` in strings.json); the alert
engine fills them in. Numbers in placeholders are formatted here, units included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from .expected import MIN_IRRADIANCE
from .messages import Announcement, DeviceDef, PointDef, Value
from .options import Thresholds

# How far back inside the limits a value must come before a range alert clears (stops flapping).
VOLTAGE_HYSTERESIS = 1.0
FREQUENCY_HYSTERESIS = 0.02
SOC_HYSTERESIS = 2.0
PRODUCTION_HYSTERESIS = 5.0  # percentage points
STRING_HYSTERESIS = 5.0  # percentage points

STRING_POWER_KEY = re.compile(r"pv(\d+)_power")

# Turns a fault code (bit name or enum option) into text; the alert engine passes translated texts.
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
class AlertState:
    """The outcome of one rule: active or not, why (`reason`), the sentence's `placeholders`, the
    offending or current `value` and the rule's `details` (entity attributes)."""

    active: bool
    reason: str
    placeholders: Mapping[str, str] = field(default_factory=dict)
    value: Value | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RangeRule:
    """A measured quantity that must stay within limits taken from the thresholds."""

    role: str
    limits: Callable[[Thresholds], tuple[float, float]]
    hysteresis: float


RANGE_ALERTS: Final[Mapping[AlertType, RangeRule]] = {
    AlertType.GRID_VOLTAGE: RangeRule(
        "grid_voltage", lambda t: (t.grid_voltage_min, t.grid_voltage_max), VOLTAGE_HYSTERESIS
    ),
    AlertType.GRID_FREQUENCY: RangeRule(
        "grid_frequency", lambda t: (t.grid_frequency_min, t.grid_frequency_max), FREQUENCY_HYSTERESIS
    ),
}


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


def quantity(value: float, unit: str | None) -> str:
    """A number with its unit for a placeholder: `255.3 V`, or `255.3` without a unit."""
    unit = (unit or "").strip()
    return f"{value:g} {unit}" if unit else f"{value:g}"


def device_alerts(
    device: DeviceDef, announcement: Announcement, arrays: Collection[str] = ()
) -> tuple[AlertType, ...]:
    """The alerts a device has, from its point roles (and the devices with an array configured)."""
    alerts = [AlertType.DEVICE_OFFLINE]
    if fault_points(device) or operating_state_point(device):
        alerts.append(AlertType.INVERTER_FAULT)
    alerts.extend(alert for alert, rule in RANGE_ALERTS.items() if _numeric(device, rule.role))
    if _numeric(device, "battery_soc"):
        alerts.append(AlertType.BATTERY_LOW)
    if _numeric(device, "pv_power") and (irradiance_source(announcement) is not None or device.id in arrays):
        alerts.append(AlertType.PRODUCTION_BELOW_EXPECTED)
    if len(string_power_points(device)) >= 2:
        alerts.append(AlertType.STRING_IMBALANCE)
    return tuple(alerts)


def evaluate_connection(name: str, *, offline: bool, grace: float) -> AlertState:
    """Collector or device offline (after the grace time) or online again."""
    if offline:
        return AlertState(
            active=True,
            reason="offline",
            placeholders={"device": name, "grace": f"{grace:g}"},
            details={"grace_time": grace},
        )
    return AlertState(active=False, reason="online", placeholders={"device": name})


def evaluate_fault(
    device: DeviceDef, values: Mapping[str, Value], *, describe: Describe = humanize
) -> AlertState | None:
    """Inverter fault: a `fault` bitfield is not 0, or the operating state is `fault`.

    The codes (bit names, the operating state option) become text with `describe` (the user's language)
    for the attribute `fault_texts` and the placeholder `faults`.
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
    texts = [describe(code) for code in active]
    details: dict[str, Any] = {
        "faults": active,
        "fault_texts": texts,
        "fault_codes": codes,
        "operating_state": state,
    }
    if active or state == "fault":
        return AlertState(
            active=True,
            reason="fault_bits" if active else "operating_state_fault",
            placeholders={"device": device.name, "faults": ", ".join(texts) if active else describe("fault")},
            value=", ".join(active) if active else state,
            details=details,
        )
    return AlertState(
        active=False, reason="no_fault", placeholders={"device": device.name}, value=state, details=details
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
            placeholders={"device": device.name, "min_power": f"{min_power:g}"},
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
            placeholders={
                "device": device.name,
                "string": key,
                "power": f"{readings[key]:g}",
                "percent": f"{deficit:.0f}",
                "mean": f"{mean:.0f}",
            },
            value=readings[key],
            details=details,
        )
    return AlertState(
        active=False,
        reason="balanced",
        placeholders={"device": device.name},
        value=readings[key],
        details=details,
    )


def evaluate_range(
    device: DeviceDef,
    values: Mapping[str, Value],
    *,
    rule: RangeRule,
    thresholds: Thresholds,
    was_active: bool,
    inferred: frozenset[str] = frozenset(),
) -> AlertState | None:
    """A measured quantity (grid voltage, grid frequency) outside its limits on any of its points."""
    points = _numeric(device, rule.role)
    readings = {
        p.key: float(v)
        for p in points
        if p.key not in inferred and isinstance(v := values.get(p.key), int | float)
    }
    if not readings:
        return None
    low, high = rule.limits(thresholds)
    unit = points[0].unit
    margin = rule.hysteresis if was_active else 0.0
    for key, reading in readings.items():
        if reading < low + margin or reading > high - margin:
            below = reading < low + margin
            return AlertState(
                active=True,
                reason="below_min" if below else "above_max",
                placeholders={
                    "device": device.name,
                    "point": key,
                    "reading": quantity(reading, unit),
                    "limit": quantity(low if below else high, unit),
                },
                value=reading,
                details={"point": key, "readings": readings, "min": low, "max": high},
            )
    return AlertState(
        active=False,
        reason="in_range",
        placeholders={"device": device.name, "min": f"{low:g}", "max": quantity(high, unit)},
        value=next(iter(readings.values())),
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
    return AlertState(
        active=soc < limit,
        reason="soc_below" if soc < limit else "soc_ok",
        placeholders={"device": device.name, "soc": f"{soc:g}", "threshold": f"{low:g}"},
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

    Returns the condition right now; the alert engine holds it for `production_alert_delay` before the
    alert goes on.
    """
    if asleep:
        return AlertState(active=False, reason="asleep", placeholders={"device": device.name})
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
            placeholders={"device": device.name},
            value=power,
            details={
                "power": power,
                "expected": round(expected, 1),
                "sun_elevation": round(sun_elevation, 1),
            },
        )
    ratio = 100.0 * power / expected if expected > 0 else 100.0
    limit = thresholds.production_below_expected + (PRODUCTION_HYSTERESIS if was_active else 0.0)
    return AlertState(
        active=ratio < limit,
        reason="below_expected" if ratio < limit else "as_expected",
        placeholders={
            "device": device.name,
            "power": f"{power:g}",
            "percent": f"{ratio:.0f}",
            "expected": f"{expected:.0f}",
        },
        value=power,
        details={
            "power": power,
            "expected": round(expected, 1),
            "percent": round(ratio, 1),
            "sun_elevation": round(sun_elevation, 1),
        },
    )
