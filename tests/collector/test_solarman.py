"""The `solarman` bus type against a Solarman V5 data logger on 127.0.0.1 (tests/collector/v5_logger.py),
which relays the Modbus RTU frames inside the V5 frames to the image-replay simulator: reads decode as the
image does, refusals are Modbus exceptions, a wrong logger serial number is named, writes are read back,
timeouts, hang-ups and a logger that goes away are survived, and the device quirks apply as on every other
bus."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pv_collector.config import BusConfig, validate_config
from pv_collector.errors import (
    ConfigError,
    LoggerSerialMismatch,
    ModbusConnectionError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusInvalidReply,
    ModbusTimeout,
)
from pv_collector.model import Connection, Function
from pv_collector.profile import load_profile
from pv_collector.recording import read_values
from pv_collector.simulator.modbus_server import UnitServer
from pv_collector.simulator.replay import ImageArgument, replayed_units
from pv_collector.solarman import without_double_crc
from pv_collector.transport import Bus
from tests.collector.conftest import Recorder, collector_config, complete, running, schema
from tests.collector.device_images import FIXTURES, decode
from tests.collector.fake_clock import FakeClock
from tests.collector.v5_logger import REQUEST, V5Logger, crc, v5_frame
from tests.helpers import eventually
from tests.mosquitto import Mosquitto

LOGGER_SERIAL = 2712345678
UNIT = 1
IMAGE = "sungrow_sh_rt/protocol_register_table.json"  # a hybrid inverter's registers, holding ones included
WRITABLE = ("max_soc", 13057)  # a writable point of the image's profile and its holding register
TIMEOUT = 0.5  # seconds: longer than the logger's wait for the inverter (`V5Logger.relay_timeout`)
BASE = "pv_monitor/test"


@dataclass
class Line:
    """A logger stick with an inverter (the image) behind it."""

    logger: V5Logger
    server: UnitServer
    buses: list[Bus] = field(default_factory=list)

    def bus(self, **options: Any) -> Bus:
        config = {
            "name": "logger",
            "type": "solarman",
            "host": "127.0.0.1",
            "port": self.logger.port,
            "logger_serial": LOGGER_SERIAL,
            "timeout": TIMEOUT,
            "retries": 0,
            **options,
        }
        bus = Bus(BusConfig(**config))
        self.buses.append(bus)
        return bus


@pytest.fixture
async def line() -> AsyncIterator[Line]:
    server = UnitServer(replayed_units([ImageArgument(FIXTURES / IMAGE, UNIT)]))
    modbus_port = await server.start("127.0.0.1", 0)
    logger = V5Logger(LOGGER_SERIAL, modbus_port, relay_timeout=TIMEOUT / 2)
    await logger.start()
    made = Line(logger, server)
    try:
        yield made
    finally:
        for bus in made.buses:
            await bus.close()
        await logger.stop()
        await server.stop()


# ---------------------------------------------------------------------------------------------- the wire


async def test_reads_through_the_logger_decode_as_the_image(line: Line) -> None:
    bus = line.bus()
    expected = await decode(IMAGE)
    profile = load_profile(expected.image.identity.profile)
    values, _points, refused = await read_values(bus.reader(UNIT), profile)
    assert values == expected.values
    assert refused == expected.refused
    assert line.logger.requests, "nothing went through the logger"
    for frame in line.logger.requests:  # V5 requests, each with the configured serial number
        assert (frame[0], frame[-1]) == (0xA5, 0x15)
        assert struct.unpack("<H", frame[3:5]) == (REQUEST,)
        assert struct.unpack("<I", frame[7:11]) == (LOGGER_SERIAL,)
    assert line.logger.connections == 1


async def test_refusals_are_modbus_exceptions(line: Line) -> None:
    bus = line.bus(retries=2)
    with pytest.raises(ModbusExceptionResponse) as refused:
        await bus.read(UNIT, Function.HOLDING, 0, 4)  # not in the image
    assert refused.value.code == 2
    line.server.set_exception(UNIT, 4)
    with pytest.raises(ModbusExceptionResponse) as failure:
        await bus.read(UNIT, Function.INPUT, 5016, 5)
    assert failure.value.code == 4
    line.server.set_exception(UNIT, 6)  # busy: asked again, as on every bus
    relayed = len(line.logger.relayed)
    with pytest.raises(ModbusExceptionResponse) as busy:
        await bus.read(UNIT, Function.INPUT, 5016, 5)
    assert busy.value.code == 6
    assert len(line.logger.relayed) - relayed == 3
    line.server.set_exception(UNIT, None)
    assert await bus.read(UNIT, Function.INPUT, 5016, 5) == [8650, 0, 2312, 2299, 2324]


async def test_a_wrong_logger_serial_is_named_and_not_asked_again(line: Line) -> None:
    bus = line.bus(logger_serial=1234567890, retries=2)
    with pytest.raises(LoggerSerialMismatch) as wrong:
        await bus.read(UNIT, Function.INPUT, 5016, 5)
    assert (wrong.value.configured, wrong.value.answered) == (1234567890, LOGGER_SERIAL)
    message = str(wrong.value)
    assert "logger_serial" in message
    assert str(LOGGER_SERIAL) in message
    assert "1234567890" in message
    assert isinstance(wrong.value, ModbusConnectionError)  # the device is unreachable this way
    assert len(line.logger.requests) == 1  # no retry: the configuration is wrong
    assert line.logger.relayed == []  # the logger relayed nothing to the inverter


async def test_an_inverter_that_does_not_answer_the_logger_is_a_timeout(line: Line) -> None:
    bus = line.bus()
    with pytest.raises(ModbusTimeout, match="got no answer from unit 7"):
        await bus.read(7, Function.HOLDING, 0, 1)  # nobody at unit 7 behind the logger
    assert await bus.read(UNIT, Function.HOLDING, 13049, 3) == [0, 204, 0]
    assert line.logger.connections == 1  # the logger answered: its connection is fine


async def test_a_silent_logger_times_out_and_its_connection_is_renewed(line: Line) -> None:
    bus = line.bus()
    assert await bus.read(UNIT, Function.HOLDING, 13049, 3) == [0, 204, 0]
    line.logger.silent = True
    for _ in range(3):  # TIMEOUTS_BEFORE_RECONNECT
        with pytest.raises(ModbusTimeout, match="no answer within"):
            await bus.read(UNIT, Function.HOLDING, 13049, 3)
    line.logger.silent = False
    assert await bus.read(UNIT, Function.HOLDING, 13049, 3) == [0, 204, 0]
    assert line.logger.connections == 2


async def test_a_logger_that_hangs_up_is_a_connection_error_at_once(line: Line) -> None:
    bus = line.bus(timeout=60)  # a hang-up must not wait for the reply timeout
    assert await bus.read(UNIT, Function.HOLDING, 13049, 3) == [0, 204, 0]
    line.logger.hang_up_on_request = True
    async with asyncio.timeout(20):
        with pytest.raises(ModbusConnectionError, match="hung up"):
            await bus.read(UNIT, Function.HOLDING, 13049, 3)
    line.logger.hang_up_on_request = False
    assert await bus.read(UNIT, Function.HOLDING, 13049, 3) == [0, 204, 0]
    assert line.logger.connections == 2


async def test_a_logger_away_and_back_is_reconnected(line: Line) -> None:
    bus = line.bus()
    assert await bus.read(UNIT, Function.HOLDING, 13049, 3) == [0, 204, 0]
    await line.logger.stop()
    with pytest.raises(ModbusConnectionError):
        await bus.read(UNIT, Function.HOLDING, 13049, 3)
    with pytest.raises(ModbusConnectionError, match=r"cannot connect|unreachable"):
        await bus.read(UNIT, Function.HOLDING, 13049, 3)
    await line.logger.start()  # the same port

    async def read_again() -> list[int]:
        while True:
            try:
                return await bus.read(UNIT, Function.HOLDING, 13049, 3)
            except ModbusConnectionError:
                await asyncio.sleep(0.05)  # the bus's reconnect backoff

    async with asyncio.timeout(10):
        assert await read_again() == [0, 204, 0]


async def test_replies_with_a_double_crc_are_read(line: Line) -> None:
    bus = line.bus()
    line.logger.double_crc = True
    assert await bus.read(UNIT, Function.HOLDING, 13049, 3) == [0, 204, 0]
    frame = bytes([1, 3, 2, 0, 7])
    frame += crc(frame)
    assert without_double_crc(frame + crc(frame)) == frame
    assert without_double_crc(frame) == frame


async def test_a_reply_that_does_not_answer_the_request_is_refused(line: Line) -> None:
    bus = line.bus()

    def wrong_byte_count(rtu: bytes) -> bytes:
        body = rtu[:2] + bytes([rtu[2] - 2]) + rtu[3:-4]
        return body + crc(body)

    line.logger.mangle = wrong_byte_count
    with pytest.raises(ModbusInvalidReply, match="wrong byte count"):
        await bus.read(UNIT, Function.HOLDING, 13049, 3)
    line.logger.mangle = lambda rtu: rtu[:-1] + bytes([rtu[-1] ^ 0xFF])
    with pytest.raises(ModbusInvalidReply, match="wrong CRC"):
        await bus.read(UNIT, Function.HOLDING, 13049, 3)
    line.logger.mangle = lambda rtu: bytes([9]) + rtu[1:-2] + crc(bytes([9]) + rtu[1:-2])
    with pytest.raises(ModbusInvalidReply, match="reply from unit 9"):
        await bus.read(UNIT, Function.HOLDING, 13049, 3)
    line.logger.mangle = None
    assert await bus.read(UNIT, Function.HOLDING, 13049, 3) == [0, 204, 0]
    assert line.logger.connections == 4  # the connection is renewed after each refused reply


async def test_a_v5_frame_with_a_wrong_checksum_is_refused(line: Line) -> None:
    bus = line.bus()
    line.logger.corrupt_checksum = True
    with pytest.raises(ModbusInvalidReply, match=r"V5 frame: .*checksum"):
        await bus.read(UNIT, Function.HOLDING, 13049, 3)
    line.logger.corrupt_checksum = False
    assert await bus.read(UNIT, Function.HOLDING, 13049, 3) == [0, 204, 0]


def echo(request: bytes, body: bytes) -> bytes:
    """`body` after the start byte, the length and control code of a reply, and the request's sequence byte
    (pysolarmanv5 drops frames with another one before it looks at them)."""
    return bytes([0xA5, 0x10, 0x00, 0x10, 0x15, request[5]]) + body


@pytest.mark.parametrize(
    "reply",
    [
        lambda _request: b"\xa5\x10",  # pysolarmanv5's reader fails on it: the connection is lost
        lambda request: echo(request, b""),  # too short to hold a serial number
        lambda request: echo(request, b"\x00" * 5),  # a frame type, no more
        lambda request: echo(request, bytes(range(40))),  # no end byte, no checksum
        lambda request: v5_frame(
            0x1710, request[5:7], LOGGER_SERIAL, b"\x02\x01" + bytes(12) + b"\x01\x03\x00"
        ),
        lambda request: v5_frame(0x1510, request[5:7], LOGGER_SERIAL, b"\x07\x01" + bytes(20)),  # frame type
        lambda request: v5_frame(0x1510, request[5:7], LOGGER_SERIAL, b"\x02\x01" + bytes(12) + b"\xff" * 9),
    ],
    ids=[
        "two-bytes",
        "sequence-only",
        "frame-type-only",
        "no-end",
        "control-code",
        "frame-type",
        "garbage-modbus",
    ],
)
async def test_malformed_v5_replies_are_modbus_errors(line: Line, reply: Callable[[bytes], bytes]) -> None:
    """Whatever the logger sends, a read ends in one of the collector's errors, never another exception."""
    bus = line.bus()
    line.logger.reply_with = reply
    with pytest.raises(ModbusError):
        await bus.read(UNIT, Function.HOLDING, 13049, 3)
    line.logger.reply_with = None
    async with asyncio.timeout(20):
        while True:  # the bus's reconnect backoff after a broken connection
            try:
                assert await bus.read(UNIT, Function.HOLDING, 13049, 3) == [0, 204, 0]
                break
            except ModbusConnectionError:
                await asyncio.sleep(0.05)


