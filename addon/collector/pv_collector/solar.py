"""Where the sun is, computed locally from the time and the site (no network, no tables).

The collector uses it to tell a sleeping inverter from a failed one (the sun is below the horizon); the
simulator uses it for its sun curve. NOAA's "General Solar Position Calculations": good to a fraction of a
degree, plenty for "is it night".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SunPosition:
    """Where the sun is: elevation above the horizon and azimuth from north, clockwise (degrees)."""

    elevation: float
    azimuth: float

    @property
    def zenith(self) -> float:
        """Angle from straight up (degrees)."""
        return 90.0 - self.elevation


def day_of_year(timestamp: float) -> int:
    """1-based day of the year (UTC)."""
    return time.gmtime(timestamp).tm_yday


def sun_position(timestamp: float, latitude: float, longitude: float) -> SunPosition:
    """Sun position by NOAA's "General Solar Position Calculations" (good to a fraction of a degree)."""
    utc = time.gmtime(timestamp)
    hours = utc.tm_hour + utc.tm_min / 60 + (timestamp % 60) / 3600
    gamma = 2 * math.pi / 365 * (utc.tm_yday - 1 + (hours - 12) / 24)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    true_solar_minutes = hours * 60 + eqtime + 4 * longitude
    hour_angle = math.radians(true_solar_minutes / 4 - 180)
    lat = math.radians(latitude)
    cos_zenith = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
    zenith = math.acos(max(-1.0, min(1.0, cos_zenith)))
    azimuth = math.degrees(
        math.atan2(
            math.sin(hour_angle), math.cos(hour_angle) * math.sin(lat) - math.tan(decl) * math.cos(lat)
        )
    )
    return SunPosition(elevation=90.0 - math.degrees(zenith), azimuth=(azimuth + 180.0) % 360.0)


def sun_elevation(timestamp: float, latitude: float, longitude: float) -> float:
    """Degrees of the sun above the horizon (negative at night) at `timestamp` (Unix seconds)."""
    return sun_position(timestamp, latitude, longitude).elevation
