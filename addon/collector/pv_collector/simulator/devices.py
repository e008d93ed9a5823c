"""The simulated devices: their physics and their register maps.

Each device keeps its own `RegisterMap`s (the truth the Modbus server answers from), updates its physical
state in `update()` and refreshes its registers in `render()`. Client writes arrive in `write()`, which
validates them (Modbus exception 3 for a bad value) and applies them at once; their physical effect shows
at the next simulation step.
"""

from __future__ import annotations

import cmath
import math
import random
from dataclasses import dataclass

from pymodbus.constants import ExcCodes

from pv_collector.model import Function
from pv_collector.simulator.registers import RegisterMap, f32, s16, to_signed16, u16, u32
from pv_collector.simulator.sun import Site, Weather, smooth_noise, solar_hour
from pv_collector.simulator.sunspec_layout import SunSpecLayout

SUNSPEC_EPOCH = 946684800  # 2000-01-01T00:00:00Z, SunSpec timestamps count from here


class SimulatedDevice:
    """One Modbus unit: its tables and whether it answers."""

    kind = "other"

    def __init__(self, unit_id: int) -> None:
        self.unit_id = unit_id
        self.tables: dict[Function, RegisterMap] = {}
        self.offline = False

    def write(self, address: int, values: list[int], now: float) -> ExcCodes | None:
        """Apply a client's write to writable holding registers (already checked to exist and be writable)."""
        return ExcCodes.ILLEGAL_ADDRESS


@dataclass(frozen=True, slots=True)
class Grid:
    """The public grid at one instant: three phase voltages and the frequency."""

    voltages: tuple[float, float, float]
    frequency: float

    @classmethod
    def at(cls, seed: int, timestamp: float) -> Grid:
        volts = tuple(
            230.0 + 2.5 * smooth_noise(seed, f"grid_v{phase}", timestamp, 600.0)
            + 0.8 * smooth_noise(seed, f"grid_vf{phase}", timestamp, 20.0)
            for phase in range(3)
        )
        frequency = 50.0 + 0.03 * smooth_noise(seed, "grid_hz", timestamp, 60.0)
        return cls(voltages=(volts[0], volts[1], volts[2]), frequency=frequency)


def line_to_line(va: float, vb: float) -> float:
    """Magnitude of the voltage between two phases 120° apart."""
    return abs(va - vb * cmath.exp(-2j * math.pi / 3))


@dataclass(slots=True)
class Household:
    """The house's consumption: a daily routine, the fridge, appliances switching, noise (W per phase)."""

    seed: int
    longitude: float

    def load(self, timestamp: float) -> tuple[float, float, float]:
        hour = solar_hour(timestamp, self.longitude)

        def bump(centre: float, width: float, height: float) -> float:
            distance = min(abs(hour - centre), 24 - abs(hour - centre))
            return height * math.exp(-0.5 * (distance / width) ** 2)

        routine = bump(7.0, 0.7, 900.0) + bump(12.5, 0.8, 500.0) + bump(19.0, 1.6, 1300.0)
        fridge = 90.0 if smooth_noise(self.seed, "fridge", timestamp, 600.0) > 0 else 0.0
        kettle = 1800.0 if smooth_noise(self.seed, "kettle", timestamp, 240.0) > 0.85 else 0.0
        noise = 80.0 * smooth_noise(self.seed, "load", timestamp, 45.0)
        base = 220.0 + noise
        return (
            max(20.0, 0.45 * (base + routine) + fridge),
            max(20.0, 0.30 * (base + routine) + kettle),
            max(20.0, 0.25 * (base + routine)),
        )


# --------------------------------------------------------------------------------------------------------
# Unit 1: SunSpec PV inverter
# --------------------------------------------------------------------------------------------------------

ST_OFF, ST_SLEEPING, ST_STARTING, ST_MPPT, ST_THROTTLED, ST_FAULT, ST_STANDBY = 1, 2, 3, 4, 5, 7, 8

