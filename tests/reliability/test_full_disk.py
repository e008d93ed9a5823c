"""A full data folder (issue 15, section 6), on a real 2 MB tmpfs: `sqlite3.OperationalError: database or
disk is full` stopped all polling with a traceback. The collector keeps polling and publishing live states,
counts what it cannot queue, logs one error naming the folder, and queues again once there is space.

Mounting needs root (these machines run the tests as root); elsewhere the test is skipped, saying so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pv_collector.outbox import Outbox
from tests.collector.conftest import Recorder, collector_config, running
from tests.helpers import eventually
from tests.mosquitto import Mosquitto
from tests.reliability.devices import ScriptedDevice, profile_image

BASE = "pv_monitor/test"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted for the test."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)]
    if os.geteuid() != 0 or subprocess.run(mount, capture_output=True, check=False).returncode:
        pytest.skip("needs root to mount a 2 MB tmpfs")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system of `folder` to the last byte; returns the filler file."""
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1 << 10, 1):
            with contextlib.suppress(OSError):
                while os.write(descriptor, b"\0" * size):
                    pass
    finally:
        os.close(descriptor)
    return filler


def states(recorder: Recorder) -> list[dict[str, object]]:
    return [message.json() for message in recorder.on(f"{BASE}/meter/state")]


@pytest.fixture
def recorder(broker: Mosquitto) -> Iterator[Recorder]:
    """Records every message, in a persistent session: the broker keeps the subscription and queues for it
    across the broker's restart, so the queued readings the collector delivers right after reconnecting are
    not lost when it gets back before this recorder has subscribed again."""
    client = Recorder(broker.port, client_id="full-disk-recorder", persistent=True)
    client.start()
    try:
        yield client
    finally:
        client.stop()


async def test_a_full_data_folder_keeps_polling_and_publishing(
    broker: Mosquitto, recorder: Recorder, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    data = small_disk / "data"
    image, _points = profile_image("sdm630", {"voltage_l1": 230.0, "frequency": 50.0})
    device = ScriptedDevice(image)
    port = await device.start_tcp()
    devices = [{"id": "meter", "name": "Meter", "unit_id": 1, "profile": "sdm630"}]
    config = collector_config(data, broker.port, port, devices=devices)
    try:
        async with running(config) as collector:
            await eventually(lambda: len(states(recorder)) >= 3, what="first states")
            filler = fill(small_disk)
            full_from = len(states(recorder))
            await eventually(lambda: len(states(recorder)) >= full_from + 10, what="live states, disk full")
            assert collector.metrics.errors.get("queue_write", 0) >= 1
            lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert len(lines) == 1, [r.getMessage() for r in lines]
            assert getattr(lines[0], "data_dir", "") == str(data)
            assert not [r for r in caplog.records if r.exc_info], caplog.text

            filler.unlink()  # space again: readings are queued again (a broker outage loses nothing)
            await eventually(
                lambda: any(r.getMessage() == "data folder writable again" for r in caplog.records),
                what="recovery",
            )
            broker.stop()
            assert collector.outbox is not None
            await eventually(lambda: len(collector.outbox) >= 3, what="readings queued, broker away")
            queued = collector.outbox.last_seq("meter")
            broker.start()
            await eventually(
                lambda: any(s["seq"] == queued and s.get("buffered") for s in states(recorder)),
                what="the queued readings delivered",
            )
    finally:
        await device.stop()
    seqs = [int(s["seq"]) for s in states(recorder)]  # type: ignore[call-overload]
    assert seqs == sorted(seqs)


def test_an_empty_queue_keeps_its_files_small(tmp_path: Path) -> None:
    """The queue's own files stay small while nothing waits (the SQLite write-ahead log grew to 4 MB, on a
    2 MB disk: full by itself), and after a long outage has drained."""
    outbox = Outbox(tmp_path, max_messages=100_000, max_age=1e9)
    message = {"ts": 1.0, "v": {f"point_{i}": 1234.567 for i in range(40)}}
    try:
        for _ in range(1000):  # readings delivered as they come (the WAL reached 4 MB long before)
            outbox.ack(outbox.put("meter", "pv_monitor/home/meter/state", message, qos=1).id)
        assert sum(f.stat().st_size for f in tmp_path.iterdir()) < 300_000
        ids = [outbox.put("meter", "t", message, qos=1).id for _ in range(1000)]  # an outage: 1.3 MB queued
        for message_id in ids:
            outbox.ack(message_id)
        assert sum(f.stat().st_size for f in tmp_path.iterdir()) < 300_000
    finally:
        outbox.close()
