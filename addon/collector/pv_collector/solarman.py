"""Solarman V5 data loggers (the `solarman` bus type): Modbus RTU inside Solarman V5 frames, over TCP.

Many Deye, Sofar, Solis and Afore inverters are reachable only through their Wi-Fi or LAN logger stick. The
stick accepts TCP connections on port 8899 and relays Modbus RTU frames, each wrapped in a Solarman V5 frame,
to the inverter on its RS-485 port. A V5 frame (pysolarmanv5's documentation, "Solarman V5 Protocol"):
start 0xA5, payload length, control code 0x4510 (request) or 0x1510 (reply), a sequence number the reply
echoes, the logger's serial number, a payload ending in the Modbus RTU frame, a checksum, end 0x15.
pysolarmanv5 (its asyncio client, `PySolarmanV5Async`) does that framing. `SolarmanClient` is the small
adapter the `Bus` (pv_collector.transport) drives as it drives a pymodbus client, so the planner, the bus
lock, timeouts, retries, device quirks, plausibility and commands are those of every other bus:

- Requests are Modbus RTU frames built by pymodbus; the RTU reply inside the V5 reply is checked as any RTU
  reply is (`pv_collector.replies`: function code, byte count, unit) and decoded by pymodbus, so the bus sees
  the same replies (registers, exception codes) as on a serial line.
- The V5 sequence number pairs a reply with its request (pysolarmanv5 drops frames that carry another), so
  a late reply is never taken for a later request's: the bus treats a logger as it treats a Modbus TCP
  connection (renewed after three timeouts in a row), not as an RTU line.
- pysolarmanv5's errors become the collector's (`pv_collector.errors`):
  - the logger cannot be reached: `connect()` returns False; the bus raises `ModbusConnectionError` and
    tries again with backoff. The logger closes the connection during a request: `ModbusConnectionError`
    at once, not at the timeout.
  - no reply within the timeout: `TimeoutError`, which the bus reports as `ModbusTimeout`.
  - a reply that carries another logger serial number: `LoggerSerialMismatch`, naming `logger_serial` and
    the serial the logger answered with. A logger answers a request with another serial number with a
    short reply carrying its own (pysolarmanv5 issues #14 and #87).
  - a V5 reply with no Modbus frame in it (a payload too short for one): the logger got no answer from the
    inverter (pysolarmanv5 issues #6, #18 and #48): `ModbusTimeout`, as for a Modbus TCP gateway's
    "target device failed to respond".
  - any other malformed V5 frame or RTU reply: `ModbusInvalidReply` with the reason (also where pysolarmanv5
    reads past the end of a frame cut short: an IndexError).
- Some loggers apply the Modbus CRC twice, so the RTU reply ends in two more bytes, 0x0000 (the CRC of a
  frame ending in its own CRC); those two bytes are dropped (pysolarmanv5 issue #62, pull request #66).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

from pymodbus.exceptions import ModbusException
from pymodbus.framer.rtu import FramerRTU
from pymodbus.pdu import DecodePDU, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)
from pysolarmanv5 import NoSocketAvailableError, PySolarmanV5, PySolarmanV5Async, V5FrameError

from pv_collector.config import BusConfig
from pv_collector.errors import (
    LoggerSerialMismatch,
    ModbusConnectionError,
    ModbusInvalidReply,
    ModbusTimeout,
)
from pv_collector.replies import Asked, incomplete_problem, rtu_problem

_LOGGER = logging.getLogger(__name__)
_LIBRARY_LOGGER = logging.getLogger(f"{__name__}.pysolarmanv5")  # its frame dumps, at debug level

_V5_SERIAL = slice(7, 11)  # the logger's serial number in a V5 frame (little endian)
_V5_MODBUS = 25  # offset of the Modbus RTU frame in a V5 reply; the checksum and end byte follow it
_V5_START, _V5_END = 0xA5, 0x15
_RTU_MIN = 5  # the shortest RTU reply: unit, function code | 0x80, exception code, CRC
_DOUBLE_CRC = b"\x00\x00"


class _V5Connection(PySolarmanV5Async):  # type: ignore[misc]  # pysolarmanv5 has no type information
    """pysolarmanv5's asyncio client; it keeps the last V5 reply it decoded, to say why one was refused."""

    last_reply: bytes = b""

    def _v5_frame_decoder(self, v5_frame: bytes) -> Any:
        self.last_reply = bytes(v5_frame)
        return super()._v5_frame_decoder(v5_frame)


