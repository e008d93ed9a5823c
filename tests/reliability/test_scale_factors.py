"""A value and its SunSpec scale factor come from one read (issue 15, section 2), through the Modbus wire.

A Fronius-like inverter (SunSpec models 1, 103 and 160 with two MPPT strings) changes its string power
scale factor between any two requests, as Fronius inverters do while running: each request sees one of
(12300, -1), (1230, 0), (123, 1) for 1230 W. A value scaled by a scale factor from another request is 10x
or 100x off. The planner's side (every layout) is a property test in tests/collector/test_planner.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.collector.conftest import Recorder, collector_config, running, schema
from tests.helpers import eventually
from tests.mosquitto import Mosquitto
from tests.reliability.devices import Request, ScriptedDevice, sunspec_image

BASE = "pv_monitor/test"
WATTS = 1230
REPRESENTATIONS = (-1, 0, 1)  # scale factors the device switches between


@pytest.mark.parametrize("strings", [2, 8])
async def test_a_value_is_never_scaled_by_a_scale_factor_from_another_read(
    strings: int, broker: Mosquitto, recorder: Recorder, tmp_path: Path
) -> None:
    """With 2 strings model 160 fits one request (value and scale factor are read together); with 8 it does
    not, and the far strings' scale factors are re-read around them: a string whose scale factor changed
    in between is left out of that state, never published 10x off."""
    image, points = sunspec_image([(1, 66), (103, 50), (160, 8 + 20 * strings)])
    image.put(points["manufacturer"], "Fronius")
    last = f"pv{strings}_power"

    def switch_scale_factor(request: Request) -> None:
        sf = REPRESENTATIONS[request.number % len(REPRESENTATIONS)]
        image.put(points["mppt_dcw_sf"], sf)
        for string in range(1, strings + 1):
            image.put(points[f"pv{string}_power"], WATTS, sf)

    device = ScriptedDevice(image, script=switch_scale_factor)
    port = await device.start_tcp()
    try:
        devices = [{"id": "inverter", "name": "Inverter", "unit_id": 1, "profile": "sunspec"}]
        async with running(collector_config(tmp_path / "data", broker.port, port, devices=devices)):
            await eventually(
                lambda: sum("pv1_power" in m.json()["v"] for m in recorder.on(f"{BASE}/inverter/state")) >= 8,
                what="8 states with the string power",
            )
    finally:
        await device.stop()
    states = [message.json() for message in recorder.on(f"{BASE}/inverter/state")]
    for state in states:
        schema("state").validate(state)
    for key in ("pv1_power", last):
        powers = [state["v"][key] for state in states if key in state["v"]]
        assert set(powers) <= {WATTS}, (key, powers)
    assert any(state["v"].get("pv1_power") == WATTS for state in states)