INVERTER_CHAIN: tuple[tuple[int, int], ...] = ((1, 0), (103, 0), (120, 0), (123, 0), (160, 2))
INVERTER_WRITABLE: dict[int, set[str]] = {
    123: {
        "Conn",
        "WMaxLimPct",
        "WMaxLimPct_WinTms",
        "WMaxLimPct_RvrtTms",
        "WMaxLimPct_RmpTms",
        "WMaxLim_Ena",
    }
}
# Scale factors the inverter reports (value = raw * 10^sf).
SF = {"A": -2, "V": -1, "W": 0, "Hz": -2, "VA": 0, "VAr": 0, "PF": -1, "WH": 0, "DCA": -2, "DCV": -1,
      "DCW": 0, "Tmp": -1, "WMaxLimPct": 0, "OutPFSet": -2, "DCWH": 0}


def raw(value: float, sf: int) -> float:
    """Raw register value for a physical value with a SunSpec scale factor."""
    return value / 10.0**sf


@dataclass(slots=True)
class PowerLimit:
    """Model 123 settings as last written."""

    connected: bool = True
    pct: int = 100
    enabled: bool = False
    window_s: int = 0
    revert_s: int = 0
    ramp_s: int = 0
    revert_at: float | None = None


@dataclass(slots=True)
class StringOutput:
    """One MPPT input at one instant."""

    power: float = 0.0
    voltage: float = 0.0

    @property
    def current(self) -> float:
        return self.power / self.voltage if self.voltage > 0 else 0.0


