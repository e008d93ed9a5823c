"""Expected PV production: the hook the `production_below_expected` alert asks.

Today the only estimate is from a measured irradiance (a point with role `irradiance`, e.g. an
environment sensor on the same collector) and the array's peak power (option `array_peak_power`):

    expected W = irradiance W/m² / 1000 W/m² * peak power W * PERFORMANCE_RATIO

Below MIN_IRRADIANCE nothing is expected (dawn, dusk, night), so the alert stays quiet. A later issue adds a
clear-sky model from the site and array; it plugs in here by returning an estimate where today's returns
None.
"""

from __future__ import annotations

from typing import Final

STC_IRRADIANCE: Final = 1000.0  # W/m², standard test conditions
PERFORMANCE_RATIO: Final = 0.8  # typical losses: temperature, inverter, wiring, soiling
MIN_IRRADIANCE: Final = 100.0  # W/m²


def expected_power_from_irradiance(irradiance: float | None, peak_power: float) -> float | None:
    """Expected AC power in W, or None when it cannot be estimated (or nothing is to be expected)."""
    if irradiance is None or peak_power <= 0 or irradiance < MIN_IRRADIANCE:
        return None
    return irradiance / STC_IRRADIANCE * peak_power * PERFORMANCE_RATIO