async def test_a_frame_cut_short_after_the_serial_number_is_a_modbus_error(line: Line) -> None:
    """An 11-byte frame with a right start, checksum and end whose last bytes are the configured serial
    number's: pysolarmanv5 reads past its end (IndexError); the bus still reports a collector error."""
    serial = 0x1540_0000  # its last two bytes double as the checksum (0x40) and the end byte (0x15)
    bus = line.bus(logger_serial=serial)

    def cut_short(request: bytes) -> bytes:
        sequence = request[5]
        filler = (0x40 - 0x10 - 0x15 - sequence) & 0xFF  # makes the checksum of bytes 1..8 0x40
        return bytes([0xA5, 0x00, 0x00, 0x10, 0x15, sequence, filler]) + struct.pack("<I", serial)

    line.logger.reply_with = cut_short
    with pytest.raises(ModbusInvalidReply, match="V5 frame"):
        await bus.read(UNIT, Function.HOLDING, 13049, 3)


async def test_writes_and_device_quirks_go_through_the_logger(line: Line) -> None:
    clock = FakeClock()
    bus = Bus(
        BusConfig(
            name="logger",
            type="solarman",
            host="127.0.0.1",
            port=line.logger.port,
            logger_serial=LOGGER_SERIAL,
            timeout=TIMEOUT,
        ),
        clock=clock,
    )
    line.buses.append(bus)
    bus.configure_unit(UNIT, Connection(write_function=16, delay_after_connect=1.5))
    await bus.write_registers(UNIT, 13057, [950])  # one register, as FC16 (Deye and Sofar refuse FC6)
    assert line.logger.relayed[-1][1] == 16
    assert await bus.read(UNIT, Function.HOLDING, 13057, 1) == [950]
    assert clock.slept == [1.5]  # silence after connecting, once
    bus.configure_unit(UNIT, Connection())
    await bus.write_registers(UNIT, 13057, [900])
    assert line.logger.relayed[-1][1] == 6
    assert await bus.read(UNIT, Function.HOLDING, 13057, 1) == [900]


