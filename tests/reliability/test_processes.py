"""Processes die and come back: SIGKILL -> Last Will within 1.5 x keep-alive; two collectors with the same
collector id -> the second refuses with a clear error; a restart after a crash is allowed at once."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pv_collector.app import Collector
from pv_collector.config import validate_config
from pv_collector.errors import DuplicateCollectorError
from pv_collector.instance import check_instance, remember_instance
from pv_collector.simulator import Simulation
from tests.collector.conftest import SIM_DEVICES, Recorder, collector_config, running
from tests.helpers import WAIT, eventually
from tests.mosquitto import Mosquitto

BASE = "pv_monitor/test"
KEEPALIVE = 5  # the smallest keep-alive the configuration accepts
ROOT = Path(__file__).resolve().parents[2]
WEATHER = [device for device in SIM_DEVICES if device["id"] == "weather"]


def start_process(config: dict[str, Any], path: Path) -> subprocess.Popen[str]:
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "addon/collector")}
    return subprocess.Popen(
        [sys.executable, "-m", "pv_collector", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


async def test_sigkill_last_will_and_restart_after_crash(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    _, port = simulation
    config = collector_config(tmp_path / "data", broker.port, port, devices=WEATHER)
    config["mqtt"]["keepalive"] = KEEPALIVE
    process = start_process(config, tmp_path / "collector.yaml")
    try:
        await recorder.wait(f"{BASE}/weather/state", within=20)
        assert recorder.last(f"{BASE}/status").text == "online"  # type: ignore[union-attr]
        process.send_signal(signal.SIGKILL)
        process.wait(5)
        await eventually(  # the deadline is the bound: the broker gives up on it after 1.5 x keep-alive
            lambda: (last := recorder.last(f"{BASE}/status")) is not None and last.text == "offline",
            within=1.5 * KEEPALIVE + 2,
            what="the Last Will",
        )
        # Restart: the retained claim is offline -> the new process starts without user action.
        recorder.clear()
        process = start_process(config, tmp_path / "collector.yaml")
        await recorder.wait(f"{BASE}/status", lambda m: m.text == "online", within=20)
        await recorder.wait(f"{BASE}/weather/state", within=10)
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


async def test_claim_of_its_own_predecessor_is_taken_over_at_once(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed and restarted before the broker noticed (power cut of a remote host, a frozen container): the
    claim is still `online` and live, but with the token this data directory remembers, so the new process
    starts at once instead of refusing or waiting for the Last Will."""
    config = collector_config(tmp_path / "data", broker.port, 1)
    remember_instance(tmp_path / "data", "predecessor1")
    other = Recorder(broker.port)
    other.start()
    try:
        other.publish(f"{BASE}/status", "online", retain=True)
        other.publish(f"{BASE}/config", '{"collector": {"instance": "predecessor1"}}', retain=True)
        caplog.set_level(logging.INFO, logger="pv_collector")
        assert await_check(config, wait=30) == "own"
        waits = [r.getMessage() for r in caplog.records if "waiting for its Last Will" in r.getMessage()]
        assert not waits, "it waited for the Last Will of its own predecessor"
        remember_instance(tmp_path / "data", "another")  # a different installation: not its own
        assert await_check(config, wait=0.5) == "stale"
    finally:
        other.stop()


def await_check(config: dict[str, Any], wait: float | None = None) -> str:
    return check_instance(validate_config(config), "newinstance01", wait=wait)


async def test_second_collector_with_the_same_id_refuses(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    _, port = simulation
    first = collector_config(tmp_path / "one", broker.port, port, devices=WEATHER)
    second = collector_config(tmp_path / "two", broker.port, port, devices=WEATHER)
    async with running(first) as collector:
        await recorder.wait(f"{BASE}/weather/state")
        duplicate = Collector(validate_config(second))
        with pytest.raises(
            DuplicateCollectorError, match=r"another collector with collector\.id 'test'"
        ) as err:
            await asyncio.wait_for(duplicate.run(), WAIT)  # refuses before it polls anything
        assert collector.instance in str(err.value)
        # The first one is untouched: still online, still publishing.
        seq = recorder.last(f"{BASE}/weather/state").json()["seq"]  # type: ignore[union-attr]
        await eventually(
            lambda: recorder.last(f"{BASE}/weather/state").json()["seq"] > seq,  # type: ignore[union-attr]
            what="first collector still publishing",
        )
    assert [m.text for m in recorder.on(f"{BASE}/status")][-1] == "offline"


async def test_second_collector_from_the_command_line_prints_one_clear_error(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    _, port = simulation
    async with running(collector_config(tmp_path / "one", broker.port, port, devices=WEATHER)):
        await recorder.wait(f"{BASE}/weather/state")
        config = collector_config(tmp_path / "two", broker.port, port, devices=WEATHER)
        process = start_process(config, tmp_path / "two.yaml")
        _, stderr = await asyncio.to_thread(process.communicate, timeout=30)
    assert process.returncode == 1
    errors = [line for line in stderr.splitlines() if "level=error" in line]
    assert len(errors) == 1, stderr
    assert "another collector with collector.id 'test' is running" in errors[0]
    assert "Traceback" not in stderr


async def test_stale_claim_without_a_will_lets_the_collector_start(broker: Mosquitto, tmp_path: Path) -> None:
    """`online` left behind by a collector that stopped while the broker was away, no publisher: start."""
    publisher = Recorder(broker.port)
    publisher.start()
    try:
        publisher.publish(f"{BASE}/status", "online", retain=True)
        publisher.publish(f"{BASE}/config", '{"collector": {"instance": "somebodyelse"}}', retain=True)
        config = collector_config(tmp_path / "data", broker.port, 1)
        assert await_check(config, wait=0.5) == "stale"
        publisher.publish(f"{BASE}/status", "offline", retain=True)
        assert await_check(config, wait=0.5) == "released"
    finally:
        publisher.stop()
