"""Small Modbus devices for the field-fault tests (docs/reliability.md, "Field faults").

- `ScriptedDevice`: a real pymodbus server (Modbus TCP, or RTU on a serial port) with one unit whose
  registers come from a `RegisterImage`. A test scripts it per request: the `script` callback sees every
  read before it is answered, may change the image (a counter that glitches on the 5th read) and may
  answer a Modbus exception instead (gateway exception 0x0B on 30 % of the requests).
- `RawTcpDevice` and `RawRtuDevice`: speak the wire themselves, for replies no correct server sends
  (another function code, a wrong byte count or length header, stray and duplicate RTU frames). Their
  `reply` callback turns a parsed request into the bytes to send.

Values are written into an image through a profile's points (`RegisterImage.put`, using the collector's
own `encode`), so no register address is written twice in the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import os
import select
import struct
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from pv_collector.decode import encode
from pv_collector.model import Function, Point

HOLDING, INPUT = 3, 4
_TABLES = {Function.HOLDING: HOLDING, Function.INPUT: INPUT}


@dataclass(frozen=True)
class Request:
    """One read request as the device saw it; `number` counts the device's read requests from 1."""

    unit: int
    function: int
    address: int
    count: int
    number: int

    def covers(self, address: int, words: int = 1) -> bool:
        return self.address <= address and address + words <= self.address + self.count


@dataclass
class RegisterImage:
    """Holding (FC3) and input (FC4) registers of one unit; registers never set do not exist."""

    tables: dict[int, dict[int, int]] = field(default_factory=lambda: {HOLDING: {}, INPUT: {}})

    def set(self, function: int, address: int, words: Sequence[int]) -> None:
        for offset, word in enumerate(words):
            self.tables[function][address + offset] = word & 0xFFFF

    def put(self, point: Point, value: object, scale_factor: int | None = None) -> None:
        """Write `value` (decoded units) into the registers of `point`, as the device would hold it."""
        self.set(_TABLES[point.function], point.address, encode(point, value, scale_factor))

    def read(self, function: int, address: int, count: int) -> list[int] | None:
        """The registers, or None when one of them does not exist (exception 2)."""
        table = self.tables.get(function, {})
        if any(register not in table for register in range(address, address + count)):
            return None
        return [table[register] for register in range(address, address + count)]


type Script = Callable[[Request], int | None]


class ScriptedDevice:
    """A pymodbus server with one unit answering from `image`, scripted by `script` (see module doc)."""

    def __init__(self, image: RegisterImage, *, unit: int = 1, script: Script | None = None) -> None:
        self.image = image
        self.unit = unit
        self.script = script
        self.requests: list[Request] = []
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if set_values is not None or function_code not in (HOLDING, INPUT):
            return ExcCodes.ILLEGAL_FUNCTION
        request = Request(self.unit, function_code, address, count, len(self.requests) + 1)
        self.requests.append(request)
        if self.script is not None and (code := self.script(request)) is not None:
            return ExcCodes(code)
        words = self.image.read(function_code, address, count)
        if words is None:
            return ExcCodes.ILLEGAL_ADDRESS
        offset = address - start_address
        registers[offset : offset + count] = words
        return None

    def _devices(self) -> list[SimDevice]:
        return [
            SimDevice(
                id=self.unit,
                simdata=[SimData(address=0, count=65536, values=0, datatype=DataType.REGISTERS)],
                action=functools.partial(self._action),
            )
        ]

    async def start_tcp(self) -> int:
        """Serve Modbus TCP on a free 127.0.0.1 port; returns it."""
        server = ModbusTcpServer(self._devices(), address=("127.0.0.1", 0), ignore_missing_devices=True)
        await server.serve_forever(background=True)
        self._server = server
        sockets = getattr(server.transport, "sockets", None) or []
        return int(sockets[0].getsockname()[1])

    async def start_rtu(self, port: str) -> None:
        """Serve Modbus RTU (9600 8N1) on serial `port` (one end of a pty pair)."""
        server = ModbusSerialServer(
            self._devices(),
            framer=FramerType.RTU,
            port=port,
            baudrate=9600,
            bytesize=8,
            parity="N",
            stopbits=1,
            ignore_missing_devices=True,
        )
        await server.serve_forever(background=True)
        self._server = server

    def reads_of(self, address: int) -> int:
        """Read requests so far that covered `address`."""
        return sum(1 for request in self.requests if request.covers(address))

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None


# ---------------------------------------------------------------------------------------------- raw wire


