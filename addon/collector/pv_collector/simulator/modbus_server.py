"""Serving simulated units over real Modbus (pymodbus 3.16), TCP and RTU, with faults on request.

Used by the physics simulation (`Simulation`) and by image replay (`pv-collector simulate --image`). Every
unit is a `SimDevice` whose register block spans the whole address space (one `SimData` of 65536 plain
registers) with an `action` callback: on every request the callback asks the unit itself (its register
image is the truth), copies the answer into the block, and on writes hands the values to the unit first.
The big block means an offline unit is silent for every address, as on a real bus, instead of answering
exception 2.

Answers:
- a register the unit does not have in that table, or a range its image records as refused: exception 2
  (or the recorded code); a range recorded as unanswered, and an offline unit: no answer at all;
- a write the unit refuses: its code (2 not writable, 3 bad value); coil/discrete-input functions: 1;
- a register made to be refused (`refuse_register`): exception 2 for every request covering it;
- a unit with a response delay (`set_delay`) answers that much later; a unit made to fail
  (`set_exception`) answers every request with that exception code (4 device failure, 6 busy, ...);
- a unit id nobody has: over TCP exception 0x0B (gateway target failed to respond), like a Modbus TCP
  gateway; over RTU silence, like an RS-485 line.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Protocol

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from pv_collector.errors import ModbusExceptionResponse, ModbusTimeout
from pv_collector.model import Function

_LOGGER = logging.getLogger(__name__)

FUNCTION_TABLES: dict[int, Function] = {
    3: Function.HOLDING,
    6: Function.HOLDING,
    16: Function.HOLDING,
    22: Function.HOLDING,
    23: Function.HOLDING,
    4: Function.INPUT,
}


class ServedUnit(Protocol):
    """One Modbus unit as the server sees it."""

    unit_id: int
    offline: bool

    def read(self, function: Function, address: int, count: int) -> list[int]:
        """The registers of the range; raises `ModbusExceptionResponse` (its code is answered) or
        `ModbusTimeout` (nothing is answered)."""
        ...

    def write(self, address: int, values: list[int], now: float) -> ExcCodes | None:
        """Apply a client's write of holding registers; an exception code refuses it."""
        ...


def table_of(function: Function | str | int) -> Function:
    """The register table of 'holding'/'input', 3/4 or a `Function`; ValueError for anything else."""
    if isinstance(function, Function):
        return function
    if isinstance(function, str):
        try:
            return Function(function)
        except ValueError:
            raise ValueError(f"function {function!r}: expected 'holding' or 'input'") from None
    if function not in (3, 4):
        raise ValueError(f"function {function}: expected 3 (holding) or 4 (input)")
    return FUNCTION_TABLES[function]


def _exception(code: int) -> ExcCodes:
    try:
        return ExcCodes(code)
    except ValueError:
        return ExcCodes.DEVICE_FAILURE