# ---------------------------------------------------------------------------------------------- a collector


def logger_config(data_dir: Path, mqtt_port: int, logger_port: int, **bus: Any) -> dict[str, Any]:
    profile = load_profile("sungrow_sh_rt").id
    config = collector_config(
        data_dir, mqtt_port, logger_port, devices=[{"id": "hybrid", "unit_id": UNIT, "profile": profile}]
    )
    config["buses"][0].update(
        {"name": "logger", "type": "solarman", "logger_serial": LOGGER_SERIAL, "timeout": TIMEOUT, **bus}
    )
    return config


async def test_a_collector_reads_and_writes_through_the_logger(
    line: Line, broker: Mosquitto, recorder: Recorder, tmp_path: Path
) -> None:
    expected = (await decode(IMAGE)).values
    key, address = WRITABLE
    async with running(logger_config(tmp_path / "data", broker.port, line.logger.port)) as collector:
        state = (await recorder.wait(f"{BASE}/hybrid/state", complete)).json()
        schema("state").validate(state)
        published = state["v"]
        assert published, "nothing published"
        assert {k: v for k, v in expected.items() if k in published} == published

        recorder.publish(f"{BASE}/hybrid/set/{key}", "90")
        event = (await recorder.wait(f"{BASE}/hybrid/event", lambda m: m.json().get("point") == key)).json()
        assert (event["ok"], event["value"]) == (True, 90)
        unit = line.server.unit(UNIT)
        assert unit.read(Function.HOLDING, address, 1) == [900]  # scale 0.1: written and read back
        assert collector.buses["logger"].writes == 1


