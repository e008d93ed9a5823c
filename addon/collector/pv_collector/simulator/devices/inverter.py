"""Unit 1: a 5 kW three-phase PV inverter with two MPPT inputs, speaking SunSpec at the profile's base.

Its registers are the SunSpec models 1, 103, 120, 123 and 160 (two modules), laid out from the collector's
own SunSpec definitions (pysunspec2's models with the overlay) and written by point key.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from pv_collector.model import Value
from pv_collector.profile import load_profile
from pv_collector.simulator.devices.base import SimulatedDevice
from pv_collector.simulator.devices.household import Grid, line_to_line
from pv_collector.simulator.profile_image import ModelSpec, ProfileImage
from pv_collector.simulator.sun import Weather

PROFILE = "sunspec"
CHAIN = (ModelSpec(1), ModelSpec(103), ModelSpec(120), ModelSpec(123), ModelSpec(160, modules=2))
# Scale factors the inverter reports (value = raw * 10^sf), by point key.
SCALE_FACTORS = {
    "a_sf": -2, "v_sf": -1, "w_sf": 0, "hz_sf": -2, "va_sf": 0, "var_sf": 0, "pf_sf": -1, "wh_sf": 0,
    "dca_sf": -2, "dcv_sf": -1, "dcw_sf": 0, "tmp_sf": -1, "wrtg_sf": 0, "vartg_sf": 0, "artg_sf": -1,
    "wmaxlimpct_sf": 0, "mppt_dca_sf": -2, "mppt_dcv_sf": -1, "mppt_dcw_sf": 0, "mppt_dcwh_sf": 0,
}  # fmt: skip


@dataclass(slots=True)
class PowerLimit:
    """The active power limit (model 123) as last written."""

    pct: int = 100
    enabled: bool = False
    window_s: int = 0
    revert_s: int = 0
    ramp_s: int = 0
    revert_at: float | None = None


@dataclass(slots=True)
class StringOutput:
    """One MPPT input at one instant (W, V)."""

    power: float = 0.0
    voltage: float = 0.0

    @property
    def current(self) -> float:
        """A."""
        return self.power / self.voltage if self.voltage > 0 else 0.0


class Inverter(SimulatedDevice):
    """A 5 kW three-phase PV inverter with two MPPT inputs, 2.5 kWp each."""

    kind = "inverter"
    RATED_W = 5000
    STRING_KWP = (2.5, 2.5)
    STRING_MISMATCH = (1.0, 0.97)  # the second string is a little dirtier
    MODULES_PER_STRING = 10
    TEMPERATURE_COEFFICIENT = -0.0037  # per K above 25 °C
    SYSTEM_LOSSES = 0.96  # wiring, soiling, module tolerance

    def __init__(self, unit_id: int, seed: int) -> None:
        super().__init__(unit_id, ProfileImage.sunspec(load_profile(PROFILE), CHAIN))
        self.seed = seed
        self.limit = PowerLimit()
        self.events = 0  # SunSpec Evt1 bits; non-zero = fault (output 0)
        rng = random.Random(f"{seed}:inverter")
        self.energy_wh = rng.uniform(2_000_000.0, 9_000_000.0)  # lifetime AC energy
        self.string_energy_wh = [self.energy_wh / 2 * 1.03, self.energy_wh / 2 * 1.01]
        self.power_w = 0.0
        self.available_w = 0.0
        self.status = "sleeping"
        self.strings = [StringOutput(), StringOutput()]
        self.grid = Grid.at(seed, 0.0)
        self.weather: Weather | None = None
        self._write_static()

    # -- physics ------------------------------------------------------------------------------------------
    @property
    def limit_w(self) -> float:
        """The largest AC output allowed right now (W)."""
        if self.limit.enabled:
            return self.RATED_W * self.limit.pct / 100.0
        return float(self.RATED_W)

    def _string_dc(self, weather: Weather, index: int) -> StringOutput:
        """What string `index` can deliver at its maximum power point."""
        if weather.poa < 5.0 or weather.sun.elevation <= 0:
            return StringOutput()
        derate = 1.0 + self.TEMPERATURE_COEFFICIENT * (weather.module_temperature - 25.0)
        power = (
            self.STRING_KWP[index] * weather.poa * derate * self.SYSTEM_LOSSES * self.STRING_MISMATCH[index]
        )
        # Vmpp of 34 V per module at 25 °C, falling with temperature and at low light.
        voltage = (
            self.MODULES_PER_STRING
            * 34.0
            * (1.0 - 0.0035 * (weather.module_temperature - 25.0))
            * (0.92 + 0.08 * min(1.0, weather.poa / 300.0))
        )
        return StringOutput(power=max(0.0, power), voltage=voltage)

    @staticmethod
    def efficiency(dc_w: float) -> float:
        """Conversion efficiency: poor at low load, about 96.5 % at rated power."""
        return max(0.0, 0.97 - 25.0 / dc_w) if dc_w > 30.0 else 0.0

    def update(self, weather: Weather, grid: Grid, dt: float, now: float) -> None:
        """Follow the sun to `now`, integrating energy over the last `dt` seconds."""
        self.weather = weather
        self.grid = grid
        if self.limit.revert_at is not None and now >= self.limit.revert_at:
            self.limit.enabled = False
            self.limit.revert_at = None
        strings = [self._string_dc(weather, index) for index in range(2)]
        dc = sum(s.power for s in strings)
        available = dc * self.efficiency(dc)
        self.available_w = min(available, float(self.RATED_W))
        if self.events:
            status, output = "fault", 0.0
        elif dc <= 0.0:
            status, output = "sleeping", 0.0
        elif available < 5.0:
            status, output = "starting", 0.0
        elif self.limit.enabled and available > self.limit_w:
            status, output = "throttled", self.limit_w
        else:
            status, output = "mppt", min(available, float(self.RATED_W))
        if output < available and dc > 0:
            # Off the maximum power point: the DC side delivers only what is fed in (plus losses), and
            # the MPP tracker moves towards open-circuit voltage.
            share = output / available if available > 0 else 0.0
            strings = [StringOutput(s.power * share, s.voltage * 1.08) for s in strings]
        self.status = status
        self.power_w = output
        self.strings = strings
        if dt > 0:
            self.energy_wh += output * dt / 3600.0
            for index, string_output in enumerate(strings):
                self.string_energy_wh[index] += string_output.power * dt / 3600.0

    def counters(self) -> dict[str, float]:
        """Lifetime AC energy and each string's DC energy (Wh)."""
        pv1, pv2 = self.string_energy_wh
        return {"energy_wh": self.energy_wh, "pv1_energy_wh": pv1, "pv2_energy_wh": pv2}

    def restore(self, counters: Mapping[str, float]) -> None:
        """Continue the energy counters from an earlier run."""
        self.energy_wh = counters.get("energy_wh", self.energy_wh)
        for index in range(len(self.string_energy_wh)):
            name = f"pv{index + 1}_energy_wh"
            self.string_energy_wh[index] = counters.get(name, self.string_energy_wh[index])

    # -- registers ----------------------------------------------------------------------------------------
    def _write_static(self) -> None:
        image = self.image
        for key, sf in SCALE_FACTORS.items():
            image.set(key, sf)
        image.set("manufacturer", "PV Monitor")
        image.set("model", "SIM-5000")
        image.set("firmware", "1.0.0")
        image.set("serial", "SIM0001")
        image.set("der_type", "pv")
        image.set("rated_power", self.RATED_W)
        image.set("rated_apparent_power", self.RATED_W)
        image.set("rated_current", 7.6)
        self._write_limit()

    def _write_limit(self) -> None:
        image, limit = self.image, self.limit
        image.set("power_limit", limit.pct)
        image.set("power_limit_window", limit.window_s)
        image.set("power_limit_revert_time", limit.revert_s)
        image.set("power_limit_ramp_time", limit.ramp_s)
        image.set("power_limit_enabled", limit.enabled)

    def render(self, now: float) -> None:
        """Write the current state into the registers."""
        image = self.image
        weather = self.weather
        ambient = weather.ambient_temperature if weather else 15.0
        volts = [v + 0.6 * self.power_w / self.RATED_W for v in self.grid.voltages]  # export raises voltage
        phase_current = [self.power_w / 3.0 / v for v in volts]
        image.set("ac_current", sum(phase_current))
        for phase, current in enumerate(phase_current, start=1):
            image.set(f"ac_current_l{phase}", current)
        for key, (a, b) in (("l1_l2", (0, 1)), ("l2_l3", (1, 2)), ("l3_l1", (2, 0))):
            image.set(f"ac_voltage_{key}", line_to_line(volts[a], volts[b]))
        for phase, voltage in enumerate(volts, start=1):
            image.set(f"ac_voltage_l{phase}", voltage)
        image.set("ac_power", self.power_w)
        image.set("ac_frequency", self.grid.frequency)
        image.set("ac_apparent_power", self.power_w)
        image.set("ac_reactive_power", 0)
        image.set("power_factor", 100.0)  # percent
        image.set("energy_total", self.energy_wh / 1000.0)
        image.set("dc_current", sum(s.current for s in self.strings))
        image.set("dc_voltage", max(s.voltage for s in self.strings))
        image.set("dc_power", sum(s.power for s in self.strings))
        load = self.power_w / self.RATED_W
        cabinet = 0.5 * ambient + 12.0 + 18.0 * load
        image.set("temperature_cabinet", cabinet)
        image.set("temperature_heatsink", cabinet + 8.0 * load)
        image.set("status", self.status)
        image.set("events", self.events)
        module_temperature = weather.module_temperature if weather else ambient
        image.set("mppt_events", 0)
        for number, string_output in enumerate(self.strings, start=1):
            image.set(f"pv{number}_current", string_output.current)
            image.set(f"pv{number}_voltage", string_output.voltage)
            image.set(f"pv{number}_power", string_output.power)
            image.set(f"pv{number}_energy", self.string_energy_wh[number - 1] / 1000.0)
            image.set(f"pv{number}_temperature", round(module_temperature))
            image.set(f"pv{number}_status", self.status)
            image.set(f"pv{number}_events", 0)
        self._write_limit()

    def apply(self, changes: dict[str, Value], now: float) -> None:
        """The power limit (model 123): percentage, window, revert and ramp times, enable switch."""
        limit = self.limit
        for key, value in changes.items():
            match key:
                case "power_limit":
                    limit.pct = round(float(value))
                case "power_limit_window":
                    limit.window_s = int(value)
                case "power_limit_revert_time":
                    limit.revert_s = int(value)
                case "power_limit_ramp_time":
                    limit.ramp_s = int(value)
                case "power_limit_enabled":
                    limit.enabled = value is True
        if limit.enabled and ({"power_limit_enabled", "power_limit"} & changes.keys()):
            # SunSpec: the limit reverts to disabled RvrtTms seconds after it was (re)written, if RvrtTms > 0.
            limit.revert_at = now + limit.revert_s if limit.revert_s > 0 else None
        self._write_limit()
