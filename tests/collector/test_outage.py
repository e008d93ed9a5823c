"""Outages: a device that stops answering, a broker that restarts, a broker that is away across a
collector restart. Nothing read may be lost: sequence numbers stay contiguous."""

from __future__ import annotations

from pathlib import Path

from pv_collector.outbox import Outbox
from pv_collector.simulator import Simulation
from tests.collector.conftest import (
    METER,
    SIM_DEVICES,
    Recorder,
    collector_config,
    running,
    schema,
)
from tests.helpers import eventually
from tests.mosquitto import Mosquitto

BASE = "pv_monitor/test"


def seqs(recorder: Recorder, device: str) -> list[int]:
    return [message.json()["seq"] for message in recorder.on(f"{BASE}/{device}/state")]


def assert_contiguous(received: list[int], first: int = 1) -> None:
    """No reading lost: after dropping duplicates, every seq from `first` to the last arrived."""
    unique = sorted(set(received))
    assert unique == list(range(first, unique[-1] + 1)), f"gaps in {unique}"


async def test_device_offline_and_back_while_others_keep_publishing(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    sim, port = simulation
    async with running(collector_config(tmp_path / "data", broker.port, port)) as collector:
        await recorder.wait(f"{BASE}/meter/availability", lambda m: m.text == "online")
        sim.set_offline(METER, True)
        await recorder.wait(f"{BASE}/meter/availability", lambda m: m.text == "offline")
        meter_seq = max(seqs(recorder, "meter"))
        weather_seq = max(seqs(recorder, "weather"))
        # The other devices on the same connection keep their pace while the meter times out.
        await eventually(lambda: max(seqs(recorder, "weather")) >= weather_seq + 5, what="weather states")
        await eventually(lambda: max(seqs(recorder, "battery")) >= 5, what="battery states")
        assert max(seqs(recorder, "meter")) == meter_seq
        assert collector.pollers["meter"].availability == "offline"
        sim.set_offline(METER, False)
        await eventually(
            lambda: len(recorder.on(f"{BASE}/meter/availability")) >= 3, what="meter back online"
        )
        await eventually(lambda: max(seqs(recorder, "meter")) > meter_seq, what="meter states again")
    availability = [m.text for m in recorder.on(f"{BASE}/meter/availability")]
    assert availability == ["online", "offline", "online"]
    assert_contiguous(seqs(recorder, "meter"))
    # Availability of the others never flapped.
    for device in ("inverter", "battery", "weather"):
        assert [m.text for m in recorder.on(f"{BASE}/{device}/availability")] == ["online"]


async def test_broker_restart_loses_no_reading(
    broker: Mosquitto, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    """QoS 1 state: readings taken while the broker is down are queued and delivered after it is back."""
    _, port = simulation
    # A persistent session, so the broker keeps what arrives while this client reconnects too.
    recorder = Recorder(broker.port, client_id="test-recorder", persistent=True)
    recorder.start()
    meter = [device for device in SIM_DEVICES if device["id"] in {"meter", "weather"}]
    try:
        async with running(
            collector_config(tmp_path / "data", broker.port, port, devices=meter)
        ) as collector:
            await eventually(lambda: len(seqs(recorder, "meter")) >= 3, what="meter states")
            broker.stop()
            publisher = collector.publisher
            assert publisher is not None
            await eventually(lambda: not publisher.connected, what="collector notices")
            outbox = collector.outbox
            assert outbox is not None
            await eventually(lambda: len(outbox) >= 6, what="readings queued during the outage")
            before_restart = max(seqs(recorder, "meter"))
            broker.start()
            await eventually(lambda: publisher.connected, what="collector reconnects")
            await eventually(lambda: len(outbox) == 0, what="queue drained")
            await eventually(lambda: max(seqs(recorder, "meter")) >= before_restart + 8, what="states after")
        state_schema = schema("state")
        buffered = []
        for message in recorder.on(f"{BASE}/meter/state"):
            state = message.json()
            state_schema.validate(state)
            if state.get("buffered"):
                buffered.append(state["seq"])
        assert buffered, "readings of the outage are marked buffered"
        assert min(buffered) > before_restart - 1
        assert_contiguous(seqs(recorder, "meter"))
        assert_contiguous(seqs(recorder, "weather"))
        # Delivered in order.
        unique_in_order = list(dict.fromkeys(seqs(recorder, "meter")))
        assert unique_in_order == sorted(unique_in_order)
    finally:
        recorder.stop()


async def test_queue_survives_a_collector_restart_while_the_broker_is_down(
    tmp_path: Path, simulation: tuple[Simulation, int]
) -> None:
    _, port = simulation
    broker = Mosquitto(tmp_path / "mosquitto")  # not started yet: the collector runs without a broker
    data = tmp_path / "data"
    weather = [device for device in SIM_DEVICES if device["id"] == "weather"]
    config = collector_config(data, broker.port, port, devices=weather)
    async with running(config) as collector:
        outbox = collector.outbox
        assert outbox is not None
        await eventually(lambda: len(outbox) >= 5, what="readings queued without a broker")
    stored = Outbox(data, max_messages=1000, max_age=3600)
    try:
        queued = len(stored)
        assert queued >= 5
        assert stored.last_seq("weather") == queued  # nothing was delivered, every seq is stored
    finally:
        stored.close()

    broker.start()
    recorder = Recorder(broker.port)
    recorder.start()
    try:
        async with running(config):
            await eventually(
                lambda: len(seqs(recorder, "weather")) >= queued + 3, what="queue and new states"
            )
        messages = [message.json() for message in recorder.on(f"{BASE}/weather/state")]
        assert [m["seq"] for m in messages[:queued]] == list(range(1, queued + 1))
        assert all(m.get("buffered") for m in messages[:queued])
        assert_contiguous([m["seq"] for m in messages])
        assert not messages[-1].get("buffered")
    finally:
        recorder.stop()
        broker.stop()


def test_outbox_bounds_and_sequence_numbers(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, max_messages=3, max_age=100)
    try:
        for value in range(5):
            outbox.put(
                "meter", f"{BASE}/meter/state", {"ts": 1000.0 + value, "v": {"p": value}}, qos=1, now=1000
            )
        assert len(outbox) == 3
        assert outbox.dropped == 2
        pending = outbox.pending()
        assert [m.id for m in pending] == sorted(m.id for m in pending)
        assert pending[0].payload == '{"ts":1002.0,"v":{"p":2},"seq":3}'
        outbox.ack(pending[0].id)
        assert len(outbox) == 2
        assert outbox.expire(now=1050) == 0
        assert outbox.expire(now=1101) == 2
        assert len(outbox) == 0
    finally:
        outbox.close()
    reopened = Outbox(tmp_path, max_messages=3, max_age=100)
    try:
        assert reopened.last_seq("meter") == 5
        assert reopened.put("meter", "t", {"v": {}}, qos=0).payload.endswith('"seq":6}')
        assert reopened.last_seq("other") == 0
    finally:
        reopened.close()
