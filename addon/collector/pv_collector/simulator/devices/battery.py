"""Unit 3: a 10 kWh LFP home battery on an AC-coupled inverter, written through
`profiles/pv_sim_battery.yaml` (the profile is its register map)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from pv_collector.model import Value
from pv_collector.profile import load_profile
from pv_collector.simulator.devices.base import SimulatedDevice
from pv_collector.simulator.profile_image import ProfileImage

PROFILE = "pv_sim_battery"
BATTERY_MODES = ("auto", "charge", "discharge", "idle")  # the options of the profile's battery_mode


@dataclass(slots=True)
class BatterySettings:
    """The writable settings: mode and power limits (W)."""

    mode: str = "auto"
    charge_limit_w: int = 3000
    discharge_limit_w: int = 3000


class Battery(SimulatedDevice):
    """In auto mode it absorbs the surplus and covers the deficit; positive power = discharging."""

    kind = "battery"
    CAPACITY_WH = 10000.0
    MAX_POWER_W = 5000
    MIN_SOC = 5.0
    EFFICIENCY = 0.96  # each way

    def __init__(self, unit_id: int, seed: int) -> None:
        super().__init__(unit_id, ProfileImage.from_profile(load_profile(PROFILE)))
        rng = random.Random(f"{seed}:battery")
        self.soc = rng.uniform(30.0, 70.0)
        self.soh = 98.5
        self.charged_wh = rng.uniform(500_000.0, 900_000.0)
        self.discharged_wh = self.charged_wh * 0.92
        self.power_w = 0.0
        self.temperature = 20.0
        self.settings = BatterySettings()
        self._ambient = 20.0
        self._write_settings()

    @property
    def voltage(self) -> float:
        """Pack voltage (V): 16 LFP cells, rising with charge, sagging under discharge current."""
        open_circuit = 16 * (3.0 + 0.35 * self.soc / 100.0)
        return open_circuit - 0.02 * self.power_w / open_circuit

    @property
    def current(self) -> float:
        """A, positive = discharging."""
        return self.power_w / self.voltage

    def _target(self, surplus_w: float) -> float:
        settings = self.settings
        charge_room = self.soc < 100.0
        discharge_room = self.soc > self.MIN_SOC
        # Charging tapers off above 95 % like a real BMS.
        taper = max(0.0, min(1.0, (100.0 - self.soc) / 5.0))
        match settings.mode:
            case "charge":
                return -settings.charge_limit_w * taper if charge_room else 0.0
            case "discharge":
                return float(settings.discharge_limit_w) if discharge_room else 0.0
            case "idle":
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

    def counters(self) -> dict[str, float]:
        """Energy charged and discharged (Wh, AC side)."""
        return {"charged_wh": self.charged_wh, "discharged_wh": self.discharged_wh}

    def restore(self, counters: Mapping[str, float]) -> None:
        """Continue the energy counters from an earlier run."""
        self.charged_wh = counters.get("charged_wh", self.charged_wh)
        self.discharged_wh = counters.get("discharged_wh", self.discharged_wh)

    def render(self) -> None:
        """Write the current state into the registers."""
        image = self.image
        image.set("soc", self.soc)
        image.set("soh", self.soh)
        image.set("battery_power", self.power_w)
        image.set("battery_voltage", self.voltage)
        image.set("battery_current", self.current)
        image.set("battery_temperature", self.temperature)
        image.set("energy_charged", self.charged_wh / 1000.0)
        image.set("energy_discharged", self.discharged_wh / 1000.0)
        image.set("capacity", self.CAPACITY_WH / 1000.0)
        self._write_settings()

    def _write_settings(self) -> None:
        image = self.image
        image.set("battery_mode", self.settings.mode)
        image.set("charge_power_limit", self.settings.charge_limit_w)
        image.set("discharge_power_limit", self.settings.discharge_limit_w)

    def apply(self, changes: dict[str, Value], now: float) -> None:
        """Mode and power limits, already checked against the profile's options and ranges."""
        for key, value in changes.items():
            match key:
                case "battery_mode":
                    self.settings.mode = str(value)
                case "charge_power_limit":
                    self.settings.charge_limit_w = round(float(value))
                case "discharge_power_limit":
                    self.settings.discharge_limit_w = round(float(value))
        self.render()
