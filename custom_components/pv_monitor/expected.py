"""Expected PV production: the estimate the health sensors and the `production_below_expected` alert use.

Two sources, in this order (docs/pv-health.md):

1. A measured irradiance (a point with role `irradiance`, e.g. an environment sensor on the same
   collector), taken as plane-of-array irradiance. With an array configured for the inverter (options):
   `clearsky.array_power` (temperature derating and losses); without one, the array peak power option
   `array_peak_power` (kWp) and a flat performance ratio:

       expected W = irradiance W/m² / 1000 W/m² * peak power W * PERFORMANCE_RATIO

2. Without a measured irradiance: the clear-sky model of `clearsky` for the inverter's array at Home
   Assistant's home location.

Below MIN_IRRADIANCE the measured estimate says nothing is expected (dawn, dusk, night).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from .clearsky import Array, array_power, clear_sky_power

STC_IRRADIANCE: Final = 1000.0  # W/m², standard test conditions
PERFORMANCE_RATIO: Final = 0.8  # typical losses: temperature, inverter, wiring, soiling
MIN_IRRADIANCE: Final = 100.0  # W/m²


def expected_power(
    *,
    moment: datetime,
    latitude: float,
    longitude: float,
    array: Array | None,
    irradiance: float | None,
    peak_power: float,
) -> float | None:
    """Expected AC power in W now (0 at night), or None when nothing describes the array."""
    if irradiance is not None:
        if array is not None:
            return array_power(max(irradiance, 0.0), array)
        if peak_power > 0:
            return max(irradiance, 0.0) / STC_IRRADIANCE * peak_power * PERFORMANCE_RATIO
        return None
    if array is None:
        return None
    return clear_sky_power(moment, latitude, longitude, array)
