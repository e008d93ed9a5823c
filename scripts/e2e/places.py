"""Where the demo's PV system is: one real place, used by the simulated sun, Home Assistant's home (and
its time zone, so "today" ends at the place's midnight) and the collector's `site`.

The demo runs at any hour, so it picks, among cities spread around the globe, the one where the sun is
highest when it starts. Coordinates are the cities' commonly published ones (rounded to 0.01°); the time
zones are their IANA zone names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pv_collector.solar import sun_elevation


@dataclass(frozen=True, slots=True)
class Place:
    """A city: name, latitude and longitude (degrees, east positive) and its IANA time zone."""

    name: str
    latitude: float
    longitude: float
    time_zone: str


PLACES: tuple[Place, ...] = (
    Place("Berlin", 52.52, 13.40, "Europe/Berlin"),
    Place("Madrid", 40.42, -3.70, "Europe/Madrid"),
    Place("Athens", 37.98, 23.73, "Europe/Athens"),
    Place("Cape Town", -33.92, 18.42, "Africa/Johannesburg"),
    Place("Lagos", 6.52, 3.38, "Africa/Lagos"),
    Place("Cairo", 30.04, 31.24, "Africa/Cairo"),
    Place("Dubai", 25.20, 55.27, "Asia/Dubai"),
    Place("Karachi", 24.86, 67.01, "Asia/Karachi"),
    Place("Delhi", 28.61, 77.21, "Asia/Kolkata"),
    Place("Dhaka", 23.81, 90.41, "Asia/Dhaka"),
    Place("Bangkok", 13.76, 100.50, "Asia/Bangkok"),
    Place("Perth", -31.95, 115.86, "Australia/Perth"),
    Place("Tokyo", 35.68, 139.69, "Asia/Tokyo"),
    Place("Brisbane", -27.47, 153.03, "Australia/Brisbane"),
    Place("Nouméa", -22.27, 166.46, "Pacific/Noumea"),
    Place("Auckland", -36.85, 174.76, "Pacific/Auckland"),
    Place("Honolulu", 21.31, -157.86, "Pacific/Honolulu"),
    Place("Papeete", -17.53, -149.57, "Pacific/Tahiti"),
    Place("Adamstown", -25.07, -130.10, "Pacific/Pitcairn"),
    Place("Los Angeles", 34.05, -118.24, "America/Los_Angeles"),
    Place("Denver", 39.74, -104.99, "America/Denver"),
    Place("Mexico City", 19.43, -99.13, "America/Mexico_City"),
    Place("New York", 40.71, -74.01, "America/New_York"),
    Place("Santiago", -33.45, -70.67, "America/Santiago"),
    Place("São Paulo", -23.55, -46.63, "America/Sao_Paulo"),
    Place("Praia", 14.93, -23.51, "Atlantic/Cape_Verde"),
)


def sunniest_place(timestamp: float | None = None) -> Place:
    """The place where the sun is highest at `timestamp` (now by default)."""
    moment = time.time() if timestamp is None else timestamp
    return max(PLACES, key=lambda place: sun_elevation(moment, place.latitude, place.longitude))
