"""The entity catalogue: which entities an announcement yields, on which platform, with which unique id.

Platforms build their entities from these rules and the hub uses the same rules to remove registry
entries and devices that an announcement no longer describes.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from homeassistant.const import Platform

from .alerts import AlertType, device_alerts
from .contract import Announcement, DeviceDef, PointDef

# Collector statistics shown as diagnostic sensors (see sensor.py for their descriptions).
STAT_KEYS: Final = (
    "poll_duration",
    "requests_per_cycle",
    "errors",
    "rejected_readings",
    "queue_length",
    "queue_dropped",
    "quarantined_points",
    "messages_published",
    "uptime",
)

# PV health sensors of each inverter (a device with a `pv_power` point) and of the collector (sensor.py).
HEALTH_KEYS: Final = (
    "expected_power",
    "expected_energy_today",
    "performance_ratio_today",
    "performance_ratio_7d",
    "specific_yield_today",
)
SUMMARY_KEYS: Final = ("pv_energy_today", "pv_peak_power_today")


def has_health(device: DeviceDef) -> bool:
    """A PV inverter: it has health figures."""
    return any(p.kind == "number" for p in device.points_with_role("pv_power"))


def health_unique_id(collector_id: str, device_id: str | None, key: str) -> str:
    """Unique id of a health sensor of an inverter, or of the collector's daily summary (device None)."""
    if device_id is None:
        return f"{collector_id}-health-{key}"
    return f"{collector_id}_{device_id}-health-{key}"


def point_platform(point: PointDef) -> Platform:
    """The platform a point's entity lives on."""
    writable = point.writable is not None
    match point.kind:
        case "number":
            return Platform.NUMBER if writable else Platform.SENSOR
        case "enum":
            return Platform.SELECT if writable else Platform.SENSOR
        case "bool":
            return Platform.SWITCH if writable else Platform.BINARY_SENSOR
        case "action":
            return Platform.BUTTON
        case _:  # text, bitfield
            return Platform.SENSOR


def collector_identifier(collector_id: str) -> str:
    """Device registry identifier of a collector."""
    return collector_id


def device_identifier(collector_id: str, device_id: str) -> str:
    """Device registry identifier of a Modbus device (`/` cannot occur in ids, so no clashes)."""
    return f"{collector_id}/{device_id}"


def point_unique_id(collector_id: str, device_id: str, key: str) -> str:
    """Unique id of a point's entity."""
    return f"{collector_id}_{device_id}_{key}"


def connection_unique_id(collector_id: str, device_id: str) -> str:
    """Unique id of a device's connection sensor (`-` cannot occur in point keys)."""
    return f"{collector_id}_{device_id}-connection"


def alert_unique_id(collector_id: str, device_id: str | None, alert: AlertType) -> str:
    """Unique id of an alert binary sensor; device None is the collector."""
    if device_id is None:
        return f"{collector_id}-alert-{alert}"
    return f"{collector_id}_{device_id}-alert-{alert}"


def stat_unique_id(collector_id: str, key: str) -> str:
    """Unique id of a collector statistics sensor."""
    return f"{collector_id}-stats-{key}"


def expected_entities(announcement: Announcement, arrays: Collection[str] = ()) -> set[tuple[Platform, str]]:
    """Every (platform, unique id) the announcement (and the arrays configured) yields."""
    cid = announcement.collector.id
    expected: set[tuple[Platform, str]] = {
        (Platform.BINARY_SENSOR, alert_unique_id(cid, None, AlertType.COLLECTOR_OFFLINE))
    }
    expected.update((Platform.SENSOR, stat_unique_id(cid, key)) for key in STAT_KEYS)
    for device in announcement.devices:
        expected.add((Platform.SENSOR, connection_unique_id(cid, device.id)))
        expected.update(
            (Platform.BINARY_SENSOR, alert_unique_id(cid, device.id, alert))
            for alert in device_alerts(device, announcement, arrays)
        )
        if has_health(device):
            expected.update((Platform.SENSOR, health_unique_id(cid, device.id, key)) for key in HEALTH_KEYS)
        expected.update(
            (point_platform(point), point_unique_id(cid, device.id, point.key)) for point in device.points
        )
    expected.update((Platform.SENSOR, health_unique_id(cid, None, key)) for key in SUMMARY_KEYS)
    return expected
