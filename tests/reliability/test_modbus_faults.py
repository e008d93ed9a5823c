"""Modbus faults stay local: a fault-injecting peer (the simulator's exceptions, silence and delays, an RTU
line relay that corrupts answers, a TCP gateway that drops its connections). For each fault: only the
affected device goes offline (within two poll intervals), the others keep >= 90 % of their reading rate
(counted in readings), no wrong value reaches a state topic, recovery is automatic, and lost/back are
logged once each."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pv_collector.app import Collector
from pv_collector.plausibility import FIRST_CONFIRM
from pv_collector.simulator import Simulation
from tests.collector.conftest import (
    ENVIRONMENT,
    FIXED_TIME,
    METER,
    SIM_DEVICES,
    Recorder,
    collector_config,
    running,
)
from tests.helpers import eventually
from tests.mosquitto import Mosquitto
from tests.reliability.faults import DroppingGateway, RtuLineRelay

BASE = "pv_monitor/test"
POLL = 0.5
TIMEOUT = 0.2
SLACK = 0.35  # scheduling on two shared cores
READINGS = 6  # readings per other device counted for a rate
OFFLINE_AFTER = 1  # offline at the first cycle that reads nothing (default 3: test_partial_cycles.py)


@dataclass
class Fault:
    on: Callable[[], None]
    off: Callable[[], None]


def states(recorder: Recorder, device: str) -> list[dict[str, Any]]:
    return [message.json() for message in recorder.on(f"{BASE}/{device}/state")]


def complete_state(recorder: Recorder, device: str) -> dict[str, Any] | None:
    """The values of the device's first complete state (counters included: FIRST_CONFIRM readings)."""
    found = [state["v"] for state in states(recorder, device) if state["seq"] >= FIRST_CONFIRM]
    return found[0] if found else None


def same_values(state: dict[str, Any], reference: dict[str, Any]) -> bool:
    """Every value of `state` is the reference's (early states lack the counters not yet confirmed)."""
    return state["v"] == {key: reference.get(key) for key in state["v"]}


async def time_for_readings(recorder: Recorder, devices: list[str]) -> float:
    """Seconds the `devices` take for READINGS more readings each."""
    start = {device: len(states(recorder, device)) for device in devices}
    began = time.monotonic()
    await eventually(
        lambda: all(len(states(recorder, d)) >= start[d] + READINGS for d in devices),
        within=READINGS * POLL * 4,
        what="readings of the other devices",
    )
    return time.monotonic() - began


async def exercise(
    collector: Collector,
    recorder: Recorder,
    fault: Fault,
    affected: list[str],
    others: list[str],
    caplog: pytest.LogCaptureFixture,
    *,
    detect_within: float = 2 * POLL,
) -> None:
    everyone = affected + others
    await eventually(lambda: all(complete_state(recorder, d) for d in everyone), what="first readings")
    reference = {device: complete_state(recorder, device) for device in everyone}
    normal = await time_for_readings(recorder, others)

    fault.on()
    began = time.monotonic()
    await eventually(
        lambda: all(collector.pollers[d].availability == "offline" for d in affected), what="affected offline"
    )
    detected = time.monotonic() - began
    assert detected <= detect_within + SLACK, f"offline after {detected:.2f} s"
    during = await time_for_readings(recorder, others)
    assert normal / during >= 0.9, (
        f"others slowed down: {READINGS} readings took {during:.2f} s, not {normal:.2f} s"
    )
    assert all(collector.pollers[d].availability == "online" for d in others)
    stalled = {device: len(states(recorder, device)) for device in affected}

    # Probes while away come at growing intervals (doubling from the poll interval, docs/configuration.md);
    # a device that answers with an exception is probed every poll interval.
    worst_probe_gap = max(collector.pollers[d]._retry_delay(POLL) for d in affected)
    fault.off()
    cleared = time.monotonic()
    await eventually(
        lambda: all(collector.pollers[d].availability == "online" for d in affected), what="affected back"
    )
    back = time.monotonic() - cleared
    assert back <= worst_probe_gap + TIMEOUT + POLL + SLACK, f"back after {back:.2f} s"
    await eventually(
        lambda: all(len(states(recorder, d)) > stalled[d] for d in affected), what="states again"
    )

    for device in everyone:  # the frozen simulation clock keeps every register put: any change is garbage
        for state in states(recorder, device):
            assert same_values(state, reference[device]), f"{device}: wrong values reached the state topic"
    for device in affected:
        records = [r for r in caplog.records if getattr(r, "device", None) == device]
        assert [r.getMessage() for r in records if r.getMessage() in {"device lost", "device back"}] == [
            "device lost",
            "device back",
        ]
    for device in others:
        assert [m.text for m in recorder.on(f"{BASE}/{device}/availability")] == ["online"]


TCP_DEVICES = [d for d in SIM_DEVICES if d["id"] in {"meter", "battery", "weather"}]