def crc16(data: bytes) -> bytes:
    """Modbus RTU CRC (polynomial 0xA001, initial 0xFFFF), low byte first as it goes on the wire."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


def read_reply_pdu(function: int, registers: Sequence[int]) -> bytes:
    """A correct FC3/FC4 reply PDU: function code, byte count, registers."""
    return bytes([function, 2 * len(registers)]) + b"".join(struct.pack(">H", r) for r in registers)


def exception_pdu(function: int, code: int) -> bytes:
    return bytes([function | 0x80, code])


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    frame = bytes([unit]) + pdu
    return frame + crc16(frame)


def tcp_frame(tid: int, unit: int, pdu: bytes, *, length: int | None = None) -> bytes:
    """An MBAP frame; `length` overrides the header's length field (a wrong length header)."""
    declared = len(pdu) + 1 if length is None else length
    return struct.pack(">HHHB", tid, 0, declared, unit) + pdu


def correct_pdu(image: RegisterImage, request: Request) -> bytes:
    words = image.read(request.function, request.address, request.count)
    if words is None:
        return exception_pdu(request.function, 2)
    return read_reply_pdu(request.function, words)


type TcpReply = Callable[[Request, int], bytes | None]


class RawTcpDevice:
    """A Modbus TCP server written on asyncio streams; `reply(request, tid)` returns the bytes to send
    (None: no answer). The default reply is the correct one from `image`."""

    def __init__(self, image: RegisterImage, *, unit: int = 1, reply: TcpReply | None = None) -> None:
        self.image = image
        self.unit = unit
        self.reply = reply or self.correct
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def correct(self, request: Request, tid: int) -> bytes:
        return tcp_frame(tid, request.unit, correct_pdu(self.image, request))

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                header = await reader.readexactly(7)
                tid, _protocol, length, unit = struct.unpack(">HHHB", header)
                pdu = await reader.readexactly(length - 1)
                function, address, count = pdu[0], *struct.unpack(">HH", pdu[1:5])
                request = Request(unit, function, address, count, len(self.requests) + 1)
                self.requests.append(request)
                answer = self.reply(request, tid)
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


type RtuReply = Callable[[Request], list[tuple[float, bytes]]]


