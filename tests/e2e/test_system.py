"""The whole system, live: simulated Modbus devices -> collector -> Mosquitto -> a real Home Assistant.

Checks go through public surfaces only: Home Assistant's REST/WebSocket API, the Modbus wire of the
simulator, the broker, and a real browser. The tests share one stack and run in file order; each leaves
the stack healthy for the next.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scripts.e2e import mqtt_peek
from scripts.e2e.browser import browser, hass_page
from scripts.e2e.entities import PointEntity
from scripts.e2e.processes import wait_until
from scripts.e2e.stack import HOST, Stack

from .modbus_probe import ModbusProbe, Sampler

ROOT = Path(__file__).resolve().parents[2]
UNAVAILABLE = {"unavailable", "unknown", "", None}


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _point(stack: Stack, kind: str, key: str) -> PointEntity:
    """The entity of point `key` on the (first) device of `kind`."""
    for point in stack.point_entities():
        if point.device.get("kind") == kind and point.point["key"] == key:
            return point
    raise AssertionError(f"no entity for point {key!r} of a {kind} device")


def _reported_numbers(stack: Stack) -> list[PointEntity]:
    """Primary number points that the devices currently report (present in their retained state)."""
    reported = {
        (device_id, key)
        for device_id, state in mqtt_peek.device_states(HOST, stack.mqtt_port, stack.collector_id).items()
        for key in state.get("v", {})
    }
    return [
        p
        for p in stack.point_entities()
        if p.point["kind"] == "number"
        and "category" not in p.point
        and (p.device["id"], p.point["key"]) in reported
    ]


def _states(stack: Stack, points: list[PointEntity]) -> dict[str, Any]:
    states = stack.client.states()
    return {p.entity_id: states.get(p.entity_id, {}).get("state") for p in points}


def test_home_assistant_is_the_chosen_release(stack: Stack) -> None:
    """The stack runs the `hass` of the virtualenv chosen with PV_HASS_VENV (scripts/test: both)."""
    installed = subprocess.run(
        [str(stack.hass_bin), "--version"], check=True, capture_output=True, text=True, timeout=120
    ).stdout.strip()
    assert stack.client.get("/api/config")["version"] == installed


def test_every_announced_point_is_an_entity_with_a_live_value(stack: Stack, probe: ModbusProbe) -> None:
    announced = [  # advanced points are registered disabled (docs/mqtt-contract.md)
        (d["id"], p["key"])
        for a in stack.announcements()
        for d in a["devices"]
        for p in d["points"]
        if not p.get("advanced")
    ]
    entities = stack.point_entities()
    assert sorted((p.device["id"], p.point["key"]) for p in entities) == sorted(announced)
    assert {p.device["kind"] for p in entities} >= {"inverter", "meter", "battery", "environment"}

    numbers = _reported_numbers(stack)
    assert len(numbers) >= 10
    states = _states(stack, numbers)
    assert [e for e, s in states.items() if _number(s) is None] == []

    # The values are the simulator's: what Home Assistant shows was in the device's registers lately.
    ac_power = _point(stack, "inverter", "ac_power").entity_id
    voltage = _point(stack, "meter", "voltage_l1").entity_id
    with Sampler(probe.inverter_ac_power) as power_samples, Sampler(probe.meter_voltage_l1) as volt_samples:

        def matches() -> bool:
            states = stack.client.states()
            power = _number(states[ac_power]["state"])
            volts = _number(states[voltage]["state"])
            return (
                power is not None
                and volts is not None
                and power_samples.seen(power, tolerance=0.5)
                and volt_samples.seen(volts, tolerance=0.01)
            )

        try:
            wait_until(matches, 30, "HA values equal to the simulator's registers")
        except Exception:
            states = stack.client.states()
            pytest.fail(
                f"HA {ac_power}={states[ac_power]['state']} vs simulator {power_samples.recent()}; "
                f"HA {voltage}={states[voltage]['state']} vs simulator {volt_samples.recent()}"
            )
    assert power_samples.recent(), "the simulator's inverter was never read"
    assert any(v > 0 for v in power_samples.recent()), "the simulated sun should be up (noon longitude)"


def test_power_limit_set_in_home_assistant_is_written_to_the_inverter(
    stack: Stack, probe: ModbusProbe
) -> None:
    entity = _point(stack, "inverter", "power_limit").entity_id
    assert entity.startswith("number.")
    before = probe.power_limit_pct()
    target = 70.0 if round(before) != 70 else 80.0

    def set_limit(value: float) -> None:
        stack.client.call_service("number", "set_value", {"entity_id": entity, "value": value})
        wait_until(
            lambda: math.isclose(probe.power_limit_pct(), value),
            20,
            f"the inverter's WMaxLimPct register to read {value}",
        )
        wait_until(
            lambda: _number((stack.client.state(entity) or {}).get("state")) == value,
            20,
            f"{entity} to show the confirmed {value}",
        )

    set_limit(target)
    assert probe.power_limit_pct() == pytest.approx(target)
    set_limit(before)  # leave the inverter unthrottled for the following tests and the screenshots


def test_killed_collector_makes_entities_unavailable_until_it_restarts(stack: Stack) -> None:
    numbers = _reported_numbers(stack)
    every_point = stack.point_entities()
    stack.kill_collector()  # SIGKILL: no goodbye, the broker publishes the Last Will

    wait_until(
        lambda: all(s == "unavailable" for s in _states(stack, every_point).values()),
        30,
        "every PV Monitor point entity to become unavailable after the collector's Last Will",
    )
    status = mqtt_peek.retained(HOST, stack.mqtt_port, stack.status_topic, timeout=2)
    assert status.get(stack.status_topic) == b"offline"

    stack.start_collector()
    wait_until(
        lambda: all(_number(s) is not None for s in _states(stack, numbers).values()),
        60,
        "PV Monitor entities to show values again after the collector restarted",
    )


def test_home_assistant_restart_restores_entities_from_retained_messages(stack: Stack) -> None:
    collector = stack.processes["collector"]
    # Pause the collector so nothing new is published: after the restart, Home Assistant can only get
    # the retained messages (its keepalive outlasts the pause; see the fixture).
    collector.signal(signal.SIGSTOP)
    try:
        retained = mqtt_peek.device_states(HOST, stack.mqtt_port, stack.collector_id)
        states = stack.client.states()
        expected = {
            p.entity_id: retained[p.device["id"]]["v"][p.point["key"]]
            for p in stack.point_entities()
            if p.point["kind"] in ("number", "enum")
            and p.point["key"] in retained.get(p.device["id"], {}).get("v", {})
            # HA converts some units to the unit system (wind speed m/s -> km/h): compare the others.
            and states[p.entity_id]["attributes"].get("unit_of_measurement") == p.point.get("unit")
        }
        assert len(expected) >= 10
        stack.restart_hass()

        def mismatches() -> dict[str, tuple[Any, Any]]:
            states = stack.client.states()
            wrong = {}
            for entity_id, value in expected.items():
                shown = states.get(entity_id, {}).get("state")
                number = _number(shown)
                same = (
                    shown == value
                    if isinstance(value, str)
                    else (number is not None and math.isclose(number, value, rel_tol=1e-6, abs_tol=1e-6))
                )
                if not same:
                    wrong[entity_id] = (shown, value)
            return wrong

        try:
            wait_until(lambda: not mismatches(), 60, "entities to show the retained values after the restart")
        except Exception:
            pytest.fail(f"after the restart (shown, retained): {mismatches()}")
    finally:
        collector.signal(signal.SIGCONT)


def _tile_names_by_section(page: Any) -> list[list[tuple[str, str]]]:
    """(name, value) of every rendered tile, per dashboard section in order."""
    found = []
    sections = page.locator("hui-grid-section")
    for index in range(sections.count()):
        tiles = sections.nth(index).locator("hui-tile-card ha-tile-info")
        names = tiles.locator("[slot=primary]").all_text_contents()
        values = tiles.locator("[slot=secondary]").all_text_contents()
        found.append([(" ".join(n.split()), " ".join(v.split())) for n, v in zip(names, values, strict=True)])
    return found


@pytest.mark.parametrize("width", [1400, 400])
def test_browser_dashboard_leads_with_today_and_the_power_flow(
    stack: Stack, tmp_path: Path, width: int
) -> None:
    """The first hour of a PV owner, at desktop and phone width: today's figures and the live power flow
    show values, no two tiles of a section share a name and no tile repeats its device's name."""
    tokens = stack.client.login(stack.settings.username, stack.settings.password)
    url_path = stack.dashboard_url_path
    assert url_path == f"pv-monitor-{stack.collector_id}"
    config = stack.client.ws("lovelace/config", url_path=url_path)
    sections = config["views"][0]["sections"]
    tiles = [[c for c in s["cards"] if c["type"] == "tile"] for s in sections]
    assert sum(len(t) for t in tiles) >= 10
    registry = {e["entity_id"]: e for e in stack.client.entity_registry()}
    devices = {d["id"]: d["name_by_user"] or d["name"] for d in stack.client.device_registry()}

    with browser() as instance, hass_page(instance, stack.url, tokens, width=width) as page:
        page.goto(f"{stack.url}/{url_path}/overview")

        def rendered() -> list[list[tuple[str, str]]] | None:
            shown = _tile_names_by_section(page)
            complete = [len(s) for s in shown] == [len(t) for t in tiles]
            values = [value for section in shown for _name, value in section]
            ok = complete and all(v and v not in ("Unavailable", "Unknown") for v in values)
            return shown if ok else None

        shown = wait_until(rendered, 60, "every dashboard tile to render a value", 0.5)
        assert page.locator("hui-warning").count() == 0
        assert page.get_by_text("Entity not available").count() == 0
        # The live power flow (the Energy dashboard has the collector's power sensors since set-up).
        wait_until(
            lambda: page.locator("hui-power-sankey-card ha-sankey-chart").count() == 1, 30, "power flow"
        )
        png = tmp_path / ("screenshot-dashboard.png" if width > 600 else "screenshot-dashboard-phone.png")
        page.screenshot(path=png, full_page=True)

    for section, cards, names in zip(sections, tiles, shown, strict=True):
        heading = next((c["heading"] for c in section["cards"] if c["type"] == "heading"), "")
        plain = [name for name, _value in names]
        assert len(plain) == len(set(plain)), f"{heading}: {plain}"
        for card, name in zip(cards, plain, strict=True):
            device = devices.get(registry[card["entity"]]["device_id"], "")
            assert device.lower() not in name.lower(), f"{heading}: {name!r} repeats its device {device!r}"
    today, power = shown[0], shown[1]
    assert [name for name, _value in today][:4] == ["Produced", "Consumed", "Grid import", "Grid export"]
    assert all(re.fullmatch(r"[\d,.]+ kWh", value) for _name, value in today), today
    assert [name for name, _value in power][:4] == ["Solar", "Grid", "Storage", "Consumption"]
    assert all(re.fullmatch(r"-?[\d,.]+ k?W", value) for _name, value in power), power
    assert png.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("PV_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(png, ROOT / "docs" / png.name)


def test_browser_shows_the_device_page_with_live_values(stack: Stack, tmp_path: Path) -> None:
    tokens = stack.client.login(stack.settings.username, stack.settings.password)
    inverter = next(
        d
        for d in stack.client.device_registry()
        if ["pv_monitor", f"{stack.collector_id}/inverter"] in d["identifiers"]
    )
    ac_power = _point(stack, "inverter", "ac_power").entity_id
    with browser() as instance, hass_page(instance, stack.url, tokens) as page:
        page.goto(f"{stack.url}/config/devices/device/{inverter['id']}")
        page.get_by_text("AC power").first.wait_for(timeout=30_000)
        wait_until(lambda: page.locator("ha-config-device-page").count() == 1, 10, "the device page")
        assert page.get_by_text("Serial number").count() >= 1
        # the names do not repeat the device's ("Inverter AC power" would read "Inverter Inverter ...")
        assert page.get_by_text("Inverter Inverter").count() == 0
        device_png = tmp_path / "screenshot-device.png"
        page.screenshot(path=device_png)

    assert stack.client.state(ac_power)
    assert device_png.read_bytes().startswith(b"\x89PNG")
    assert device_png.stat().st_size > 20_000, f"{device_png} looks empty"
    if os.environ.get("PV_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(device_png, ROOT / "docs" / device_png.name)


def _options_step(stack: Stack, step: str) -> tuple[str, dict[str, Any]]:
    """Open PV Monitor's options and choose `step` over REST; (flow id, the step's result)."""
    entry = next(iter(stack.client.config_entries("pv_monitor")))
    menu = stack.client.post("/api/config/config_entries/options/flow", {"handler": entry["entry_id"]})
    flow_id = str(menu["flow_id"])
    result = stack.client.post(f"/api/config/config_entries/options/flow/{flow_id}", {"next_step_id": step})
    return flow_id, dict(result)


def test_energy_dashboard_step_fills_the_preferences_and_leaves_the_users_alone(stack: Stack) -> None:
    """Set-up added the collector's sources; a source the user adds stays, and the options step adds
    back only what is missing, never a second copy."""
    ours = stack.energy_sources()
    assert [s["type"] for s in ours] == ["solar", "grid", "battery"]
    assert ours[0]["stat_energy_from"] == _point(stack, "inverter", "energy_total").entity_id
    assert ours[0]["stat_rate"] == _point(stack, "inverter", "ac_power").entity_id
    users = {
        "type": "gas", "stat_energy_from": "sensor.gas_meter", "stat_cost": None,
        "entity_energy_price": None, "number_energy_price": 1.2,
    }  # fmt: skip
    # The user drops our battery and adds a gas meter of their own.
    stack.client.ws("energy/save_prefs", energy_sources=[ours[0], ours[1], users])
    flow_id, result = _options_step(stack, "energy")
    assert (result["type"], result["step_id"]) == ("form", "energy")
    assert "battery" in result["description_placeholders"]["add"]
    assert "inverter" not in result["description_placeholders"]["add"]
    result = stack.client.post(f"/api/config/config_entries/options/flow/{flow_id}", {})
    assert (result["type"], result["reason"]) == ("abort", "energy_added")
    after = stack.energy_sources()
    assert [s["type"] for s in after] == ["solar", "grid", "gas", "battery"]
    assert after[2]["number_energy_price"] == 1.2
    _flow_id, result = _options_step(stack, "energy")
    assert (result["type"], result["reason"]) == ("abort", "energy_nothing_to_add")


def test_alert_step_works_on_the_demo_configuration(stack: Stack) -> None:
    """The demo's configuration is a new installation's: the Telegram step creates the automations (and
    says that the Telegram bot integration is needed for the chat picker)."""
    flow_id, result = _options_step(stack, "automations")
    assert (result["type"], result["step_id"], result["errors"]) == (
        "form",
        "automations",
        {"base": "no_telegram_bot"},
    )
    result = stack.client.post(
        f"/api/config/config_entries/options/flow/{flow_id}",
        {"chat_id": "12345", "alerts": ["inverter_fault", "battery_low"], "daily_summary": True},
    )
    assert result["type"] == "create_entry", result
    automations = {
        e["unique_id"]: e["entity_id"]
        for e in stack.client.entity_registry()
        if e["platform"] == "automation"
    }
    cid = stack.collector_id
    for automation_id in (f"pv_monitor_{cid}_alerts", f"pv_monitor_{cid}_daily_summary"):
        assert stack.client.state(automations[automation_id])["state"] == "on"


def test_the_log_is_clean(stack: Stack) -> None:
    """Settings → Logs after onboarding, set-up and the steps above: no error, no integration that failed."""
    errors = [e for e in stack.client.ws("system_log/list") if e["level"] in ("ERROR", "CRITICAL")]
    assert errors == []
    failed = [e["domain"] for e in stack.client.config_entries() if e["state"] != "loaded"]
    assert failed == []
