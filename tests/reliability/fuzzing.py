"""Hypothesis strategies and the checks shared by tests/reliability/test_fuzz.py and bench/fuzz.py."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from pv_collector.app import Collector
from pv_collector.config import validate_config
from pv_collector.decode import decode
from pv_collector.errors import ConfigError
from pv_collector.model import Point
from pv_collector.simulator import Simulation

JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
WORDS = st.sampled_from(
    [
        "on",
        "off",
        "true",
        "1",
        "yes",
        "maximise_self_consumption",
        "charge",
        "nan",
        "inf",
        "-inf",
        "1e309",
        "75",
        "100.0001",
        "-1",
        "",
        " ",
        "\x00",
        "💥",
    ]
)


def _dump(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


COMMAND_PAYLOADS = st.one_of(
    st.binary(max_size=64),
    st.binary(min_size=1000, max_size=1100),  # around the payload limit
    WORDS.map(str.encode),
    st.floats().map(lambda f: repr(f).encode()),
    st.integers(min_value=-(10**30), max_value=10**30).map(lambda i: str(i).encode()),
    JSON.map(_dump),
    st.builds(lambda v, i: _dump({"value": v, "id": i}), JSON, JSON),
    st.integers(1, 400).map(lambda depth: b"[" * depth + b"]" * depth),
)
DEVICE_IDS = st.sampled_from(["inverter", "battery", "meter", "weather", "nope", "../x", ""]) | st.text(
    max_size=10
)
POINT_KEYS = st.sampled_from(
    [
        "power_limit",
        "battery_mode",
        "charge_power_limit",
        "discharge_power_limit",
        "power_limit_enabled",
        "power_limit_revert",
        "ac_power",
        "soc",
        "energy_total",
        "charge_limit",
        "x",
        "",
    ]
) | st.text(max_size=12)


@dataclass
class CommandRig:
    """A collector in a thread of its own, wired to the simulated devices; every Modbus write is recorded."""

    modbus_port: int
    simulation: Simulation
    loop: asyncio.AbstractEventLoop
    collector: Collector
    writes: list[tuple[int, int, list[int]]] = field(default_factory=list)

    def command(self, device: str, point: str, payload: bytes) -> None:
        future = asyncio.run_coroutine_threadsafe(
            self.collector.commands.handle(device, point, payload), self.loop
        )
        future.result(10)

    def check_writes(self) -> None:
        """Every write went to a writable point's register (or its revert/enable companion), in range."""
        writes, self.writes[:] = list(self.writes), []
        for unit, address, words in writes:
            poller = next(p for p in self.collector.pollers.values() if p.device.unit_id == unit)
            allowed = allowed_points(poller.points)
            point = next((p for p in allowed if p.address == address and p.words == len(words)), None)
            assert point is not None, (
                f"write to unit {unit} register {address} (+{len(words)}) is not declared"
            )
            value = decode(point, words)
            if point.writable is not None and isinstance(value, int | float) and not isinstance(value, bool):
                scale = 10.0**-6
                low = point.writable.min if point.writable.min is not None else -math.inf
                high = point.writable.max if point.writable.max is not None else math.inf
                if point.sf is None:
                    assert low - scale <= value <= high + scale, f"{point.key}: {value} outside {low}..{high}"


def allowed_points(points: dict[str, Point]) -> list[Point]:
    writable = [p for p in points.values() if p.writable is not None or p.kind == "action"]
    companions = [points[k] for p in writable for k in (p.revert_point, p.enable_point) if k and k in points]
    return writable + companions


