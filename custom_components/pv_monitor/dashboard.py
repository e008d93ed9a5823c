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
from dataclasses import dataclass, field
from typing import Any, Final

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import slugify

from .alerts import AlertType, device_alerts
from .catalogue import (
    alert_unique_id,
    connection_unique_id,
    health_unique_id,
    point_platform,
    point_unique_id,
    stat_unique_id,
)
from .const import DOMAIN, RATED_POWER_KEY
from .energy import async_energy_sources, energy_sources, entry_lookup
from .ha_internals import async_save_dashboard_config, lovelace_dashboards
from .messages import Announcement, DeviceDef, PointDef
from .models import CollectorState, PvMonitorConfigEntry
from .sensor import STAT_DESCRIPTIONS

# Texts of the generated dashboard (translated: strings.json `selector.dashboard_text.options`).
TEXT_KEYS: Final = (
    "today",
    "produced",
    "consumed",
    "imported",
    "exported",
    "charged",
    "discharged",
    "power",
    "solar",
    "grid",
    "storage",
    "state_of_charge",
    "energy_not_configured",
    "production_consumption",
    "energy_per_day",
    "alerts",
    "diagnostics",
    "module_temperature",
    "ambient_temperature",
)
ICON: Final = "mdi:solar-power-variant"

# Tile features per actuator platform (frontend 2026.10: hui-tile-card features).
TILE_FEATURES: Final[dict[Platform, list[dict[str, Any]]]] = {
    Platform.NUMBER: [{"type": "numeric-input", "style": "buttons"}],
    Platform.SELECT: [{"type": "select-options"}],
    Platform.SWITCH: [{"type": "toggle"}],
    Platform.BUTTON: [{"type": "button"}],
}
# A tile shows the entity's own (translated) name: the section's heading names the device.
ENTITY_NAME: Final = {"type": "entity"}
POWER_ROLES: Final = ("pv_power", "grid_power", "battery_power")
ENERGY_ROLES: Final = (
    "pv_energy",
    "grid_import_energy",
    "grid_export_energy",
    "battery_charge_energy",
    "battery_discharge_energy",
)
# The collector's figures of the day, in the order the first section shows them, with their short label
# (TEXT_KEYS; the section's heading says "today").
TODAY_KEYS: Final = {
    "pv_energy_today": "produced",
    "house_consumption_today": "consumed",
    "grid_import_today": "imported",
    "grid_export_today": "exported",
    "battery_charge_today": "charged",
    "battery_discharge_today": "discharged",
}
# The "power now" tiles: the label (TEXT_KEYS) and icon of each power role.
POWER_LABELS: Final = {
    "pv_power": ("solar", "mdi:solar-power-variant"),
    "grid_power": ("grid", "mdi:transmission-tower"),
    "battery_power": ("storage", "mdi:home-battery"),
}
# A reading tile of these roles is labelled short (TEXT_KEYS) in its device's section: the entity's own name
# ("Discharged energy", "Module temperature") is cut off in a tile at 1400 px and on a phone.
READING_LABELS: Final = {
    "grid_import_energy": "imported",
    "grid_export_energy": "exported",
    "battery_charge_energy": "charged",
    "battery_discharge_energy": "discharged",
    "module_temperature": "module_temperature",
    "ambient_temperature": "ambient_temperature",
}
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
    """What the generator needs besides the announcement.

    `power_flow`: the Energy dashboard has this collector's power sensors (the power-sankey card can draw
    the live flow); `energy_configured`: it has energy sources (the energy-distribution card shows today's).
    `rated_power`: an inverter's rated AC power in W, by device id (the gauge's maximum); `peak_power`:
    its array's peak power in W (the maximum without a rated power). `alert_names`: each alert's own
    (translated) name by its key, shown under its device's name in the alerts card.
    """

    title: str
    entity_id: Callable[[Platform, str], str | None]
    texts: Mapping[str, str]
    energy_configured: bool = False
    power_flow: bool = False
    rated_power: Mapping[str, float] = field(default_factory=dict)
    peak_power: Mapping[str, float] = field(default_factory=dict)
    alert_names: Mapping[str, str] = field(default_factory=dict)


def dashboard_url_path(collector_id: str) -> str:
    """The dashboard's url: `pv-monitor-<collector id>` (a url slug: `_` becomes `-`)."""
    return f"pv-monitor-{slugify(collector_id, separator='-')}"


