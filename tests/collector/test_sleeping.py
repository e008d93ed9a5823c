"""Inverters that sleep at night: across a simulated dusk and dawn (an injected clock, no real waiting) the
inverter goes `asleep` instead of `offline`, publishes 0 W flagged as inferred with its energy counters
kept, logs no warning, and is `online` again when it answers at dawn."""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from pv_collector.simulator import Simulation
from tests.collector.conftest import INVERTER, Recorder, collector_config, running, schema
from tests.helpers import eventually
from tests.mosquitto import Mosquitto

BASE = "pv_monitor/test"
BERLIN = {"latitude": 52.52, "longitude": 13.405}
AFTERNOON = calendar.timegm((2025, 6, 21, 16, 0, 0))  # sun 29 degrees up
NIGHT = calendar.timegm((2025, 6, 21, 21, 0, 0))  # 9 degrees below the horizon
MORNING = calendar.timegm((2025, 6, 22, 6, 0, 0))  # 26 degrees up
# Measured power of the inverter (the nameplate's rated power is no measurement and is not made up).
POWER_KEYS = ("ac_power", "ac_apparent_power", "ac_reactive_power", "dc_power", "pv1_power", "pv2_power")


@dataclass
class FakeClock:
    now: float

    def __call__(self) -> float:
        return self.now


def inverter_config(tmp_path: Path, mqtt_port: int, modbus_port: int) -> dict[str, object]:
    devices = [
        {
            "id": "inverter",
            "name": "Inverter",
            "unit_id": INVERTER,
            "profile": "sunspec",
            "asleep_poll_interval": 0.3,
        }
    ]
    return collector_config(tmp_path / "data", mqtt_port, modbus_port, devices=devices, site=BERLIN)


async def test_inverter_sleeps_from_dusk_to_dawn(
    broker: Mosquitto, recorder: Recorder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(AFTERNOON)
    sim = Simulation(clock=clock, inverter_sleeps=True, **BERLIN)
    port = await sim.start("127.0.0.1", 0)
    state_topic, availability_topic = f"{BASE}/inverter/state", f"{BASE}/inverter/availability"
    try:
        async with running(inverter_config(tmp_path, broker.port, port), clock=clock):
            day = await recorder.wait(
                state_topic,
                lambda m: m.json()["v"].get("ac_power", 0) > 0 and "energy_total" in m.json()["v"],
            )
            energy = day.json()["v"]["energy_total"]

            # Dusk: the inverter stops answering while the sun is down.
            caplog.clear()
            caplog.set_level(logging.INFO, logger="pv_collector")
            clock.now = NIGHT
            await recorder.wait(availability_topic, lambda m: m.text == "asleep")
            night = await recorder.wait(state_topic, lambda m: "inferred" in m.json())
            probes_from = sim.requests[INVERTER]
            inferred_from = len([m for m in recorder.on(state_topic) if "inferred" in m.json()])
            await eventually(
                lambda: (
                    len([m for m in recorder.on(state_topic) if "inferred" in m.json()]) >= inferred_from + 3
                ),
                what="states while asleep",
            )
            probes = sim.requests[INVERTER] - probes_from
            asleep_states = (
                len([m for m in recorder.on(state_topic) if "inferred" in m.json()]) - inferred_from
            )
            night_records = list(caplog.records)

            # Dawn: it answers again.
            clock.now = MORNING
            await recorder.wait(
                availability_topic, lambda m: m.text == "online" and m.received > night_received(recorder)
            )
            morning = await recorder.wait(
                state_topic, lambda m: "inferred" not in m.json() and m.json()["ts"] >= MORNING
            )
    finally:
        await sim.stop()

    message = night.json()
    schema("state").validate(message)
    assert sorted(message["inferred"]) == sorted(POWER_KEYS)
    assert all(message["v"][key] == 0 for key in POWER_KEYS)
    assert message["v"]["energy_total"] == energy  # kept, never 0
    assert message["v"]["pv1_energy"] > 0
    assert "ac_voltage_l1" not in message["v"]  # nothing else is made up
    # Asleep it is probed with one request at a time, not polled with retries.
    assert probes <= asleep_states + 1
    # No error flood: nothing above info while asleep.
    own = [r for r in night_records if r.name.startswith("pv_collector")]
    assert [r.getMessage() for r in own if r.levelno >= logging.WARNING] == []
    assert any(r.getMessage().startswith("device asleep") for r in own)
    assert [m.text for m in recorder.on(availability_topic)] == ["online", "asleep", "online"]
    assert morning.json()["v"]["energy_total"] >= energy


def night_received(recorder: Recorder) -> float:
    asleep = [m for m in recorder.on(f"{BASE}/inverter/availability") if m.text == "asleep"]
    return asleep[-1].received


async def test_a_silent_inverter_by_day_is_offline(
    broker: Mosquitto, recorder: Recorder, tmp_path: Path
) -> None:
    clock = FakeClock(AFTERNOON)
    sim = Simulation(clock=clock, inverter_sleeps=True, **BERLIN)
    port = await sim.start("127.0.0.1", 0)
    try:
        async with running(inverter_config(tmp_path, broker.port, port), clock=clock):
            await recorder.wait(f"{BASE}/inverter/state")
            sim.set_offline(INVERTER, True)
            await recorder.wait(f"{BASE}/inverter/availability", lambda m: m.text == "offline")
    finally:
        await sim.stop()
    assert "asleep" not in [m.text for m in recorder.on(f"{BASE}/inverter/availability")]
