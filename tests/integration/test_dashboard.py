"""The ready dashboard: generated from core cards for existing entities, stored as a storage dashboard."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import hass_frontend
import pytest
from homeassistant.components.lovelace.const import LOVELACE_DATA
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.service import ServiceValidationError
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.pv_monitor.const import DOMAIN
from custom_components.pv_monitor.contract import parse_announcement
from custom_components.pv_monitor.dashboard import (
    TEXT_KEYS,
    TILE_FEATURES,
    DashboardInput,
    build_dashboard,
    dashboard_url_path,
)
from custom_components.pv_monitor.energy import entry_lookup

from .conftest import FakeCollector

# The core (built-in) Lovelace card types of Home Assistant's frontend; no custom cards allowed.
CORE_CARD_TYPES = frozenset(
    {
        "alarm-panel", "area", "button", "calendar", "conditional", "energy-distribution", "entities",
        "power-sankey",
        "entity", "gauge", "glance", "grid", "heading", "history-graph", "horizontal-stack", "humidifier",
        "iframe", "light", "logbook", "map", "markdown", "media-control", "picture", "picture-elements",
        "picture-entity", "picture-glance", "plant-status", "sensor", "shopping-list", "statistic",
        "statistics-graph", "thermostat", "tile", "todo-list", "vertical-stack", "weather-forecast",
    }
)  # fmt: skip
# Tile features and the entity domains they work with (frontend: hui-tile-card features).
FEATURE_DOMAINS = {
    "numeric-input": {"number", "input_number"},
    "select-options": {"select", "input_select"},
    "toggle": {"switch", "input_boolean", "light", "fan"},
    "button": {"button", "input_button", "script"},
}


@cache
def frontend_elements() -> frozenset[str]:
    """Custom element names registered by the installed frontend's cards and card features."""
    found: set[str] = set()
    for path in (Path(hass_frontend.__file__).parent / "frontend_latest").glob("*.js"):
        found.update(re.findall(r'"(hui-[a-z0-9-]+-card(?:-feature)?)"', path.read_text(errors="ignore")))
    return frozenset(found)


