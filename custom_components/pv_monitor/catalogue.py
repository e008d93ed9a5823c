"""The entity catalogue: on which platform a point's entity lives, and every unique id and device
identifier the integration gives out.

Platforms build their entities with these rules, and `registry.expected_entities` uses the same rules
to remove registry entries and devices that an announcement no longer describes.
"""

from __future__ import annotations

from homeassistant.const import Platform

from .alerts import AlertType
from .messages import DeviceDef, PointDef


def has_health(device: DeviceDef) -> bool:
    """A PV inverter: it has health figures."""
    return any(p.kind == "number" for p in device.points_with_role("pv_power"))


def health_unique_id(collector_id: str, device_id: str | None, key: str) -> str:
    """Unique id of a health sensor of an inverter, or of the collector's daily summary (device None)."""
    if device_id is None:
        return f"{collector_id}-health-{key}"
    return f"{collector_id}_{device_id}-health-{key}"


def point_platform(point: PointDef) -> Platform:
    """The platform a point's entity lives on (the announced entity's; contract.py reads it)."""
    return Platform(point.entity.platform)


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
