"""Brokers that misbehave (issue 15, section 6): one that accepts TCP but never answers CONNECT, one that
hangs up at once, and a real Mosquitto that loses its retained messages in a restart."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from pv_collector import mqtt_link
from tests.collector.conftest import Recorder, collector_config, running, schema
from tests.helpers import eventually
from tests.mosquitto import Mosquitto
from tests.reliability.devices import ScriptedDevice, profile_image

BASE = "pv_monitor/test"


class MuteBroker:
    """A TCP server on 127.0.0.1 that accepts connections and then says nothing (`hang_up`: closes them)."""

    def __init__(self, *, hang_up: bool) -> None:
        self.hang_up = hang_up
        self.connections: list[float] = []  # monotonic time of every accepted connection (a log, not timed)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append(time.monotonic())
        if self.hang_up:
            writer.transport.abort()
            return
        self._writers.append(writer)
        while await reader.read(1024):  # the client's CONNECT, never answered
            pass

    async def stop(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("pv_collector")]


@pytest.mark.parametrize("hang_up", [False, True], ids=["never_answers", "hangs_up"])
async def test_a_broker_that_does_not_answer_connect_is_reported_once(
    hang_up: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readings queued silently before. Now: one error line naming host:port after the CONNACK wait (10 s,
    1 s here: every attempt waits it), then the usual reconnect backoff, and no second line while the broker
    stays mute."""
    monkeypatch.setattr(mqtt_link, "CONNACK_TIMEOUT", 1.0)
    caplog.set_level(logging.INFO, logger="pv_collector")
    broker = MuteBroker(hang_up=hang_up)
    mqtt_port = await broker.start()
    image, _points = profile_image("sdm630", {"voltage_l1": 230.0, "frequency": 50.0})
    device = ScriptedDevice(image)
    modbus_port = await device.start_tcp()
    devices = [{"id": "meter", "name": "Meter", "unit_id": 1, "profile": "sdm630"}]
    config = collector_config(tmp_path / "data", mqtt_port, modbus_port, devices=devices)
    try:
        async with running(config) as collector:
            await eventually(lambda: errors(caplog), within=20, what="an error line")
            reported = len(broker.connections)
            await eventually(
                lambda: len(broker.connections) >= reported + 2, within=40, what="2 more attempts"
            )
            outbox = collector.outbox
            assert outbox is not None
            # Polling goes on, and the reconnect backoff (from 0.5 s) is no busy loop: counted against the
            # meter's readings (every 0.2 s), never timed.
            attempts, readings = len(broker.connections), outbox.last_seq("meter")
            await eventually(lambda: outbox.last_seq("meter") >= readings + 10, what="readings queued")
            more = len(broker.connections) - attempts
            assert more <= 10 // 2, f"{more} connection attempts in 10 poll cycles"
    finally:
        await device.stop()
        await broker.stop()
    lines = errors(caplog)
    assert len(lines) == 1, [(r.getMessage(), vars(r)) for r in lines]
    assert getattr(lines[0], "broker", "") == f"127.0.0.1:{mqtt_port}"


async def test_statistics_are_published_again_when_the_broker_comes_back(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """A broker restarted without its retained messages (no persistence file): the retained `stats` topic
    was missing until the next interval (here 10 min); it is published on reconnect."""
    image, _points = profile_image("sdm630", {"voltage_l1": 230.0, "frequency": 50.0})
    device = ScriptedDevice(image)
    port = await device.start_tcp()
    devices = [{"id": "meter", "name": "Meter", "unit_id": 1, "profile": "sdm630"}]
    config = collector_config(
        tmp_path / "data", broker.port, port, devices=devices, publish={"stats_interval": 600}
    )
    watcher = Recorder(broker.port, topic=f"{BASE}/stats")
    try:
        async with running(config):
            watcher.start()
            await watcher.wait(f"{BASE}/stats")  # the first statistics come 5 s after start
            broker.stop()
            for leftover in broker.directory.glob("*.db"):
                leftover.unlink()  # the restarted broker knows no retained message
            watcher.clear()
            broker.start()
            await watcher.wait(f"{BASE}/stats", within=20)  # again right after the reconnect
            late = Recorder(broker.port).start()
            try:
                stats = await late.wait(f"{BASE}/stats", within=5)
            finally:
                late.stop()
    finally:
        watcher.stop()
        await device.stop()
    assert stats.retain
    schema("stats").validate(stats.json())
