"""The simulation: four simulated devices on one Modbus server (TCP, and RTU on request).

The devices keep their physics (sun, clouds, household load, battery) and write their state into register
images laid out from their profiles (`simulator/devices/`); `UnitServer` (`simulator/modbus_server.py`)
answers Modbus requests from those images. See `modbus_server` for how faults are answered; in addition
the inverter stops answering while the sun is down when the simulation is made with `inverter_sleeps=True`
(many inverters sleep at night). Given a `state_file`, the devices' lifetime counters carry on from one run
to the next (`simulator/counter_state.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pv_collector.model import Function
from pv_collector.simulator.counter_state import SAVE_INTERVAL, Counters, CounterState
from pv_collector.simulator.devices import (
    Battery,
    EnvironmentSensor,
    Grid,
    GridMeter,
    Household,
    Inverter,
    SimulatedDevice,
)
from pv_collector.simulator.modbus_server import ServedUnit, UnitServer, table_of
from pv_collector.simulator.profile_image import ProfileImage
from pv_collector.simulator.sun import Site, Weather, smooth_noise
from pv_collector.solar import sun_elevation

_LOGGER = logging.getLogger(__name__)

INVERTER_UNIT = 1
METER_UNIT = 2
BATTERY_UNIT = 3
ENVIRONMENT_UNIT = 4

MAX_SUBSTEP = 60.0  # seconds of simulated time integrated at once
STEP_INTERVAL = 1.0  # seconds between background steps


class Simulation:
    """A PV system: inverter (unit 1), grid meter (2), battery (3), environment sensor (4).

    `clock` returns Unix seconds (default `time.time`); pass your own to move time faster in tests.
    `inverter_sleeps`: the inverter stops answering while the sun is below the horizon.
    `state_file`: a JSON file the lifetime counters are read from at start and written to every few seconds
    of simulated time and at `stop()` (missing: the seeded counters, as without one).
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
        state_file: Path | str | None = None,
    ) -> None:
        if not -90.0 <= latitude <= 90.0:
            raise ValueError(f"latitude: {latitude} is outside -90..90")
        if not -180.0 <= longitude <= 180.0:
            raise ValueError(f"longitude: {longitude} is outside -180..180")
        self.site = Site(latitude=latitude, longitude=longitude, seed=seed)
        self.seed = seed
        self._clock = clock or time.time
        self.inverter_sleeps = inverter_sleeps
        self.household = Household(seed=seed, longitude=longitude)
        self.inverter = Inverter(INVERTER_UNIT, seed)
        self.meter = GridMeter(METER_UNIT, seed)
        self.battery = Battery(BATTERY_UNIT, seed)
        self.environment = EnvironmentSensor(ENVIRONMENT_UNIT)
        self.units: dict[int, SimulatedDevice] = {
            device.unit_id: device for device in (self.inverter, self.meter, self.battery, self.environment)
        }
        self.server = UnitServer(self.units, clock=self._clock, silent=self._silent)
        self._load: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._weather: Weather | None = None
        self._time: float | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._state = CounterState(Path(state_file)) if state_file is not None else None
        self._saved_at: float | None = None
        if self._state is not None:
            self._restore(self._state.load())
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
        if self._saved_at is None or not 0.0 <= now - self._saved_at < SAVE_INTERVAL:
            self.save_state()

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

    # -- lifetime counters between runs -------------------------------------------------------------------
    def _restore(self, counters: Counters) -> None:
        for device in self.units.values():
            kept = counters.get(device.kind)
            if kept:
                device.restore(kept)

    def save_state(self) -> None:
        """Write the devices' lifetime counters to the state file now (nothing without one)."""
        if self._state is None:
            return
        self._state.save({device.kind: kept for device in self.units.values() if (kept := device.counters())})
        self._saved_at = self._time

    async def step(self) -> None:
        """Advance the physics to `clock()` and update the registers."""
        self._advance(self._clock())

    def _silent(self, unit: ServedUnit) -> bool:
        return unit is self.inverter and self.asleep

    # -- Modbus -------------------------------------------------------------------------------------------
    @property
    def requests(self) -> Counter[int]:
        """Requests that reached each unit id, whatever the answer."""
        return self.server.requests

    @property
    def writes(self) -> Counter[int]:
        """Write requests that reached each unit id."""
        return self.server.writes

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve Modbus TCP on `host`:`port` (0 = a free port) and step every second; returns the port."""
        bound = await self.server.start(host, port)
        self._start_ticker()
        _LOGGER.info("simulated devices on %s:%d (units %s)", host, bound, sorted(self.units))
        return bound

    async def start_rtu(self, port: str, *, baudrate: int = 9600) -> None:
        """Serve the same devices as Modbus RTU on serial `port` (8N1), e.g. one end of a pty pair."""
        await self.server.start_rtu(port, baudrate=baudrate)
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
        """Stop stepping, close every server and write the state file."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.server.stop()
        self.save_state()

    # -- test and demo accessors --------------------------------------------------------------------------
    def image(self, unit: int) -> ProfileImage:
        """The register image of `unit`, with values by point key (`image(2).get("frequency")`)."""
        return self._unit(unit).image

    def set_offline(self, unit: int, offline: bool) -> None:
        """Make `unit` stop answering (True) or answer again (False)."""
        self._unit(unit).offline = offline

    def refuse_register(
        self, unit: int, function: Function | str | int, address: int, refuse: bool = True
    ) -> None:
        """Make `unit` answer exception 2 to every request covering `address` (False: answer it again)."""
        self.server.refuse_register(unit, function, address, refuse)

    def set_delay(self, unit: int, seconds: float) -> None:
        """Make `unit` answer `seconds` late (0: at once)."""
        self.server.set_delay(unit, seconds)

    def set_exception(self, unit: int, code: int | None) -> None:
        """Make `unit` answer every request with exception `code` (4 failure, 6 busy; None: normal)."""
        self.server.set_exception(unit, code)

    @property
    def asleep(self) -> bool:
        """Whether the inverter sleeps right now (only with `inverter_sleeps`: the sun is down)."""
        site = self.site
        return self.inverter_sleeps and sun_elevation(self._clock(), site.latitude, site.longitude) < 0

    def registers(self, unit: int, function: Function | str | int, address: int, count: int) -> list[int]:
        """The raw registers `unit` holds in table `function` ('holding'/'input' or 3/4)."""
        table = table_of(function)
        image = self._unit(unit).image.image
        if not image.has(table, address, count):
            raise ValueError(f"unit {unit} has no {table} registers {address}..{address + count - 1}")
        return image.words(table, address, count)

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
        """AC output of the inverter (W)."""
        return self.inverter.power_w

    @property
    def inverter_available_w(self) -> float:
        """What the inverter could feed in without a power limit (W)."""
        return self.inverter.available_w

    @property
    def inverter_energy_wh(self) -> float:
        """Lifetime AC energy of the inverter (Wh)."""
        return self.inverter.energy_wh

    @property
    def power_limit_pct(self) -> int:
        """WMaxLimPct as last written (in %)."""
        return self.inverter.limit.pct

    @property
    def power_limit_enabled(self) -> bool:
        """WMaxLim_Ena as last written."""
        return self.inverter.limit.enabled

    @property
    def meter_power_w(self) -> float:
        """Grid power (W), positive = import."""
        return self.meter.power_w

    @property
    def load_power_w(self) -> float:
        """The household's consumption (W)."""
        return sum(self._load)

    @property
    def battery_soc(self) -> float:
        """State of charge (%)."""
        return self.battery.soc

    @property
    def battery_power_w(self) -> float:
        """Battery power (W), positive = discharging."""
        return self.battery.power_w

    @property
    def battery_mode(self) -> str:
        """auto, charge, discharge or idle."""
        return self.battery.settings.mode

    @property
    def irradiance(self) -> float:
        """Plane-of-array irradiance, W/m²."""
        return self._weather.poa if self._weather else 0.0

    @property
    def ambient_temperature(self) -> float:
        """°C."""
        return self._weather.ambient_temperature if self._weather else 0.0

    @property
    def module_temperature(self) -> float:
        """°C."""
        return self._weather.module_temperature if self._weather else 0.0

    @property
    def wind_speed(self) -> float:
        """m/s."""
        return self._weather.wind_speed if self._weather else 0.0

    @property
    def sun_elevation(self) -> float:
        """Degrees above the horizon."""
        return self._weather.sun.elevation if self._weather else -90.0


async def run_simulator(
    host: str,
    port: int,
    *,
    latitude: float,
    longitude: float,
    seed: int,
    inverter_sleeps: bool = False,
    serial: str | None = None,
    baudrate: int = 9600,
    state_file: Path | None = None,
) -> None:
    """Serve the simulated devices on Modbus TCP (and RTU on `serial`) until cancelled (`simulate`)."""
    simulation = Simulation(
        latitude=latitude,
        longitude=longitude,
        seed=seed,
        inverter_sleeps=inverter_sleeps,
        state_file=state_file,
    )
    bound = await simulation.start(host, port)
    if serial is not None:
        await simulation.start_rtu(serial, baudrate=baudrate)
    _LOGGER.info("simulator serving on %s:%d; cancel to stop", host, bound)
    try:
        await asyncio.Event().wait()
    finally:
        await simulation.stop()