def _crc_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and FramerRTU.check_CRC(frame[:-2], int.from_bytes(frame[-2:], "big"))


def without_double_crc(frame: bytes) -> bytes:
    """The RTU frame without the second CRC some loggers append (pysolarmanv5 issue #62): the CRC of a frame
    that ends in its own CRC is always 0x0000."""
    if frame.endswith(_DOUBLE_CRC) and _crc_ok(frame[:-2]):
        return frame[:-2]
    return frame


def _intact(frame: bytes) -> bool:
    """Whether a V5 frame has its start and end bytes and a right checksum (pysolarmanv5's own)."""
    return (
        len(frame) > _V5_SERIAL.stop + 2
        and frame[0] == _V5_START
        and frame[-1] == _V5_END
        and frame[-2] == PySolarmanV5._calculate_v5_frame_checksum(frame)
    )


def _retrieve(task: asyncio.Task[Any]) -> None:
    """pysolarmanv5's reader task ended: its error (a reset connection) is the logger's going away, which
    the next request reports; nothing is left for asyncio to report as never retrieved."""
    if not task.cancelled() and (error := task.exception()) is not None:
        _LOGGER.debug("logger connection ended", extra={"error": f"{type(error).__name__}: {error}"})


class SolarmanClient:
    """A Solarman V5 logger, driven by the `Bus` as it drives a pymodbus client: `connect()`, `close()`,
    `connected`, and the register functions FC3, FC4, FC6 and FC16, which return pymodbus replies.

    `timeout` (seconds) bounds connecting and every reply; the bus sets it before each request. The register
    functions raise `ModbusConnectionError` (not connected, or the logger went away), `LoggerSerialMismatch`,
    `ModbusTimeout` (the logger got no answer from the inverter), `ModbusInvalidReply`, and `TimeoutError`
    when the logger does not answer in time.
    """

    def __init__(self, config: BusConfig) -> None:
        if config.logger_serial is None:
            raise ValueError(f"bus {config.name}: a solarman bus needs its logger_serial")
        self.bus = config.name
        self.host = config.host or "127.0.0.1"
        self.port = int(config.port)
        self.logger_serial = config.logger_serial
        self.timeout = config.timeout
        self._framer = FramerRTU(DecodePDU(is_server=False))
        self._v5: _V5Connection | None = None
        self._writer: asyncio.StreamWriter | None = None  # pysolarmanv5 forgets it when the logger hangs up

    @property
    def endpoint(self) -> str:
        """`host:port` of the logger."""
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        """Whether a connection to the logger is open (pysolarmanv5's reader still runs)."""
        v5 = self._v5
        if v5 is None or v5.writer is None or v5.reader_task is None:
            return False
        return not v5.reader_task.done()

    async def connect(self) -> bool:
        """Open a new connection to the logger; False when it cannot be reached within `timeout`."""
        self.close()
        v5 = _V5Connection(
            self.host, self.logger_serial, port=self.port, socket_timeout=self.timeout, logger=_LIBRARY_LOGGER
        )
        try:
            await v5.connect()
        except NoSocketAvailableError as err:
            cause = err.__cause__
            reason = f"{type(cause).__name__}: {cause}" if cause is not None else str(err)
            _LOGGER.debug("logger unreachable", extra={"bus": self.bus, "error": reason})
            return False
        v5.reader_task.add_done_callback(_retrieve)
        self._v5, self._writer = v5, v5.writer
        return True

    def close(self) -> None:
        """Close the connection (if any); the client can connect again."""
        v5, self._v5 = self._v5, None
        writer, self._writer = self._writer, None
        if v5 is not None and v5.reader_task is not None:
            v5.reader_task.cancel()
        if writer is not None:
            writer.close()

    # ------------------------------------------------------------------ the register functions

    async def read_holding_registers(self, address: int, *, count: int, device_id: int) -> ModbusPDU:
        """FC3: read `count` holding registers of unit `device_id`."""
        request = ReadHoldingRegistersRequest(address=address, count=count, dev_id=device_id)
        return await self._exchange(request, count)

    async def read_input_registers(self, address: int, *, count: int, device_id: int) -> ModbusPDU:
        """FC4: read `count` input registers of unit `device_id`."""
        request = ReadInputRegistersRequest(address=address, count=count, dev_id=device_id)
        return await self._exchange(request, count)

    async def write_register(self, address: int, value: int, *, device_id: int) -> ModbusPDU:
        """FC6: write one holding register of unit `device_id`."""
        request = WriteSingleRegisterRequest(address=address, registers=[value], dev_id=device_id)
        return await self._exchange(request)

    async def write_registers(self, address: int, values: list[int], *, device_id: int) -> ModbusPDU:
        """FC16: write holding registers of unit `device_id`."""
        request = WriteMultipleRegistersRequest(address=address, registers=values, dev_id=device_id)
        return await self._exchange(request)

    # ------------------------------------------------------------------ internals

    async def _exchange(self, request: ModbusPDU, count: int | None = None) -> ModbusPDU:
        """Send one request in a V5 frame and return the checked, decoded reply (see the module doc)."""
        v5 = self._v5
        if v5 is None or not self.connected:
            raise ModbusConnectionError(f"bus {self.bus}: not connected to the logger at {self.endpoint}")
        asked = Asked(request.dev_id, request.function_code, count)
        v5.socket_timeout = self.timeout
        v5.last_reply = b""
        exchange = asyncio.ensure_future(v5.send_raw_modbus_frame(self._framer.buildFrame(request)))
        try:
            done, _ = await asyncio.wait({exchange, v5.reader_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not exchange.done():
                exchange.cancel()
        if exchange not in done:
            raise ModbusConnectionError(f"bus {self.bus}: the logger at {self.endpoint} hung up")
        try:
            reply = bytes(exchange.result())
        except V5FrameError as err:
            raise self._refusal(v5.last_reply, err, asked) from err
        except (IndexError, struct.error) as err:  # pysolarmanv5 reads past the end of a frame cut short
            raise ModbusInvalidReply(f"V5 frame: {len(v5.last_reply)} bytes, too short") from err
        except NoSocketAvailableError as err:
            raise ModbusConnectionError(f"bus {self.bus}: the logger at {self.endpoint}: {err}") from err
        except TimeoutError:
            raise
        except OSError as err:
            raise ModbusConnectionError(f"bus {self.bus}: the logger at {self.endpoint}: {err}") from err
        return self._decode(without_double_crc(reply), asked)

    def _refusal(self, frame: bytes, err: V5FrameError, asked: Asked) -> Exception:
        """The collector's error for a V5 reply pysolarmanv5 refused."""
        if _intact(frame):
            answered = int.from_bytes(frame[_V5_SERIAL], "little")
            if answered != self.logger_serial:
                return LoggerSerialMismatch(
                    f"bus {self.bus}: the logger at {self.endpoint} answers with serial number {answered}, "
                    f"logger_serial is {self.logger_serial}: logger_serial must be the logger stick's serial "
                    "number (on its label and its web page), not the inverter's",
                    configured=self.logger_serial,
                    answered=answered,
                )
            if len(frame) - 2 - _V5_MODBUS < _RTU_MIN:
                return ModbusTimeout(
                    f"bus {self.bus}: the logger at {self.endpoint} got no answer from unit {asked.unit}"
                )
        return ModbusInvalidReply(f"V5 frame: {err}")

    def _decode(self, frame: bytes, asked: Asked) -> ModbusPDU:
        """The pymodbus reply in an RTU frame, after the checks every RTU reply gets."""
        if problem := rtu_problem(frame, asked):
            raise ModbusInvalidReply(problem)
        if frame and frame[0] != asked.unit:
            raise ModbusInvalidReply(f"reply from unit {frame[0]} (asked unit {asked.unit})")
        try:
            _used, reply = self._framer.handleFrame(frame, 0, 0)
        except (ModbusException, ValueError, IndexError) as err:
            raise ModbusInvalidReply(f"undecodable reply ({type(err).__name__}: {err})") from err
        if reply is None:
            wrong_crc = len(frame) >= _RTU_MIN and not _crc_ok(frame)
            raise ModbusInvalidReply("wrong CRC" if wrong_crc else incomplete_problem(frame, asked, rtu=True))
        return reply
