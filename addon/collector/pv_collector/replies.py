"""Is this the answer to the request? Checks of the raw bytes of a Modbus reply before pymodbus decodes them.

pymodbus 3.16 frames and decodes replies but believes any decodable frame: with Modbus TCP it matches the
transaction id only (a holding-register answer to an input-register request is taken as data), a byte
count larger than the frame raises inside asyncio's `data_received` (a traceback, the connection closed, and
the request ends as "no answer"), a smaller one yields fewer registers; with RTU (no transaction id) any
frame that arrives while a request is outstanding is its answer. The bus (`pv_collector.transport`) runs
these checks on everything that arrives and refuses a reply, with the reason, when:

- its function code is neither the request's nor the request's exception code (`wrong function code`);
- its byte count disagrees with the bytes that follow it, or with twice the registers asked for
  (`wrong byte count`);
- Modbus TCP: its MBAP length header disagrees with the bytes that arrived (`wrong length header`);
- RTU: a second frame follows it in the same burst (`stray frame`).

RTU frames are judged only once their CRC is right (noise is pymodbus' to discard); where the CRC is right
for the bytes received but not for the length the byte count announces, the byte count is wrong.
Function codes: 3 read holding registers, 4 read input registers, 6 write single register, 16 write
multiple registers; a reply with the high bit set (code | 0x80) is an exception response of 2 bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pymodbus.framer.rtu import FramerRTU

MBAP_BYTES = 7  # transaction id, protocol id, length, unit id
_WRITE_ECHO_PDU = 5  # FC6/FC16 replies: function code, address (2), value or count (2)


@dataclass(frozen=True, slots=True)
class Asked:
    """The outstanding request: unit id, function code, and registers asked for (None for writes)."""

    unit: int
    function: int
    count: int | None = None


def _crc_ok(frame: bytes) -> bool:
    """Whether the last two bytes of an RTU frame are the CRC of the rest (pymodbus' CRC)."""
    return len(frame) >= 4 and FramerRTU.check_CRC(frame[:-2], (frame[-2] << 8) | frame[-1])


def pdu_problem(pdu: bytes, asked: Asked) -> str | None:
    """What is wrong with a complete reply PDU (function code onwards) for `asked`, None if nothing."""
    function = pdu[0]
    if function == asked.function | 0x80:
        return None if len(pdu) == 2 else f"wrong length: exception response of {len(pdu)} bytes"
    if function != asked.function:
        return f"wrong function code {function} (asked {asked.function})"
    if asked.count is None:
        return None if len(pdu) == _WRITE_ECHO_PDU else f"wrong length: write reply of {len(pdu)} bytes"
    if len(pdu) < 2:
        return "wrong byte count: none"
    byte_count, follow = pdu[1], len(pdu) - 2
    if byte_count != follow:
        return f"wrong byte count: {byte_count}, but {follow} bytes follow"
    if byte_count != 2 * asked.count:
        return f"wrong byte count: {byte_count} for {asked.count} registers"
    return None


def tcp_problem(data: bytes, asked: Asked, transaction: int) -> str | None:
    """What is wrong with the Modbus TCP bytes received so far for `asked` (transaction id `transaction`);
    None when they are right, incomplete, or another transaction's (pymodbus skips those)."""
    if len(data) < MBAP_BYTES + 1:
        return None
    tid, protocol, length, _unit = struct.unpack(">HHHB", data[:MBAP_BYTES])
    if protocol != 0:
        return f"wrong protocol id {protocol}"
    if transaction and tid != transaction:
        return None
    end = 6 + length
    if length < 2:
        return f"wrong length header: {length}"
    if len(data) < end:
        return None  # more to come (or a length header too long: see incomplete_problem)
    problem = pdu_problem(data[MBAP_BYTES:end], asked)
    if problem is not None and problem.startswith("wrong byte count") and len(data) > end:
        return f"wrong length header: announces {length - 1} bytes after the unit id, {len(data) - 7} arrived"
    return problem


def rtu_problem(data: bytes, asked: Asked) -> str | None:
    """What is wrong with the RTU bytes received so far for `asked`; None when they are right, incomplete,
    noise (wrong CRC) or another unit's frame (pymodbus discards those)."""
    if len(data) < 4 or data[0] != asked.unit:
        return None
    function = data[1]
    if function & 0x80:
        size = 5
    elif function in (3, 4) or (asked.count is not None and function == asked.function):
        size = data[2] + 5 if len(data) > 2 else 0
    else:
        size = _WRITE_ECHO_PDU + 3
    if size and len(data) >= size and _crc_ok(data[:size]):
        if len(data) > size:
            return f"stray frame: {len(data) - size} more bytes after the reply"
        return pdu_problem(data[1 : size - 2], asked)
    if _crc_ok(data) and function in (3, 4):
        return f"wrong byte count: {data[2]}, but {len(data) - 5} bytes follow"
    return None


def incomplete_problem(data: bytes, asked: Asked, *, rtu: bool) -> str:
    """Why the bytes left when the reply timed out are no answer (they are not empty)."""
    if not rtu and len(data) >= MBAP_BYTES:
        length = struct.unpack(">H", data[4:6])[0]
        return f"wrong length header: announces {length - 1} bytes after the unit id, {len(data) - 7} arrived"
    if rtu and len(data) >= 5 and data[0] == asked.unit and _crc_ok(data):
        return f"wrong byte count: {data[2]}, but {len(data) - 5} bytes follow"
    return f"incomplete reply: {len(data)} bytes"
