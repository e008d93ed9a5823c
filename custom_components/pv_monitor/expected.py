"""Expected PV production: the estimate the health sensors and the `production_below_expected` alert use.

Two sources, in this order (docs/pv-health.md):

1. A measured irradiance (a point with role `irradiance`, e.g. an environment sensor on the same
   collector), taken as plane-of-array irradiance: `clearsky.array_power` of the inverter's array
   (options `arrays`: temperature derating and losses).

2. Without a measured irradiance: the clear-sky model of `clearsky` for the inverter's array at Home
   Assistant's home location.

Below MIN_IRRADIANCE the measured estimate says nothing is expected (dawn, dusk, night).

Without an array nothing describes the inverter's production: no expectation. (The retired threshold
`array_peak_power` once gave one with a flat performance ratio of 0.8; entries that had it now have an
array of that size with the default tilt, azimuth and losses: options.py `array_peak_power_as_array`.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from .clearsky import Array, array_power, clear_sky_power

MIN_IRRADIANCE: Final = 100.0  # W/m²


def expected_power(
    *,
    moment: datetime,
    latitude: float,
    longitude: float,
    array: Array | None,
    irradiance: float | None,
) -> float | None:
    """Expected AC power in W now (0 at night), or None when nothing describes the array."""
    if array is None:
        return None
    if irradiance is not None:
        return array_power(max(irradiance, 0.0), array)
    return clear_sky_power(moment, latitude, longitude, array)
