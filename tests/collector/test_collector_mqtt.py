"""The collector against real peers: the simulated devices over Modbus TCP and a real Mosquitto broker.

What travels over MQTT is checked against the contract's JSON Schemas, and every published value against
the registers the simulator holds.
"""

from __future__ import annotations

import asyncio
import re
import signal
import struct
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from pv_collector import __version__, app
from pv_collector.decode import decode
from pv_collector.model import Function, Point, Value
from pv_collector.profile import load_profile
from pv_collector.simulator import Simulation
from pv_collector.sunspec import discover, implemented
from tests.collector.conftest import (
    BATTERY,
    ENVIRONMENT,
    INVERTER,
    METER,
    SIM_DEVICES,
    Recorder,
    collector_config,
    complete,
    running,
    schema,
)
from tests.helpers import eventually
from tests.mosquitto import Mosquitto

ROOT = Path(__file__).resolve().parents[2]
BASE = "pv_monitor/test"


class SimulatorReader:
    """Reads the simulator's registers directly (no Modbus): the expected values' source."""

    def __init__(self, sim: Simulation, unit: int) -> None:
        self.sim, self.unit = sim, unit

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        return self.sim.registers(self.unit, function, address, count)


async def expected_values(
    sim: Simulation, unit: int, profile_id: str
) -> tuple[list[Point], dict[str, Value]]:
    """Every published point of the device and its value decoded from the simulator's registers."""
    profile = load_profile(profile_id)
    reader = SimulatorReader(sim, unit)
    points = (
        list((await implemented(reader, await discover(reader, profile), profile)).points)
        if profile.sunspec_base
        else list(profile.points)
    )
    by_key = {point.key: point for point in points}
    values: dict[str, Value] = {}
    for point in points:
        if point.hidden or point.info or point.kind == "action":
            continue
        scale_factor = None
        if point.sf is not None:
            sf_point = by_key[point.sf]
            raw_sf = decode(sf_point, sim.registers(unit, sf_point.function, sf_point.address, 1))
            scale_factor = raw_sf if isinstance(raw_sf, int) else None
        value = decode(point, sim.registers(unit, point.function, point.address, point.words), scale_factor)
        if value is not None:
            values[point.key] = value
    return [p for p in points if not p.hidden and not p.info], values


def sunspec_model_start(sim: Simulation, model_id: int) -> int:
    """Walk the SunSpec chain of the simulated inverter by hand: the address of model `model_id`'s data."""
    assert sim.registers(INVERTER, "holding", 40000, 2) == [0x5375, 0x6E53]  # "SunS"
    address = 40002
    while True:
        found, length = sim.registers(INVERTER, "holding", address, 2)
        assert found != 0xFFFF, f"model {model_id} not in the chain"
        if found == model_id:
            return address + 2
        address += 2 + length


