"""Modbus replies are checked before they are believed (issue 15, section 5).

Devices written on the wire itself (tests/reliability/devices.py) answer some requests wrongly:
- Modbus TCP: another function code (a holding-register answer to an input-register request), a wrong byte
  count, a wrong MBAP length header. A wrong reply is a protocol error: counted, logged once with its reason,
  never published, and the block is read again; no asyncio traceback.
- Modbus RTU on a pseudo-terminal: a second frame for one request, and frames nobody asked for. They are
  never taken as the answer to the next request: detected, discarded, counted, and the cycle read again.

The faults hit every second request, so the re-read gets a good answer and every state must be complete and
exact.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.collector.conftest import Recorder, collector_config, running, schema
from tests.helpers import eventually
from tests.mosquitto import Mosquitto
from tests.reliability.devices import (
    INPUT,
    RawTcpDevice,
    RegisterImage,
    Request,
    RtuDeviceProcess,
    correct_pdu,
    profile_image,
    read_reply_pdu,
    rtu_frame,
    tcp_frame,
)

BASE = "pv_monitor/test"
SDM630_VALUES = {"voltage_l1": 230.5, "current_l1": 5.25, "power": 1460.0, "frequency": 50.0}


def states(recorder: Recorder, device: str = "meter") -> list[dict[str, Any]]:
    return [message.json() for message in recorder.on(f"{BASE}/{device}/state")]


def problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Warnings and errors of the collector and of asyncio (pymodbus' own logger is silenced by the
    collector's logging set-up, pv_collector.logs.configure_logging)."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING and not r.name.startswith("pymodbus")]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records with a traceback, and asyncio's reports of an exception in a protocol callback (pymodbus'
    `data_received` raising). Other asyncio records (a task of an earlier test garbage-collected now) are
    not this test's."""
    reported = ("Fatal error", "Exception in callback")
    return [
        r
        for r in caplog.records
        if r.exc_info or (r.name.startswith("asyncio") and r.getMessage().startswith(reported))
    ]


def tcp_fault(kind: str, image: RegisterImage) -> Any:
    """A reply function for RawTcpDevice: every second request is answered wrongly."""

    def reply(request: Request, tid: int) -> bytes:
        good = correct_pdu(image, request)
        if request.number % 2:
            return tcp_frame(tid, request.unit, good)
        words = image.read(request.function, request.address, request.count) or []
        if kind == "wrong_function_code":  # a holding-register answer (other data) to an input request
            return tcp_frame(tid, request.unit, read_reply_pdu(3, [0x4321] * request.count))
        if kind == "byte_count_too_big":
            return tcp_frame(tid, request.unit, bytes([good[0], good[1] + 2]) + good[2:])
        if kind == "byte_count_too_small":
            return tcp_frame(tid, request.unit, bytes([good[0], good[1] - 2]) + good[2:])
        if kind == "length_header_short":
            return tcp_frame(tid, request.unit, good, length=len(good) + 1 - 4)
        if kind == "length_header_long":
            return tcp_frame(tid, request.unit, good, length=len(good) + 1 + 10)
        if kind == "fewer_registers":
            return tcp_frame(tid, request.unit, read_reply_pdu(request.function, words[:-1]))
        raise AssertionError(kind)

    return reply


TCP_FAULTS = {
    "wrong_function_code": "wrong function code",
    "byte_count_too_big": "wrong byte count",
    "byte_count_too_small": "wrong byte count",
    "length_header_short": "wrong length header",
    "length_header_long": "wrong length header",
    "fewer_registers": "wrong byte count",
}