def build_dashboard(announcement: Announcement, given: DashboardInput) -> dict[str, Any]:
    """The Lovelace config (one sections view) for a collector's entities that exist.

    First what a PV owner looks for: today's figures, then the power now (the live power flow when the
    Energy dashboard has this collector's power sensors), then a section per device (its readings and
    controls), graphs, alerts and diagnostics. Tiles show the entity's own name: short and distinct in
    their section, never the device's name again.
    """
    cid = announcement.collector.id
    text = given.texts.get

    def points(role: str) -> list[tuple[str, str, PointDef]]:
        found: list[tuple[str, str, PointDef]] = []
        for device in announcement.devices:
            for point in device.points_with_role(role):
                if point.kind != "number":
                    continue
                entity_id = given.entity_id(point_platform(point), point_unique_id(cid, device.id, point.key))
                if entity_id is not None:
                    found.append((device.id, entity_id, point))
        return found

    def collector_sensor(key: str) -> str | None:
        return given.entity_id(Platform.SENSOR, health_unique_id(cid, None, key))

    sections: list[dict[str, Any]] = []

    def section(title: str | None, cards: list[dict[str, Any]]) -> None:
        if cards:
            heading = [{"type": "heading", "heading": title}] if title else []
            sections.append({"type": "grid", "cards": heading + cards})

    # Today: the counters' increase since midnight (values from the first minute, no statistics needed).
    today = [
        _tile(entity_id, text(label, label))
        for key, label in TODAY_KEYS.items()
        if (entity_id := collector_sensor(key))
    ]
    if given.energy_configured:
        today.append({"type": "energy-distribution", "link_dashboard": True})
    section(text("today"), today)
    house = collector_sensor("house_power")
    section(text("power"), _power_cards(points, house, given))
    for device in announcement.devices:
        section(device.name, _device_tiles(cid, device, given))

    power_ids = [entity_id for role in POWER_ROLES for _d, entity_id, _p in points(role)]
    if house:
        power_ids.append(house)
    energy = [entity_id for role in ENERGY_ROLES for _d, entity_id, _p in points(role)]
    section(text("production_consumption"), _graphs(power_ids, energy, text("energy_per_day")))

    alerts = _alert_rows(announcement, given)
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
                "max_columns": 3,
                "sections": sections,
            }
        ],
    }


def _power_cards(
    points: Callable[[str], list[tuple[str, str, PointDef]]], house: str | None, given: DashboardInput
) -> list[dict[str, Any]]:
    """Power now: the live flow (the Energy dashboard's power sensors), the power per role (labelled by
    what it is, not by its device), the house, the gauges; a hint while the flow cannot be drawn."""
    text = given.texts.get
    cards: list[dict[str, Any]] = [{"type": "power-sankey"}] if given.power_flow else []
    for role, (label, icon) in POWER_LABELS.items():
        found = points(role)
        for number, (_device_id, entity_id, _point) in enumerate(found, start=1):
            name = text(label, label) + (f" {number}" if len(found) > 1 else "")
            cards.append({**_tile(entity_id, name), "icon": icon})
    if house:
        cards.append(_tile(house))
    cards.extend(
        _gauges(points("pv_power"), points("battery_soc"), given, text("solar"), text("state_of_charge"))
    )
    if not given.power_flow:
        cards.append({"type": "markdown", "content": text("energy_not_configured", "")})
    return cards


def _device_tiles(cid: str, device: DeviceDef, given: DashboardInput) -> list[dict[str, Any]]:
    """A device's most telling readings first (those with a role), then the controls a user changes
    (rarely changed settings are `config` entities: on the device page only)."""
    readings = [
        point
        for point in device.points
        if point.kind in READING_KINDS and point.category is None and point.writable is None
    ]
    readings.sort(key=lambda point: READING_ROLE_ORDER.get(point.role or "", len(READING_ROLE_ORDER)))
    tiles = [
        _tile(reading_id, _reading_label(device, point, given.texts))
        for point in readings
        if (reading_id := given.entity_id(point_platform(point), point_unique_id(cid, device.id, point.key)))
    ][:MAX_READING_TILES]
    for point in device.points:
        platform = point_platform(point)
        if (features := TILE_FEATURES.get(platform)) is None or point.category is not None:
            continue
        if actuator := given.entity_id(platform, point_unique_id(cid, device.id, point.key)):
            # A control takes the section's width: its name and its buttons fit.
            tiles.append({**_tile(actuator), "features": features, "grid_options": {"columns": "full"}})
    return tiles


def _reading_label(device: DeviceDef, point: PointDef, texts: Mapping[str, str]) -> str | None:
    """The short label of a reading with a role of READING_LABELS, when it is the device's only point of that
    role and the label does not repeat the device's name; else None (the entity's own name)."""
    key = READING_LABELS.get(point.role or "")
    label = texts.get(key) if key else None
    if not label or len(device.points_with_role(point.role or "")) != 1:
        return None
    return None if device.name.lower() in label.lower() else label