class Inverter(SimulatedDevice):
    """A 5 kW three-phase PV inverter with two MPPT inputs, 2.5 kWp each, speaking SunSpec at 40000."""

    kind = "inverter"
    RATED_W = 5000
    STRING_KWP = (2.5, 2.5)
    STRING_MISMATCH = (1.0, 0.97)  # the second string is a little dirtier
    MODULES_PER_STRING = 10
    TEMPERATURE_COEFFICIENT = -0.0037  # per K above 25 °C
    SYSTEM_LOSSES = 0.96  # wiring, soiling, module tolerance

    def __init__(self, unit_id: int, seed: int, base: int = 40000) -> None:
        super().__init__(unit_id)
        self.seed = seed
        self.layout = SunSpecLayout(base, INVERTER_CHAIN, INVERTER_WRITABLE)
        self.holding = RegisterMap()
        self.tables[Function.HOLDING] = self.holding
        self.layout.define(self.holding)
        self.limit = PowerLimit()
        self.events = 0
        rng = random.Random(f"{seed}:inverter")
        self.energy_wh = rng.uniform(2_000_000.0, 9_000_000.0)  # lifetime AC energy
        self.string_energy_wh = [self.energy_wh / 2 * 1.03, self.energy_wh / 2 * 1.01]
        self.power_w = 0.0
        self.available_w = 0.0
        self.status = ST_SLEEPING
        self.strings = [StringOutput(), StringOutput()]
        self.grid = Grid.at(seed, 0.0)
        self.weather: Weather | None = None
        self._write_static()

    # -- physics ------------------------------------------------------------------------------------------
    @property
    def limit_w(self) -> float:
        """The largest AC output allowed right now."""
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
            status, output = ST_FAULT, 0.0
        elif not self.limit.connected:
            status, output = ST_STANDBY, 0.0
        elif dc <= 0.0:
            status, output = ST_SLEEPING, 0.0
        elif available < 5.0:
            status, output = ST_STARTING, 0.0
        elif self.limit.enabled and available > self.limit_w:
            status, output = ST_THROTTLED, self.limit_w
        else:
            status, output = ST_MPPT, min(available, float(self.RATED_W))
        if output < available and dc > 0:
            # Off the maximum power point: the DC side delivers only what is fed in (plus losses).
            share = output / available if available > 0 else 0.0
            # The MPP tracker moves towards open-circuit voltage.
            strings = [StringOutput(s.power * share, s.voltage * 1.08) for s in strings]
        self.status = status
        self.power_w = output
        self.strings = strings
        if dt > 0:
            self.energy_wh += output * dt / 3600.0
            for index, string_output in enumerate(strings):
                self.string_energy_wh[index] += string_output.power * dt / 3600.0

    # -- registers ----------------------------------------------------------------------------------------
    def _write_static(self) -> None:
        lay, regs = self.layout, self.holding
        lay.set(regs, 1, "Mn", "PV Monitor")
        lay.set(regs, 1, "Md", "SIM-5000")
        lay.set(regs, 1, "Opt", "simulated")
        lay.set(regs, 1, "Vr", "1.0.0")
        lay.set(regs, 1, "SN", "SIM0001")
        lay.set(regs, 1, "DA", self.unit_id)
        for name in ("A", "V", "W", "Hz", "VA", "VAr", "PF", "WH", "DCA", "DCV", "DCW", "Tmp"):
            lay.set(regs, 103, f"{name}_SF", SF[name])
        lay.set(regs, 103, "Evt2", 0)
        # Model 120: nameplate.
        lay.set(regs, 120, "DERTyp", 4)  # PV
        lay.set(regs, 120, "WRtg", self.RATED_W)
        lay.set(regs, 120, "WRtg_SF", 0)
        lay.set(regs, 120, "VARtg", self.RATED_W)
        lay.set(regs, 120, "VARtg_SF", 0)
        for quadrant, value in zip(("Q1", "Q2", "Q3", "Q4"), (3000, 3000, -3000, -3000), strict=True):
            lay.set(regs, 120, f"VArRtg{quadrant}", value)
        lay.set(regs, 120, "VArRtg_SF", 0)
        lay.set(regs, 120, "ARtg", raw(7.6, -1))
        lay.set(regs, 120, "ARtg_SF", -1)
        for quadrant, value in zip(("Q1", "Q2", "Q3", "Q4"), (80, -80, 80, -80), strict=True):
            lay.set(regs, 120, f"PFRtg{quadrant}", value)
        lay.set(regs, 120, "PFRtg_SF", -2)
        # Model 123: controls (scale factors static; settings rendered from `self.limit`).
        lay.set(regs, 123, "WMaxLimPct_SF", SF["WMaxLimPct"])
        lay.set(regs, 123, "OutPFSet_SF", SF["OutPFSet"])
        lay.set(regs, 123, "OutPFSet", raw(1.0, SF["OutPFSet"]))
        lay.set(regs, 123, "OutPFSet_Ena", 0)
        lay.set(regs, 123, "VArPct_Ena", 0)
        lay.set(regs, 123, "Conn_WinTms", 0)
        lay.set(regs, 123, "Conn_RvrtTms", 0)
        # Model 160: two MPPT modules.
        for name in ("DCA", "DCV", "DCW", "DCWH"):
            lay.set(regs, 160, f"{name}_SF", SF[name])
        lay.set(regs, 160, "Evt", 0)
        lay.set(regs, 160, "N", 2)
        lay.set(regs, 160, "TmsPer", 0)
        for index in range(2):
            lay.set_group(regs, 160, index, "ID", index + 1)
            lay.set_group(regs, 160, index, "IDStr", f"String {index + 1}")
        self._write_limit()

    def _write_limit(self) -> None:
        lay, regs, limit = self.layout, self.holding, self.limit
        lay.set(regs, 123, "Conn", int(limit.connected))
        lay.set(regs, 123, "WMaxLimPct", raw(limit.pct, SF["WMaxLimPct"]))
        lay.set(regs, 123, "WMaxLimPct_WinTms", limit.window_s)
        lay.set(regs, 123, "WMaxLimPct_RvrtTms", limit.revert_s)
        lay.set(regs, 123, "WMaxLimPct_RmpTms", limit.ramp_s)
        lay.set(regs, 123, "WMaxLim_Ena", int(limit.enabled))

    def render(self, now: float) -> None:
        """Write the current state into the registers."""
        lay, regs = self.layout, self.holding
        weather = self.weather
        ambient = weather.ambient_temperature if weather else 15.0
        volts = [v + 0.6 * self.power_w / self.RATED_W for v in self.grid.voltages]  # export raises voltage
        phase_current = [self.power_w / 3.0 / v for v in volts]
        lay.set(regs, 103, "A", raw(sum(phase_current), SF["A"]))
        for phase, current in zip("ABC", phase_current, strict=True):
            lay.set(regs, 103, f"Aph{phase}", raw(current, SF["A"]))
        for name, (a, b) in (("PPVphAB", (0, 1)), ("PPVphBC", (1, 2)), ("PPVphCA", (2, 0))):
            lay.set(regs, 103, name, raw(line_to_line(volts[a], volts[b]), SF["V"]))
        for phase, voltage in zip("ABC", volts, strict=True):
            lay.set(regs, 103, f"PhVph{phase}", raw(voltage, SF["V"]))
        lay.set(regs, 103, "W", raw(self.power_w, SF["W"]))
        lay.set(regs, 103, "Hz", raw(self.grid.frequency, SF["Hz"]))
        lay.set(regs, 103, "VA", raw(self.power_w, SF["VA"]))
        lay.set(regs, 103, "VAr", 0)
        lay.set(regs, 103, "PF", raw(100.0, SF["PF"]))  # percent
        lay.set(regs, 103, "WH", raw(self.energy_wh, SF["WH"]))
        dc_w = sum(s.power for s in self.strings)
        dc_a = sum(s.current for s in self.strings)
        dc_v = max(s.voltage for s in self.strings)
        lay.set(regs, 103, "DCA", raw(dc_a, SF["DCA"]))
        lay.set(regs, 103, "DCV", raw(dc_v, SF["DCV"]))
        lay.set(regs, 103, "DCW", raw(dc_w, SF["DCW"]))
        load = self.power_w / self.RATED_W
        cabinet = 0.5 * ambient + 12.0 + 18.0 * load
        lay.set(regs, 103, "TmpCab", raw(cabinet, SF["Tmp"]))
        lay.set(regs, 103, "TmpSnk", raw(cabinet + 8.0 * load, SF["Tmp"]))
        lay.set(regs, 103, "St", self.status)
        lay.set(regs, 103, "Evt1", self.events)
        module_temperature = weather.module_temperature if weather else ambient
        for index, string_output in enumerate(self.strings):
            lay.set_group(regs, 160, index, "DCA", raw(string_output.current, SF["DCA"]))
            lay.set_group(regs, 160, index, "DCV", raw(string_output.voltage, SF["DCV"]))
            lay.set_group(regs, 160, index, "DCW", raw(string_output.power, SF["DCW"]))
            lay.set_group(regs, 160, index, "DCWH", raw(self.string_energy_wh[index], SF["DCWH"]))
            lay.set_group(regs, 160, index, "Tms", max(0.0, now - SUNSPEC_EPOCH))
            lay.set_group(regs, 160, index, "Tmp", round(module_temperature))
            lay.set_group(regs, 160, index, "DCSt", self.status)
            lay.set_group(regs, 160, index, "DCEvt", 0)
        self._write_limit()

    def write(self, address: int, values: list[int], now: float) -> ExcCodes | None:
        """Model 123 controls. Bad values (a percentage above 100, an enum other than 0/1): exception 3."""
        updates: dict[str, int] = {}
        index = 0
        while index < len(values):
            found = self.layout.point_at(address + index)
            if found is None or found[1].size != 1:
                return ExcCodes.ILLEGAL_ADDRESS
            updates[found[1].name] = values[index]
            index += 1
        limit = self.limit
        for name, value in updates.items():
            if name in {"Conn", "WMaxLim_Ena"} and value not in (0, 1):
                return ExcCodes.ILLEGAL_VALUE
            if name == "WMaxLimPct" and not 0 <= value * 10.0 ** SF["WMaxLimPct"] <= 100:
                return ExcCodes.ILLEGAL_VALUE
        for name, value in updates.items():
            match name:
                case "Conn":
                    limit.connected = value == 1
                case "WMaxLimPct":
                    limit.pct = round(value * 10.0 ** SF["WMaxLimPct"])
                case "WMaxLimPct_WinTms":
                    limit.window_s = value
                case "WMaxLimPct_RvrtTms":
                    limit.revert_s = value
                case "WMaxLimPct_RmpTms":
                    limit.ramp_s = value
                case "WMaxLim_Ena":
                    limit.enabled = value == 1
        if limit.enabled and ({"WMaxLim_Ena", "WMaxLimPct"} & updates.keys()):
            # SunSpec: the limit reverts to disabled RvrtTms seconds after it was (re)written, if RvrtTms > 0.
            limit.revert_at = now + limit.revert_s if limit.revert_s > 0 else None
        self._write_limit()
        return None