@pytest.mark.parametrize("kind", list(TCP_FAULTS))
async def test_a_wrong_tcp_reply_is_refused_logged_once_and_read_again(
    kind: str, broker: Mosquitto, recorder: Recorder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    image, _points = profile_image("sdm630", SDM630_VALUES)
    device = RawTcpDevice(image)
    device.reply = tcp_fault(kind, image)
    port = await device.start()
    try:
        devices = [{"id": "meter", "name": "Meter", "unit_id": 1, "profile": "sdm630"}]
        config = collector_config(tmp_path / "data", broker.port, port, devices=devices)
        config["buses"][0].update(timeout=0.3, retries=2)
        async with running(config) as collector:
            await eventually(lambda: len(states(recorder)) >= 8, within=20, what="8 states")
            errors = collector.metrics.errors
    finally:
        await device.stop()
    for state in states(recorder):
        schema("state").validate(state)
        assert state["v"] == pytest.approx({key: SDM630_VALUES.get(key, 0) for key in state["v"]}), state
    assert [m.text for m in recorder.on(f"{BASE}/meter/availability")] == ["online"]
    assert errors.get("invalid_reply", 0) >= 4
    # One clear line for the episode, with its reason; never an asyncio traceback.
    assert not tracebacks(caplog), caplog.text
    lines = problems(caplog)
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert getattr(lines[0], "reason", "").startswith(TCP_FAULTS[kind]), vars(lines[0])


# ------------------------------------------------------------------------------------------ RTU

RTU_PROFILE = """\
id: four_blocks
name: Four blocks of the same shape
kind: meter
defaults: {function: input, type: u32}
points:
  - {key: a, name: A, address: 0}
  - {key: b, name: B, address: 100}
  - {key: c, name: C, address: 200}
  - {key: d, name: D, address: 300}
"""
RTU_VALUES = {"a": 1111, "b": 2222, "c": 3333, "d": 4444}


def rtu_image() -> RegisterImage:
    image = RegisterImage()
    for address, value in zip((0, 100, 200, 300), RTU_VALUES.values(), strict=True):
        image.set(INPUT, address, [value >> 16, value & 0xFFFF])
    return image


def rtu_fault(kind: str, image: RegisterImage) -> Any:
    """A reply function for RawRtuDevice (delays in seconds after the request)."""

    def reply(request: Request) -> list[tuple[float, bytes]]:
        good = rtu_frame(request.unit, correct_pdu(image, request))
        if kind == "second_frame":  # every answer twice: a device or converter that repeats itself
            return [(0.01, good), (0.025, good)]
        if kind == "stray_before_answer" and request.number % 3 == 0:  # a frame nobody asked for, first
            other = correct_pdu(image, Request(request.unit, request.function, 300 - request.address, 2, 0))
            return [(0.005, rtu_frame(request.unit, other)), (0.02, good)]
        if kind == "stray_before_answer":
            return [(0.005, good)]
        if kind == "wrong_function_code":
            if request.number % 2:
                return [(0.005, good)]
            return [(0.005, rtu_frame(request.unit, read_reply_pdu(3, [0x4321, 0x4321])))]
        if kind == "wrong_byte_count":
            if request.number % 2:
                return [(0.005, good)]
            pdu = correct_pdu(image, request)
            return [(0.005, rtu_frame(request.unit, bytes([pdu[0], pdu[1] - 2]) + pdu[2:]))]
        raise AssertionError(kind)

    return reply


def rtu_reply(kind: str) -> Any:
    """The device of one RTU fault, for RtuDeviceProcess (it runs in a process of its own)."""
    return rtu_fault(kind, rtu_image())


RTU_FAULTS = {
    "second_frame": "stray frame",
    "stray_before_answer": "stray frame",
    "wrong_function_code": "wrong function code",
    "wrong_byte_count": "wrong byte count",
}


@pytest.mark.parametrize("kind", list(RTU_FAULTS))
async def test_a_stray_or_wrong_rtu_frame_is_never_taken_for_an_answer(
    kind: str, broker: Mosquitto, recorder: Recorder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    (tmp_path / "four_blocks.yaml").write_text(RTU_PROFILE)
    device = RtuDeviceProcess(f"{__name__}:rtu_reply", kind)
    device.start()
    try:
        config = collector_config(tmp_path / "data", broker.port, 0)
        config["profile_dirs"] = [str(tmp_path)]
        config["buses"] = [
            {
                "name": "rs485",
                "type": "serial",
                "serial_port": device.port,
                "timeout": 0.3,
                "retries": 2,
                "devices": [{"id": "meter", "name": "Meter", "unit_id": 1, "profile": "four_blocks"}],
            }
        ]
        config["buses"][0]["devices"][0]["poll_interval"] = 0.3
        async with running(config) as collector:
            await eventually(lambda: len(states(recorder)) >= 8, what="8 states")
            errors = collector.metrics.errors
    finally:
        device.stop()
    published = states(recorder)
    for state in published:
        schema("state").validate(state)
        assert state["v"] == {key: RTU_VALUES[key] for key in state["v"]}, state
    assert sum(len(state["v"]) == len(RTU_VALUES) for state in published) >= 4
    assert errors.get("stray_frame", 0) + errors.get("invalid_reply", 0) >= 2
    assert not tracebacks(caplog), caplog.text
    reasons = [str(getattr(r, "reason", "")) for r in problems(caplog)]
    assert len(reasons) == 1, [r.getMessage() for r in problems(caplog)]
    assert reasons[0].startswith(RTU_FAULTS[kind]), reasons
