"""The device quirks a profile's `connection` declares, as the bus keeps them on the wire: FC16 for a single
register where a device refuses FC6 (Deye, Sofar G3), silence after (re)connecting (Huawei), and a minimum
interval between requests to one device (Growatt, SolaX).

Against real pymodbus servers (TCP, and RTU through a pseudo-terminal): the server records each request's
function code, and the time it arrived by the same fake clock the bus waits with
(tests/collector/fake_clock.py), so intervals are checked without measuring wall time."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymodbus.constants import ExcCodes

from pv_collector.config import BusConfig
from pv_collector.errors import ModbusExceptionResponse, ModbusTimeout
from pv_collector.model import Connection, Function
from pv_collector.profile import load_profile
from pv_collector.simulator.devices.base import SimulatedDevice
from pv_collector.simulator.modbus_server import ServedUnit, UnitServer
from pv_collector.simulator.profile_image import ProfileImage
from pv_collector.transport import Bus
from tests.collector.conftest import Recorder, collector_config, running
from tests.collector.fake_clock import FakeClock
from tests.mosquitto import Mosquitto

DEYE_LIKE = """
id: fc16_only
name: A device that takes only FC16
connection: {write_function: 16, request_interval: 0.25, delay_after_connect: 0.5}
points:
  - {key: status, name: Status, function: input, address: 0}
  - {key: soc, name: State of charge, function: input, address: 1, unit: "%"}
  - {key: export_limit, name: Export limit, address: 10, unit: W, writable: {min: 0, max: 8000, step: 1}}