# --------------------------------------------------------------------------------------------------------
# Unit 2: Eastron SDM630 grid meter (input registers, float32 big-endian)
# --------------------------------------------------------------------------------------------------------

SDM630 = {
    "voltage": (0x0000, 0x0002, 0x0004),
    "current": (0x0006, 0x0008, 0x000A),
    "power": (0x000C, 0x000E, 0x0010),
    "apparent_power": (0x0012, 0x0014, 0x0016),
    "reactive_power": (0x0018, 0x001A, 0x001C),
    "power_factor": (0x001E, 0x0020, 0x0022),
    "phase_angle": (0x0024, 0x0026, 0x0028),
    "line_voltage": (0x00C8, 0x00CA, 0x00CC),
}
SDM630_AVERAGE_VOLTAGE = 0x002A
SDM630_AVERAGE_CURRENT = 0x002E
SDM630_SUM_CURRENT = 0x0030
SDM630_TOTAL_POWER = 0x0034
SDM630_TOTAL_APPARENT_POWER = 0x0038
SDM630_TOTAL_REACTIVE_POWER = 0x003C
SDM630_TOTAL_POWER_FACTOR = 0x003E
SDM630_TOTAL_PHASE_ANGLE = 0x0042
SDM630_FREQUENCY = 0x0046
SDM630_IMPORT_KWH = 0x0048
SDM630_EXPORT_KWH = 0x004A
SDM630_IMPORT_KVARH = 0x004C
SDM630_EXPORT_KVARH = 0x004E
SDM630_AVERAGE_LINE_VOLTAGE = 0x00CE
SDM630_NEUTRAL_CURRENT = 0x00E0
SDM630_TOTAL_KWH = 0x0156
SDM630_TOTAL_KVARH = 0x0158
SDM630_LAST_INPUT = 0x017F  # the documented input register range ends here; all of it is readable
SDM630_SERIAL = 0xFC00  # holding, u32