async def test_a_wrong_logger_serial_is_one_clear_line_and_the_device_offline(
    line: Line, broker: Mosquitto, recorder: Recorder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pv_collector")
    config = logger_config(tmp_path / "data", broker.port, line.logger.port, logger_serial=1234567890)
    config["buses"][0]["devices"][0]["offline_after"] = 1
    async with running(config):
        await recorder.wait(f"{BASE}/hybrid/availability", lambda m: m.text == "offline")
        await eventually(lambda: len(line.logger.requests) >= 4, what="more poll cycles")
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].getMessage() == "device lost"
    assert "logger_serial" in str(lines[0].__dict__["error"])
    assert line.logger.relayed == []


async def test_the_collector_survives_the_logger_going_away(
    line: Line, broker: Mosquitto, recorder: Recorder, tmp_path: Path
) -> None:
    config = logger_config(tmp_path / "data", broker.port, line.logger.port)
    config["buses"][0]["devices"][0]["offline_after"] = 1
    async with running(config):
        await recorder.wait(f"{BASE}/hybrid/availability", lambda m: m.text == "online")
        await line.logger.stop()
        await recorder.wait(f"{BASE}/hybrid/availability", lambda m: m.text == "offline")
        recorder.clear()
        await line.logger.start()
        await recorder.wait(f"{BASE}/hybrid/availability", lambda m: m.text == "online")
        await recorder.wait(f"{BASE}/hybrid/state")


