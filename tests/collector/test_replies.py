"""The raw checks of Modbus replies (pv_collector.replies), byte by byte; through the wire in
tests/reliability/test_replies.py."""

from __future__ import annotations

import struct

import pytest
from pymodbus.framer.rtu import FramerRTU

from pv_collector.replies import Asked, incomplete_problem, rtu_problem, tcp_problem

READ_2 = Asked(unit=1, function=4, count=2)


def tcp(pdu: bytes, *, tid: int = 7, length: int | None = None) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1 if length is None else length, 1) + pdu


def rtu(pdu: bytes, unit: int = 1) -> bytes:
    frame = bytes([unit]) + pdu
    return frame + FramerRTU.compute_CRC(frame).to_bytes(2, "big")


GOOD = bytes([4, 4, 0, 1, 0, 2])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (tcp(GOOD), None),
        (tcp(GOOD)[:-1], None),  # more to come
        (tcp(GOOD, tid=8), None),  # another transaction's: pymodbus skips it
        (tcp(bytes([0x84, 2])), None),  # exception response
        (tcp(bytes([3, 4, 0, 1, 0, 2])), "wrong function code 3 (asked 4)"),
        (tcp(bytes([4, 6, 0, 1, 0, 2])), "wrong byte count: 6, but 4 bytes follow"),
        (tcp(bytes([4, 2, 0, 1])), "wrong byte count: 2 for 2 registers"),
        (tcp(GOOD, length=4), "wrong length header: announces 3 bytes after the unit id, 6 arrived"),
        (struct.pack(">HHHB", 7, 1, 7, 1) + GOOD, "wrong protocol id 1"),
    ],
)
def test_tcp_replies(data: bytes, problem: str | None) -> None:
    assert tcp_problem(data, READ_2, 7) == problem


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (rtu(GOOD), None),
        (rtu(GOOD)[:-1], None),  # more to come
        (rtu(GOOD)[:-1] + b"\x00", None),  # noise (CRC wrong): pymodbus discards it
        (rtu(GOOD, unit=2), None),  # another unit's frame: pymodbus discards it
        (rtu(bytes([0x84, 2])), None),
        (rtu(bytes([3, 4, 0, 1, 0, 2])), "wrong function code 3 (asked 4)"),
        (rtu(bytes([4, 2, 0, 1, 0, 2])), "wrong byte count: 2, but 4 bytes follow"),
        (rtu(GOOD) + rtu(GOOD), "stray frame: 9 more bytes after the reply"),
    ],
)
def test_rtu_replies(data: bytes, problem: str | None) -> None:
    assert rtu_problem(data, READ_2) == problem


def test_what_was_left_when_no_answer_came() -> None:
    assert incomplete_problem(tcp(GOOD, length=20), READ_2, rtu=False).startswith("wrong length header")
    assert incomplete_problem(rtu(bytes([4, 8, 0, 1, 0, 2])), READ_2, rtu=True).startswith("wrong byte count")
    assert incomplete_problem(b"\x01\x04", READ_2, rtu=True) == "incomplete reply: 2 bytes"
    write = Asked(unit=1, function=6)
    assert tcp_problem(tcp(bytes([6, 0, 1, 0, 5])), write, 7) is None
    assert tcp_problem(tcp(bytes([16, 0, 1, 0, 5])), write, 7) == "wrong function code 16 (asked 6)"
