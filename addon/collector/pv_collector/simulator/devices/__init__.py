"""The simulated devices: physics that writes its values through each device's profile."""

from __future__ import annotations

from pv_collector.simulator.devices.base import SimulatedDevice
from pv_collector.simulator.devices.battery import BATTERY_MODES, Battery
from pv_collector.simulator.devices.environment import EnvironmentSensor
from pv_collector.simulator.devices.household import Grid, Household, line_to_line
from pv_collector.simulator.devices.inverter import Inverter
from pv_collector.simulator.devices.meter import GridMeter

__all__ = [
    "BATTERY_MODES",
    "Battery",
    "EnvironmentSensor",
    "Grid",
    "GridMeter",
    "Household",
    "Inverter",
    "SimulatedDevice",
    "line_to_line",
]