def cards(config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every card of a dashboard config, nested ones included."""
    for view in config["views"]:
        for section in view.get("sections", []):
            yield from _walk(section.get("cards", []))
        yield from _walk(view.get("cards", []))


def _walk(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for card in items:
        yield card
        yield from _walk(card.get("cards", []))


def entity_refs(card: dict[str, Any]) -> list[str]:
    refs = [card["entity"]] if "entity" in card else []
    rows = card.get("entities", [])
    return refs + [
        row if isinstance(row, str) else row["entity"]
        for row in rows
        if isinstance(row, str) or "entity" in row
    ]


@pytest.fixture
async def lovelace(hass: HomeAssistant) -> None:
    """The frontend's dashboards component (storage mode)."""
    assert await async_setup_component(hass, "lovelace", {})


def assert_valid(hass: HomeAssistant, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Core cards only, real entities only, features that fit their entity; returns the cards."""
    found = list(cards(config))
    assert found
    for card in found:
        assert card["type"] in CORE_CARD_TYPES, card
        assert f"hui-{card['type']}-card" in frontend_elements(), card["type"]
        for entity_id in entity_refs(card):
            assert hass.states.get(entity_id) is not None, entity_id
        for feature in card.get("features", []):
            assert f"hui-{feature['type']}-card-feature" in frontend_elements(), feature
            assert card["entity"].split(".")[0] in FEATURE_DOMAINS[feature["type"]], (card, feature)
    return found


def tile_names(hass: HomeAssistant, config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(section heading, tile name as shown, device name) of every tile: a tile naming the entity shows
    the entity's own name (the frontend's `{"type": "entity"}`)."""
    registry = er.async_get(hass)
    devices = dr.async_get(hass)
    found = []
    for view in config["views"]:
        for section in view["sections"]:
            heading = next((c["heading"] for c in section["cards"] if c["type"] == "heading"), "")
            for card in section["cards"]:
                if card["type"] != "tile":
                    continue
                entry = registry.async_get(card["entity"])
                assert entry is not None
                device = devices.async_get(entry.device_id) if entry.device_id else None
                name = card["name"] if isinstance(card["name"], str) else (entry.name or entry.original_name)
                assert card["name"] == {"type": "entity"} or isinstance(card["name"], str)
                found.append((heading, str(name), device.name if device else ""))
    return found


async def test_generated_dashboard(hass: HomeAssistant, running: MockConfigEntry) -> None:
    """Today's figures first, then the power now, a section per device (readings, then the controls a
    user changes), graphs, alerts and diagnostics: core cards, existing entities, short distinct names."""
    announcement = running.runtime_data.state.announcement
    lookup = entry_lookup(hass, running.entry_id)
    assert announcement is not None
    config = build_dashboard(
        announcement,
        DashboardInput(title="Home PV", entity_id=lookup, texts={key: key for key in TEXT_KEYS}),
    )
    found = assert_valid(hass, config)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for card in found:
        by_type.setdefault(card["type"], []).append(card)
    sections = config["views"][0]["sections"]
    assert [s["cards"][0]["heading"] for s in sections] == [
        "today", "power", "Inverter", "Grid meter", "Battery", "Irradiance sensor",
        "production_consumption", "alerts", "diagnostics",
    ]  # fmt: skip
    assert [(card["entity"], card["name"]) for card in sections[0]["cards"][1:]] == [
        ("sensor.home_pv_production_today", "produced"),
        ("sensor.home_pv_consumption_today", "consumed"),
        ("sensor.home_pv_grid_import_today", "imported"),
        ("sensor.home_pv_grid_export_today", "exported"),
        ("sensor.home_pv_battery_charged_today", "charged"),
        ("sensor.home_pv_battery_discharged_today", "discharged"),
    ]
    power = sections[1]["cards"][1:]
    assert [(c["type"], c.get("entity"), c.get("name")) for c in power if c["type"] == "tile"] == [
        ("tile", "sensor.inverter_ac_power", "solar"),
        ("tile", "sensor.grid_meter_power", "grid"),
        ("tile", "sensor.battery_power", "storage"),
        ("tile", "sensor.home_pv_consumption", {"type": "entity"}),
    ]
    # without the Energy dashboard: no flow card, a hint how to get it
    assert [card["content"] for card in by_type["markdown"]] == ["energy_not_configured"]
    assert "energy-distribution" not in by_type
    assert "power-sankey" not in by_type
    gauges = {card["entity"]: card for card in by_type["gauge"]}
    assert set(gauges) == {"sensor.inverter_ac_power", "sensor.battery_state_of_charge"}
    assert gauges["sensor.inverter_ac_power"]["max"] == 10_000  # nothing tells the rated power here
    assert gauges["sensor.battery_state_of_charge"]["name"] == "state_of_charge"
    assert gauges["sensor.inverter_ac_power"]["name"] == "solar"
    assert by_type["history-graph"][0]["entities"] == [
        "sensor.inverter_ac_power",
        "sensor.grid_meter_power",
        "sensor.battery_power",
        "sensor.home_pv_consumption",
    ]
    assert by_type["statistics-graph"][0]["entities"] == [
        "sensor.inverter_lifetime_energy",
        "sensor.grid_meter_imported_energy",
        "sensor.grid_meter_exported_energy",
        "sensor.battery_charged_energy",
        "sensor.battery_discharged_energy",
    ]
    inverter = [card["entity"] for card in sections[2]["cards"][1:]]
    assert inverter[:3] == [  # role points first, in the order of READING_ROLE_ORDER
        "sensor.inverter_ac_power",
        "sensor.inverter_operating_state",
        "sensor.inverter_lifetime_energy",
    ]
    tiles = {card["entity"]: card["features"][0]["type"] for card in by_type["tile"] if "features" in card}
    assert tiles == {  # controls without a category; the `config` ones stay on the device page
        "number.inverter_active_power_limit": "numeric-input",
        "switch.inverter_active_power_limit_enabled": "toggle",
        "select.battery_operating_mode": "select-options",
        "number.battery_charge_power_limit": "numeric-input",
        "button.battery_reset_bms_errors": "button",
    }
    names = tile_names(hass, config)
    for heading in {heading for heading, _name, _device in names}:
        in_section = [name for h, name, _device in names if h == heading]
        assert len(in_section) == len(set(in_section)), (heading, in_section)
    assert [(n, d) for _h, n, d in names if d and d.lower() in n.lower()] == []
    alerts = {ref for card in by_type["entities"] for ref in entity_refs(card) if ref.startswith("binary_")}
    assert alerts == {
        state.entity_id
        for state in hass.states.async_all("binary_sensor")
        if state.attributes.get("device_class") == "problem"
    }
    diagnostics = entity_refs(by_type["entities"][-1])
    assert "sensor.inverter_connection" in diagnostics
    assert "sensor.home_pv_errors" in diagnostics
    assert "sensor.home_pv_uptime" not in diagnostics  # disabled by default: no state to show


def test_power_flow_when_the_energy_dashboard_has_the_collector(announcement: dict[str, Any]) -> None:
    """With this collector in the Energy dashboard the live flow and today's distribution replace the
    hint; the PV gauge goes to the inverter's rated power, else the array's peak power."""
    given = DashboardInput(
        title="Home PV",
        entity_id=lambda platform, unique_id: f"{platform}.{unique_id}",
        texts={},
        energy_configured=True,
        power_flow=True,
        rated_power={"inverter": 5000},
        peak_power={"inverter": 6000},
    )
    found = list(cards(build_dashboard(parse_announcement(json.dumps(announcement)), given)))
    types = [card["type"] for card in found]
    assert {"energy-distribution", "power-sankey"} <= set(types)
    assert "markdown" not in types
    assert [card["max"] for card in found if card["type"] == "gauge"] == [5000, 100]
    given = replace(given, rated_power={})
    found = list(cards(build_dashboard(parse_announcement(json.dumps(announcement)), given)))
    assert [card["max"] for card in found if card["type"] == "gauge"] == [6000, 100]


def test_long_reading_names_get_a_short_label_in_their_device_section(
    hass: HomeAssistant, running: MockConfigEntry, announcement: dict[str, Any]
) -> None:
    """A name like "Discharged energy" or "Module temperature" is cut off in a tile at 1400 px and on a
    phone: in its device's section (the heading names the device) a counter or temperature with a role
    shows a short label; a device with two points of the role, or whose name the label would repeat,
    keeps the names."""
    texts = {key: f"<{key}>" for key in TEXT_KEYS}
    given = DashboardInput(title="Home PV", entity_id=entry_lookup(hass, running.entry_id), texts=texts)
    parsed = running.runtime_data.state.announcement
    assert parsed is not None

    def labels(config: dict[str, Any]) -> dict[str, Any]:
        return {
            card["entity"]: card["name"]
            for section in config["views"][0]["sections"][2:-3]  # the device sections
            for card in section["cards"]
            if card["type"] == "tile" and "features" not in card
        }

    shown = labels(build_dashboard(parsed, given))
    assert {entity: name for entity, name in shown.items() if isinstance(name, str)} == {
        "sensor.grid_meter_imported_energy": "<imported>",
        "sensor.grid_meter_exported_energy": "<exported>",
        "sensor.battery_charged_energy": "<charged>",
        "sensor.battery_discharged_energy": "<discharged>",
        "sensor.irradiance_sensor_module_temperature": "<module_temperature>",
    }
    assert shown["sensor.inverter_lifetime_energy"] == {"type": "entity"}

    # Two module temperatures on one device, and a device called like its label: the entities' own names.
    weather = next(device for device in announcement["devices"] if device["id"] == "weather")
    module = next(point for point in weather["points"] if point["key"] == "module_temperature")
    weather["points"].append({**module, "key": "module_temperature_2", "name": "Module temperature 2"})
    battery = next(device for device in announcement["devices"] if device["id"] == "battery")
    battery["name"] = "Discharged"
    texts["discharged"] = "Discharged"
    shown = labels(build_dashboard(parse_announcement(json.dumps(announcement)), given))
    assert shown["sensor.irradiance_sensor_module_temperature"] == {"type": "entity"}
    assert shown["sensor.battery_discharged_energy"] == {"type": "entity"}
    assert shown["sensor.battery_charged_energy"] == "<charged>"


def test_tile_features_match_their_platforms() -> None:
    """Each actuator platform gets a feature made for its domain."""
    for platform, features in TILE_FEATURES.items():
        for feature in features:
            assert str(platform) in FEATURE_DOMAINS[feature["type"]]


async def test_create_dashboard_service(
    hass: HomeAssistant, running: MockConfigEntry, lovelace: None, hass_ws_client: WebSocketGenerator
) -> None:
    """The action creates a storage dashboard the frontend lists and reads; again, it updates it."""
    response = await hass.services.async_call(
        DOMAIN, "create_dashboard", {"config_entry_id": running.entry_id}, blocking=True, return_response=True
    )
    assert response == {"url_path": "pv-monitor-home"}
    assert dashboard_url_path("my_site") == "pv-monitor-my-site"

    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "lovelace/dashboards/list"})
    listed = (await client.receive_json())["result"]
    assert [(d["url_path"], d["title"], d["mode"]) for d in listed] == [
        ("pv-monitor-home", "Home PV", "storage")
    ]
    await client.send_json_auto_id({"type": "lovelace/config", "url_path": "pv-monitor-home"})
    stored = (await client.receive_json())["result"]
    assert stored["title"] == "Home PV"
    assert_valid(hass, stored)
    # The section headings are translated.
    headings = [card["heading"] for card in cards(stored) if card["type"] == "heading"]
    assert headings[:2] == ["Today", "Power now"]
    # The alerts are named by their translated entity name under their device's name.
    alert_rows = next(
        card["entities"] for card in cards(stored) if card["type"] == "entities" and card.get("state_color")
    )
    assert alert_rows[:2] == [
        {"type": "section", "label": "Home PV"},
        {"entity": "binary_sensor.home_pv_offline", "name": "Offline"},
    ]

    # The user edits it; creating it again replaces the content of the same dashboard.
    await hass.data[LOVELACE_DATA].dashboards["pv-monitor-home"].async_save({"views": []})
    await hass.services.async_call(
        DOMAIN, "create_dashboard", {"config_entry_id": running.entry_id}, blocking=True
    )
    await client.send_json_auto_id({"type": "lovelace/dashboards/list"})
    assert len((await client.receive_json())["result"]) == 1
    await client.send_json_auto_id({"type": "lovelace/config", "url_path": "pv-monitor-home"})
    assert (await client.receive_json())["result"]["views"] != []