"""


class Fc16OnlyServer(UnitServer):
    """A server whose devices refuse FC6 (exception 1, illegal function), as Deye and Sofar G3 do; it
    records every request's function code and, by `clock`, when it arrived."""

    def __init__(self, units: dict[int, ServedUnit], time_source: FakeClock) -> None:
        super().__init__(units, clock=time_source.monotonic)
        self.seen: list[tuple[int, int, int, float]] = []  # unit, function code, address, clock time

    async def _action(
        self,
        unit: ServedUnit | None,
        unknown_answer: ExcCodes | None,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if unit is not None:
            self.seen.append((unit.unit_id, function_code, address, self.clock()))
        if unit is not None and function_code == 6:
            return ExcCodes.ILLEGAL_FUNCTION
        return await super()._action(
            unit, unknown_answer, function_code, start_address, address, count, registers, set_values
        )


def device(profile_path: Path, unit_id: int) -> SimulatedDevice:
    layout = ProfileImage.from_profile(load_profile(str(profile_path)))
    layout.set("status", 1)
    layout.set("soc", 55)
    layout.set("export_limit", 3000)
    return SimulatedDevice(unit_id, layout)


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "fc16_only.yaml"
    path.write_text(textwrap.dedent(DEYE_LIKE), encoding="utf-8")
    return path


@pytest.fixture
async def served(profile: Path) -> AsyncIterator[tuple[Fc16OnlyServer, FakeClock, int]]:
    time_source = FakeClock()
    server = Fc16OnlyServer({1: device(profile, 1), 2: device(profile, 2)}, time_source)
    port = await server.start("127.0.0.1", 0)
    try:
        yield server, time_source, port
    finally:
        await server.stop()


def tcp_bus(port: int, time_source: FakeClock) -> Bus:
    config = BusConfig(name="lan", type="tcp", host="127.0.0.1", port=port, timeout=1.0, retries=0)
    return Bus(config, clock=time_source)


async def test_a_single_register_goes_out_as_fc16_where_the_profile_says_so(
    served: tuple[Fc16OnlyServer, FakeClock, int], profile: Path
) -> None:
    server, time_source, port = served
    bus = tcp_bus(port, time_source)
    try:
        with pytest.raises(ModbusExceptionResponse) as refused:
            await bus.write_registers(1, 10, [4000])  # the Modbus default: FC6 for one register
        bus.configure_unit(1, load_profile(str(profile)).connection)
        await bus.write_registers(1, 10, [5000])
        await bus.write_registers(1, 10, [5100])
        read_back = await bus.read(1, Function.HOLDING, 10, 1)
    finally:
        await bus.close()
    assert refused.value.code == 1  # illegal function
    assert [code for _unit, code, address, _t in server.seen if address == 10] == [6, 16, 16, 3]
    assert read_back == [5100]


async def test_requests_to_a_device_keep_its_interval_and_others_do_not_wait(
    served: tuple[Fc16OnlyServer, FakeClock, int],
) -> None:
    server, time_source, port = served
    bus = tcp_bus(port, time_source)
    bus.configure_unit(1, Connection(request_interval=0.25))
    start = time_source.now
    try:
        for unit in (1, 2, 1, 1, 2):
            await bus.read(unit, Function.INPUT, 0, 2)
    finally:
        await bus.close()
    arrived = {unit: [t - start for u, _code, _a, t in server.seen if u == unit] for unit in (1, 2)}
    assert arrived[1] == pytest.approx([0.0, 0.25, 0.5])  # each 0.25 s after its previous exchange
    assert arrived[2] == pytest.approx([0.0, 0.5])  # sent as soon as the bus was free: no wait of its own
    assert time_source.slept == pytest.approx([0.25, 0.25])  # the bus waited only before unit 1's reads


async def test_silence_after_every_connection_the_bus_opens(pty_pair: tuple[str, str], profile: Path) -> None:
    """Over RTU the bus reopens the line after a timeout; each new connection is followed by the longest
    delay any of its devices asks for before the next request."""
    time_source = FakeClock()
    server = Fc16OnlyServer({1: device(profile, 1)}, time_source)
    await server.start_rtu(pty_pair[0], baudrate=9600)
    config = BusConfig(name="rs485", type="serial", serial_port=pty_pair[1], timeout=0.1, retries=0)
    bus = Bus(config, clock=time_source)
    bus.configure_unit(1, Connection(delay_after_connect=0.5))
    bus.configure_unit(3, Connection(delay_after_connect=1.0))
    start = time_source.now
    try:
        await bus.read(1, Function.INPUT, 0, 2)
        await bus.read(1, Function.INPUT, 1, 1)
        with pytest.raises(ModbusTimeout):
            await bus.read(9, Function.INPUT, 0, 1)  # nobody: the line is reopened
        await bus.read(1, Function.INPUT, 0, 2)
    finally:
        await bus.close()
        await server.stop()
    assert bus.delay_after_connect == 1.0
    # The line is reopened after the RTU quiet time (one timeout, 0.1 s), then silent for 1 s again.
    assert [t - start for _u, _code, _a, t in server.seen] == pytest.approx([1.0, 1.0, 2.1])
    assert time_source.slept == pytest.approx([1.0, 0.1, 1.0])


async def test_the_collector_applies_the_profiles_connection(
    broker: Mosquitto, recorder: Recorder, tmp_path: Path, profile: Path,
    served: tuple[Fc16OnlyServer, FakeClock, int],
) -> None:  # fmt: skip
    """A command to a device whose profile says `write_function: 16` is written with FC16 and confirmed;
    the bus knows the device's interval and delay."""
    server, _time_source, port = served
    devices = [{"id": "hybrid", "name": "Hybrid", "unit_id": 1, "profile": str(profile)}]
    async with running(collector_config(tmp_path / "data", broker.port, port, devices=devices)) as collector:
        await recorder.wait("pv_monitor/test/hybrid/state", lambda m: "soc" in m.json()["v"])
        recorder.publish("pv_monitor/test/hybrid/set/export_limit", '{"value": 2500}')
        event = await recorder.wait(
            "pv_monitor/test/hybrid/event", lambda m: m.json().get("point") == "export_limit"
        )
        connection: Any = collector.buses["sim"].unit_connection(1)
    assert event.json()["ok"] is True, event.json()
    assert [code for _u, code, address, _t in server.seen if code in (6, 16)] == [16]
    assert (connection.request_interval, connection.delay_after_connect) == (0.25, 0.5)
