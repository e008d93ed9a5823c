"""A counting Modbus TCP proxy: sits in front of a server and records every request it forwards.

Benchmarks count requests at the server side without touching the server: clients connect to the proxy,
which relays bytes both ways unchanged and parses the MBAP header (transaction id, protocol id, length,
unit id) plus the PDU's function code, start address and quantity of every request.

    proxy = MbapProxy(("127.0.0.1", server_port))
    port = await proxy.start()
    ...
    proxy.requests  # [Request(t, unit, function, address, count), ...]
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from dataclasses import dataclass

MBAP_HEADER = struct.Struct(">HHHB")  # transaction, protocol, length (unit + PDU), unit


@dataclass(frozen=True, slots=True)
class Request:
    """One Modbus request as seen on the wire."""

    t: float  # time.monotonic() when its last byte reached the proxy
    unit: int
    function: int
    address: int | None  # None for functions without a start address
    count: int | None


def parse_requests(buffer: bytearray, now: float) -> list[Request]:
    """Take every complete MBAP frame off the front of `buffer` and return it as a request."""
    found: list[Request] = []
    while len(buffer) >= MBAP_HEADER.size:
        _transaction, _protocol, length, unit = MBAP_HEADER.unpack_from(buffer)
        total = 6 + length
        if len(buffer) < total:
            break
        pdu = bytes(buffer[MBAP_HEADER.size : total])
        del buffer[:total]
        function = pdu[0] if pdu else -1
        address = count = None
        if len(pdu) >= 5:
            address, count = struct.unpack_from(">HH", pdu, 1)
        found.append(Request(now, unit, function, address, count))
    return found


class MbapProxy:
    """Relays Modbus TCP to `target` and records the requests (see module doc)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._client, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task

    def clear(self) -> None:
        self.requests.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        back = asyncio.create_task(self._pipe(up_reader, writer, count=False))
        self._tasks.add(back)
        try:
            await self._pipe(reader, up_writer, count=True)
        finally:
            back.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await back
            self._tasks.discard(back)
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool) -> None:
        buffer = bytearray()
        try:
            while data := await reader.read(65536):
                if count:
                    buffer.extend(data)
                    self.requests.extend(parse_requests(buffer, time.monotonic()))
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
