"""One bad block must not fail a whole device (issue 15, section 4), against an Eastron SDM630 behind a
scripted pymodbus server (three blocks per cycle).

- A gateway answering 30 % of the requests with exception 0x0B (target device failed to respond): what was
  read is published, and the device stays `online`; it goes `offline` only after `offline_after` cycles in
  a row in which nothing could be read.
- A device answering exception 04 (device failure) for a register it does not have: its block is bisected
  like one refused with 02, the register quarantined, and everything readable published.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.collector.conftest import Recorder, collector_config, running, schema
from tests.helpers import eventually
from tests.mosquitto import Mosquitto
from tests.reliability.devices import Request, ScriptedDevice, profile_image

BASE = "pv_monitor/test"
SDM630_VALUES = {
    "voltage_l1": 230.1, "voltage_l2": 231.2, "voltage_l3": 229.8, "current_l1": 5.1, "current_l2": 0.4,
    "current_l3": 1.7, "power_l1": 1150.0, "power_l2": -80.0, "power_l3": 390.0, "power": 1460.0,
    "apparent_power": 1510.0, "reactive_power": 120.0, "power_factor": 0.97, "frequency": 50.01,
    "energy_import": 17310.4, "energy_export": 5344.86, "energy_total": 22655.26,
}  # fmt: skip
BLOCKS = ("voltage_l1", "power", "energy_total")  # one key of each of the three blocks of a cycle


def meter(script: Any) -> ScriptedDevice:
    image, _points = profile_image("sdm630", SDM630_VALUES)
    return ScriptedDevice(image, script=script)


def meter_config(data_dir: Path, broker: Mosquitto, port: int, **device: Any) -> dict[str, Any]:
    devices = [{"id": "meter", "name": "Meter", "unit_id": 1, "profile": "sdm630", **device}]
    config = collector_config(data_dir, broker.port, port, devices=devices)
    config["buses"][0].update(timeout=0.3, retries=1)  # a block fails all its retries in 9 % of the cycles
    return config


def states(recorder: Recorder) -> list[dict[str, Any]]:
    return [message.json() for message in recorder.on(f"{BASE}/meter/state")]


async def test_a_gateway_failing_30_percent_of_requests_never_takes_the_device_offline(
    broker: Mosquitto, recorder: Recorder, tmp_path: Path
) -> None:
    dice = random.Random(15)
    device = meter(lambda _request: 0x0B if dice.random() < 0.3 else None)
    port = await device.start_tcp()
    try:
        async with running(meter_config(tmp_path / "data", broker, port)):
            await eventually(lambda: len(states(recorder)) >= 40, what="40 states")
    finally:
        await device.stop()
    for state in states(recorder):
        schema("state").validate(state)
    assert [m.text for m in recorder.on(f"{BASE}/meter/availability")] == ["online"]
    # Cycles in which a block failed all its retries still published the blocks that were read (the
    # counter energy_total is in every state from the FIRST_CONFIRM-th on when its block was read).
    later = [state for state in states(recorder) if state["seq"] > 5]
    partial = [state for state in later if 0 < sum(key in state["v"] for key in BLOCKS) < len(BLOCKS)]
    assert partial, "no cycle lost a block: the dice did not test anything"
    for state in states(recorder):
        assert state["v"] == pytest.approx({key: SDM630_VALUES[key] for key in state["v"]})


@pytest.mark.parametrize(("option", "cycles"), [({}, 3), ({"offline_after": 4}, 4)])
async def test_offline_only_after_offline_after_fully_failed_cycles(
    option: dict[str, int], cycles: int, broker: Mosquitto, recorder: Recorder, tmp_path: Path
) -> None:
    """From the 10th request on the gateway answers nothing but 0x0B: the device is reported `offline` after
    exactly `offline_after` (default 3) cycles that read nothing, not at the first failed request."""
    pollers: dict[str, Any] = {}
    failed_before_offline: list[int] = []  # requests answered 0x0B while the device was not offline yet

    def script(request: Request) -> int | None:  # runs in the test's event loop, as the collector does
        if request.number < 10:
            return None
        if pollers["meter"].availability != "offline":
            failed_before_offline.append(request.number)
        return 0x0B

    device = meter(script)
    port = await device.start_tcp()
    try:
        config = meter_config(tmp_path / "data", broker, port, poll_interval=0.4, **option)
        config["buses"][0]["retries"] = 0  # one request per failed cycle
        async with running(config) as collector:
            pollers.update(collector.pollers)
            await recorder.wait(f"{BASE}/meter/availability", lambda m: m.text == "offline")
    finally:
        await device.stop()
    assert [m.text for m in recorder.on(f"{BASE}/meter/availability")] == ["online", "offline"]
    assert len(failed_before_offline) == cycles, failed_before_offline


async def test_a_register_answered_with_exception_04_is_quarantined_and_the_rest_published(
    broker: Mosquitto, recorder: Recorder, tmp_path: Path
) -> None:
    missing = 0x0008  # current_l2, inside the first block (0..17)
    device = meter(lambda request: 4 if request.covers(missing) else None)
    port = await device.start_tcp()
    try:
        async with running(meter_config(tmp_path / "data", broker, port)) as collector:
            await eventually(
                lambda: any("voltage_l1" in state["v"] for state in states(recorder)), what="the first block"
            )
            await eventually(lambda: len(states(recorder)) >= 6, what="more states")
            stats = collector.metrics.stats().to_payload()
    finally:
        await device.stop()
    last = states(recorder)[-1]["v"]
    assert last == pytest.approx({key: value for key, value in SDM630_VALUES.items() if key != "current_l2"})
    assert stats["quarantined"] == {"meter": ["current_l2"]}
    assert [m.text for m in recorder.on(f"{BASE}/meter/availability")] == ["online"]