def as_signed(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


async def test_announcement_is_retained_complete_and_valid(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    sim, port = simulation
    async with running(collector_config(tmp_path / "data", broker.port, port)):
        # The first announcement may predate the inverter's discovery; the complete one follows.
        await recorder.wait(f"{BASE}/config", lambda m: all(d["points"] for d in m.json()["devices"]))
        # A client that connects later gets it retained.
        late = Recorder(broker.port)
        late.start()
        try:
            announcement_message = await late.wait(f"{BASE}/config")
        finally:
            late.stop()
    assert announcement_message.retain
    announcement = announcement_message.json()
    schema("announcement").validate(announcement)
    assert announcement["contract"] == 1
    assert announcement["collector"]["id"] == "test"
    assert announcement["collector"]["name"] == "Test PV"
    assert announcement["collector"]["version"] == __version__
    devices = {device["id"]: device for device in announcement["devices"]}
    assert list(devices) == [device["id"] for device in SIM_DEVICES]
    for configured in SIM_DEVICES:
        device = devices[configured["id"]]
        unit = int(configured["unit_id"])
        points, _ = await expected_values(sim, unit, str(configured["profile"]))
        assert [point["key"] for point in device["points"]] == [point.key for point in points]
        assert device["name"] == configured["name"]
        assert device["poll_interval"] == pytest.approx(0.2)
    # Device info read from the inverter itself (SunSpec model 1), kinds from the profiles/models.
    assert devices["inverter"]["kind"] == "inverter"
    assert devices["inverter"]["serial"]
    assert devices["inverter"]["manufacturer"]
    assert devices["meter"]["kind"] == "meter"
    assert devices["battery"]["kind"] == "battery"
    assert devices["weather"]["kind"] == "environment"
    power_limit = next(p for p in devices["inverter"]["points"] if p["key"] == "power_limit")
    assert power_limit["writable"]["min"] == 0
    assert power_limit["writable"]["max"] == 100
    # SunSpec points outside the key vocabulary are marked advanced (created disabled by consumers); the
    # simulated inverter implements none of them (m103_evt_vnd1 reads "not implemented": not announced)
    inverter_points = devices["inverter"]["points"]
    advanced = {p["key"] for p in inverter_points if p.get("advanced")}
    assert advanced == {p["key"] for p in inverter_points if re.fullmatch(r"m[0-9]+_.+", p["key"])}
    assert "m103_evt_vnd1" not in {p["key"] for p in inverter_points}
    assert all(p.get("advanced") is not False for p in inverter_points)  # absent, never false


async def test_state_values_equal_the_simulated_registers(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    sim, port = simulation
    state_schema = schema("state")
    async with running(collector_config(tmp_path / "data", broker.port, port)):
        states = {}
        for configured in SIM_DEVICES:
            topic = f"{BASE}/{configured['id']}/state"
            message = await recorder.wait(topic, complete)
            states[configured["id"]] = message
            await recorder.wait(f"{BASE}/{configured['id']}/availability", lambda m: m.text == "online")
    for configured in SIM_DEVICES:
        state = states[configured["id"]].json()
        state_schema.validate(state)
        _, expected = await expected_values(sim, int(configured["unit_id"]), str(configured["profile"]))
        assert state["v"] == pytest.approx(expected), configured["id"]
    # Every state message the collector sent is valid, and seq counts up from 1 per device.
    for configured in SIM_DEVICES:
        seqs = []
        for message in recorder.on(f"{BASE}/{configured['id']}/state"):
            state = message.json()
            state_schema.validate(state)
            seqs.append(state["seq"])
        assert seqs == list(range(1, len(seqs) + 1))

    # Independent of the decoder: a few values computed by hand from the raw registers.
    inverter = states["inverter"].json()["v"]
    model_103 = sunspec_model_start(sim, 103)
    watts, watts_sf = sim.registers(INVERTER, "holding", model_103 + 12, 2)
    assert inverter["ac_power"] == pytest.approx(as_signed(watts) * 10 ** as_signed(watts_sf))
    assert inverter["ac_power"] > 0  # midday in June
    meter = states["meter"].json()["v"]
    high, low = sim.registers(METER, "input", 0, 2)
    voltage = struct.unpack(">f", struct.pack(">HH", high, low))[0]
    assert meter["voltage_l1"] == pytest.approx(voltage, rel=1e-6)
    battery = states["battery"].json()["v"]
    assert battery["soc"] == pytest.approx(sim.registers(BATTERY, "holding", 0, 1)[0] * 0.1)
    assert battery["battery_mode"] in {"auto", "charge", "discharge", "idle"}
    weather = states["weather"].json()["v"]
    assert weather["ambient_temperature"] == pytest.approx(
        as_signed(sim.registers(ENVIRONMENT, "input", 2, 1)[0]) * 0.1
    )


async def test_connect_order_and_reannouncement_on_home_assistant_birth(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    _, port = simulation
    async with running(collector_config(tmp_path / "data", broker.port, port)):
        await recorder.wait(f"{BASE}/meter/state")
        topics = [m.topic for m in recorder.messages]
        status_at = topics.index(f"{BASE}/status")
        assert recorder.on(f"{BASE}/status")[0].text == "online"
        assert topics.index(f"{BASE}/config") > status_at
        await recorder.wait(f"{BASE}/config", lambda m: all(d["points"] for d in m.json()["devices"]))
        announcements = len(recorder.on(f"{BASE}/config"))
        recorder.publish("homeassistant/status", "online")
        await eventually(lambda: len(recorder.on(f"{BASE}/config")) > announcements, what="re-announcement")
        recorder.publish("homeassistant/status", "offline")  # not a birth message: nothing happens
        recorder.publish("homeassistant/status", "online")
        await eventually(lambda: len(recorder.on(f"{BASE}/config")) > announcements + 1, what="another one")
    # Clean shutdown: status offline, retained.
    await recorder.wait(f"{BASE}/status", lambda m: m.text == "offline")
    assert recorder.on(f"{BASE}/status")[-1].text == "offline"
    assert len(recorder.on(f"{BASE}/config")) == announcements + 2


async def test_statistics_message_and_prometheus_metrics(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    _, port = simulation
    config = collector_config(tmp_path / "data", broker.port, port, metrics={"enabled": True, "port": 0})
    async with running(config) as collector:
        message = await recorder.wait(f"{BASE}/stats", lambda m: m.json().get("messages_published", 0) > 4)
        await eventually(lambda: collector.metrics_port, what="metrics endpoint")
        url = f"http://127.0.0.1:{collector.metrics_port}/metrics"
        text = await asyncio.to_thread(_fetch, url)
    stats = message.json()
    schema("stats").validate(stats)
    assert stats["requests_per_cycle"] >= 4
    assert stats["queue_length"] >= 0
    assert stats["cycle_seconds"] > 0
    for name in (
        "pv_collector_cycle_seconds_bucket",
        "pv_collector_modbus_request_seconds_bucket",
        "pv_collector_messages_published_total",
        "pv_collector_requests_per_cycle",
        "pv_collector_queue_length",
    ):
        assert name in text, name
    sent = [
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('pv_collector_messages_published_total{kind="state"}')
    ]
    assert sent
    assert sent[0] >= 4


async def test_publish_on_change_with_deadband(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    """The simulator's clock is frozen: after the first full state nothing changes, nothing is sent."""
    _, port = simulation
    weather = [d for d in SIM_DEVICES if d["id"] == "weather"]
    config = collector_config(
        tmp_path / "data",
        broker.port,
        port,
        devices=weather,
        publish={"on_change": True, "max_interval": 300},
    )
    async with running(config) as collector:
        first = await recorder.wait(f"{BASE}/weather/state")
        poller = collector.pollers["weather"]
        await eventually(
            lambda: poller.metrics.cycle_histogram.labels("weather")._sum.get() > 0, what="cycles"
        )
        cycles_before = _cycles(collector, "weather")
        await eventually(lambda: _cycles(collector, "weather") >= cycles_before + 3, what="three more cycles")
        assert len(recorder.on(f"{BASE}/weather/state")) == 1
    assert set(first.json()["v"]) == {"irradiance", "module_temperature", "ambient_temperature", "wind_speed"}


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _cycles(collector: Any, device: str) -> float:
    for metric in collector.metrics.registry.collect():
        if metric.name == "pv_collector_cycle_seconds":
            for sample in metric.samples:
                if sample.name.endswith("_count") and sample.labels.get("device") == device:
                    return float(sample.value)
    return 0.0


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
async def test_last_will_when_the_collector_process_is_killed(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    _, port = simulation
    config_file = tmp_path / "collector.yaml"
    config_file.write_text(yaml.safe_dump(collector_config(tmp_path / "data", broker.port, port)))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pv_collector",
        "run",
        "--config",
        str(config_file),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await recorder.wait(f"{BASE}/meter/state", within=20)
        assert recorder.last(f"{BASE}/status").text == "online"  # type: ignore[union-attr]
        process.send_signal(signal.SIGKILL)
        await process.wait()
        will = await recorder.wait(f"{BASE}/status", lambda m: m.text == "offline", within=20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert will.text == "offline"
    # The Last Will is retained: a client connecting now still sees `offline`.
    late = Recorder(broker.port)
    late.start()
    try:
        retained = await late.wait(f"{BASE}/status")
    finally:
        late.stop()
    assert retained.retain
    assert retained.text == "offline"


def test_example_configuration_points_at_the_simulator() -> None:
    document = yaml.safe_load((ROOT / "examples/simulated.yaml").read_text())
    assert document["buses"][0]["host"] == "127.0.0.1"
    assert document["buses"][0]["port"] == 5020
    assert document["mqtt"]["port"] == 1883
    units = {device["unit_id"]: device["profile"] for device in document["buses"][0]["devices"]}
    assert units == {device["unit_id"]: device["profile"] for device in SIM_DEVICES}


async def test_first_statistics_soon_after_start(
    broker: Mosquitto,
    recorder: Recorder,
    simulation: tuple[Simulation, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a long stats interval the first statistics still come within seconds, so Home Assistant's
    diagnostic sensors are not empty for the first interval after every start."""
    monkeypatch.setattr(app, "FIRST_STATS_DELAY", 1.0)  # the test's own wait: 1 s instead of 5
    _, port = simulation
    config = collector_config(tmp_path / "data", broker.port, port, publish={"stats_interval": 600})
    async with running(config):
        message = await recorder.wait(f"{BASE}/stats")  # within the fixture's WAIT (10 s), far below 600 s
    schema("stats").validate(message.json())
    assert message.json()["requests_per_cycle"] >= 4
