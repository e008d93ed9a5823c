"""PV Monitor collector: reads photovoltaic Modbus devices and publishes them over MQTT."""

from __future__ import annotations

__version__ = "0.2.0"
