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
        p for p in stack.point_entities()
        if p.point["kind"] == "number" and "category" not in p.point
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
    announced = [
        (d["id"], p["key"]) for a in stack.announcements() for d in a["devices"] for p in d["points"]
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
                power is not None and volts is not None
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
        wait_until(lambda: math.isclose(probe.power_limit_pct(), value), 20,
                   f"the inverter's WMaxLimPct register to read {value}")
        wait_until(lambda: _number((stack.client.state(entity) or {}).get("state")) == value, 20,
                   f"{entity} to show the confirmed {value}")

    set_limit(target)
    assert probe.power_limit_pct() == pytest.approx(target)
    set_limit(before)  # leave the inverter unthrottled for the following tests and the screenshots


def test_killed_collector_makes_entities_unavailable_until_it_restarts(stack: Stack) -> None:
    numbers = _reported_numbers(stack)
    every_point = stack.point_entities()
    stack.kill_collector()  # SIGKILL: no goodbye, the broker publishes the Last Will

    wait_until(
        lambda: all(s == "unavailable" for s in _states(stack, every_point).values()), 30,
        "every PV Monitor point entity to become unavailable after the collector's Last Will",
    )
    status = mqtt_peek.retained(HOST, stack.mqtt_port, stack.status_topic, timeout=2)
    assert status.get(stack.status_topic) == b"offline"

    stack.start_collector()
    wait_until(
        lambda: all(_number(s) is not None for s in _states(stack, numbers).values()), 60,
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
                same = shown == value if isinstance(value, str) else (
                    number is not None and math.isclose(number, value, rel_tol=1e-6, abs_tol=1e-6))
                if not same:
                    wrong[entity_id] = (shown, value)
            return wrong

        try:
            wait_until(lambda: not mismatches(), 60, "entities to show the retained values after the restart")
        except Exception:
            pytest.fail(f"after the restart (shown, retained): {mismatches()}")
    finally:
        collector.signal(signal.SIGCONT)


def test_browser_shows_the_dashboard_and_the_device_page_with_live_values(
    stack: Stack, tmp_path: Path
) -> None:
    tokens = stack.client.login(stack.settings.username, stack.settings.password)
    url_path = stack.dashboard_url_path
    assert url_path == f"pv-monitor-{stack.collector_id}"
    config = stack.client.ws("lovelace/config", url_path=url_path)
    tiles = [c for s in config["views"][0]["sections"] for c in s["cards"] if c["type"] == "tile"]
    assert len(tiles) >= 10
    inverter = next(
        d for d in stack.client.device_registry()
        if ["pv_monitor", f"{stack.collector_id}/inverter"] in d["identifiers"]
    )
    ac_power = _point(stack, "inverter", "ac_power").entity_id

    with browser() as instance, hass_page(instance, stack.url, tokens) as page:
        page.goto(f"{stack.url}/{url_path}/overview")
        cards = page.locator("hui-tile-card")
        secondary = page.locator("hui-tile-card ha-tile-info [slot=secondary]")

        def rendered() -> bool:
            texts = [t.strip() for t in secondary.all_text_contents()]
            return cards.count() == len(tiles) and len(texts) == len(tiles) and all(
                t and t not in ("Unavailable", "Unknown") for t in texts
            )

        wait_until(rendered, 60, "every dashboard tile to render a value", 0.5)
        assert page.locator("hui-warning").count() == 0
        assert page.get_by_text("Entity not available").count() == 0
        # A real reading: the inverter's power, formatted by the frontend, with its unit.
        power_text = " ".join(
            (page.locator("hui-tile-card ha-tile-info").filter(has_text="AC power").first.text_content()
             or "").split()
        )
        assert re.fullmatch(r"Inverter AC power [\d,.]+ k?W", power_text), power_text
        dashboard_png = tmp_path / "screenshot-dashboard.png"
        page.screenshot(path=dashboard_png, full_page=True)

        page.goto(f"{stack.url}/config/devices/device/{inverter['id']}")
        page.get_by_text("AC power").first.wait_for(timeout=30_000)
        wait_until(lambda: page.locator("ha-config-device-page").count() == 1, 10, "the device page")
        assert page.get_by_text("Serial number").count() >= 1
        device_png = tmp_path / "screenshot-device.png"
        page.screenshot(path=device_png)

    assert stack.client.state(ac_power)
    for png in (dashboard_png, device_png):
        assert png.read_bytes().startswith(b"\x89PNG"), png
        assert png.stat().st_size > 20_000, f"{png} looks empty"
    if os.environ.get("PV_UPDATE_SCREENSHOTS") == "1":
        for png in (dashboard_png, device_png):
            shutil.copyfile(png, ROOT / "docs" / png.name)
