"""The simulation and its Modbus server: four simulated devices on one TCP server (and optionally RTU).

How pymodbus 3.16's `SimDevice` is used, and why: every unit is a `SimDevice` whose register block spans the
whole address space (one `SimData` of 65536 plain registers) with an `action` callback. The callback does
the device logic that SimDevice's static flags cannot express: which registers exist on which table
(FC3 vs FC4), writes with side effects and value checks (the inverter's power limit, the battery's mode),
and a unit that stops answering. On every request it copies the device's own register image (the truth,
updated by `step()`) into the block; on writes it applies them to the device first. The big block means
an offline unit is silent for every address, as on a real bus, instead of answering exception 2.

Answers:
- a register that does not exist on that unit's table: exception 2 (illegal data address);
- a write to an existing but read-only register: exception 2; a write with a bad value: exception 3;
- coil/discrete-input functions: exception 1;
- an offline unit (`set_offline`): no answer at all, the client times out; so does the inverter while
  the sun is down when the simulation is made with `inverter_sleeps=True` (many inverters sleep at night);
- a register made to be refused (`refuse_register`): exception 2 for every request that covers it, as a
  device whose documented map has a hole;
- a unit with a response delay (`set_delay`) answers that much later (a slow device on a shared line);
- a unit made to fail (`set_exception`) answers every request with that exception code (4 device failure,
  6 busy, ...), as a device with an internal fault;
- a unit id nobody has: over TCP exception 0x0B (gateway target failed to respond), like a Modbus TCP
  gateway; over RTU silence, like an RS-485 line.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from pv_collector.model import Function
from pv_collector.simulator.devices import (
    BATTERY_MODES,
    Battery,
    EnvironmentSensor,
    Grid,
    GridMeter,
    Household,
    Inverter,
    SimulatedDevice,
)
from pv_collector.simulator.sun import Site, Weather, smooth_noise
from pv_collector.solar import sun_elevation

_LOGGER = logging.getLogger(__name__)

INVERTER_UNIT = 1
METER_UNIT = 2
BATTERY_UNIT = 3
ENVIRONMENT_UNIT = 4

MAX_SUBSTEP = 60.0  # seconds of simulated time integrated at once
STEP_INTERVAL = 1.0  # seconds between background steps

_FUNCTION_TABLES: dict[int, Function] = {
    3: Function.HOLDING,
    6: Function.HOLDING,
    16: Function.HOLDING,
    22: Function.HOLDING,
    23: Function.HOLDING,
    4: Function.INPUT,
}


def _table(function: Function | str | int) -> Function:
    if isinstance(function, str):
        try:
            return Function(function)
        except ValueError:
            raise ValueError(f"function {function!r}: expected 'holding' or 'input'") from None
    if function not in (3, 4):
        raise ValueError(f"function {function}: expected 3 (holding) or 4 (input)")
    return _FUNCTION_TABLES[function]


class Simulation:
    """A PV system: inverter (unit 1), grid meter (2), battery (3), environment sensor (4).

    `clock` returns Unix seconds (default `time.time`); pass your own to move time faster in tests.
    `inverter_sleeps`: the inverter stops answering while the sun is below the horizon.
    `requests` and `writes` count the requests that reached each unit (whatever the answer).
    """

    def __init__(
        self,
        *,
        latitude: float = 52.52,
        longitude: float = 13.405,
        seed: int = 1,
        clock: Callable[[], float] | None = None,
        inverter_sleeps: bool = False,
    ) -> None:
        if not -90.0 <= latitude <= 90.0:
            raise ValueError(f"latitude: {latitude} is outside -90..90")
        if not -180.0 <= longitude <= 180.0:
            raise ValueError(f"longitude: {longitude} is outside -180..180")
        self.site = Site(latitude=latitude, longitude=longitude, seed=seed)
        self.seed = seed
        self._clock = clock or time.time
        self.inverter_sleeps = inverter_sleeps
        self.requests: Counter[int] = Counter()
        self.writes: Counter[int] = Counter()
        self._refused: set[tuple[int, Function, int]] = set()
        self._delays: dict[int, float] = {}
        self._exceptions: dict[int, ExcCodes] = {}
        self.household = Household(seed=seed, longitude=longitude)
        self.inverter = Inverter(INVERTER_UNIT, seed)
        self.meter = GridMeter(METER_UNIT, seed)
        self.battery = Battery(BATTERY_UNIT, seed)
        self.environment = EnvironmentSensor(ENVIRONMENT_UNIT)
        self.units: dict[int, SimulatedDevice] = {
            device.unit_id: device for device in (self.inverter, self.meter, self.battery, self.environment)
        }
        self._load: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._weather: Weather | None = None
        self._time: float | None = None
        self._servers: list[ModbusTcpServer | ModbusSerialServer] = []
        self._ticker: asyncio.Task[None] | None = None
        self._advance(self._clock())

    # -- physics ------------------------------------------------------------------------------------------
    def _advance(self, now: float) -> None:
        """Integrate from the last time to `now` in sub-steps, then refresh every register."""
        last = self._time if self._time is not None else now
        if now < last:
            _LOGGER.warning("clock went back by %.1f s; energy counters stay put", last - now)
            last = now
        steps = max(1, int((now - last) // MAX_SUBSTEP) + (1 if (now - last) % MAX_SUBSTEP else 0))
        dt = (now - last) / steps
        for index in range(1, steps + 1):
            self._physics(last + dt * index, dt)
        self._time = now
        self.inverter.render(now)
        self.meter.render()
        self.battery.render()
        self.environment.render()

    def _physics(self, moment: float, dt: float) -> None:
        weather = self.site.weather(moment)
        grid = Grid.at(self.seed, moment)
        self._weather = weather
        self.inverter.update(weather, grid, dt, moment)
        self._load = self.household.load(moment)
        # The battery's controller lags behind the house by a few tens of watts, as real ones do.
        control_error = 30.0 * smooth_noise(self.seed, "battery_control", moment, 20.0)
        surplus = self.inverter.power_w - sum(self._load) + control_error
        self.battery.update(surplus, weather.ambient_temperature, dt)
        self.meter.update(grid, self._load, self.inverter.power_w, self.battery.power_w, dt)
        self.environment.update(weather)

    async def step(self) -> None:
        """Advance the physics to `clock()` and update the registers."""
        self._advance(self._clock())

    # -- Modbus -------------------------------------------------------------------------------------------
    async def _action(  # noqa: PLR0917 - the signature pymodbus calls
        self,
        unit: SimulatedDevice | None,
        unknown_answer: ExcCodes | None,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """SimDevice action: serve one request of `unit` from its register image (see module doc)."""
        if unit is None:
            if unknown_answer is None:
                raise NoSuchIdException("no simulated device with this id")
            return unknown_answer
        self.requests[unit.unit_id] += 1
        if set_values is not None:
            self.writes[unit.unit_id] += 1
        if unit.offline or (unit is self.inverter and self.asleep):
            # With ignore_missing_devices=True the server sends nothing back: the client times out.
            raise NoSuchIdException(f"unit {unit.unit_id} is offline")
        if delay := self._delays.get(unit.unit_id):
            await asyncio.sleep(delay)
        if failure := self._exceptions.get(unit.unit_id):
            return failure
        table_kind = _FUNCTION_TABLES.get(function_code)
        if table_kind is None:
            return ExcCodes.ILLEGAL_FUNCTION
        table = unit.tables.get(table_kind)
        if table is None or not table.exists(address, count):
            return ExcCodes.ILLEGAL_ADDRESS
        if self._refused and any(
            (unit.unit_id, table_kind, register) in self._refused
            for register in range(address, address + count)
        ):
            return ExcCodes.ILLEGAL_ADDRESS
        if set_values is not None:
            if not table.writable(address, count):
                return ExcCodes.ILLEGAL_ADDRESS
            words = [int(value) for value in set_values]
            if result := unit.write(address, words, self._clock()):
                return result
        offset = address - start_address
        registers[offset : offset + count] = table.read(address, count)
        return None

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

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve Modbus TCP on `host`:`port` (0 = a free port) and step every second; returns the port."""
        server = ModbusTcpServer(
            self._sim_devices(ExcCodes.GATEWAY_NO_RESPONSE),
            address=(host, port),
            ignore_missing_devices=True,
        )
        await server.serve_forever(background=True)
        self._servers.append(server)
        self._start_ticker()
        sockets = getattr(server.transport, "sockets", None) or []
        bound = int(sockets[0].getsockname()[1]) if sockets else port
        _LOGGER.info("simulated devices on %s:%d (units %s)", host, bound, sorted(self.units))
        return bound

    async def start_rtu(self, port: str, *, baudrate: int = 9600) -> None:
        """Serve the same devices as Modbus RTU on serial `port` (8N1), e.g. one end of a pty pair."""
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
        self._start_ticker()
        _LOGGER.info("simulated devices on serial %s at %d baud", port, baudrate)

    def _start_ticker(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick(), name="pv-simulator-step")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(STEP_INTERVAL)
            try:
                await self.step()
            except Exception:
                _LOGGER.exception("simulation step failed")

    async def stop(self) -> None:
        """Stop stepping and close every server."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        servers, self._servers = self._servers, []
        for server in servers:
            await server.shutdown()  # type: ignore[no-untyped-call]

    # -- test and demo accessors --------------------------------------------------------------------------
    def set_offline(self, unit: int, offline: bool) -> None:
        """Make `unit` stop answering (True) or answer again (False)."""
        self._unit(unit).offline = offline

    def refuse_register(
        self, unit: int, function: Function | str | int, address: int, refuse: bool = True
    ) -> None:
        """Make `unit` answer exception 2 to every request covering `address` (False: answer it again)."""
        key = (self._unit(unit).unit_id, _table(function), address)
        if refuse:
            self._refused.add(key)
        else:
            self._refused.discard(key)

    def set_delay(self, unit: int, seconds: float) -> None:
        """Make `unit` answer `seconds` late (0: at once)."""
        if not 0 <= seconds <= 60:
            raise ValueError(f"delay: {seconds} is outside 0..60 s")
        self._delays[self._unit(unit).unit_id] = seconds

    def set_exception(self, unit: int, code: int | None) -> None:
        """Make `unit` answer every request with exception `code` (4 failure, 6 busy; None: normal)."""
        unit_id = self._unit(unit).unit_id
        if code is None:
            self._exceptions.pop(unit_id, None)
            return
        try:
            self._exceptions[unit_id] = ExcCodes(code)
        except ValueError:
            raise ValueError(f"exception code: {code} is not a Modbus exception code") from None

    @property
    def asleep(self) -> bool:
        """Whether the inverter sleeps right now (only with `inverter_sleeps`: the sun is down)."""
        site = self.site
        return self.inverter_sleeps and sun_elevation(self._clock(), site.latitude, site.longitude) < 0

    def registers(self, unit: int, function: Function | str | int, address: int, count: int) -> list[int]:
        """The raw registers `unit` holds in table `function` ('holding'/'input' or 3/4)."""
        table = self._unit(unit).tables.get(_table(function))
        if table is None or not table.exists(address, count):
            last = address + count - 1
            raise ValueError(f"unit {unit} has no {_table(function)} registers {address}..{last}")
        return table.read(address, count)

    def set_inverter_events(self, evt1: int) -> None:
        """Raise SunSpec Evt1 bits on the inverter (non-zero = fault: output 0, St = 7)."""
        if not 0 <= evt1 <= 0xFFFFFFFE:
            raise ValueError(f"evt1: {evt1} is not a 32 bit event mask")
        self.inverter.events = evt1

    def _unit(self, unit: int) -> SimulatedDevice:
        try:
            return self.units[unit]
        except KeyError:
            raise ValueError(f"unit {unit}: no such simulated device (units {sorted(self.units)})") from None

    @property
    def time(self) -> float:
        """Simulated time of the last step (Unix seconds)."""
        return self._time if self._time is not None else self._clock()

    @property
    def inverter_power_w(self) -> float:
        return self.inverter.power_w

    @property
    def inverter_available_w(self) -> float:
        """What the inverter could feed in without a power limit."""
        return self.inverter.available_w

    @property
    def inverter_energy_wh(self) -> float:
        return self.inverter.energy_wh

    @property
    def inverter_status(self) -> int:
        """SunSpec St: 2 sleeping, 4 MPPT, 5 throttled, 7 fault, 8 standby."""
        return self.inverter.status

    @property
    def power_limit_pct(self) -> int:
        """WMaxLimPct as last written (in %)."""
        return self.inverter.limit.pct

    @property
    def power_limit_enabled(self) -> bool:
        return self.inverter.limit.enabled

    @property
    def meter_power_w(self) -> float:
        """Grid power, positive = import."""
        return self.meter.power_w

    @property
    def meter_import_kwh(self) -> float:
        return self.meter.import_kwh

    @property
    def meter_export_kwh(self) -> float:
        return self.meter.export_kwh

    @property
    def load_power_w(self) -> float:
        return sum(self._load)

    @property
    def battery_soc(self) -> float:
        return self.battery.soc

    @property
    def battery_power_w(self) -> float:
        """Positive = discharging."""
        return self.battery.power_w

    @property
    def battery_mode(self) -> str:
        return BATTERY_MODES[self.battery.settings.mode]

    @property
    def irradiance(self) -> float:
        """Plane-of-array irradiance, W/m²."""
        return self._weather.poa if self._weather else 0.0

    @property
    def ambient_temperature(self) -> float:
        return self._weather.ambient_temperature if self._weather else 0.0

    @property
    def module_temperature(self) -> float:
        return self._weather.module_temperature if self._weather else 0.0

    @property
    def wind_speed(self) -> float:
        return self._weather.wind_speed if self._weather else 0.0

    @property
    def sun_elevation(self) -> float:
        return self._weather.sun.elevation if self._weather else -90.0


async def run_simulator(
    host: str, port: int, *, latitude: float, longitude: float, seed: int, inverter_sleeps: bool = False
) -> None:
    """Serve the simulated devices on Modbus TCP until cancelled (the CLI's `simulate` command)."""
    simulation = Simulation(
        latitude=latitude, longitude=longitude, seed=seed, inverter_sleeps=inverter_sleeps
    )
    bound = await simulation.start(host, port)
    _LOGGER.info("simulator serving on %s:%d; cancel to stop", host, bound)
    try:
        await asyncio.Event().wait()
    finally:
        await simulation.stop()
