"""The public grid and the household's consumption: the load every simulated device lives with."""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass

from pv_collector.simulator.sun import smooth_noise, solar_hour


@dataclass(frozen=True, slots=True)
class Grid:
    """The public grid at one instant: three phase voltages (V) and the frequency (Hz)."""

    voltages: tuple[float, float, float]
    frequency: float

    @classmethod
    def at(cls, seed: int, timestamp: float) -> Grid:
        """The grid at Unix time `timestamp`: 230 V ± a few volts, 50 Hz ± 30 mHz."""
        volts = tuple(
            230.0
            + 2.5 * smooth_noise(seed, f"grid_v{phase}", timestamp, 600.0)
            + 0.8 * smooth_noise(seed, f"grid_vf{phase}", timestamp, 20.0)
            for phase in range(3)
        )
        frequency = 50.0 + 0.03 * smooth_noise(seed, "grid_hz", timestamp, 60.0)
        return cls(voltages=(volts[0], volts[1], volts[2]), frequency=frequency)


def line_to_line(va: float, vb: float) -> float:
    """Magnitude of the voltage between two phases 120° apart (V)."""
    return abs(va - vb * cmath.exp(-2j * math.pi / 3))


@dataclass(slots=True)
class Household:
    """The house's consumption: a daily routine, the fridge, appliances switching, noise (W per phase)."""

    seed: int
    longitude: float

    def load(self, timestamp: float) -> tuple[float, float, float]:
        """Power drawn on each phase at Unix time `timestamp` (W, at least 20 W each)."""
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