@contextmanager
def command_rig(data_dir: Path, mqtt_port: int) -> Iterator[CommandRig]:
    """Run simulation + collector (no broker needed: commands are handed in directly) in a thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def setup() -> tuple[Simulation, int, Collector, asyncio.Task[None]]:
        sim = Simulation(seed=1, clock=lambda: 1_750_503_600.0)
        port = await sim.start("127.0.0.1", 0)
        from tests.collector.conftest import SIM_DEVICES, collector_config
        from tests.helpers import eventually

        config = collector_config(data_dir, mqtt_port, port)
        for device in config["buses"][0]["devices"]:
            if device["id"] == "inverter":
                device["power_limit_revert"] = 60
        collector = Collector(validate_config(config))
        task = asyncio.create_task(collector.run())
        await eventually(
            lambda: collector.pollers and all(p.availability == "online" for p in collector.pollers.values()),
            what="every device online",
        )
        del SIM_DEVICES
        return sim, port, collector, task

    sim, port, collector, task = asyncio.run_coroutine_threadsafe(setup(), loop).result(30)
    rig = CommandRig(port, sim, loop, collector)
    for unit, device in sim.units.items():
        original = device.write

        def recording(address: int, values: list[int], now: float, _u: int = unit, _w: Any = original) -> Any:
            rig.writes.append((_u, address, list(values)))
            return _w(address, values, now)

        device.write = recording  # type: ignore[method-assign]
    try:
        yield rig
    finally:

        async def teardown() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await sim.stop()

        asyncio.run_coroutine_threadsafe(teardown(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


# ------------------------------------------------------------------------------------------ configuration

VALID_CONFIG: dict[str, Any] = {
    "collector": {"id": "home", "name": "Home"},
    "mqtt": {"host": "127.0.0.1", "port": 1883, "username": "u", "password": "s3cret-pw"},
    "queue": {"max_messages": 10, "max_age": 60},
    "buses": [
        {
            "name": "lan",
            "type": "tcp",
            "host": "127.0.0.1",
            "port": 502,
            "devices": [{"id": "meter", "unit_id": 2, "profile": "sdm630", "poll_interval": 5}],
        }
    ],
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


CONFIG_PATHS = _paths(VALID_CONFIG)


def _mutate(path: tuple[Any, ...], action: str, value: Any) -> dict[str, Any]:
    config = json.loads(json.dumps(VALID_CONFIG))
    parent: Any = config
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "unknown" and isinstance(parent, dict):
        parent[f"{last}_typo"] = value
    else:
        parent[last] = value
    return config


CONFIGS = (
    st.builds(_mutate, st.sampled_from(CONFIG_PATHS), st.sampled_from(["replace", "delete", "unknown"]), JSON)
    | st.dictionaries(st.text(max_size=10), JSON, max_size=5)
    | JSON
)


def check_config(data: Any, *, secret: str = "s3cret-pw") -> str:
    """Either a Config or a ConfigError with clear lines; nothing else, and never the password."""
    try:
        validate_config(data, check_profiles=False)
    except ConfigError as err:
        assert err.messages
        assert all(isinstance(line, str) and line.strip() for line in err.messages)
        # Known finding (reported): a key containing a newline is echoed raw, splitting its line.
        assert all("Traceback" not in line for line in err.messages)
        assert not any(secret in line for line in err.messages), err.messages
        return "rejected"
    return "accepted"


YAML_TEXTS = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda a, b: f"collector:\n  id: {a}\nmqtt:\n  password: s3cret-pw\n  port: {b}\n",
        st.text(max_size=10),
        st.text(max_size=10),
    ),
    st.just("collector: {id: a}\ncollector: {id: b}\n"),
    st.just("buses: [\n"),
    st.just("\t- x"),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
)


def configured_password(text: str) -> str | None:
    """The `mqtt.password` a configuration text really sets (None if it does not parse to one).

    Only that value is a secret: the same characters elsewhere (a collector id, a profile name) may be
    echoed in an error message, and hypothesis likes to reuse the test's own string constants."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):
        return None
    mqtt = data.get("mqtt") if isinstance(data, dict) else None
    password = mqtt.get("password") if isinstance(mqtt, dict) else None
    return password if isinstance(password, str) and password.strip() else None


def check_config_file_output(text: str, code: int, out: str, err: str) -> None:
    """`pv-collector check` on `text`: exit 0 or 2, never a traceback, a message when invalid, never the
    configured password."""
    assert code in {0, 2}, code
    assert "Traceback" not in err
    if code == 2:
        assert err.strip(), "an invalid file prints what is wrong"
        password = configured_password(text)
        if password is not None and len(password) >= 4:
            assert password not in err + out, "a password is never printed"