@dataclass(slots=True)
class PhaseFlow:
    """Active and reactive power through one phase of the meter (positive = import)."""

    power: float = 0.0
    reactive: float = 0.0


class GridMeter(SimulatedDevice):
    """An Eastron SDM630 at the grid connection point: positive power = import from the grid."""

    kind = "meter"

    def __init__(self, unit_id: int, seed: int) -> None:
        super().__init__(unit_id)
        self.inputs = RegisterMap()
        self.inputs.define(0, [0] * (SDM630_LAST_INPUT + 1))
        self.holding = RegisterMap()
        self.holding.define(SDM630_SERIAL, u32(21040000 + seed))
        self.tables = {Function.INPUT: self.inputs, Function.HOLDING: self.holding}
        rng = random.Random(f"{seed}:meter")
        self.import_kwh = rng.uniform(8000.0, 20000.0)
        self.export_kwh = rng.uniform(3000.0, 9000.0)
        self.import_kvarh = self.import_kwh * 0.2
        self.export_kvarh = 0.0
        self.phases = [PhaseFlow(), PhaseFlow(), PhaseFlow()]
        self.grid = Grid.at(seed, 0.0)

    @property
    def power_w(self) -> float:
        return sum(p.power for p in self.phases)

    def update(
        self, grid: Grid, load: tuple[float, float, float], pv_w: float, battery_w: float, dt: float
    ) -> None:
        """Balance the house: grid = load - PV - battery discharge (battery_w positive = discharge)."""
        self.grid = grid
        self.phases = [
            PhaseFlow(power=phase_load - pv_w / 3.0 - battery_w / 3.0, reactive=0.25 * phase_load)
            for phase_load in load
        ]
        if dt > 0:
            total = self.power_w
            reactive = sum(p.reactive for p in self.phases)
            hours = dt / 3600.0
            self.import_kwh += max(0.0, total) * hours / 1000.0
            self.export_kwh += max(0.0, -total) * hours / 1000.0
            self.import_kvarh += max(0.0, reactive) * hours / 1000.0
            self.export_kvarh += max(0.0, -reactive) * hours / 1000.0

    def render(self) -> None:
        regs = self.inputs
        volts = self.grid.voltages
        apparent = [math.hypot(p.power, p.reactive) for p in self.phases]
        currents = [s / v for s, v in zip(apparent, volts, strict=True)]
        for index, phase in enumerate(self.phases):
            regs.set(SDM630["voltage"][index], f32(volts[index]))
            regs.set(SDM630["current"][index], f32(currents[index]))
            regs.set(SDM630["power"][index], f32(phase.power))
            regs.set(SDM630["apparent_power"][index], f32(apparent[index]))
            regs.set(SDM630["reactive_power"][index], f32(phase.reactive))
            factor = phase.power / apparent[index] if apparent[index] else 1.0
            regs.set(SDM630["power_factor"][index], f32(factor))
            angle = math.degrees(math.atan2(phase.reactive, phase.power))
            regs.set(SDM630["phase_angle"][index], f32(angle))
        for index, (a, b) in enumerate(((0, 1), (1, 2), (2, 0))):
            regs.set(SDM630["line_voltage"][index], f32(line_to_line(volts[a], volts[b])))
        total = self.power_w
        reactive = sum(p.reactive for p in self.phases)
        total_apparent = sum(apparent)
        regs.set(SDM630_AVERAGE_VOLTAGE, f32(sum(volts) / 3))
        regs.set(SDM630_AVERAGE_CURRENT, f32(sum(currents) / 3))
        regs.set(SDM630_SUM_CURRENT, f32(sum(currents)))
        regs.set(SDM630_TOTAL_POWER, f32(total))
        regs.set(SDM630_TOTAL_APPARENT_POWER, f32(total_apparent))
        regs.set(SDM630_TOTAL_REACTIVE_POWER, f32(reactive))
        regs.set(SDM630_TOTAL_POWER_FACTOR, f32(total / total_apparent if total_apparent else 1.0))
        regs.set(SDM630_TOTAL_PHASE_ANGLE, f32(math.degrees(math.atan2(reactive, total))))
        regs.set(SDM630_FREQUENCY, f32(self.grid.frequency))
        regs.set(SDM630_IMPORT_KWH, f32(self.import_kwh))
        regs.set(SDM630_EXPORT_KWH, f32(self.export_kwh))
        regs.set(SDM630_IMPORT_KVARH, f32(self.import_kvarh))
        regs.set(SDM630_EXPORT_KVARH, f32(self.export_kvarh))
        regs.set(
            SDM630_AVERAGE_LINE_VOLTAGE,
            f32(sum(line_to_line(volts[a], volts[b]) for a, b in ((0, 1), (1, 2), (2, 0))) / 3),
        )
        neutral = sum(
            currents[index] * cmath.exp(-2j * math.pi * index / 3) for index in range(3)
        )
        regs.set(SDM630_NEUTRAL_CURRENT, f32(abs(neutral)))
        regs.set(SDM630_TOTAL_KWH, f32(self.import_kwh + self.export_kwh))
        regs.set(SDM630_TOTAL_KVARH, f32(self.import_kvarh + self.export_kvarh))