class RawRtuDevice:
    """A Modbus RTU device on a pseudo-terminal, run by a thread: the collector opens `port`.

    `reply(request)` returns the frames to send as (delay in seconds after the request, bytes); frames
    may come late, twice, or when nobody asked. `send_unsolicited` puts a frame on the line at once.
    """

    def __init__(
        self, image: RegisterImage, *, unit: int = 1, reply: RtuReply | None = None, master: int | None = None
    ) -> None:
        self.image = image
        self.unit = unit
        self.reply = reply or self.correct
        self.requests: list[Request] = []
        if master is None:
            self._master, self._slave = os.openpty()
            for fd in (self._master, self._slave):
                tty.setraw(fd)
            self.port = os.ttyname(self._slave)
        else:  # the device side of a pty opened by another process (RtuDeviceProcess)
            self._master, self._slave, self.port = master, -1, ""
        self._stop = threading.Event()
        self._pending: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="raw rtu device", daemon=True)

    def correct(self, request: Request) -> list[tuple[float, bytes]]:
        return [(0.0, rtu_frame(request.unit, correct_pdu(self.image, request)))]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def serve_forever(self) -> None:
        """Run the device in this thread (RtuDeviceProcess's child)."""
        self._run()

    def send_unsolicited(self, frame: bytes) -> None:
        with self._lock:
            self._pending.append((time.monotonic(), frame))

    def _run(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            with self._lock:
                now = time.monotonic()
                due = [frame for at, frame in self._pending if at <= now]
                self._pending = [(at, frame) for at, frame in self._pending if at > now]
            for frame in due:
                os.write(self._master, frame)
            ready, _, _ = select.select([self._master], [], [], 0.002)
            if not ready:
                continue
            try:
                buffer += os.read(self._master, 4096)
            except OSError:  # nobody has the line open (a pty without its other side): wait for them
                time.sleep(0.002)
                continue
            while len(buffer) >= 8:
                frame, buffer = buffer[:8], buffer[8:]
                if crc16(frame[:6]) != frame[6:8] or frame[1] not in (HOLDING, INPUT):
                    buffer = b""  # not a read request we understand: resynchronise
                    break
                address, count = struct.unpack(">HH", frame[2:6])
                request = Request(frame[0], frame[1], address, count, len(self.requests) + 1)
                self.requests.append(request)
                if frame[0] != self.unit:
                    continue
                now = time.monotonic()
                with self._lock:
                    self._pending.extend((now + delay, answer) for delay, answer in self.reply(request))


class RtuDeviceProcess:
    """A RawRtuDevice in a Python process of its own, on a pty opened here: the collector opens `port`.

    In the test's process the device's thread shares the interpreter lock with the collector, and in any
    process of normal priority it waits for a CPU on a loaded machine: it then wrote a frame meant 15 ms
    after another only after the collector had believed the first one and moved on (a stray frame taken for
    the answer to the next request), a timing no device on a wire has. Its own process at real-time
    priority keeps the frames' spacing whatever the collector and the machine do; the collector may still be
    late, which only makes frames arrive together.

    `reply` names a function ("module:function") that takes `argument` (a string) and returns the device's
    `RtuReply`; the child imports it.
    """

    def __init__(self, reply: str, argument: str) -> None:
        self._master, self._slave = os.openpty()
        for fd in (self._master, self._slave):
            tty.setraw(fd)
        self.port = os.ttyname(self._slave)
        self._command = [
            sys.executable,
            "-m",
            "tests.reliability.devices",
            reply,
            argument,
            str(self._master),
        ]
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start the child and wait until it serves (it says so on its standard output)."""
        root = Path(__file__).resolve().parents[2]
        process = subprocess.Popen(
            self._command, pass_fds=(self._master,), cwd=root, stdout=subprocess.PIPE, text=True
        )
        self._process = process
        assert process.stdout is not None
        if process.stdout.readline().strip() != "serving":
            raise RuntimeError(f"the RTU device process ended ({process.wait(5)})")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(5)
            assert self._process.stdout is not None
            self._process.stdout.close()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def _serve_rtu_device(reply: str, argument: str, master: int) -> None:
    """RtuDeviceProcess's child: `python -m tests.reliability.devices module:function argument fd`."""
    with contextlib.suppress(OSError):  # needs root (CI runs as root): else the scheduler's fair share
        # Real-time priority: the frames leave at their delays whatever else the machine runs, as they do
        # from a device on a wire. The device sleeps in select() between them: it takes no CPU from others.
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    module, function = reply.split(":")
    device = RawRtuDevice(
        RegisterImage(), reply=getattr(importlib.import_module(module), function)(argument), master=master
    )
    print("serving", flush=True)
    device.serve_forever()


# ---------------------------------------------------------------------------------------------- SunSpec


SUNS = (0x5375, 0x6E53)


def sunspec_image(
    models: Sequence[tuple[int, int]], base: int = 40000
) -> tuple[RegisterImage, dict[str, Point]]:
    """A SunSpec device: "SunS" at `base`, then the models (id, length) with every data register 0, then
    the end marker. Returns the image and the absolute points of the models, keyed as discovery keys them
    (`pv_collector.sunspec.place_model`)."""
    from pv_collector.sunspec import place_model
    from pv_collector.sunspec_models import load_sunspec_model

    image = RegisterImage()
    image.set(HOLDING, base, SUNS)
    points: dict[str, Point] = {}
    taken: set[str] = set()
    address = base + 2
    for model_id, length in models:
        image.set(HOLDING, address, [model_id, length, *([0] * length)])
        definition = load_sunspec_model(model_id)
        assert definition is not None, model_id
        for point in place_model(definition, address, length, 1, taken):
            points[point.key] = point
        address += 2 + length
    image.set(HOLDING, address, [0xFFFF, 0])
    return image, points


class FastClock:
    """A wall clock that runs `speed` times faster than real time from `start` (readings' timestamps)."""

    def __init__(self, start: float, speed: float) -> None:
        self.start = start
        self.speed = speed
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self._t0) * self.speed


def profile_image(
    profile_id: str, values: Mapping[str, object] | None = None
) -> tuple[RegisterImage, dict[str, Point]]:
    """An image for a (non-SunSpec) profile: every register from a table's first to its last point exists
    and holds 0, enum and bool points hold a valid option, and `values` (point key -> decoded value) are
    written through the points. Returns the image and the profile's points by key."""
    from pv_collector.profile import load_profile

    profile = load_profile(profile_id)
    image = RegisterImage()
    for function, table in _TABLES.items():
        mine = [point for point in profile.points if point.function is function]
        if mine:
            start = min(point.address for point in mine)
            image.set(table, start, [0] * (max(point.end for point in mine) - start))
    points = {point.key: point for point in profile.points}
    for point in profile.points:
        if point.kind == "enum" and point.options:
            image.put(point, next(iter(point.options.values())))
        elif point.kind == "bool":
            image.put(point, False)
    for key, value in (values or {}).items():
        image.put(points[key], value)
    return image, points


if __name__ == "__main__":
    _serve_rtu_device(sys.argv[1], sys.argv[2], int(sys.argv[3]))
