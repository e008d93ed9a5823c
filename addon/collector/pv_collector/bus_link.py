"""The connection of one bus: the client for its type (pymodbus' serial or TCP client, or the Solarman V5
adapter, pv_collector.solarman), opened when a request needs it and opened again with backoff while that
fails (`RECONNECT_MIN` doubling up to `RECONNECT_MAX` seconds of the bus's clock).

pymodbus' own retries and reconnects are off: the bus (pv_collector.transport) decides when to retry and
when a connection cannot be trusted any more. Every byte the client receives is handed to the bus first
(pymodbus 3.16's `callback_data` is wrapped), which checks it against the request outstanding.
"""

from __future__ import annotations

import logging
import termios
from collections.abc import Callable
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType

from pv_collector.clock import Clock
from pv_collector.config import BusConfig
from pv_collector.errors import ModbusConnectionError
from pv_collector.metrics import Metrics
from pv_collector.solarman import SolarmanClient

_LOGGER = logging.getLogger(__name__)

RECONNECT_MIN = 0.5  # seconds between connection attempts; doubles while they fail
RECONNECT_MAX = 30.0

type ModbusClient = AsyncModbusSerialClient | AsyncModbusTcpClient | SolarmanClient
type ClientFactory = Callable[[BusConfig], ModbusClient]
type Receiver = Callable[[Callable[..., int], bytes, Any], int]
"""Called with the client's own `callback_data`, the bytes received and their address; returns how many
bytes were used."""


class BusLink:
    """The client of one bus and when it may be opened again."""

    def __init__(
        self,
        config: BusConfig,
        *,
        factory: ClientFactory,
        clock: Clock,
        metrics: Metrics | None,
        receiver: Receiver,
    ) -> None:
        self.config = config
        self.client: ModbusClient | None = None
        self.fresh = False  # just opened: the devices' delay_after_connect is due
        self._factory = factory
        self._clock = clock
        self._metrics = metrics
        self._receiver = receiver
        self._next_connect = 0.0  # no attempt before this (the clock's seconds)
        self._connect_delay = RECONNECT_MIN
        self._was_connected = False

    @property
    def connected(self) -> bool:
        """Whether the client holds an open connection."""
        return self.client is not None and bool(self.client.connected)

    @property
    def backing_off(self) -> bool:
        """Whether the next connection attempt is not due yet (asking again now cannot help)."""
        return self._next_connect > self._clock.monotonic()

    async def open(self, *, counted: bool = True) -> ModbusClient:
        """The connected client, connecting first if needed.

        Raises `ModbusConnectionError` when the connection fails or the next attempt is not due yet; a failed
        attempt counts as a `connection` error unless not `counted` (a tool's request:
        `pv_collector.transport.Origin`).
        """
        name = self.config.name
        if self.client is not None and self.client.connected:
            return self.client
        now = self._clock.monotonic()
        if now < self._next_connect:
            wait = self._next_connect - now
            raise ModbusConnectionError(
                f"bus {name}: {self.config.endpoint} unreachable, next attempt in {wait:.1f} s"
            )
        self.drop()
        client = self._factory(self.config)
        try:
            ok = await client.connect()
        except (OSError, termios.error, ModbusException) as err:
            # termios.error: a serial port that refuses the line settings (parity, speed) asked for
            ok = False
            _LOGGER.debug("connect failed", extra={"bus": name, "error": str(err)})
        if not ok:
            client.close()
            self._next_connect = self._clock.monotonic() + self._connect_delay
            self._connect_delay = min(self._connect_delay * 2, RECONNECT_MAX)
            if self._metrics is not None and counted:
                self._metrics.error("connection")
            if self._was_connected:
                _LOGGER.debug("bus connection failed", extra={"bus": name})
            raise ModbusConnectionError(f"bus {name}: cannot connect to {self.config.endpoint}")
        if not self._was_connected:
            _LOGGER.info("bus connected", extra={"bus": name, "endpoint": self.config.endpoint})
        self._was_connected = True
        self._connect_delay = RECONNECT_MIN
        self.client = client
        self.fresh = True
        ctx = getattr(client, "ctx", None)
        if ctx is not None and hasattr(ctx, "callback_data"):
            original = ctx.callback_data
            ctx.callback_data = lambda data, addr=None: self._receiver(original, data, addr)
        return client

    def drop(self, *, reconnect_now: bool = False) -> None:
        """Close the client (whatever still arrives on it is lost); `reconnect_now`: the next request may
        open a new one at once."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if reconnect_now:
            self._next_connect = 0.0


def set_timeout(client: ModbusClient, timeout: float) -> None:
    """The time the client waits for the next reply (seconds)."""
    if isinstance(client, SolarmanClient):
        client.timeout = timeout
    else:
        client.ctx.comm_params.timeout_connect = timeout  # pymodbus reads it for every request


def make_client(config: BusConfig) -> ModbusClient:
    """The client for a bus: pymodbus' (its own retries and reconnects off: the bus does them), or the
    Solarman V5 adapter for a `solarman` bus."""
    if config.type == "solarman":
        return SolarmanClient(config)
    client: AsyncModbusSerialClient | AsyncModbusTcpClient
    if config.type == "serial":
        client = AsyncModbusSerialClient(
            str(config.serial_port),
            framer=FramerType.RTU,
            baudrate=config.baudrate,
            bytesize=config.bytesize,
            parity=config.parity,
            stopbits=config.stopbits,
            timeout=config.timeout,
            retries=0,
            reconnect_delay=0,
            name=config.name,
        )
    else:
        client = AsyncModbusTcpClient(
            config.host or "127.0.0.1",
            port=config.port,
            framer=FramerType.RTU if config.type == "rtu_over_tcp" else FramerType.SOCKET,
            timeout=config.timeout,
            retries=0,
            reconnect_delay=0,
            name=config.name,
        )
    client.set_max_no_responses(1_000_000)  # the bus decides when to reconnect
    return client
