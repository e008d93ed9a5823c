"""Devices that misbehave stay local: a register the device refuses is found by bisecting its block and
quarantined while the rest is read; timeouts adapt to every device's measured response time."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pv_collector.config import BusConfig
from pv_collector.decode import decode
from pv_collector.errors import ModbusTimeout
from pv_collector.model import Function
from pv_collector.profile import load_profile
from pv_collector.response_timer import ADAPTIVE_MIN
from pv_collector.simulator import Simulation
from pv_collector.transport import Bus
from tests.collector.conftest import (
    ENVIRONMENT,
    METER,
    Recorder,
    collector_config,
    complete,
    running,
    schema,
)
from tests.helpers import eventually
from tests.mosquitto import Mosquitto

BASE = "pv_monitor/test"
REFUSED_POINT = 0x0008  # current_l2, in the middle of the meter's first block (0x0000..0x0011)
REFUSED_GAP = 0x0036  # an unused register inside the block 0x0034..0x004B (between power and apparent power)


def meter_values(sim: Simulation, *, without: set[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for point in load_profile("sdm630").points:
        if point.hidden or point.info or point.key in without:
            continue
        values[point.key] = decode(point, sim.registers(METER, point.function, point.address, point.words))
    return values


async def test_a_refused_register_is_quarantined_and_the_rest_read(
    broker: Mosquitto,
    recorder: Recorder,
    simulation: tuple[Simulation, int],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim, port = simulation
    sim.refuse_register(METER, "input", REFUSED_POINT)
    sim.refuse_register(METER, "input", REFUSED_GAP)
    devices = [{"id": "meter", "name": "Grid meter", "unit_id": METER, "profile": "sdm630"}]
    config = collector_config(tmp_path / "data", broker.port, port, devices=devices)
    config["buses"][0]["quarantine_retry"] = 600
    caplog.set_level(logging.INFO, logger="pv_collector")
    async with running(config) as collector:
        poller = collector.pollers["meter"]
        first = await recorder.wait(f"{BASE}/meter/state", complete)
        seen = len(recorder.on(f"{BASE}/meter/state"))
        await eventually(
            lambda: len(recorder.on(f"{BASE}/meter/state")) >= seen + 3, what="more meter states"
        )
        refused_now = sim.requests[METER]
        cycles_before = len(recorder.on(f"{BASE}/meter/state"))
        await eventually(
            lambda: len(recorder.on(f"{BASE}/meter/state")) >= cycles_before + 3, what="3 cycles"
        )
        cycles = len(recorder.on(f"{BASE}/meter/state")) - cycles_before
        requests = sim.requests[METER] - refused_now
        stats = collector.metrics.stats().to_payload()
        plan = [(block.function, block.address, block.count) for block in poller.plan]
    # Everything but the refused point is published, with the device's values, from the first complete state
    # on (counters from the FIRST_CONFIRM-th cycle: their first readings must agree).
    expected = meter_values(sim, without={"current_l2"})
    for message in (first, recorder.on(f"{BASE}/meter/state")[-1]):
        assert message.json()["v"] == pytest.approx(expected)
    # The plan avoids both refused registers and needs few requests: the readable neighbours were joined.
    for function, address, count in plan:
        assert function is Function.INPUT
        assert not address <= REFUSED_POINT < address + count
        assert not address <= REFUSED_GAP < address + count
    assert len(plan) <= 5
    assert requests <= (cycles + 1) * len(plan)  # no bisection any more once the plan is known
    # Reported: in the statistics (contract), and logged once however many cycles ran.
    schema("stats").validate(stats)
    assert stats["quarantined"] == {"meter": ["current_l2"]}
    warnings = [r for r in caplog.records if "quarantined" in r.getMessage() and r.levelno >= logging.WARNING]
    assert len(warnings) == 1


async def test_a_quarantined_point_is_read_again_when_the_device_accepts_it(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    sim, port = simulation
    sim.refuse_register(METER, "input", REFUSED_POINT)
    devices = [{"id": "meter", "name": "Grid meter", "unit_id": METER, "profile": "sdm630"}]
    config = collector_config(tmp_path / "data", broker.port, port, devices=devices)
    config["buses"][0]["quarantine_retry"] = 0.5
    async with running(config) as collector:
        await eventually(lambda: collector.metrics.stats().quarantined, what="a quarantined point")
        sim.refuse_register(METER, "input", REFUSED_POINT, refuse=False)
        await recorder.wait(f"{BASE}/meter/state", lambda m: "current_l2" in m.json()["v"])
        assert collector.metrics.stats().quarantined == {}
    last = recorder.on(f"{BASE}/meter/state")[-1].json()["v"]
    assert last == pytest.approx(meter_values(sim, without=set()))


async def test_timeouts_adapt_to_each_device(simulation: tuple[Simulation, int]) -> None:
    sim, port = simulation
    configured = 2.0
    bus = Bus(BusConfig(name="sim", type="tcp", host="127.0.0.1", port=port, timeout=configured, retries=0))
    sim.set_delay(METER, 0.25)  # a slow meter on the same bus as a fast sensor
    try:
        assert bus.timeout_for(ENVIRONMENT) == configured  # nothing measured yet
        for _ in range(10):
            await bus.read(ENVIRONMENT, Function.INPUT, 0, 4)
            await bus.read(METER, Function.INPUT, 0, 2)
        fast, slow = bus.timeout_for(ENVIRONMENT), bus.timeout_for(METER)
        assert ADAPTIVE_MIN <= fast < configured
        slow_response = bus.response_time(METER)
        assert slow_response is not None
        assert slow_response >= 0.25
        assert slow_response < slow <= configured  # the slow meter is given what it needs, no more
        assert fast < slow

        # The fast device stops answering: given up after its adapted timeout (what the client is told to
        # wait, named in the error), not the configured one.
        sim.set_offline(ENVIRONMENT, True)
        with pytest.raises(ModbusTimeout) as silent:
            await bus.read(ENVIRONMENT, Function.INPUT, 0, 4)
        assert fast < configured / 2
        assert str(silent.value).endswith(f"no answer within {fast:g} s")
        assert bus.timeout_for(ENVIRONMENT) == configured  # after a timeout: the full time again
        sim.set_offline(ENVIRONMENT, False)
        assert await bus.read(ENVIRONMENT, Function.INPUT, 0, 4) == sim.registers(ENVIRONMENT, "input", 0, 4)
        assert bus.timeout_for(ENVIRONMENT) < configured
    finally:
        await bus.close()