# --------------------------------------------------------------------------------------------------------
# Unit 3: home battery (our own map, described by profiles/pv_sim_battery.yaml)
# --------------------------------------------------------------------------------------------------------

BATTERY_SOC = 0x0000  # u16, 0.1 %
BATTERY_SOH = 0x0001  # u16, 0.1 %
BATTERY_POWER = 0x0002  # s16, W, + = discharge
BATTERY_VOLTAGE = 0x0003  # u16, 0.01 V
BATTERY_CURRENT = 0x0004  # s16, 0.01 A, + = discharge
BATTERY_TEMPERATURE = 0x0005  # s16, 0.1 °C
BATTERY_CHARGED_WH = 0x0006  # u32, Wh
BATTERY_DISCHARGED_WH = 0x0008  # u32, Wh
BATTERY_CAPACITY_WH = 0x000A  # u16, 10 Wh
BATTERY_MODE = 0x0010  # u16 enum, writable
BATTERY_CHARGE_LIMIT = 0x0011  # u16, W, writable
BATTERY_DISCHARGE_LIMIT = 0x0012  # u16, W, writable

MODE_AUTO, MODE_CHARGE, MODE_DISCHARGE, MODE_IDLE = 0, 1, 2, 3
BATTERY_MODES = {MODE_AUTO: "auto", MODE_CHARGE: "charge", MODE_DISCHARGE: "discharge", MODE_IDLE: "idle"}


