"""The Modbus TCP gateway: real pymodbus clients read and write through the collector while it polls the
simulated devices (over a pseudo-terminal RTU line, and over Modbus TCP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient

from pv_collector.app import Collector
from pv_collector.config import validate_config
from pv_collector.errors import CollectorError
from pv_collector.simulator import Simulation
from tests.collector.conftest import (
    BATTERY,
    ENVIRONMENT,
    METER,
    Recorder,
    collector_config,
    running,
    schema,
)
from tests.helpers import eventually
from tests.mosquitto import Mosquitto

BASE = "pv_monitor/test"
METER_POLLED = ((0x0000, 18), (0x0034, 24))  # input registers the sdm630 profile reads anyway
METER_NOT_POLLED = (0x0100, 8)  # input registers that exist on the meter but no point covers


def rtu_bus(port: str, gateway: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "rs485",
        "type": "serial",
        "serial_port": port,
        "baudrate": 9600,
        "timeout": 0.5,
        "retries": 1,
        "gateway": gateway,
        "devices": [
            # The meter is polled once (then every 60 s): its requests at the device can be counted.
            {"id": "meter", "name": "Grid meter", "unit_id": METER, "profile": "sdm630", "poll_interval": 60},
            # The weather sensor keeps the line busy all along.
            {"id": "weather", "unit_id": ENVIRONMENT, "profile": "pv_sim_environment", "poll_interval": 0.2},
        ],
    }


@asynccontextmanager
async def gateway_clients(
    collector: Collector, bus: str, count: int
) -> AsyncIterator[list[AsyncModbusTcpClient]]:
    gateway = collector.gateways[bus]
    port = await eventually(lambda: gateway.port, what="the gateway to listen")
    clients = [AsyncModbusTcpClient("127.0.0.1", port=port, timeout=5, retries=0) for _ in range(count)]
    try:
        for client in clients:
            assert await client.connect()
        yield clients
    finally:
        for client in clients:
            client.close()


async def test_two_clients_read_through_the_gateway_of_an_rtu_line(
    broker: Mosquitto, recorder: Recorder, rtu_simulation: tuple[Simulation, str], tmp_path: Path
) -> None:
    sim, pty = rtu_simulation
    config = collector_config(tmp_path / "data", broker.port, 0)
    config["buses"] = [rtu_bus(pty, {"port": 0, "max_age": 60})]
    async with running(config) as collector:
        await recorder.wait(f"{BASE}/meter/state")
        async with gateway_clients(collector, "rs485", 2) as clients:
            await eventually(lambda: collector.gateways["rs485"].clients == 2, what="two gateway clients")
            weather_before = len(recorder.on(f"{BASE}/weather/state"))

            # Registers the collector polls anyway: answered from its readings, nothing reaches the meter.
            at_meter = sim.requests[METER]

            async def read_polled(client: AsyncModbusTcpClient) -> list[list[int]]:
                answers = []
                for _ in range(5):
                    for address, count in METER_POLLED:
                        reply = await client.read_input_registers(address, count=count, device_id=METER)
                        assert not reply.isError(), reply
                        answers.append(reply.registers)
                return answers

            for answers in await asyncio.gather(*(read_polled(client) for client in clients)):
                expected = [sim.registers(METER, "input", a, n) for a, n in METER_POLLED] * 5
                assert answers == expected
            assert sim.requests[METER] == at_meter

            # Registers nobody polls: forwarded over the line, one request at the meter per read.
            async def read_unpolled(client: AsyncModbusTcpClient) -> list[list[int]]:
                answers = []
                for _ in range(3):
                    reply = await client.read_input_registers(
                        METER_NOT_POLLED[0], count=METER_NOT_POLLED[1], device_id=METER
                    )
                    assert not reply.isError(), reply
                    answers.append(reply.registers)
                return answers

            for answers in await asyncio.gather(*(read_unpolled(client) for client in clients)):
                assert answers == [sim.registers(METER, "input", *METER_NOT_POLLED)] * 3
            assert sim.requests[METER] == at_meter + 6

            # Writes are refused with exception 01 and never reach the device.
            reply = await clients[0].write_register(0xFC00, 7, device_id=METER)
            assert reply.isError()
            assert reply.exception_code == 1
            # A unit id no device of the bus has: gateway path unavailable.
            reply = await clients[1].read_input_registers(0, count=2, device_id=99)
            assert reply.isError()
            assert reply.exception_code == 0x0A
            assert sim.writes[METER] == 0
            assert sim.requests[METER] == at_meter + 6

            # The collector kept polling the line meanwhile.
            await eventually(
                lambda: len(recorder.on(f"{BASE}/weather/state")) > weather_before + 2, what="weather polls"
            )
            stats = collector.metrics.stats().to_payload()
    schema("stats").validate(stats)
    assert stats["gateway"] == {
        "clients": 2,
        "cached": 20,
        "forwarded": 6,
        "written": 0,
        "refused": 2,
        "failed": 0,
    }


async def test_writes_only_to_writable_points_within_range(
    broker: Mosquitto, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    sim, port = simulation
    devices = [{"id": "battery", "name": "Battery", "unit_id": BATTERY, "profile": "pv_sim_battery"}]
    config = collector_config(tmp_path / "data", broker.port, port, devices=devices)
    # Client unit 10 reaches the battery (unit 3 on the bus).
    config["buses"][0]["gateway"] = {"port": 0, "allow_writes": True, "units": {10: "battery"}}
    async with running(config) as collector:
        poller = collector.pollers["battery"]
        await eventually(lambda: poller.availability == "online", what="battery online")
        async with gateway_clients(collector, "sim", 1) as (client,):
            refused_cases = [
                (0x0011, [5100], 3),  # charge limit above its maximum 5000
                (0x0011, [2025], 3),  # not on the 50 W step
                (0x0000, [500], 1),  # state of charge: not writable
                (0x0010, [9], 3),  # not one of the battery modes
            ]
            for address, values, code in refused_cases:
                reply = await client.write_registers(address, values, device_id=10)
                assert reply.isError(), (address, values)
                assert reply.exception_code == code, (address, values)
            assert sim.writes[BATTERY] == 0

            reply = await client.write_register(0x0010, 2, device_id=10)  # mode: discharge
            assert not reply.isError(), reply
            reply = await client.write_register(0x0011, 1500, device_id=10)  # charge limit
            assert not reply.isError(), reply
            assert sim.writes[BATTERY] == 2
            assert sim.battery_mode == "discharge"
            # The written registers are read from the device again, not from the collector's last reading.
            reply = await client.read_holding_registers(0x0010, count=2, device_id=10)
            assert reply.registers == [2, 1500]
            # Client unit 3 is not mapped: the battery is reachable only as unit 10.
            reply = await client.read_holding_registers(0x0010, count=1, device_id=BATTERY)
            assert reply.isError()
            assert reply.exception_code == 0x0A


async def test_gateway_port_in_use_is_one_clear_error(
    broker: Mosquitto, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    _sim, port = simulation
    config = collector_config(tmp_path / "data", broker.port, port, devices=[])
    config["buses"][0]["devices"] = [
        {"id": "weather", "unit_id": ENVIRONMENT, "profile": "pv_sim_environment"}
    ]
    config["buses"][0]["gateway"] = {"port": port}  # the simulator listens there already
    with pytest.raises(CollectorError, match=rf"gateway of bus sim: cannot listen on 127.0.0.1:{port}"):
        await Collector(validate_config(config)).run()
