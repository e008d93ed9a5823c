"""The Energy dashboard in one step: this collector's sensors, by role, added to Home Assistant's energy
preferences through the energy integration's own manager (`EnergyManager.async_update`, the code behind
the frontend's `energy/save_prefs`), validated with its own schema.

`energy_sources` is a pure function of the announcement and the entry's entity ids; `merge_sources` adds
them to what the user has without replacing or duplicating anything: a source whose statistics the
preferences already use (anywhere) is left out and reported as such.

Roles (docs/mqtt-contract.md): `pv_energy` + `pv_power` -> a solar source; `grid_import_energy`,
`grid_export_energy` + `grid_power` (positive = import, as the energy integration counts it) -> a grid
source; `battery_discharge_energy`, `battery_charge_energy` + `battery_power` (positive = discharge) +
`battery_soc` -> a battery source. Only `total`/`total_increasing` energy counters qualify.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, cast

import probatio as vol
from homeassistant.components.energy.data import ENERGY_SOURCE_SCHEMA, EnergyPreferencesUpdate
from homeassistant.components.energy.data import async_get_manager as async_get_energy_manager
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er

from .catalogue import point_platform, point_unique_id
from .const import CONF_ENERGY_PENDING, DOMAIN
from .messages import Announcement, DeviceDef, PointDef

ENERGY_UNITS: Final = frozenset({"Wh", "kWh", "MWh"})
POWER_UNITS: Final = frozenset({"W", "kW", "MW"})
# The keys of a source that name statistics (a statistic used by any of them is taken).
_LOGGER = logging.getLogger(__package__)

STAT_KEYS: Final = ("stat_energy_from", "stat_energy_to", "stat_rate")

type EntityLookup = Callable[[Platform, str], str | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyPlan:
    """What the step would do: the sources to add, and the ones left out because the preferences
    already use their statistics."""

    add: list[dict[str, Any]]
    present: list[dict[str, Any]]


def _counter(point: PointDef) -> bool:
    return (
        point.kind == "number"
        and point.state_class in ("total", "total_increasing")
        and point.device_class == "energy"
        and point.unit in ENERGY_UNITS
    )


def _power(point: PointDef) -> bool:
    return point.kind == "number" and point.device_class == "power" and point.unit in POWER_UNITS


def _device_sources(device: DeviceDef, found: Callable[[PointDef], str | None]) -> list[dict[str, Any]]:
    """A device's sources; `found` gives a point's statistic (its entity id), None when it has none."""

    def pick(role: str, test: Callable[[PointDef], bool]) -> str | None:
        for point in device.points_with_role(role):
            if test(point) and (value := found(point)):
                return value
        return None

    sources: list[dict[str, Any]] = []
    if produced := pick("pv_energy", _counter):
        solar: dict[str, Any] = {"type": "solar", "stat_energy_from": produced, "name": device.name}
        if rate := pick("pv_power", _power):
            solar["stat_rate"] = rate
        sources.append(solar)
    imported, exported = pick("grid_import_energy", _counter), pick("grid_export_energy", _counter)
    if imported or exported:
        grid: dict[str, Any] = {
            "type": "grid",
            "stat_energy_from": imported,
            "stat_energy_to": exported,
            "stat_cost": None,
            "entity_energy_price": None,
            "number_energy_price": None,
            "stat_compensation": None,
            "entity_energy_price_export": None,
            "number_energy_price_export": None,
            "cost_adjustment_day": 0.0,
            "name": device.name,
        }
        if rate := pick("grid_power", _power):
            grid["power_config"] = {"stat_rate": rate}
        sources.append(grid)
    discharged, charged = pick("battery_discharge_energy", _counter), pick("battery_charge_energy", _counter)
    if discharged and charged:
        battery: dict[str, Any] = {
            "type": "battery",
            "stat_energy_from": discharged,
            "stat_energy_to": charged,
            "name": device.name,
        }
        if rate := pick("battery_power", _power):
            battery["power_config"] = {"stat_rate": rate}
        if soc := pick("battery_soc", lambda p: p.kind == "number" and p.unit == "%"):
            battery["stat_soc"] = soc
        sources.append(battery)
    return sources


def energy_sources(announcement: Announcement, lookup: EntityLookup) -> list[dict[str, Any]]:
    """The energy sources this collector's devices make, in the energy integration's format."""
    cid = announcement.collector.id
    sources: list[dict[str, Any]] = []
    for device in announcement.devices:

        def found(point: PointDef, device: DeviceDef = device) -> str | None:
            return lookup(point_platform(point), point_unique_id(cid, device.id, point.key))

        sources.extend(_device_sources(device, found))
    return sources


def entities_complete(announcement: Announcement, lookup: EntityLookup) -> bool:
    """True once every statistic the sources need has its entity (the platforms have added them)."""
    wanted = energy_sources(announcement, lambda platform, unique_id: unique_id)
    have = energy_sources(announcement, lookup)
    return [len(_statistics_in_order(s)) for s in wanted] == [len(_statistics_in_order(s)) for s in have]


def energy_roles(announcement: Announcement) -> bool:
    """True when the collector's devices make at least one energy source."""
    return any(_device_sources(device, lambda point: point.key) for device in announcement.devices)


