"""Fault-injecting peers for the reliability tests: an RTU line relay that corrupts or delays bytes between
two pseudo-terminals, and a Modbus TCP "gateway" proxy that can drop its connections."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import threading
import tty
from dataclasses import dataclass, field


@dataclass
class RtuLineRelay:
    """Two pty pairs joined by a thread: the simulator opens `device_side`, the collector `bus_side`.

    `corrupt_unit`: answers of that unit get one byte flipped (a CRC error, garbage on the line).
    `garbage`: bytes injected on the line before every answer of `corrupt_unit` (noise).
    """

    corrupt_unit: int | None = None
    garbage: bytes = b""
    corrupted: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._device_master, device_slave = os.openpty()
        self._bus_master, bus_slave = os.openpty()
        for fd in (device_slave, bus_slave, self._device_master, self._bus_master):
            tty.setraw(fd)
        self.device_side = os.ttyname(device_slave)
        self.bus_side = os.ttyname(bus_slave)
        self._slaves = (device_slave, bus_slave)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rtu relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for fd in (self._device_master, self._bus_master, *self._slaves):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _run(self) -> None:
        pairs = {self._device_master: self._bus_master, self._bus_master: self._device_master}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(pairs), [], [], 0.05)
            for source in ready:
                try:
                    chunk = os.read(source, 4096)
                except OSError:
                    continue
                corrupt = self.corrupt_unit
                if source == self._device_master and corrupt is not None and chunk and chunk[0] == corrupt:
                    self.corrupted += 1
                    flipped = bytearray(chunk)
                    flipped[len(flipped) // 2] ^= 0x5A
                    chunk = self.garbage + bytes(flipped)
                with contextlib.suppress(OSError):
                    os.write(pairs[source], chunk)


@dataclass
class DroppingGateway:
    """A TCP proxy in front of a Modbus TCP server; `dropping = True` cuts every connection (and new ones)."""

    target_port: int
    dropping: bool = False
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def drop(self, dropping: bool) -> None:
        self.dropping = dropping
        if dropping:
            for writer in list(self._writers):
                writer.transport.abort()

    async def stop(self) -> None:
        self.drop(True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.dropping:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await source.read(4096):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._writers.discard(writer)
            self._writers.discard(up_writer)
