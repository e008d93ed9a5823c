"""A ready Lovelace dashboard for one collector, built from core cards only.

`build_dashboard` is a pure function of the announcement and the entity ids the entry has (so it can be
tested without a frontend); `async_create_dashboard` stores the result as a normal storage dashboard
through the lovelace component's own dashboards collection, the same code behind the frontend's
*Settings → Dashboards* (websocket `lovelace/dashboards/create` + `lovelace/config/save`), reached
through `ha_internals` (Lovelace has no Python entry point). Creating it again for the same collector
updates that dashboard instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from homeassistant.components.energy.data import async_get_manager as async_get_energy_manager
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import slugify

from .alerts import AlertType, device_alerts
from .catalogue import (
    alert_unique_id,
    connection_unique_id,
    point_platform,
    point_unique_id,
    stat_unique_id,
)
from .const import CONF_ARRAY_PEAK_POWER, DOMAIN
from .contract import Announcement, PointDef
from .ha_internals import async_save_dashboard_config, lovelace_dashboards
from .models import PvMonitorConfigEntry
from .sensor import STAT_DESCRIPTIONS

# Texts of the generated dashboard (translated: strings.json `selector.dashboard_text.options`).
TEXT_KEYS: Final = (
    "energy",
    "energy_not_configured",
    "power",
    "production_consumption",
    "energy_per_day",
    "controls",
    "alerts",
    "diagnostics",
)
ICON: Final = "mdi:solar-power-variant"

# Tile features per actuator platform (frontend 2026.10: hui-tile-card features).
TILE_FEATURES: Final[dict[Platform, list[dict[str, Any]]]] = {
    Platform.NUMBER: [{"type": "numeric-input", "style": "buttons"}],
    Platform.SELECT: [{"type": "select-options"}],
    Platform.SWITCH: [{"type": "toggle"}],
    Platform.BUTTON: [{"type": "button"}],
}
POWER_ROLES: Final = ("pv_power", "grid_power", "battery_power")
ENERGY_ROLES: Final = (
    "pv_energy",
    "grid_import_energy",
    "grid_export_energy",
    "battery_charge_energy",
    "battery_discharge_energy",
)
DEFAULT_GAUGE_MAX_W: Final = 10_000
# Live-reading tiles per device (the device page lists everything); role points come first, in this order.
MAX_READING_TILES: Final = 8
READING_KINDS: Final = ("number", "enum", "bool")
READING_ROLE_ORDER: Final = {
    role: index
    for index, role in enumerate(
        (
            "pv_power",
            "grid_power",
            "battery_power",
            "battery_soc",
            "operating_state",
            "irradiance",
            "pv_energy",
            "grid_import_energy",
            "grid_export_energy",
            "battery_charge_energy",
            "battery_discharge_energy",
            "grid_voltage",
            "grid_frequency",
            "module_temperature",
            "ambient_temperature",
        )
    )
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardInput:
    """What the generator needs besides the announcement."""

    title: str
    entity_id: Callable[[Platform, str], str | None]
    texts: Mapping[str, str]
    energy_configured: bool = False
    peak_power: float = 0.0


def dashboard_url_path(collector_id: str) -> str:
    """The dashboard's url: `pv-monitor-<collector id>` (a url slug: `_` becomes `-`)."""
    return f"pv-monitor-{slugify(collector_id, separator='-')}"


def build_dashboard(announcement: Announcement, given: DashboardInput) -> dict[str, Any]:
    """The Lovelace config (one sections view) for a collector's entities that exist."""
    cid = announcement.collector.id
    text = given.texts.get

    def points(role: str) -> list[tuple[str, PointDef]]:
        found: list[tuple[str, PointDef]] = []
        for device in announcement.devices:
            for point in device.points_with_role(role):
                entity_id = given.entity_id(point_platform(point), point_unique_id(cid, device.id, point.key))
                if entity_id is not None:
                    found.append((entity_id, point))
        return found

    sections: list[dict[str, Any]] = []

    def section(title: str | None, cards: list[dict[str, Any]]) -> None:
        if cards:
            heading = [{"type": "heading", "heading": title}] if title else []
            sections.append({"type": "grid", "cards": heading + cards})

    # Power flow and energy: the energy-distribution card shows the Energy dashboard's configuration.
    if given.energy_configured:
        section(text("energy"), [{"type": "energy-distribution", "link_dashboard": True}])
    else:
        section(text("energy"), [{"type": "markdown", "content": text("energy_not_configured", "")}])

    peak = given.peak_power if given.peak_power > 0 else DEFAULT_GAUGE_MAX_W
    gauges = _gauges(points("pv_power"), [entity_id for entity_id, _ in points("battery_soc")], peak)
    section(text("power"), gauges)

    # Live readings: one section per device, its most telling points first (those with a role).
    for device in announcement.devices:
        readings = [
            point
            for point in device.points
            if point.kind in READING_KINDS and point.category is None and point.writable is None
        ]
        readings.sort(key=lambda point: READING_ROLE_ORDER.get(point.role or "", len(READING_ROLE_ORDER)))
        tiles_of_device = [
            {"type": "tile", "entity": reading_id}
            for point in readings
            if (
                reading_id := given.entity_id(
                    point_platform(point), point_unique_id(cid, device.id, point.key)
                )
            )
        ]
        section(device.name, tiles_of_device[:MAX_READING_TILES])

    power = [entity_id for role in POWER_ROLES for entity_id, _ in points(role)]
    energy = [entity_id for role in ENERGY_ROLES for entity_id, _ in points(role)]
    graphs = _graphs(power, energy, text("energy_per_day"))
    section(text("production_consumption"), graphs)

    tiles: list[dict[str, Any]] = []
    for device in announcement.devices:
        for point in device.points:
            platform = point_platform(point)
            if (features := TILE_FEATURES.get(platform)) is None:
                continue
            actuator = given.entity_id(platform, point_unique_id(cid, device.id, point.key))
            if actuator is not None:
                tiles.append({"type": "tile", "entity": actuator, "features": features})
    section(text("controls"), tiles)

    alerts = [
        alert_entity
        for device_id, alert in _alerts(announcement)
        if (alert_entity := given.entity_id(Platform.BINARY_SENSOR, alert_unique_id(cid, device_id, alert)))
    ]
    if alerts:
        section(text("alerts"), [{"type": "entities", "state_color": True, "entities": alerts}])

    diagnostics = [
        diagnostic
        for unique_id in [connection_unique_id(cid, device.id) for device in announcement.devices]
        + [stat_unique_id(cid, description.key) for description in STAT_DESCRIPTIONS]
        if (diagnostic := given.entity_id(Platform.SENSOR, unique_id))
    ]
    if diagnostics:
        section(text("diagnostics"), [{"type": "entities", "entities": diagnostics}])

    return {
        "title": given.title,
        "views": [
            {
                "title": given.title,
                "path": "overview",
                "icon": ICON,
                "type": "sections",
                "max_columns": 4,
                "sections": sections,
            }
        ],
    }


