"""The sky above the simulated site: sun position, clear-sky and plane-of-array irradiance, clouds,
temperatures and wind.

Everything here is a pure function of time (Unix seconds, UTC) and the site: the same seed and time give
the same weather, whatever order the simulation asks in. Models are deliberately simple but physical:
NOAA's solar position equations, Meinel's clear-sky beam irradiance with Kasten-Young air mass, an
isotropic sky for the tilted plane, and smooth seeded noise for clouds, temperature and wind.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

from pv_collector.solar import SunPosition, day_of_year, sun_position

__all__ = [
    "Irradiance",
    "Site",
    "SunPosition",
    "Weather",
    "clear_sky",
    "day_of_year",
    "plane_of_array",
    "smooth_noise",
    "solar_hour",
    "sun_position",
]

SOLAR_CONSTANT = 1353.0  # W/m², as used by Meinel's model
ALBEDO = 0.2


def solar_hour(timestamp: float, longitude: float) -> float:
    """Local mean solar time in hours (0..24): what the household's day follows."""
    return ((timestamp / 3600.0) + longitude / 15.0) % 24.0


@dataclass(frozen=True, slots=True)
class Irradiance:
    """Irradiance components in W/m²."""

    beam: float  # direct normal
    diffuse: float  # diffuse horizontal
    ghi: float  # global horizontal

    @classmethod
    def dark(cls) -> Irradiance:
        return cls(0.0, 0.0, 0.0)


def clear_sky(sun: SunPosition) -> Irradiance:
    """Clear-sky irradiance: Meinel beam model, air mass after Kasten and Young, 10 % diffuse."""
    if sun.elevation <= 0:
        return Irradiance.dark()
    zenith = sun.zenith
    air_mass = 1.0 / (math.cos(math.radians(zenith)) + 0.50572 * (96.07995 - zenith) ** -1.6364)
    beam = SOLAR_CONSTANT * 0.7 ** (air_mass**0.678)
    diffuse = 0.1 * beam
    ghi = beam * math.cos(math.radians(zenith)) + diffuse
    return Irradiance(beam=beam, diffuse=diffuse, ghi=ghi)


def plane_of_array(sky: Irradiance, sun: SunPosition, tilt: float, azimuth: float) -> float:
    """Irradiance on a tilted plane (isotropic sky + ground reflection), W/m²."""
    if sky.ghi <= 0:
        return 0.0
    zen, tlt = math.radians(sun.zenith), math.radians(tilt)
    cos_incidence = math.cos(zen) * math.cos(tlt) + math.sin(zen) * math.sin(tlt) * math.cos(
        math.radians(sun.azimuth - azimuth)
    )
    beam = sky.beam * max(0.0, cos_incidence)
    diffuse = sky.diffuse * (1 + math.cos(tlt)) / 2
    ground = sky.ghi * ALBEDO * (1 - math.cos(tlt)) / 2
    return beam + diffuse + ground


@lru_cache(maxsize=4096)
def _knot(seed: int, channel: str, index: int) -> float:
    return random.Random(f"{seed}:{channel}:{index}").uniform(-1.0, 1.0)


def smooth_noise(seed: int, channel: str, timestamp: float, period: float) -> float:
    """Seeded value noise in -1..1 that changes smoothly over `period` seconds (same inputs, same value)."""
    position = timestamp / period
    index = math.floor(position)
    fraction = position - index
    blend = fraction * fraction * (3 - 2 * fraction)  # smoothstep: no kinks at the knots
    return _knot(seed, channel, index) * (1 - blend) + _knot(seed, channel, index + 1) * blend


@dataclass(frozen=True, slots=True)
class Weather:
    """Conditions at one instant."""

    timestamp: float
    sun: SunPosition
    clear_sky_index: float  # 1 = clear, lower = clouds in front of the sun
    ghi: float  # W/m², global horizontal
    poa: float  # W/m², in the plane of the array (what the irradiance sensor measures)
    ambient_temperature: float  # °C
    module_temperature: float  # °C
    wind_speed: float  # m/s


@dataclass(frozen=True, slots=True)
class Site:
    """Where the array is and how it faces (azimuth from north, 180 = south)."""

    latitude: float = 52.52
    longitude: float = 13.405
    tilt: float = 30.0
    azimuth: float = 180.0
    seed: int = 1

    def cloudiness(self, timestamp: float) -> float:
        """Cloud cover in 0..1: a seeded per-day mood plus clouds drifting by over minutes."""
        day = math.floor(timestamp / 86400.0)
        mood = random.Random(f"{self.seed}:day:{day}").uniform(0.0, 1.0)
        drifting = 0.5 + 0.5 * smooth_noise(self.seed, "clouds", timestamp, 900.0)
        passing = 0.5 + 0.5 * smooth_noise(self.seed, "passing", timestamp, 150.0)
        return max(0.0, min(1.0, mood * (0.6 * drifting + 0.4 * passing) * 1.3))

    def ambient_temperature(self, timestamp: float) -> float:
        """Air temperature: climate by latitude, seasons, a daily swing peaking mid-afternoon, noise."""
        lat = abs(self.latitude)
        annual_mean = 28.0 - 0.35 * lat
        seasonal = 0.18 * lat * -math.cos(2 * math.pi * (day_of_year(timestamp) - 20) / 365.25)
        if self.latitude < 0:
            seasonal = -seasonal
        hour = solar_hour(timestamp, self.longitude)
        daily = 5.0 * math.cos(2 * math.pi * (hour - 15.0) / 24.0)
        return annual_mean + seasonal + daily + 1.5 * smooth_noise(self.seed, "temperature", timestamp, 7200)

    def wind_speed(self, timestamp: float) -> float:
        """Wind in m/s: gusts over a slowly changing mean."""
        mean = 3.5 + 2.5 * smooth_noise(self.seed, "wind", timestamp, 10800.0)
        gust = 1.5 * smooth_noise(self.seed, "gust", timestamp, 30.0)
        return max(0.0, mean + gust)

    def weather(self, timestamp: float) -> Weather:
        """All conditions at `timestamp`."""
        sun = sun_position(timestamp, self.latitude, self.longitude)
        sky = clear_sky(sun)
        index = 1.0 - 0.75 * self.cloudiness(timestamp) ** 1.5
        ambient = self.ambient_temperature(timestamp)
        wind = self.wind_speed(timestamp)
        poa = plane_of_array(sky, sun, self.tilt, self.azimuth) * index
        # NOCT model (45 °C at 800 W/m², 20 °C air) with some cooling by the wind.
        module = ambient + poa / 800.0 * 25.0 * (1.0 / (1.0 + 0.1 * wind))
        return Weather(
            timestamp=timestamp,
            sun=sun,
            clear_sky_index=index,
            ghi=sky.ghi * index,
            poa=poa,
            ambient_temperature=ambient,
            module_temperature=module,
            wind_speed=wind,
        )