class UnitServer:
    """Modbus TCP and RTU servers for a set of units, with request counts and injectable faults.

    `clock` gives the time handed to writes (Unix seconds). `silent(unit)` may make a unit stop answering
    (e.g. an inverter asleep at night). `on_read(unit_id, function, address, count)` is called after every
    read that was answered (a measurement hook). `requests` and `writes` count requests per unit id,
    whatever the answer.
    """

    def __init__(
        self,
        units: Mapping[int, ServedUnit],
        *,
        clock: Callable[[], float] = time.time,
        silent: Callable[[ServedUnit], bool] | None = None,
    ) -> None:
        self.units = units
        self.clock = clock
        self.silent = silent
        self.on_read: Callable[[int, Function, int, int], None] | None = None
        self.requests: Counter[int] = Counter()
        self.writes: Counter[int] = Counter()
        self._refused: set[tuple[int, Function, int]] = set()
        self._delays: dict[int, float] = {}
        self._exceptions: dict[int, ExcCodes] = {}
        self._servers: list[ModbusTcpServer | ModbusSerialServer] = []

    # ------------------------------------------------------------------ requests

    async def _action(  # noqa: PLR0917 - the signature pymodbus calls
        self,
        unit: ServedUnit | None,
        unknown_answer: ExcCodes | None,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """SimDevice action: serve one request of `unit` (see module doc)."""
        if unit is None:
            if unknown_answer is None:
                raise NoSuchIdException("no simulated device with this id")
            return unknown_answer
        self.requests[unit.unit_id] += 1
        if set_values is not None:
            self.writes[unit.unit_id] += 1
        if unit.offline or (self.silent is not None and self.silent(unit)):
            # With ignore_missing_devices=True the server sends nothing back: the client times out.
            raise NoSuchIdException(f"unit {unit.unit_id} is offline")
        if delay := self._delays.get(unit.unit_id):
            await asyncio.sleep(delay)
        if failure := self._exceptions.get(unit.unit_id):
            return failure
        table = FUNCTION_TABLES.get(function_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if self._refused and any(
            (unit.unit_id, table, register) in self._refused for register in range(address, address + count)
        ):
            return ExcCodes.ILLEGAL_ADDRESS
        answer = self._serve(unit, table, address, count, set_values)
        if isinstance(answer, ExcCodes):
            return answer
        offset = address - start_address
        registers[offset : offset + count] = answer
        if set_values is None and self.on_read is not None:
            self.on_read(unit.unit_id, table, address, count)
        return None

    def _serve(
        self,
        unit: ServedUnit,
        table: Function,
        address: int,
        count: int,
        set_values: list[int] | list[bool] | None,
    ) -> list[int] | ExcCodes:
        """The registers `unit` answers with (after a write, read back), or the exception it answers."""
        try:
            words = unit.read(table, address, count)  # a range the unit refuses is refused for writes too
            if set_values is None:
                return words
            if result := unit.write(address, [int(value) for value in set_values], self.clock()):
                return result
            return unit.read(table, address, count)
        except ModbusExceptionResponse as err:
            return _exception(err.code)
        except ModbusTimeout:
            raise NoSuchIdException(f"unit {unit.unit_id} does not answer this range") from None

    def _sim_devices(self, unknown_answer: ExcCodes | None) -> list[SimDevice]:
        devices: list[SimDevice] = []
        for unit_id, unit in [*self.units.items(), (0, None)]:  # id 0: every other unit id
            devices.append(
                SimDevice(
                    id=unit_id,
                    simdata=[SimData(address=0, count=65536, values=0, datatype=DataType.REGISTERS)],
                    action=functools.partial(self._action, unit, unknown_answer),
                )
            )
        return devices

    # ------------------------------------------------------------------ serving

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve Modbus TCP on `host`:`port` (0 = a free port); returns the port."""
        server = ModbusTcpServer(
            self._sim_devices(ExcCodes.GATEWAY_NO_RESPONSE), address=(host, port), ignore_missing_devices=True
        )
        await server.serve_forever(background=True)
        self._servers.append(server)
        sockets = getattr(server.transport, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def start_rtu(self, port: str, *, baudrate: int = 9600) -> None:
        """Serve Modbus RTU on serial `port` (8N1), e.g. one end of a pseudo-terminal pair."""
        server = ModbusSerialServer(
            self._sim_devices(None),
            framer=FramerType.RTU,
            port=port,
            baudrate=baudrate,
            bytesize=8,
            parity="N",
            stopbits=1,
            ignore_missing_devices=True,
        )
        await server.serve_forever(background=True)
        self._servers.append(server)

    async def stop(self) -> None:
        """Close every server."""
        servers, self._servers = self._servers, []
        for server in servers:
            await server.shutdown()  # type: ignore[no-untyped-call]

    # ------------------------------------------------------------------ faults

    def unit(self, unit_id: int) -> ServedUnit:
        """The unit with this id; ValueError naming the units there are."""
        try:
            return self.units[unit_id]
        except KeyError:
            units = sorted(self.units)
            raise ValueError(f"unit {unit_id}: no such simulated device (units {units})") from None

    def refuse_register(
        self, unit_id: int, function: Function | str | int, address: int, refuse: bool = True
    ) -> None:
        """Make a unit answer exception 2 to every request covering `address` (False: answer it again)."""
        key = (self.unit(unit_id).unit_id, table_of(function), address)
        if refuse:
            self._refused.add(key)
        else:
            self._refused.discard(key)

    def set_delay(self, unit_id: int, seconds: float) -> None:
        """Make a unit answer `seconds` late (0: at once)."""
        if not 0 <= seconds <= 60:
            raise ValueError(f"delay: {seconds} is outside 0..60 s")
        self._delays[self.unit(unit_id).unit_id] = seconds

    def set_exception(self, unit_id: int, code: int | None) -> None:
        """Make a unit answer every request with exception `code` (4 failure, 6 busy; None: normal)."""
        unit = self.unit(unit_id).unit_id
        if code is None:
            self._exceptions.pop(unit, None)
            return
        try:
            self._exceptions[unit] = ExcCodes(code)
        except ValueError:
            raise ValueError(f"exception code: {code} is not a Modbus exception code") from None
