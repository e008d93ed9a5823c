"""PV Monitor's entities as the demo and the end-to-end tests find them: announced points joined with
Home Assistant's entity registry (the dashboard itself comes from the integration's
`pv_monitor.create_dashboard` service)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PLATFORM = "pv_monitor"


def point_unique_id(collector_id: str, device_id: str, key: str) -> str:
    """Mirror of custom_components/pv_monitor/catalogue.py point_unique_id (the integration owns it)."""
    return f"{collector_id}_{device_id}_{key}"


@dataclass(frozen=True, slots=True)
class PointEntity:
    collector_id: str
    device: dict[str, Any]
    point: dict[str, Any]
    entity_id: str


def point_entities(announcements: list[dict[str, Any]], registry: list[dict[str, Any]]) -> list[PointEntity]:
    """Every announced point that has an enabled entity of the integration, in announcement order."""
    by_unique_id = {
        entry["unique_id"]: entry
        for entry in registry
        if entry["platform"] == PLATFORM and entry.get("disabled_by") is None
    }
    result = []
    for announcement in announcements:
        cid = announcement["collector"]["id"]
        for device in announcement["devices"]:
            for point in device["points"]:
                entry = by_unique_id.get(point_unique_id(cid, device["id"], point["key"]))
                if entry is not None:
                    result.append(PointEntity(cid, device, point, entry["entity_id"]))
    return result