@pytest.mark.parametrize("kind", ["timeout", "exception_04", "exception_06"])
async def test_tcp_device_fault_stays_local(
    kind: str,
    broker: Mosquitto,
    recorder: Recorder,
    simulation: tuple[Simulation, int],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim, port = simulation
    caplog.set_level(logging.INFO, logger="pv_collector")
    faults = {
        "timeout": Fault(lambda: sim.set_offline(METER, True), lambda: sim.set_offline(METER, False)),
        "exception_04": Fault(lambda: sim.set_exception(METER, 4), lambda: sim.set_exception(METER, None)),
        "exception_06": Fault(lambda: sim.set_exception(METER, 6), lambda: sim.set_exception(METER, None)),
    }
    config = collector_config(tmp_path / "data", broker.port, port, devices=TCP_DEVICES)
    config["buses"][0].update(timeout=TIMEOUT, retries=1)
    for device in config["buses"][0]["devices"]:
        device.update(poll_interval=POLL, offline_after=OFFLINE_AFTER)
    async with running(config) as collector:
        await exercise(collector, recorder, faults[kind], ["meter"], ["battery", "weather"], caplog)


async def test_slow_device_stays_online_and_correct(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    """A device answering in 0.5 s (bus timeout 1 s) is slow, not offline; its values stay its own."""
    sim, port = simulation
    config = collector_config(tmp_path / "data", broker.port, port, devices=TCP_DEVICES)
    config["buses"][0].update(timeout=1.0, retries=1)  # the retry waits the full timeout
    async with running(config) as collector:
        await eventually(lambda: complete_state(recorder, "meter"), what="meter readings")
        reference = complete_state(recorder, "meter")
        sim.set_delay(METER, 0.5)
        count = len(states(recorder, "meter"))
        await eventually(lambda: len(states(recorder, "meter")) >= count + 3, what="slow meter readings")
        assert collector.pollers["meter"].availability == "online"
        bad = [
            {k: (v, reference.get(k)) for k, v in s["v"].items() if reference.get(k) != v}
            for s in states(recorder, "meter")
        ]
        assert not any(bad), bad
        assert [m.text for m in recorder.on(f"{BASE}/meter/availability")] == ["online"]


RTU_DEVICES = [
    {"id": "meter", "name": "Grid meter", "unit_id": METER, "profile": "sdm630"},
    {"id": "weather", "name": "Weather", "unit_id": ENVIRONMENT, "profile": "pv_sim_environment"},
]


@pytest.mark.parametrize("kind", ["crc_garbage", "stale_reply"])
async def test_rtu_line_fault_stays_local(
    kind: str, broker: Mosquitto, recorder: Recorder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """CRC errors and noise on the RS-485 line, or answers arriving after the timeout (stale replies that must
    never be taken for the answer to the next request)."""
    caplog.set_level(logging.INFO, logger="pv_collector")
    relay = RtuLineRelay()
    relay.start()
    sim = Simulation(clock=lambda: FIXED_TIME)
    await sim.start_rtu(relay.device_side, baudrate=9600)

    def corrupt(on: bool) -> None:
        relay.garbage = b"\xff\x00\x13" if on else b""
        relay.corrupt_unit = METER if on else None

    faults = {
        "crc_garbage": Fault(lambda: corrupt(True), lambda: corrupt(False)),
        "stale_reply": Fault(lambda: sim.set_delay(METER, TIMEOUT * 1.5), lambda: sim.set_delay(METER, 0)),
    }
    config = collector_config(tmp_path / "data", broker.port, 0)
    config["buses"] = [
        {
            "name": "rs485",
            "type": "serial",
            "serial_port": relay.bus_side,
            "baudrate": 9600,
            "timeout": TIMEOUT,
            "retries": 1,
            "devices": [
                {**device, "poll_interval": POLL, "offline_after": OFFLINE_AFTER} for device in RTU_DEVICES
            ],
        }
    ]
    try:
        async with running(config) as collector:
            await exercise(collector, recorder, faults[kind], ["meter"], ["weather"], caplog)
        if kind == "crc_garbage":
            assert relay.corrupted > 0
    finally:
        await sim.stop()
        relay.stop()


async def test_gateway_dropping_connections_takes_only_its_devices(
    broker: Mosquitto,
    recorder: Recorder,
    simulation: tuple[Simulation, int],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Modbus TCP gateway that drops the connection: its devices go offline, a device on another bus does
    not notice, and everything comes back by itself."""
    _, port = simulation
    caplog.set_level(logging.INFO, logger="pv_collector")
    gateway = DroppingGateway(port)
    gateway_port = await gateway.start()
    config = collector_config(tmp_path / "data", broker.port, port)
    devices = {d["id"]: {**d, "poll_interval": POLL, "offline_after": OFFLINE_AFTER} for d in SIM_DEVICES}
    config["buses"] = [
        {
            "name": "gateway",
            "type": "tcp",
            "host": "127.0.0.1",
            "port": gateway_port,
            "timeout": TIMEOUT,
            "retries": 1,
            "devices": [devices["meter"], devices["battery"]],
        },
        {
            "name": "direct",
            "type": "tcp",
            "host": "127.0.0.1",
            "port": port,
            "timeout": TIMEOUT,
            "retries": 1,
            "devices": [devices["weather"]],
        },
    ]
    fault = Fault(lambda: gateway.drop(True), lambda: gateway.drop(False))
    try:
        async with running(config) as collector:
            await exercise(collector, recorder, fault, ["meter", "battery"], ["weather"], caplog)
    finally:
        await gateway.stop()
