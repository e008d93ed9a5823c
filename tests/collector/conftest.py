"""Real peers for the collector tests: a Mosquitto broker, the simulated devices over Modbus TCP, an MQTT
client that records every message, and a helper that runs a `Collector` in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from pv_collector.app import Collector
from pv_collector.config import Config, validate_config
from pv_collector.plausibility import FIRST_CONFIRM
from pv_collector.simulator import Simulation
from tests.helpers import WAIT, eventually, required_tool
from tests.mosquitto import Mosquitto

CONTRACT = Path(__file__).resolve().parents[2] / "addon/collector/pv_collector/contract"
FIXED_TIME = 1_750_503_600.0  # 2025-06-21 11:00 UTC: midday in Berlin, the inverter produces
POLL = 0.2

INVERTER, METER, BATTERY, ENVIRONMENT = 1, 2, 3, 4
SIM_DEVICES = [
    {"id": "inverter", "name": "Inverter", "unit_id": INVERTER, "profile": "sunspec"},
    {"id": "meter", "name": "Grid meter", "unit_id": METER, "profile": "sdm630"},
    {"id": "battery", "name": "Battery", "unit_id": BATTERY, "profile": "pv_sim_battery"},
    {"id": "weather", "name": "Weather", "unit_id": ENVIRONMENT, "profile": "pv_sim_environment"},
]


def schema(name: str) -> jsonschema.protocols.Validator:
    """A validator for one of the contract's JSON Schemas."""
    document = json.loads((CONTRACT / f"{name}.schema.json").read_text())
    validator_class = jsonschema.validators.validator_for(document)
    validator_class.check_schema(document)
    return validator_class(document, format_checker=validator_class.FORMAT_CHECKER)


# ------------------------------------------------------------------------------------------ MQTT recorder


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    received: float

    @property
    def text(self) -> str:
        return self.payload.decode()

    def json(self) -> Any:
        return json.loads(self.payload)


def complete(message: Message) -> bool:
    """Whether a state message is one of a device's complete ones: from the FIRST_CONFIRM-th on it carries
    the counters too (a counter's very first value waits until that many readings agree)."""
    return bool(message.json()["seq"] >= FIRST_CONFIRM)


@dataclass
class Recorder:
    """A paho client subscribed to `topic` (QoS 1) that records everything it receives (thread-safe).

    `start()` returns once the broker acknowledged the subscription, so nothing published after it is
    missed; `persistent` uses a persistent session (with a fixed `client_id`) to lose nothing across
    reconnects.
    """

    port: int
    topic: str = "#"
    client_id: str = ""
    persistent: bool = False
    within: float = WAIT  # default wait of `wait()`
    messages: list[Message] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: mqtt.Client | None = None
    _subscribed: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Recorder:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=not self.persistent,
        )
        client.on_connect = lambda c, *_args: c.subscribe(self.topic, qos=1)
        client.on_subscribe = lambda *_args: self._subscribed.set()
        client.on_message = self._on_message
        client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        self._client = client
        if not self._subscribed.wait(5):
            raise RuntimeError(f"recorder on port {self.port} could not subscribe to {self.topic}")
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def publish(self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False) -> None:
        assert self._client is not None
        self._client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Message(message.topic, bytes(message.payload), message.retain, time.time()))

    def matching(self, pattern: str) -> list[Message]:
        """Recorded messages whose topic matches an MQTT subscription pattern."""
        with self._lock:
            return [m for m in self.messages if mqtt.topic_matches_sub(pattern, m.topic)]

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [message for message in self.messages if message.topic == topic]

    def last(self, topic: str) -> Message | None:
        found = self.on(topic)
        return found[-1] if found else None

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    async def wait(
        self, topic: str, predicate: Callable[[Message], bool] = lambda _m: True, within: float | None = None
    ) -> Message:
        """The first recorded message on `topic` that satisfies `predicate` (waiting for it)."""

        def probe() -> Message | None:
            return next((m for m in self.on(topic) if predicate(m)), None)

        return await eventually(
            probe, f"a message on {topic}", within=self.within if within is None else within
        )


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def recorder(broker: Mosquitto) -> Iterator[Recorder]:
    """Records every message on the broker from now on (and the retained ones)."""
    client = Recorder(broker.port)
    client.start()
    try:
        yield client
    finally:
        client.stop()


@pytest.fixture
async def simulation() -> AsyncIterator[tuple[Simulation, int]]:
    """The simulated devices on a free TCP port, with a frozen clock (registers stay put unless written)."""
    sim = Simulation(latitude=52.52, longitude=13.405, seed=1, clock=lambda: FIXED_TIME)
    port = await sim.start("127.0.0.1", 0)
    try:
        yield sim, port
    finally:
        await sim.stop()


@pytest.fixture
def pty_pair() -> Iterator[tuple[str, str]]:
    """Two connected pseudo-terminals (raw, no echo) made by socat (installed by scripts/setup)."""
    process = subprocess.Popen(
        [required_tool("socat"), "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    names: list[str] = []
    deadline = time.monotonic() + 5
    while len(names) < 2 and time.monotonic() < deadline:
        line = process.stderr.readline()
        if match := re.search(r"PTY is (\S+)", line):
            names.append(match.group(1))
    try:
        assert len(names) == 2, "socat did not report two ptys"
        yield names[0], names[1]
    finally:
        process.terminate()
        process.wait(5)
        process.stderr.close()


@pytest.fixture
async def rtu_simulation(pty_pair: tuple[str, str]) -> AsyncIterator[tuple[Simulation, str]]:
    """The simulated devices as Modbus RTU on one pty; yields the other pty for the collector."""
    sim = Simulation(clock=lambda: FIXED_TIME)
    await sim.start_rtu(pty_pair[0], baudrate=9600)
    try:
        yield sim, pty_pair[1]
    finally:
        await sim.stop()


def collector_config(
    data_dir: Path,
    mqtt_port: int,
    modbus_port: int,
    *,
    devices: list[dict[str, Any]] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """A configuration dict for the simulator on `modbus_port` and the broker on `mqtt_port`."""
    config: dict[str, Any] = {
        "collector": {"id": "test", "name": "Test PV"},
        "data_dir": str(data_dir),
        "metrics": {"enabled": False},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "qos": {"state": 1}},
        "publish": {"stats_interval": 0.5},
        "buses": [
            {
                "name": "sim",
                "type": "tcp",
                "host": "127.0.0.1",
                "port": modbus_port,
                "timeout": 0.3,
                "retries": 1,
                "devices": [
                    {**device, "poll_interval": POLL}
                    for device in (devices if devices is not None else SIM_DEVICES)
                ],
            }
        ],
    }
    for name, value in sections.items():
        config[name] = {**config.get(name, {}), **value} if isinstance(value, dict) else value
    return config


@contextlib.asynccontextmanager
async def running(
    config: Config | dict[str, Any], *, clock: Callable[[], float] = time.time
) -> AsyncIterator[Collector]:
    """Run a collector in this event loop; cancel it (clean shutdown) on exit."""
    collector = Collector(config if isinstance(config, Config) else validate_config(config), clock=clock)
    task = asyncio.create_task(collector.run())
    try:
        await eventually(lambda: collector.publisher is not None or task.done(), what="collector start")
        yield collector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