def describe_roles(announcement: Announcement) -> str:
    """What the set-up step would add, before the entities exist: `- Inverter: Lifetime energy, AC power`."""
    lines = []
    for device in announcement.devices:
        names = [
            name
            for source in _device_sources(device, lambda point: point.name)
            for name in _statistics_in_order(source)
        ]
        if names:
            lines.append(f"- {device.name}: " + ", ".join(dict.fromkeys(names)))
    return "\n".join(lines)


def _statistics_in_order(source: dict[str, Any]) -> list[str]:
    values = [source.get("stat_energy_from"), source.get("stat_energy_to"), source.get("stat_rate")]
    values.append((source.get("power_config") or {}).get("stat_rate"))
    values.append(source.get("stat_soc"))
    return [value for value in values if isinstance(value, str)]


def _statistics(source: dict[str, Any]) -> set[str]:
    used = {value for key in STAT_KEYS if isinstance(value := source.get(key), str)}
    power_config = source.get("power_config") or {}
    used.update(value for value in power_config.values() if isinstance(value, str))
    return used


def plan_sources(existing: Iterable[dict[str, Any]], candidates: Iterable[dict[str, Any]]) -> EnergyPlan:
    """Which candidates to add: those none of whose statistics the existing sources use."""
    used: set[str] = set()
    for source in existing:
        used |= _statistics(source)
    add: list[dict[str, Any]] = []
    present: list[dict[str, Any]] = []
    for candidate in candidates:
        (present if _statistics(candidate) & used else add).append(candidate)
    return EnergyPlan(add=add, present=present)


def entry_lookup(hass: HomeAssistant, entry_id: str) -> EntityLookup:
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


async def async_energy_sources(hass: HomeAssistant) -> list[dict[str, Any]]:
    """The energy preferences' sources now (empty when the energy integration is not loaded)."""
    if "energy" not in hass.config.components:
        return []
    manager = await async_get_energy_manager(hass)
    return [dict(source) for source in manager.data["energy_sources"]] if manager.data else []


async def async_plan(hass: HomeAssistant, announcement: Announcement, entry_id: str) -> EnergyPlan:
    """What adding this collector to the Energy dashboard would do now."""
    return plan_sources(
        await async_energy_sources(hass), energy_sources(announcement, entry_lookup(hass, entry_id))
    )


async def async_add_to_energy_dashboard(hass: HomeAssistant, plan: EnergyPlan) -> None:
    """Append the plan's sources to the energy preferences (what the user has stays as it is).

    Raises `HomeAssistantError` (`energy_unavailable`, `energy_invalid`).
    """
    if "energy" not in hass.config.components:
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="energy_unavailable")
    if not plan.add:
        return
    manager = await async_get_energy_manager(hass)
    existing: list[Any] = list(manager.data["energy_sources"]) if manager.data else []
    sources = [*existing, *plan.add]
    try:
        validated = ENERGY_SOURCE_SCHEMA(sources)
    except vol.Invalid as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="energy_invalid",
            translation_placeholders={"error": str(err)},
        ) from err
    await manager.async_update(cast("EnergyPreferencesUpdate", {"energy_sources": validated}))


def describe(sources: Iterable[dict[str, Any]]) -> str:
    """A Markdown list of sources for a step's description: `- Inverter: sensor.x, sensor.y`."""
    return "\n".join(
        f"- {source.get('name', '')}: " + ", ".join(f"`{stat}`" for stat in _statistics_in_order(source))
        for source in sources
    )


class PendingEnergyDashboard:
    """The set-up flow's choice "add to the Energy dashboard" (option `energy_dashboard_pending`): done
    once, as soon as the collector's entities exist, then the option is cleared."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        """Nothing started yet."""
        self._hass = hass
        self._entry = entry
        self._started = False

    @callback
    def check(self, announcement: Announcement | None) -> None:
        """Called on readings: start when chosen and every source's entities exist."""
        entry = self._entry
        if self._started or announcement is None or not entry.options.get(CONF_ENERGY_PENDING):
            return
        if not entities_complete(announcement, entry_lookup(self._hass, entry.entry_id)):
            return
        self._started = True
        entry.async_create_task(self._hass, self._async_add(announcement), f"{DOMAIN} energy dashboard")

    async def _async_add(self, announcement: Announcement) -> None:
        entry = self._entry
        plan = await async_plan(self._hass, announcement, entry.entry_id)
        try:
            await async_add_to_energy_dashboard(self._hass, plan)
        except HomeAssistantError as err:
            _LOGGER.warning("%s was not added to the Energy dashboard: %s", entry.title, err)
        else:
            _LOGGER.info(
                "%s added to the Energy dashboard: %d sources (%d were there already)",
                entry.title,
                len(plan.add),
                len(plan.present),
            )
        options = {key: value for key, value in entry.options.items() if key != CONF_ENERGY_PENDING}
        self._hass.config_entries.async_update_entry(entry, options=options)