@dataclass(slots=True)
class BatterySettings:
    mode: int = MODE_AUTO
    charge_limit_w: int = 3000
    discharge_limit_w: int = 3000


class Battery(SimulatedDevice):
    """A 10 kWh LFP home battery on an AC-coupled inverter. In auto it absorbs surplus, covers deficit."""

    kind = "battery"
    CAPACITY_WH = 10000.0
    MAX_POWER_W = 5000
    MIN_SOC = 5.0
    EFFICIENCY = 0.96  # each way

    def __init__(self, unit_id: int, seed: int) -> None:
        super().__init__(unit_id)
        rng = random.Random(f"{seed}:battery")
        self.soc = rng.uniform(30.0, 70.0)
        self.soh = 98.5
        self.charged_wh = rng.uniform(500_000.0, 900_000.0)
        self.discharged_wh = self.charged_wh * 0.92
        self.power_w = 0.0
        self.temperature = 20.0
        self.settings = BatterySettings()
        self.holding = RegisterMap()
        self.holding.define(BATTERY_SOC, [0] * 11)
        self.holding.define(BATTERY_MODE, [0] * 3, writable=True)
        self.tables[Function.HOLDING] = self.holding
        self._ambient = 20.0

    @property
    def voltage(self) -> float:
        """Pack voltage: 16 LFP cells, rising with charge, sagging under discharge current."""
        open_circuit = 16 * (3.0 + 0.35 * self.soc / 100.0)
        return open_circuit - 0.02 * self.power_w / open_circuit

    @property
    def current(self) -> float:
        return self.power_w / self.voltage

    def _target(self, surplus_w: float) -> float:
        settings = self.settings
        charge_room = self.soc < 100.0
        discharge_room = self.soc > self.MIN_SOC
        # Charging tapers off above 95 % like a real BMS.
        taper = max(0.0, min(1.0, (100.0 - self.soc) / 5.0))
        match settings.mode:
            case 1:  # charge
                return -settings.charge_limit_w * taper if charge_room else 0.0
            case 2:  # discharge
                return float(settings.discharge_limit_w) if discharge_room else 0.0
            case 3:  # idle
                return 0.0
        if surplus_w > 0 and charge_room:
            return -min(surplus_w, settings.charge_limit_w * taper)
        if surplus_w < 0 and discharge_room:
            return min(-surplus_w, float(settings.discharge_limit_w))
        return 0.0

    def update(self, surplus_w: float, ambient: float, dt: float) -> None:
        """Decide the power for the coming `dt` (surplus = PV - load, W) and integrate the charge."""
        self._ambient = ambient
        self.power_w = self._target(surplus_w)
        if dt <= 0:
            return
        energy_wh = self.power_w * dt / 3600.0
        if energy_wh < 0:  # charging
            stored = -energy_wh * self.EFFICIENCY
            self.soc = min(100.0, self.soc + stored / self.CAPACITY_WH * 100.0)
            self.charged_wh += -energy_wh
        else:
            drawn = energy_wh / self.EFFICIENCY
            self.soc = max(0.0, self.soc - drawn / self.CAPACITY_WH * 100.0)
            self.discharged_wh += energy_wh
        # Indoor installation: follows the room, warms a little under load.
        indoor = 15.0 + 0.3 * ambient
        target = indoor + 6.0 * abs(self.power_w) / self.MAX_POWER_W
        self.temperature += (target - self.temperature) * min(1.0, dt / 1800.0)

    def render(self) -> None:
        regs = self.holding
        regs.set(BATTERY_SOC, u16(self.soc * 10))
        regs.set(BATTERY_SOH, u16(self.soh * 10))
        regs.set(BATTERY_POWER, s16(self.power_w))
        regs.set(BATTERY_VOLTAGE, u16(self.voltage * 100))
        regs.set(BATTERY_CURRENT, s16(self.current * 100))
        regs.set(BATTERY_TEMPERATURE, s16(self.temperature * 10))
        regs.set(BATTERY_CHARGED_WH, u32(self.charged_wh))
        regs.set(BATTERY_DISCHARGED_WH, u32(self.discharged_wh))
        regs.set(BATTERY_CAPACITY_WH, u16(self.CAPACITY_WH / 10))
        regs.set(
            BATTERY_MODE,
            [self.settings.mode, self.settings.charge_limit_w, self.settings.discharge_limit_w],
        )

    def write(self, address: int, values: list[int], now: float) -> ExcCodes | None:
        """Mode (0..3) and power limits (0..5000 W); anything else: exception 3."""
        settings = BatterySettings(
            self.settings.mode, self.settings.charge_limit_w, self.settings.discharge_limit_w
        )
        for index, value in enumerate(values):
            match address + index:
                case 0x0010:
                    if value not in BATTERY_MODES:
                        return ExcCodes.ILLEGAL_VALUE
                    settings.mode = value
                case 0x0011 | 0x0012 as register:
                    signed = to_signed16(value)
                    if not 0 <= signed <= self.MAX_POWER_W:
                        return ExcCodes.ILLEGAL_VALUE
                    if register == BATTERY_CHARGE_LIMIT:
                        settings.charge_limit_w = signed
                    else:
                        settings.discharge_limit_w = signed
                case _:
                    return ExcCodes.ILLEGAL_ADDRESS
        self.settings = settings
        self.render()
        return None


