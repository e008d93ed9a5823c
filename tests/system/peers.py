"""Real processes for the system tests: brokers bridged as documented, collectors and simulators as the
user runs them (`python -m pv_collector run|simulate`), a TCP link that can be cut, an MQTT tap."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from tests.mosquitto import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
BRIDGE_EXAMPLE = ROOT / "examples" / "mosquitto-bridge.conf"
WAIT = 15.0  # seconds any awaited condition may take before the test fails


# ------------------------------------------------------------------------------------------ bridge


def bridge_config(remote_port: int, *, site: str = "site1", restart_timeout: float = 1) -> str:
    """The documented bridge (examples/mosquitto-bridge.conf) pointed at 127.0.0.1:`remote_port`.

    Only the address, the site prefix and the reconnect delay are changed; every other line is the
    example's, so the tests check the configuration users copy.
    """
    text = BRIDGE_EXAMPLE.read_text()
    replaced = re.subn(r"(?m)^address .*$", f"address 127.0.0.1:{remote_port}", text)
    assert replaced[1] == 1, "the example has one `address` line"
    text = replaced[0]
    text = re.sub(r"(?m)^restart_timeout .*$", f"restart_timeout {restart_timeout}", text)
    text = text.replace("site1", site)
    return text


class Link:
    """A TCP forwarder 127.0.0.1:`port` -> 127.0.0.1:`target` that can be cut (every connection closed,
    new ones refused) and restored on the same port: a network outage between site and central."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def stop(self) -> None:
        await self.cut()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self.connections += 1
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


# ------------------------------------------------------------------------------------------ processes


class Process:
    """A `python -m pv_collector ...` child process with its output in a log file."""

    def __init__(self, log: Path, *args: str) -> None:
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pv_collector", *args], stdout=self._out, stderr=subprocess.STDOUT
        )

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, the broker publishes the Last Will."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def start_simulator(directory: Path, seed: int = 1) -> tuple[Process, int]:
    """`pv_collector simulate` on a free port; returns once it accepts Modbus TCP connections."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    process = Process(
        directory / "simulator.log",
        "simulate",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--seed",
        str(seed),
    )

    try:
        wait_for_port(port, process.process, f"the simulator on {port}", within=WAIT)
    except AssertionError as err:
        raise AssertionError(f"{err}: {process.output()}") from None
    return process, port


def collector_config(
    collector_id: str, directory: Path, mqtt_port: int, modbus_port: int, *, poll: float = 0.2
) -> Path:
    """A collector configuration file (JSON is YAML) for the simulator's inverter and meter."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "collector": {"id": collector_id, "name": f"PV {collector_id}"},
        "data_dir": str(directory / "data"),
        "log_level": "info",
        "metrics": {"enabled": False},
        "mqtt": {
            "host": "127.0.0.1",
            "port": mqtt_port,
            "keepalive": 5,
            "qos": {"state": 1, "status": 1, "discovery": 1, "commands": 1},
        },
        "publish": {"stats_interval": 5},
        "buses": [
            {
                "name": "sim",
                "type": "tcp",
                "host": "127.0.0.1",
                "port": modbus_port,
                "timeout": 0.5,
                "retries": 1,
                "devices": [
                    {
                        "id": "inverter",
                        "name": "Inverter",
                        "unit_id": 1,
                        "profile": "sunspec",
                        "poll_interval": poll,
                    },
                    {
                        "id": "meter",
                        "name": "Grid meter",
                        "unit_id": 2,
                        "profile": "sdm630",
                        "poll_interval": poll,
                    },
                ],
            }
        ],
    }
    path = directory / "collector.yaml"
    path.write_text(json.dumps(config, indent=2))
    return path


def start_collector(
    collector_id: str, directory: Path, mqtt_port: int, modbus_port: int, **kw: Any
) -> Process:
    config = collector_config(collector_id, directory, mqtt_port, modbus_port, **kw)
    return Process(directory / "collector.log", "run", "--config", str(config))


# ------------------------------------------------------------------------------------------ Modbus


async def sunspec_model_address(client: AsyncModbusTcpClient, model: int, unit: int = 1) -> int:
    """The register address of SunSpec model `model` (its ID register), walking the chain from 40000."""
    marker = await client.read_holding_registers(40000, count=2, device_id=unit)
    assert marker.registers == [0x5375, 0x6E53], "no SunSpec marker at 40000"
    address = 40002
    while True:
        header = await client.read_holding_registers(address, count=2, device_id=unit)
        model_id, length = header.registers
        if model_id == model:
            return address
        if model_id == 0xFFFF:
            raise AssertionError(f"SunSpec model {model} not found")
        address += 2 + length


async def read_power_limit_pct(port: int) -> float:
    """The inverter's WMaxLimPct (model 123, offset 5, scale factor at offset 23) read over Modbus TCP."""
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=1)
    await client.connect()
    try:
        base = await sunspec_model_address(client, 123)
        registers = (await client.read_holding_registers(base, count=24, device_id=1)).registers
        raw = registers[5]
        scale = registers[23] - 0x10000 if registers[23] & 0x8000 else registers[23]
        return float(raw * 10.0**scale)
    finally:
        client.close()
