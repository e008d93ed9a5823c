"""RTU framing: the collector on one end of a pseudo-terminal pair (socat), the simulated devices served
by pymodbus' serial server on the other; and RTU frames over TCP (`rtu_over_tcp`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pv_collector.config import BusConfig
from pv_collector.decode import decode
from pv_collector.errors import ModbusConnectionError
from pv_collector.model import Function
from pv_collector.profile import load_profile
from pv_collector.simulator import Simulation
from pv_collector.transport import Bus
from tests.collector.conftest import (  # the fixtures pty_pair and rtu_simulation live there too
    ENVIRONMENT,
    FIXED_TIME,
    METER,
    Recorder,
    collector_config,
    complete,
    running,
    schema,
)
from tests.helpers import eventually
from tests.mosquitto import Mosquitto, free_port

BASE = "pv_monitor/test"
RTU_DEVICES = [
    {"id": "meter", "name": "Grid meter", "unit_id": METER, "profile": "sdm630"},
    {"id": "weather", "name": "Weather", "unit_id": ENVIRONMENT, "profile": "pv_sim_environment"},
]


def serial_bus(port: str) -> dict[str, Any]:
    return {
        "name": "rs485",
        "type": "serial",
        "serial_port": port,
        "baudrate": 9600,
        "timeout": 0.3,
        "retries": 0,
        "devices": [{**device, "poll_interval": 0.2} for device in RTU_DEVICES],
    }


def expected(sim: Simulation, unit: int, profile_id: str) -> dict[str, object]:
    values = {}
    for point in load_profile(profile_id).points:
        if point.hidden or point.info:
            continue
        value = decode(point, sim.registers(unit, point.function, point.address, point.words))
        if value is not None:
            values[point.key] = value
    return values


async def test_rtu_over_a_serial_line(
    broker: Mosquitto, recorder: Recorder, rtu_simulation: tuple[Simulation, str], tmp_path: Path
) -> None:
    sim, port = rtu_simulation
    config = collector_config(tmp_path / "data", broker.port, 0)
    config["buses"] = [serial_bus(port)]
    async with running(config) as collector:
        meter = await recorder.wait(f"{BASE}/meter/state", complete)
        weather = await recorder.wait(f"{BASE}/weather/state")
        # A unit that stops answering on the shared line: it goes offline, the other one keeps going.
        sim.set_offline(METER, True)
        await recorder.wait(f"{BASE}/meter/availability", lambda m: m.text == "offline")
        count = len(recorder.on(f"{BASE}/weather/state"))
        await eventually(
            lambda: len(recorder.on(f"{BASE}/weather/state")) >= count + 3, what="weather goes on"
        )
        sim.set_offline(METER, False)
        await eventually(lambda: len(recorder.on(f"{BASE}/meter/availability")) >= 3, what="meter back")
        seen = len(recorder.on(f"{BASE}/meter/state"))
        await eventually(
            lambda: len(recorder.on(f"{BASE}/meter/state")) > seen + 1, what="meter states again"
        )
        assert collector.buses["rs485"].requests > 0
    for message in (meter, weather):
        schema("state").validate(message.json())
    assert meter.json()["v"] == pytest.approx(expected(sim, METER, "sdm630"))
    assert weather.json()["v"] == pytest.approx(expected(sim, ENVIRONMENT, "pv_sim_environment"))
    # No stale reply was taken for another request: every meter state after the outage is exact too.
    last = recorder.on(f"{BASE}/meter/state")[-1].json()
    assert last["v"] == pytest.approx(expected(sim, METER, "sdm630"))
    assert [m.text for m in recorder.on(f"{BASE}/meter/availability")] == ["online", "offline", "online"]


async def test_rtu_over_tcp(broker: Mosquitto, recorder: Recorder, tmp_path: Path) -> None:
    sim = Simulation(clock=lambda: FIXED_TIME)
    port = free_port()
    await sim.start_rtu(f"socket://127.0.0.1:{port}")  # pymodbus serves RTU frames on a TCP socket
    try:
        config = collector_config(tmp_path / "data", broker.port, port, devices=RTU_DEVICES)
        config["buses"][0]["type"] = "rtu_over_tcp"
        async with running(config):
            meter = await recorder.wait(f"{BASE}/meter/state", complete)
            weather = await recorder.wait(f"{BASE}/weather/state")
    finally:
        await sim.stop()
    assert meter.json()["v"] == pytest.approx(expected(sim, METER, "sdm630"))
    assert weather.json()["v"] == pytest.approx(expected(sim, ENVIRONMENT, "pv_sim_environment"))


async def test_a_serial_port_that_refuses_the_line_settings_is_a_connection_error(
    pty_pair: tuple[str, str],
) -> None:
    """A pseudo-terminal refuses even parity (termios), as some USB adapters refuse a speed: that is one
    connection error naming the bus, never a termios traceback (identify tries such settings on its own)."""
    config = BusConfig(name="rs485", type="serial", serial_port=pty_pair[1], parity="E", timeout=0.2)
    bus = Bus(config)
    try:
        with pytest.raises(ModbusConnectionError, match="bus rs485: cannot connect"):
            await bus.read(1, Function.INPUT, 0, 2)
    finally:
        await bus.close()
