"""Modbus faults stay local: a fault-injecting peer (the simulator's exceptions, silence and delays, an RTU
line relay that corrupts answers, a TCP gateway that drops its connections). For each fault: only the
affected device goes offline (at its first cycle that reads nothing), the others keep the pace of a control
device polled on a bus of its own (counted in readings, never timed), no wrong value reaches a state topic,
recovery is automatic (at the first probe after the fault cleared), and lost/back are logged once each."""

from __future__ import annotations

import logging
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
READINGS = 6  # readings of the control device during the fault (3 s; the probes come 0.5, 1, 2 s apart)
BEHIND = 2  # readings the others may lag behind it: the phase of two poll grids, a late cycle under load
OFFLINE_AFTER = 1  # offline at the first cycle that reads nothing (default 3: test_partial_cycles.py)
CONTROL = "control"


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


def control_bus(port: int) -> dict[str, Any]:
    """A bus of its own to the simulator on `port` with one device (the weather station's unit) whose
    readings are the yardstick of the others' pace: the test counts readings, it never times them."""
    return {
        "name": "control",
        "type": "tcp",
        "host": "127.0.0.1",
        "port": port,
        "timeout": 1.0,
        "devices": [
            {
                "id": CONTROL,
                "name": "Control",
                "unit_id": ENVIRONMENT,
                "profile": "pv_sim_environment",
                "poll_interval": POLL,
            }
        ],
    }


async def exercise(
    collector: Collector,
    recorder: Recorder,
    fault: Fault,
    affected: list[str],
    others: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    everyone = affected + others
    await eventually(lambda: all(complete_state(recorder, d) for d in everyone), what="first readings")
    reference = {device: complete_state(recorder, device) for device in everyone}
    outbox = collector.outbox
    assert outbox is not None
    pollers = collector.pollers

    published = {device: outbox.last_seq(device) for device in affected}
    fault.on()
    await eventually(
        lambda: all(pollers[d].availability == "offline" for d in affected), what="affected offline"
    )
    for device in affected:  # at most the cycle under way when the fault began was published
        assert outbox.last_seq(device) <= published[device] + 1, f"{device}: offline only after a cycle more"

    # The others keep the control device's pace while the affected devices are away.
    start = {device: outbox.last_seq(device) for device in [*others, CONTROL]}
    await eventually(
        lambda: outbox.last_seq(CONTROL) >= start[CONTROL] + READINGS, what="readings of the control device"
    )
    counted = {device: outbox.last_seq(device) - start[device] for device in others}
    assert all(count >= READINGS - BEHIND for count in counted.values()), (
        f"others slowed down: {counted} readings while the control device made {READINGS}"
    )
    assert all(pollers[d].availability == "online" for d in others)
    stalled = {device: len(states(recorder, device)) for device in affected}

    # Back at the first probe after the fault cleared (a probe under way then may still fail).
    failed = {device: pollers[device].failures for device in affected}
    fault.off()
    await eventually(lambda: all(pollers[d].availability == "online" for d in affected), what="affected back")
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
        back = next(r for r in records if r.getMessage() == "device back")
        assert getattr(back, "after_failures", None) in (failed[device], failed[device] + 1), vars(back)
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
    config["buses"].append(control_bus(port))
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
    kind: str,
    broker: Mosquitto,
    recorder: Recorder,
    simulation: tuple[Simulation, int],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
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
        },
        control_bus(simulation[1]),
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
        control_bus(port),
    ]
    fault = Fault(lambda: gateway.drop(True), lambda: gateway.drop(False))
    try:
        async with running(config) as collector:
            await exercise(collector, recorder, fault, ["meter", "battery"], ["weather"], caplog)
    finally:
        await gateway.stop()