async def test_create_dashboard_errors(
    hass: HomeAssistant, setup_integration: MockConfigEntry, collector: FakeCollector
) -> None:
    """No lovelace, no announcement, or an unknown entry: one clear error, nothing created."""
    call = {"config_entry_id": setup_integration.entry_id}
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, "create_dashboard", call, blocking=True)
    assert err.value.translation_key == "not_announced"
    collector.start()
    await hass.async_block_till_done()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, "create_dashboard", call, blocking=True)
    assert err.value.translation_key == "lovelace_unavailable"
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(DOMAIN, "create_dashboard", {"config_entry_id": "nope"}, blocking=True)


async def test_options_flow_creates_the_dashboard(
    hass: HomeAssistant, running: MockConfigEntry, lovelace: None
) -> None:
    """Options → Create dashboard: confirm, and the dashboard exists."""
    result = await hass.config_entries.options.async_init(running.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "dashboard"}
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "dashboard")
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "dashboard_created")
    assert result["description_placeholders"] == {"url": "/pv-monitor-home"}
    assert "pv-monitor-home" in hass.data[LOVELACE_DATA].dashboards


async def test_options_flow_dashboard_failure(hass: HomeAssistant, running: MockConfigEntry) -> None:
    """Without the dashboards component the step says why and creates nothing."""
    result = await hass.config_entries.options.async_init(running.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "dashboard"}
    )
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "dashboard_failed")