def _tile(entity_id: str, name: str | None = None) -> dict[str, Any]:
    """A tile showing the entity's own name (or `name`)."""
    return {"type": "tile", "entity": entity_id, "name": name if name is not None else ENTITY_NAME}


def _gauges(
    pv_power: list[tuple[str, str, PointDef]],
    soc: list[tuple[str, str, PointDef]],
    given: DashboardInput,
    pv_name: str | None,
    soc_name: str | None,
) -> list[dict[str, Any]]:
    """A gauge per PV power point (0 to the inverter's rated power, else the array's peak power) and per
    battery state of charge."""
    gauges: list[dict[str, Any]] = []
    for device_id, entity_id, point in pv_power:
        peak = given.rated_power.get(device_id) or given.peak_power.get(device_id) or DEFAULT_GAUGE_MAX_W
        maximum = peak if point.unit == "W" else peak / 1000 if point.unit == "kW" else None
        gauge: dict[str, Any] = {"type": "gauge", "entity": entity_id, "min": 0, "needle": True}
        if maximum is not None:
            gauge["max"] = maximum
        if pv_name:
            gauge["name"] = pv_name + (f" {len(gauges) + 1}" if len(pv_power) > 1 else "")
        gauges.append(gauge)
    for _device_id, entity_id, _point in soc:
        gauge = {
            "type": "gauge",
            "entity": entity_id,
            "min": 0,
            "max": 100,
            "severity": {"green": 50, "yellow": 20, "red": 0},
        }
        if soc_name:
            gauge["name"] = soc_name
        gauges.append(gauge)
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


def _alert_rows(announcement: Announcement, given: DashboardInput) -> list[dict[str, Any]]:
    """The alerts card's rows: a device's name, then its alerts under their own name ("Grid voltage out of
    range" under "Grid meter", not "Grid meter Grid voltage out of range" cut off in every row)."""
    cid = announcement.collector.id
    names = {None: given.title} | {device.id: device.name for device in announcement.devices}
    rows: list[dict[str, Any]] = []
    heading: str | None = None
    for device_id, alert in _alerts(announcement):
        entity_id = given.entity_id(Platform.BINARY_SENSOR, alert_unique_id(cid, device_id, alert))
        if entity_id is None:
            continue
        if names[device_id] != heading:
            heading = names[device_id]
            rows.append({"type": "section", "label": heading})
        row: dict[str, Any] = {"entity": entity_id}
        if (name := given.alert_names.get(str(alert))) is not None:
            row["name"] = name
        rows.append(row)
    return rows


def _alerts(announcement: Announcement) -> list[tuple[str | None, AlertType]]:
    """Every alert of the collector and its devices, collector first."""
    found: list[tuple[str | None, AlertType]] = [(None, AlertType.COLLECTOR_OFFLINE)]
    for device in announcement.devices:
        found.extend((device.id, alert) for alert in device_alerts(device, announcement))
    return found


def rated_power_w(state: CollectorState) -> dict[str, float]:
    """Each inverter's rated AC power in W, where its device reports one (`rated_power`)."""
    rated: dict[str, float] = {}
    for device_id, runtime in state.devices.items():
        point = runtime.definition.point(RATED_POWER_KEY)
        value = runtime.values.get(RATED_POWER_KEY)
        if point is None or not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            continue
        factor = {"W": 1.0, "kW": 1000.0}.get(point.unit or "")
        if factor is not None:
            rated[device_id] = float(value) * factor
    return rated


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
    entity_names = await async_get_translations(hass, hass.config.language, "entity", [DOMAIN])
    alert_prefix = f"component.{DOMAIN}.entity.{Platform.BINARY_SENSOR}."
    lookup = entry_lookup(hass, entry.entry_id)
    preferences = await async_energy_sources(hass)
    ours = {
        entity_id
        for source in energy_sources(state.announcement, lookup)
        for entity_id in (source.get("stat_rate"), (source.get("power_config") or {}).get("stat_rate"))
        if entity_id
    }
    config = build_dashboard(
        state.announcement,
        DashboardInput(
            title=state.collector_name,
            entity_id=lookup,
            texts={key: translations.get(prefix + key, key) for key in TEXT_KEYS},
            energy_configured=bool(preferences),
            power_flow=any(source.get("stat_rate") in ours for source in preferences),
            rated_power=rated_power_w(state),
            peak_power={
                device_id: array.peak_power * 1000.0
                for device_id, array in entry.runtime_data.options.arrays.items()
            },
            alert_names={
                str(alert): name
                for alert in AlertType
                if (name := entity_names.get(f"{alert_prefix}{alert}.name")) is not None
            },
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
