"""Unit 2: an Eastron SDM630 at the grid connection point, written through `profiles/sdm630.yaml`."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from pv_collector.profile import load_profile
from pv_collector.simulator.devices.base import SimulatedDevice
from pv_collector.simulator.devices.household import Grid
from pv_collector.simulator.profile_image import ProfileImage

PROFILE = "sdm630"


@dataclass(slots=True)
class PhaseFlow:
    """Active (W) and reactive (var) power through one phase of the meter (positive = import)."""

    power: float = 0.0
    reactive: float = 0.0


class GridMeter(SimulatedDevice):
    """An Eastron SDM630 at the grid connection point: positive power = import from the grid."""

    kind = "meter"

    def __init__(self, unit_id: int, seed: int) -> None:
        super().__init__(unit_id, ProfileImage.from_profile(load_profile(PROFILE)))
        rng = random.Random(f"{seed}:meter")
        self.import_kwh = rng.uniform(8000.0, 20000.0)
        self.export_kwh = rng.uniform(3000.0, 9000.0)
        self.phases = [PhaseFlow(), PhaseFlow(), PhaseFlow()]
        self.grid = Grid.at(seed, 0.0)

    @property
    def power_w(self) -> float:
        """Grid power (W), positive = import."""
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
            hours = dt / 3600.0
            self.import_kwh += max(0.0, total) * hours / 1000.0
            self.export_kwh += max(0.0, -total) * hours / 1000.0

    def counters(self) -> dict[str, float]:
        """Imported and exported energy (kWh)."""
        return {"import_kwh": self.import_kwh, "export_kwh": self.export_kwh}

    def restore(self, counters: Mapping[str, float]) -> None:
        """Continue the energy counters from an earlier run."""
        self.import_kwh = counters.get("import_kwh", self.import_kwh)
        self.export_kwh = counters.get("export_kwh", self.export_kwh)

    def render(self) -> None:
        """Write the current state into the registers."""
        image = self.image
        volts = self.grid.voltages
        apparent = [math.hypot(p.power, p.reactive) for p in self.phases]
        currents = [s / v for s, v in zip(apparent, volts, strict=True)]
        for phase, flow in enumerate(self.phases, start=1):
            image.set(f"voltage_l{phase}", volts[phase - 1])
            image.set(f"current_l{phase}", currents[phase - 1])
            image.set(f"power_l{phase}", flow.power)
        total = self.power_w
        reactive = sum(p.reactive for p in self.phases)
        total_apparent = sum(apparent)
        image.set("power", total)
        image.set("apparent_power", total_apparent)
        image.set("reactive_power", reactive)
        image.set("power_factor", total / total_apparent if total_apparent else 1.0)
        image.set("frequency", self.grid.frequency)
        image.set("energy_import", self.import_kwh)
        image.set("energy_export", self.export_kwh)
        image.set("energy_total", self.import_kwh + self.export_kwh)
