"""A Solarman V5 data logger stick for the tests: a TCP server on 127.0.0.1 that relays Modbus RTU frames.

Built from the protocol description (pysolarmanv5's documentation, "Solarman V5 Protocol"), with the frames
real loggers sent as quoted in pysolarmanv5's issues. A V5 frame: start 0xA5, payload length (2 bytes, little
endian), control code (0x4510 request, 0x1510 reply, little endian), a sequence number (2 bytes: the reply
echoes the request's first byte, the second is the logger's own counter), the logger's serial number (4 bytes,
little endian), the payload, a checksum (the sum of every byte but the start, checksum and end, modulo 256:
pysolarmanv5's own `_calculate_v5_frame_checksum`) and end 0x15. A request's payload is frame type 0x02, a
sensor type (2 bytes), three times (4 bytes each) and the Modbus RTU frame; a reply's is frame type 0x02, a
status 0x01, three times and the Modbus RTU frame.

The logger relays each RTU request to its "RS-485 line", here a Modbus TCP server (the image-replay simulator,
`UnitServer`), and wraps the answer in a reply. What real loggers do otherwise:
- a request carrying another logger serial number gets a reply with the logger's own serial number and a
  2-byte payload tail instead of a Modbus frame (pysolarmanv5 issues #14 and #87);
- an inverter that does not answer gets a reply whose payload carries no Modbus frame either (issues #6, #18,
  #48);
- some loggers apply the Modbus CRC twice (issue #62): `double_crc` appends the second CRC (always 0x0000).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable

from pymodbus.framer.rtu import FramerRTU
from pysolarmanv5 import PySolarmanV5

START, END = 0xA5, 0x15
REQUEST, REPLY = 0x4510, 0x1510
HEADER = 11  # start, length, control code, sequence number, serial number
NO_MODBUS_FRAME = b"\x05\x00"  # the tail of a reply without a Modbus frame, as in pysolarmanv5 issue #6
WRONG_SERIAL = b"\x06\x00"  # the tail of the reply to another serial number, as in issue #14


def crc(frame: bytes) -> bytes:
    """The Modbus CRC of an RTU frame, as it follows the frame (pymodbus's)."""
    return FramerRTU.compute_CRC(frame).to_bytes(2, "big")


def v5_frame(control: int, sequence: bytes, serial: int, payload: bytes) -> bytes:
    """A complete V5 frame around `payload`."""
    header = struct.pack("<BHH", START, len(payload), control) + sequence + struct.pack("<I", serial)
    frame = bytearray(header + payload + b"\x00" + bytes([END]))
    frame[-2] = PySolarmanV5._calculate_v5_frame_checksum(frame)
    return bytes(frame)


class V5Logger:
    """The logger stick with serial number `serial`, relaying to the Modbus TCP server on `modbus_port`.

    `requests` holds every V5 request frame received, `relayed` every RTU frame relayed to the line.
    Faults: `silent` (receives, never answers), `double_crc`, `mangle` (rewrites an RTU reply),
    `corrupt_checksum` (a wrong V5 checksum), `reply_with` (sends what it returns for a request frame
    instead),
    `hang_up_on_request` (closes the connection when a request arrives), `hang_up()` (closes every
    connection now). `connections` counts the connections accepted.
    """

    def __init__(self, serial: int, modbus_port: int, *, relay_timeout: float = 0.3) -> None:
        self.serial = serial
        self.modbus_port = modbus_port
        self.relay_timeout = relay_timeout
        self.requests: list[bytes] = []
        self.relayed: list[bytes] = []
        self.connections = 0
        self.silent = False
        self.double_crc = False
        self.corrupt_checksum = False
        self.hang_up_on_request = False
        self.mangle: Callable[[bytes], bytes] | None = None
        self.reply_with: Callable[[bytes], bytes] | None = None
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._counter = 0
        self._tid = 0
        self._line: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._line_lock = asyncio.Lock()

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1:`port` (0: a free port); returns the port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port or self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening and close every connection (the logger is away)."""
        if self._server is not None:
            self._server.close()
            self.hang_up()
            await self._server.wait_closed()
            self._server = None
        if self._line is not None:
            self._line[1].close()
            self._line = None

    def hang_up(self) -> None:
        """Close every client connection (a logger whose Wi-Fi reconnects)."""
        for writer in list(self._writers):
            writer.close()

    # ------------------------------------------------------------------ the V5 side

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readexactly(3)
                (length,) = struct.unpack("<H", head[1:3])
                frame = head + await reader.readexactly(length + HEADER - 3 + 2)
                self.requests.append(frame)
                if self.hang_up_on_request:
                    return
                reply = await self._answer(frame) if self.reply_with is None else self.reply_with(frame)
                if reply is not None and self.corrupt_checksum:
                    reply = reply[:-2] + bytes([(reply[-2] + 1) & 0xFF]) + reply[-1:]
                if reply is not None and not self.silent:
                    writer.write(reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, frame: bytes) -> bytes | None:
        """The reply to one V5 request frame (None: a frame a logger ignores)."""
        checksum_ok = frame[-2] == PySolarmanV5._calculate_v5_frame_checksum(frame)
        (control,) = struct.unpack("<H", frame[3:5])
        if frame[0] != START or frame[-1] != END or not checksum_ok or control != REQUEST:
            return None
        self._counter = (self._counter + 1) & 0xFF
        sequence = bytes([frame[5], self._counter])
        (serial,) = struct.unpack("<I", frame[7:11])
        times = struct.pack("<III", 1000, 200, 1_750_000_000)
        if serial != self.serial:
            return v5_frame(REPLY, sequence, self.serial, b"\x02\x01" + times + WRONG_SERIAL)
        rtu = await self._relay(frame[HEADER + 15 : -2])
        if rtu is None:
            return v5_frame(REPLY, sequence, self.serial, b"\x02\x01" + times + NO_MODBUS_FRAME)
        if self.mangle is not None:
            rtu = self.mangle(rtu)
        if self.double_crc:
            rtu += crc(rtu)
        return v5_frame(REPLY, sequence, self.serial, b"\x02\x01" + times + rtu)

    # ------------------------------------------------------------------ the RS-485 side

    async def _relay(self, rtu: bytes) -> bytes | None:
        """Ask the line (Modbus TCP to the simulator) and return the RTU answer, None if nobody answered."""
        if len(rtu) < 4 or crc(rtu[:-2]) != rtu[-2:]:
            return None  # a device ignores a frame with a wrong CRC
        self.relayed.append(rtu)
        unit, pdu = rtu[0], rtu[1:-2]
        async with self._line_lock:
            if self._line is None:
                self._line = await asyncio.open_connection("127.0.0.1", self.modbus_port)
            reader, writer = self._line
            self._tid = (self._tid + 1) & 0xFFFF
            writer.write(struct.pack(">HHHB", self._tid, 0, len(pdu) + 1, unit) + pdu)
            await writer.drain()
            try:
                async with asyncio.timeout(self.relay_timeout):
                    while True:  # a late answer to an earlier request is skipped
                        tid, _protocol, length, answered = struct.unpack(">HHHB", await reader.readexactly(7))
                        answer = await reader.readexactly(length - 1)
                        if tid == self._tid:
                            break
            except TimeoutError:
                return None
        if answer[0] & 0x80 and answer[1] == 0x0B:
            return None  # the simulator's "no device with this id": silence on an RS-485 line
        return bytes([answered]) + answer + crc(bytes([answered]) + answer)