def _gauges(pv_power: list[tuple[str, PointDef]], soc: list[str], peak_w: float) -> list[dict[str, Any]]:
    """A gauge per PV power point (0 to the array's peak power) and per battery state of charge."""
    gauges: list[dict[str, Any]] = []
    for entity_id, point in pv_power:
        maximum = peak_w if point.unit == "W" else peak_w / 1000 if point.unit == "kW" else None
        gauge: dict[str, Any] = {"type": "gauge", "entity": entity_id, "min": 0, "needle": True}
        if maximum is not None:
            gauge["max"] = maximum
        gauges.append(gauge)
    gauges.extend(
        {
            "type": "gauge",
            "entity": entity_id,
            "min": 0,
            "max": 100,
            "severity": {"green": 50, "yellow": 20, "red": 0},
        }
        for entity_id in soc
    )
    return gauges


def _graphs(power: list[str], energy: list[str], energy_title: str | None) -> list[dict[str, Any]]:
    """Power over the last day; energy per day over the last month (long-term statistics)."""
    graphs: list[dict[str, Any]] = []
    if power:
        graphs.append({"type": "history-graph", "hours_to_show": 24, "entities": power})
    if energy:
        graphs.append(
            {
                "type": "statistics-graph",
                "title": energy_title,
                "chart_type": "bar",
                "period": "day",
                "days_to_show": 30,
                "stat_types": ["change"],
                "entities": energy,
            }
        )
    return graphs


def _alerts(announcement: Announcement) -> list[tuple[str | None, AlertType]]:
    """Every alert of the collector and its devices, collector first."""
    found: list[tuple[str | None, AlertType]] = [(None, AlertType.COLLECTOR_OFFLINE)]
    for device in announcement.devices:
        found.extend((device.id, alert) for alert in device_alerts(device, announcement))
    return found


def _entity_lookup(hass: HomeAssistant, entry_id: str) -> Callable[[Platform, str], str | None]:
    """Entity ids of the entry's enabled entities, by platform and unique id."""
    registry = er.async_get(hass)
    enabled = {
        (entry.domain, entry.unique_id): entry.entity_id
        for entry in er.async_entries_for_config_entry(registry, entry_id)
        if entry.disabled_by is None
    }

    def lookup(platform: Platform, unique_id: str) -> str | None:
        return enabled.get((str(platform), unique_id))

    return lookup


async def _async_energy_configured(hass: HomeAssistant) -> bool:
    if "energy" not in hass.config.components:
        return False
    manager = await async_get_energy_manager(hass)
    return bool(manager.data and manager.data["energy_sources"])


async def async_create_dashboard(hass: HomeAssistant, entry: PvMonitorConfigEntry) -> str:
    """Create or update the dashboard of an entry's collector; returns its url path.

    Raises `HomeAssistantError` (`not_announced`, `lovelace_unavailable`).
    """
    state = entry.runtime_data.state
    if state.announcement is None:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="not_announced",
            translation_placeholders={"collector": state.collector_name},
        )
    collection = lovelace_dashboards(hass)
    translations = await async_get_translations(hass, hass.config.language, "selector", [DOMAIN])
    prefix = f"component.{DOMAIN}.selector.dashboard_text.options."
    config = build_dashboard(
        state.announcement,
        DashboardInput(
            title=state.collector_name,
            entity_id=_entity_lookup(hass, entry.entry_id),
            texts={key: translations.get(prefix + key, key) for key in TEXT_KEYS},
            energy_configured=await _async_energy_configured(hass),
            peak_power=float(entry.options.get(CONF_ARRAY_PEAK_POWER, 0.0)),
        ),
    )
    url_path = dashboard_url_path(state.collector_id)
    existing = next((item for item in collection.async_items() if item["url_path"] == url_path), None)
    if existing is None:
        await collection.async_create_item(
            {"url_path": url_path, "title": state.collector_name, "icon": ICON, "show_in_sidebar": True}
        )
    else:
        await collection.async_update_item(existing["id"], {"title": state.collector_name})
    await async_save_dashboard_config(hass, url_path, config)
    return url_path