# --------------------------------------------------------------------------------------------------------
# Unit 4: environment sensor (our own map, described by profiles/pv_sim_environment.yaml)
# --------------------------------------------------------------------------------------------------------

ENV_IRRADIANCE = 0x0000  # u16, W/m², in the plane of the array
ENV_MODULE_TEMPERATURE = 0x0001  # s16, 0.1 °C
ENV_AMBIENT_TEMPERATURE = 0x0002  # s16, 0.1 °C
ENV_WIND_SPEED = 0x0003  # u16, 0.1 m/s


class EnvironmentSensor(SimulatedDevice):
    """A plane-of-array pyranometer with module and air temperature probes and an anemometer."""

    kind = "environment"

    def __init__(self, unit_id: int) -> None:
        super().__init__(unit_id)
        self.weather: Weather | None = None
        self.inputs = RegisterMap()
        self.inputs.define(ENV_IRRADIANCE, [0] * 4)
        self.tables[Function.INPUT] = self.inputs

    def update(self, weather: Weather) -> None:
        self.weather = weather

    def render(self) -> None:
        weather = self.weather
        if weather is None:
            return
        self.inputs.set(ENV_IRRADIANCE, u16(weather.poa))
        self.inputs.set(ENV_MODULE_TEMPERATURE, s16(weather.module_temperature * 10))
        self.inputs.set(ENV_AMBIENT_TEMPERATURE, s16(weather.ambient_temperature * 10))
        self.inputs.set(ENV_WIND_SPEED, u16(weather.wind_speed * 10))


__all__ = [
    "Battery",
    "EnvironmentSensor",
    "Grid",
    "GridMeter",
    "Household",
    "Inverter",
    "SimulatedDevice",
    "Site",
]
