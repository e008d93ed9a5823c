"""SunSpec controls and strings against the simulated inverter: the active power limit (model 123) is
written with the user's revert timeout and switched on; model 160 gives one set of points per string."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pv_collector.simulator import Simulation
from tests.collector.conftest import INVERTER, Recorder, collector_config, running, schema
from tests.collector.test_commands import command
from tests.mosquitto import Mosquitto

BASE = "pv_monitor/test"
STRING_POINTS = ("current", "voltage", "power", "energy", "temperature", "status", "events")


def inverter_config(tmp_path: Path, mqtt_port: int, modbus_port: int, **device: Any) -> dict[str, Any]:
    devices = [{"id": "inverter", "name": "Inverter", "unit_id": INVERTER, "profile": "sunspec", **device}]
    return collector_config(tmp_path / "data", mqtt_port, modbus_port, devices=devices)


async def test_power_limit_is_written_with_the_revert_timeout_and_enabled(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    sim, port = simulation
    async with running(inverter_config(tmp_path, broker.port, port, power_limit_revert=900)):
        await recorder.wait(f"{BASE}/inverter/state", lambda m: "power_limit" in m.json()["v"])
        assert (sim.power_limit_enabled, sim.inverter.limit.revert_s) == (False, 0)
        event = await command(recorder, "inverter", "power_limit", "60")
        assert (event["ok"], event["value"]) == (True, 60)
        assert sim.power_limit_pct == 60
        assert sim.power_limit_enabled is True
        assert sim.inverter.limit.revert_s == 900
        assert sim.inverter.limit.revert_at == pytest.approx(sim.time + 900, abs=2)
        state = await recorder.wait(
            f"{BASE}/inverter/state",
            lambda m: (
                m.json()["v"].get("power_limit_revert_time") == 900
                and m.json()["v"].get("power_limit_enabled") is True
            ),
        )
    assert state.json()["v"]["power_limit"] == 60


async def test_without_a_revert_option_the_timeout_is_left_alone(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    sim, port = simulation
    async with running(inverter_config(tmp_path, broker.port, port)) as collector:
        await recorder.wait(f"{BASE}/inverter/state", lambda m: "power_limit" in m.json()["v"])
        event = await command(recorder, "inverter", "power_limit", "70")
        assert event["ok"] is True
        assert collector.buses["sim"].writes == 2  # the limit, then WMaxLim_Ena
    assert (sim.power_limit_pct, sim.power_limit_enabled, sim.inverter.limit.revert_s) == (70, True, 0)


async def test_no_limit_is_written_when_the_revert_timeout_cannot_be(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    sim, port = simulation
    async with running(inverter_config(tmp_path, broker.port, port, power_limit_revert=600)) as collector:
        await recorder.wait(f"{BASE}/inverter/state", lambda m: "power_limit" in m.json()["v"])
        revert = collector.pollers["inverter"].points["power_limit_revert_time"]
        sim.refuse_register(INVERTER, "holding", revert.address)
        event = await command(recorder, "inverter", "power_limit", "30")
        assert (event["ok"], event["error"]) == (False, "write_failed")
        assert "revert timeout" in event["message"]
    assert (sim.power_limit_pct, sim.power_limit_enabled) == (100, False)


async def test_one_set_of_points_per_string(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    sim, port = simulation
    async with running(inverter_config(tmp_path, broker.port, port)):
        config = await recorder.wait(
            f"{BASE}/config",
            lambda m: any(p["key"] == "pv1_power" for d in m.json()["devices"] for p in d["points"]),
        )
        state = await recorder.wait(f"{BASE}/inverter/state", lambda m: "pv2_energy" in m.json()["v"])
    schema("announcement").validate(config.json())
    keys = {p["key"] for p in config.json()["devices"][0]["points"]}
    for string in (1, 2):  # the simulated inverter reports two MPPT modules
        assert {f"pv{string}_{name}" for name in STRING_POINTS} <= keys
    assert not any(key.startswith("pv3_") for key in keys)
    values = state.json()["v"]
    strings = sim.inverter.strings
    assert values["pv1_power"] == pytest.approx(strings[0].power, abs=1)
    assert values["pv2_power"] == pytest.approx(strings[1].power, abs=1)
    assert values["pv1_voltage"] == pytest.approx(strings[0].voltage, abs=0.1)
    assert values["pv1_status"] == values["pv2_status"] == "mppt"
    assert values["pv1_events"] == 0
    assert values["pv1_temperature"] == round(sim.module_temperature)
    assert values["pv1_energy"] == pytest.approx(sim.inverter.string_energy_wh[0] / 1000, abs=0.001)