# ---------------------------------------------------------------------------------------------- configuration


def bus_problems(bus: dict[str, Any]) -> list[str]:
    config = {
        "collector": {"id": "test"},
        "mqtt": {"host": "127.0.0.1"},
        "buses": [{"name": "logger", "devices": [{"id": "x", "unit_id": 1, "profile": "sunspec"}], **bus}],
    }
    try:
        validate_config(config, check_profiles=False)
    except ConfigError as err:
        return err.messages
    return []


def test_a_solarman_bus_needs_a_host_and_the_logger_serial() -> None:
    config = validate_config(
        {
            "collector": {"id": "test"},
            "mqtt": {"host": "127.0.0.1"},
            "buses": [
                {
                    "name": "logger",
                    "type": "solarman",
                    "host": "192.168.1.70",
                    "logger_serial": "2712345678",  # quoted digits are taken too
                    "devices": [{"id": "hybrid", "unit_id": 1, "profile": "sunspec"}],
                }
            ],
        },
        check_profiles=False,
    )
    (bus,) = config.buses
    assert (bus.type, bus.port, bus.logger_serial, bus.endpoint) == (
        "solarman",
        8899,
        LOGGER_SERIAL,
        "192.168.1.70:8899",
    )
    assert bus.rtu_framing is False  # the V5 sequence number pairs replies with requests

    missing = "required option is missing"
    assert bus_problems({"type": "solarman", "host": "h"}) == [f"buses[0].logger_serial: {missing}"]
    assert bus_problems({"type": "solarman", "logger_serial": 1}) == [f"buses[0].host: {missing}"]


@pytest.mark.parametrize("serial", [0, -1, 2**32, "27123x", 2.5, True])
def test_a_bad_logger_serial_is_one_line(serial: Any) -> None:
    (problem,) = bus_problems({"type": "solarman", "host": "h", "logger_serial": serial})
    assert problem.startswith("buses[0].logger_serial: ")
    assert "expected the serial number of the logger stick, 1..4294967295" in problem


def test_units_behind_a_logger_are_rs485_addresses() -> None:
    devices = [{"id": "x", "unit_id": 0, "profile": "p"}]
    bus = {"type": "solarman", "host": "h", "logger_serial": 5, "devices": devices}
    assert bus_problems(bus) == ["buses[0].devices[0].unit_id: 0 is not a valid value (expected 1..247)"]
    assert bus_problems({"type": "tcp", "host": "h", "logger_serial": 5}) == [
        "buses[0].logger_serial: unknown option"
    ]
    (problem,) = bus_problems({"type": "modbus", "host": "h"})
    assert "expected one of serial | tcp | rtu_over_tcp | solarman" in problem
