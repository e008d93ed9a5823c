"""Small things seen on the way (issue 15, section 7)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.collector.conftest import Recorder, collector_config, running
from tests.helpers import eventually
from tests.mosquitto import Mosquitto
from tests.reliability.devices import ScriptedDevice, profile_image

BASE = "pv_monitor/test"


async def test_a_clean_shutdown_is_no_warning(
    broker: Mosquitto, recorder: Recorder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopping the collector disconnects from the broker on purpose: one info line saying so, no warning
    "lost the MQTT broker ... Normal disconnection"."""
    caplog.set_level(logging.INFO, logger="pv_collector")
    image, _points = profile_image("sdm630", {"voltage_l1": 230.0, "frequency": 50.0})
    device = ScriptedDevice(image)
    port = await device.start_tcp()
    try:
        devices = [{"id": "meter", "name": "Meter", "unit_id": 1, "profile": "sdm630"}]
        async with running(collector_config(tmp_path / "data", broker.port, port, devices=devices)):
            await eventually(lambda: recorder.on(f"{BASE}/meter/state"), what="a state")
    finally:
        await device.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []
    disconnected = [r for r in caplog.records if r.getMessage() == "disconnected from the MQTT broker"]
    assert len(disconnected) == 1
    assert getattr(disconnected[0], "reason", "") == "the collector is stopping"


async def test_float32_values_are_published_as_short_as_the_register_holds_them(
    broker: Mosquitto, recorder: Recorder, tmp_path: Path
) -> None:
    """An SDM630 register holding 12345.6 (float32 0x4640E666, which is 12345.599609375) was published as
    12345.5996: float64 noise. The shortest decimal that gives the same float32 is published, within the
    point's precision."""
    values = {
        "voltage_l1": 230.1, "current_l1": 5.17, "power": 1460.3, "power_factor": 0.973, "frequency": 50.02,
        "energy_import": 12345.6, "energy_export": 5344.86,
    }  # fmt: skip
    image, _points = profile_image("sdm630", values)
    device = ScriptedDevice(image)
    port = await device.start_tcp()
    try:
        devices = [{"id": "meter", "name": "Meter", "unit_id": 1, "profile": "sdm630"}]
        async with running(collector_config(tmp_path / "data", broker.port, port, devices=devices)):
            message = await recorder.wait(f"{BASE}/meter/state", lambda m: "energy_import" in m.json()["v"])
    finally:
        await device.stop()
    published = message.json()["v"]
    assert {key: published[key] for key in values} == values
    assert b'"energy_import":12345.6,' in message.payload