async def test_the_alerts_card_names_each_device_once(hass: HomeAssistant, running: MockConfigEntry) -> None:
    """Alerts are grouped under their device's name and each row shows the alert's own name ("Grid meter
    Grid voltage out of range" in every row was cut off at 1400 px)."""
    announcement = running.runtime_data.state.announcement
    assert announcement is not None
    given = DashboardInput(
        title="Home PV",
        entity_id=entry_lookup(hass, running.entry_id),
        texts={key: key for key in TEXT_KEYS},
        alert_names={"device_offline": "Offline", "grid_voltage": "Grid voltage out of range"},
    )
    config = build_dashboard(announcement, given)
    alerts = next(s for s in config["views"][0]["sections"] if s["cards"][0]["heading"] == "alerts")
    rows = alerts["cards"][1]["entities"]
    labels = [row["label"] for row in rows if row.get("type") == "section"]
    assert labels == ["Home PV", *(d.name for d in announcement.devices if d.name in labels)]
    assert len(labels) == len(set(labels))  # each device once, its alerts together
    meter = rows[rows.index({"type": "section", "label": "Grid meter"}) + 1 :]
    meter = meter[: next((i for i, row in enumerate(meter) if row.get("type") == "section"), len(meter))]
    assert {row.get("name") for row in meter} >= {"Offline", "Grid voltage out of range"}
    assert all(row["entity"].startswith("binary_sensor.grid_meter_") for row in meter)
