"""Small things seen on the way (issue 15, section 7)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.collector.conftest import Recorder, collector_config, running, wait_for
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
            await wait_for(lambda: recorder.on(f"{BASE}/meter/state"), what="a state")
    finally:
        await device.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []
    disconnected = [r for r in caplog.records if r.getMessage() == "disconnected from the MQTT broker"]
    assert len(disconnected) == 1
    assert getattr(disconnected[0], "reason", "") == "the collector is stopping"
