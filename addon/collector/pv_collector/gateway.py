"""The Modbus TCP gateway: other clients (evcc, vendor tools) share a bus the collector owns.

An RS-485 line has one master and many inverters accept a single Modbus TCP connection, so the collector
serves a Modbus TCP server per bus (opt-in, `buses[].gateway`), built on pymodbus' server with one
`SimDevice` whose action callback answers every request:

- a read (FC3/FC4) of registers the collector polls anyway is answered from its latest reading when every
  register asked for is at most `max_age` seconds old: no bus request;
- any other read is forwarded to the device through the bus, under the same bus lock as the collector's
  own requests; at most one forwarded request per gateway waits for the lock at a time, so the
  collector's cycle and the gateway's clients take turns (the lock serves its waiters in order);
- the unit id a client asks for is mapped to a device of the bus (`units`, default: the device's own unit
  id); an unknown unit gets exception 0x0A (gateway path unavailable);
- writes (FC6/FC16) get exception 01 (illegal function) unless `allow_writes` is on; then only a write
  covering exactly one point the profile declares writable, with a value within its range, is forwarded
  (anything else: 01 for a point that is not writable, 03 for a value out of range);
- errors of forwarded requests are passed on: the device's own exception code, 0x0B (target device failed
  to respond) for a timeout or a lost connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Mapping

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from pv_collector.commands import Command, check_value
from pv_collector.config import GatewayConfig
from pv_collector.decode import decode
from pv_collector.errors import (
    CollectorError,
    CommandError,
    ModbusConnectionError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusTimeout,
    RegisterError,
)
from pv_collector.metrics import Metrics
from pv_collector.model import Function, Point
from pv_collector.poller import DevicePoller
from pv_collector.transport import Bus

_LOGGER = logging.getLogger(__name__)

READS: dict[int, Function] = {3: Function.HOLDING, 4: Function.INPUT}
WRITES = frozenset({6, 16})
_CODES = {code.value: code for code in ExcCodes}


class Gateway:
    """A Modbus TCP server in front of one bus."""

    def __init__(
        self, bus: Bus, config: GatewayConfig, devices: Mapping[int, DevicePoller], metrics: Metrics
    ) -> None:
        self.bus = bus
        self.config = config
        self.devices = dict(devices)  # client unit id -> poller of the device it reaches
        self.metrics = metrics
        self.port: int | None = None
        self._server: ModbusTcpServer | None = None
        self._turn = asyncio.Lock()  # one forwarded request at a time waits for the bus

    @property
    def clients(self) -> int:
        """Gateway clients connected right now."""
        return len(self._server.active_connections) if self._server is not None else 0

    async def start(self) -> int:
        """Listen on the configured address; return the port (a free one when configured as 0)."""
        targets: list[tuple[int, DevicePoller | None]] = [*self.devices.items()]
        if 0 not in self.devices:
            targets.append((0, None))  # pymodbus sends every other unit id to device 0
        server = ModbusTcpServer(
            [
                SimDevice(
                    id=unit,
                    simdata=[SimData(address=0, count=65536, values=0, datatype=DataType.REGISTERS)],
                    action=functools.partial(self._action, poller),
                )
                for unit, poller in targets
            ],
            address=(self.config.host, self.config.port),
            ignore_missing_devices=True,
        )
        where = f"{self.config.host}:{self.config.port}"
        try:
            await server.serve_forever(background=True)
        except (OSError, RuntimeError) as err:
            raise CollectorError(f"gateway of bus {self.bus.name}: cannot listen on {where} ({err})") from err
        self._server = server
        sockets = getattr(server.transport, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.config.port
        self.metrics.gateway_clients(self.bus.name, lambda: self.clients)
        _LOGGER.info(
            "Modbus TCP gateway serving",
            extra={
                "bus": self.bus.name,
                "address": f"{self.config.host}:{self.port}",
                "units": ",".join(f"{unit}={p.id}" for unit, p in sorted(self.devices.items())),
                "writes": "allowed to writable points" if self.config.allow_writes else "refused",
            },
        )
        return self.port

    async def stop(self) -> None:
        """Close the server and every client connection."""
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(Exception):
                await server.shutdown()  # type: ignore[no-untyped-call]

    # ------------------------------------------------------------------ requests

    async def _action(  # noqa: PLR0917 - the signature pymodbus calls
        self,
        poller: DevicePoller | None,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Answer one client request for the device `poller` (None: an unmapped unit id)."""
        if poller is None:
            self.metrics.gateway_request(self.bus.name, "refused")
            return ExcCodes.GATEWAY_PATH_UNAVIABLE
        if function_code in WRITES:
            if set_values is None:
                return None  # pymodbus reads back what an accepted write stored, for its reply
            return await self._write(poller, address, [int(value) for value in set_values])
        function = READS.get(function_code)
        if function is None:
            self.metrics.gateway_request(self.bus.name, "refused")
            return ExcCodes.ILLEGAL_FUNCTION
        offset = address - start_address
        if poller.cache is not None:
            cached = poller.cache.lookup(
                function, address, count, poller.clock.monotonic() - self.config.max_age
            )
            if cached is not None:
                self.metrics.gateway_request(self.bus.name, "cached")
                registers[offset : offset + count] = cached
                return None
        try:
            async with self._turn:
                values = await self.bus.read(poller.device.unit_id, function, address, count, retries=0)
        except ModbusError as err:
            self.metrics.gateway_request(self.bus.name, "failed")
            return _exception_code(err)
        self.metrics.gateway_request(self.bus.name, "forwarded")
        registers[offset : offset + count] = values
        return None

    async def _write(self, poller: DevicePoller, address: int, values: list[int]) -> ExcCodes | None:
        if not self.config.allow_writes:
            self.metrics.gateway_request(self.bus.name, "refused")
            return ExcCodes.ILLEGAL_FUNCTION
        point = _writable_point(poller, address, len(values))
        if point is None:
            self.metrics.gateway_request(self.bus.name, "refused")
            _LOGGER.info(
                "gateway write refused: not a writable point",
                extra={"device": poller.id, "address": address, "count": len(values)},
            )
            return ExcCodes.ILLEGAL_FUNCTION
        try:
            value = decode(point, values, poller.scale_factor(point))
            if point.kind != "action":
                check_value(point, Command(value))
        except (CommandError, RegisterError, ArithmeticError) as err:
            self.metrics.gateway_request(self.bus.name, "refused")
            _LOGGER.info(
                "gateway write refused: value out of range",
                extra={"device": poller.id, "point": point.key, "detail": str(err)},
            )
            return ExcCodes.ILLEGAL_VALUE
        if value is None:
            self.metrics.gateway_request(self.bus.name, "refused")
            return ExcCodes.ILLEGAL_VALUE
        try:
            async with self._turn:
                await self.bus.write_registers(poller.device.unit_id, address, values)
        except ModbusError as err:
            self.metrics.gateway_request(self.bus.name, "failed")
            return _exception_code(err)
        finally:
            if poller.cache is not None:
                poller.cache.forget(point.function, point.address, point.words)
        self.metrics.gateway_request(self.bus.name, "written")
        _LOGGER.info("gateway client wrote", extra={"device": poller.id, "point": point.key, "value": value})
        return None


def _writable_point(poller: DevicePoller, address: int, count: int) -> Point | None:
    """The writable holding point written at exactly `address..address+count-1` (its `target`), if any."""
    for point in poller.points.values():
        if (
            point.function is Function.HOLDING
            and point.target == address
            and point.words == count
            and (point.writable is not None or point.kind == "action")
            and not point.hidden
        ):
            return point
    return None


def _exception_code(err: ModbusError) -> ExcCodes:
    if isinstance(err, ModbusExceptionResponse):
        return _CODES.get(err.code, ExcCodes.DEVICE_FAILURE)
    if isinstance(err, ModbusTimeout | ModbusConnectionError):
        return ExcCodes.GATEWAY_NO_RESPONSE
    return ExcCodes.DEVICE_FAILURE
