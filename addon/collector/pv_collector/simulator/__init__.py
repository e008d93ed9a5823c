"""Simulated PV devices served over real Modbus (pymodbus): inverter, grid meter, battery, weather sensor.

simulation = Simulation(latitude=52.52, longitude=13.405, seed=1)
port = await simulation.start("127.0.0.1", 0)   # unit 1 SunSpec inverter, 2 SDM630, 3 battery, 4 sensor
...
await simulation.stop()
"""

from __future__ import annotations

from pv_collector.simulator.server import (
    BATTERY_UNIT,
    ENVIRONMENT_UNIT,
    INVERTER_UNIT,
    METER_UNIT,
    Simulation,
    run_simulator,
)

__all__ = [
    "BATTERY_UNIT",
    "ENVIRONMENT_UNIT",
    "INVERTER_UNIT",
    "METER_UNIT",
    "Simulation",
    "run_simulator",
]
