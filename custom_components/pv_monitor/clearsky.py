"""Clear-sky expected production from the site and the array. Pure functions, no Home Assistant.

The chain of published models (no third-party library: pvlib needs pandas/scipy):

1. Solar position: NOAA's solar calculator algorithm (Meeus-based; NOAA Global Monitoring Laboratory,
   "General Solar Position Calculations" / the NOAA_Solar_Calculations spreadsheet), with NOAA's
   atmospheric refraction correction. About 0.01-0.03 degrees from NREL's SPA between 1900 and 2100.
2. Clear-sky global horizontal irradiance: Haurwitz (1945), GHI = 1098 cos(z) exp(-0.059 / cos(z)),
   the best simple model in Reno, Hansen, Stein: "Global Horizontal Irradiance Clear Sky Models"
   (Sandia SAND2012-2389). It does not use the site's elevation.
3. Split into direct and diffuse: Erbs, Klein, Duffie (1982) diffuse fraction from the clearness index.
4. Plane of array: beam on the tilted plane + isotropic sky diffuse (Liu and Jordan 1963) + ground
   reflection (albedo 0.2).
5. DC/AC power: the PVWatts form, P = POA / 1000 x kWp x (1 + gamma (T_cell - 25)) x (1 - losses), with
   the NOCT cell temperature model at a fixed ambient temperature.

Angles are degrees; azimuths are clockwise from north (180 = south), tilt 0 = horizontal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

SOLAR_CONSTANT: Final = 1367.0  # W/m²
ALBEDO: Final = 0.2
STC_IRRADIANCE: Final = 1000.0  # W/m²
NOCT: Final = 45.0  # °C, nominal operating cell temperature (at 800 W/m², 20 °C ambient)
AMBIENT_TEMPERATURE: Final = 20.0  # °C, assumed when nothing measures it
TEMPERATURE_COEFFICIENT: Final = -0.004  # 1/K, typical crystalline silicon
DEFAULT_LOSSES: Final = 14.0  # %, PVWatts' default system losses (soiling, wiring, mismatch, inverter...)


@dataclass(frozen=True, slots=True)
class SolarPosition:
    """Where the sun is: apparent (refracted) elevation and azimuth, degrees."""

    elevation: float
    azimuth: float

    @property
    def zenith(self) -> float:
        """Apparent zenith angle."""
        return 90.0 - self.elevation


@dataclass(frozen=True, slots=True, kw_only=True)
class Array:
    """A PV array: peak power (kWp), tilt and azimuth (degrees), system losses (%)."""

    peak_power: float
    tilt: float = 30.0
    azimuth: float = 180.0
    losses: float = DEFAULT_LOSSES


def _julian_day(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp() / 86400.0 + 2440587.5


def solar_position(moment: datetime, latitude: float, longitude: float) -> SolarPosition:
    """NOAA's solar position for an aware datetime at a site (longitude east positive)."""
    jc = (_julian_day(moment) - 2451545.0) / 36525.0
    mean_long = (280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360.0
    mean_anom = math.radians(357.52911 + jc * (35999.05029 - 0.0001537 * jc))
    eccent = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    center = (
        math.sin(mean_anom) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + math.sin(2 * mean_anom) * (0.019993 - 0.000101 * jc)
        + math.sin(3 * mean_anom) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * jc)
    apparent_long = math.radians(mean_long + center - 0.00569 - 0.00478 * math.sin(omega))
    mean_obliq = 23.0 + (26.0 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60.0) / 60.0
    obliq = math.radians(mean_obliq + 0.00256 * math.cos(omega))
    declination = math.asin(math.sin(obliq) * math.sin(apparent_long))
    var_y = math.tan(obliq / 2) ** 2
    long_rad = math.radians(mean_long)
    eq_time = 4 * math.degrees(
        var_y * math.sin(2 * long_rad)
        - 2 * eccent * math.sin(mean_anom)
        + 4 * eccent * var_y * math.sin(mean_anom) * math.cos(2 * long_rad)
        - 0.5 * var_y**2 * math.sin(4 * long_rad)
        - 1.25 * eccent**2 * math.sin(2 * mean_anom)
    )
    utc = moment.astimezone(UTC)
    minutes = utc.hour * 60 + utc.minute + utc.second / 60 + utc.microsecond / 6e7
    true_solar_time = (minutes + eq_time + 4 * longitude) % 1440.0
    hour_angle = math.radians(true_solar_time / 4 - 180.0)
    lat = math.radians(latitude)
    cos_zenith = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(declination) * math.cos(
        hour_angle
    )
    zenith = math.acos(max(-1.0, min(1.0, cos_zenith)))
    denominator = math.cos(lat) * math.sin(zenith)
    if abs(denominator) < 1e-12:
        azimuth = 180.0 if latitude > 0 else 0.0
    else:
        cos_az = (math.sin(lat) * math.cos(zenith) - math.sin(declination)) / denominator
        angle = math.degrees(math.acos(max(-1.0, min(1.0, cos_az))))
        azimuth = (angle + 180.0) % 360.0 if hour_angle > 0 else (540.0 - angle) % 360.0
    elevation = 90.0 - math.degrees(zenith)
    return SolarPosition(elevation=elevation + _refraction(elevation), azimuth=azimuth)


def _refraction(elevation: float) -> float:
    """NOAA's approximate atmospheric refraction correction, degrees."""
    if elevation > 85.0:
        return 0.0
    tan_e = math.tan(math.radians(elevation))
    if elevation > 5.0:
        arcsec = 58.1 / tan_e - 0.07 / tan_e**3 + 0.000086 / tan_e**5
    elif elevation > -0.575:
        arcsec = 1735.0 + elevation * (
            -518.2 + elevation * (103.4 + elevation * (-12.79 + elevation * 0.711))
        )
    else:
        arcsec = -20.772 / tan_e
    return arcsec / 3600.0


def haurwitz_ghi(zenith: float) -> float:
    """Clear-sky global horizontal irradiance (W/m²) for an apparent zenith angle."""
    cos_z = math.cos(math.radians(zenith))
    if cos_z <= 0:
        return 0.0
    return 1098.0 * cos_z * math.exp(-0.059 / cos_z)


def extraterrestrial_normal(day_of_year: int) -> float:
    """Extraterrestrial normal irradiance (W/m²), Spencer's simple eccentricity correction."""
    return SOLAR_CONSTANT * (1 + 0.033 * math.cos(2 * math.pi * day_of_year / 365.0))


def erbs_split(ghi: float, zenith: float, day_of_year: int) -> tuple[float, float]:
    """(DNI, DHI) from GHI with Erbs' diffuse fraction; zenith limited to 87° against blow-up."""
    cos_z = math.cos(math.radians(min(zenith, 87.0)))
    if ghi <= 0 or cos_z <= 0:
        return 0.0, 0.0
    kt = min(ghi / (extraterrestrial_normal(day_of_year) * cos_z), 1.0)
    if kt <= 0.22:
        fraction = 1.0 - 0.09 * kt
    elif kt <= 0.80:
        fraction = 0.9511 - 0.1604 * kt + 4.388 * kt**2 - 16.638 * kt**3 + 12.336 * kt**4
    else:
        fraction = 0.165
    dhi = fraction * ghi
    return (ghi - dhi) / cos_z, dhi


def plane_of_array(
    *, ghi: float, dni: float, dhi: float, sun: SolarPosition, tilt: float, azimuth: float
) -> float:
    """Irradiance on the array's plane (W/m²): beam + isotropic sky diffuse + ground reflection."""
    zen = math.radians(sun.zenith)
    beta = math.radians(tilt)
    cos_aoi = math.cos(zen) * math.cos(beta) + math.sin(zen) * math.sin(beta) * math.cos(
        math.radians(sun.azimuth - azimuth)
    )
    beam = dni * max(cos_aoi, 0.0)
    sky = dhi * (1 + math.cos(beta)) / 2
    ground = ghi * ALBEDO * (1 - math.cos(beta)) / 2
    return max(beam + sky + ground, 0.0)


def array_power(poa: float, array: Array, ambient: float = AMBIENT_TEMPERATURE) -> float:
    """AC power (W) of an array at a plane-of-array irradiance: temperature derating and losses."""
    if poa <= 0 or array.peak_power <= 0:
        return 0.0
    cell = ambient + poa / 800.0 * (NOCT - 20.0)
    derate = 1 + TEMPERATURE_COEFFICIENT * (cell - 25.0)
    return max(poa / STC_IRRADIANCE * array.peak_power * 1000.0 * derate * (1 - array.losses / 100.0), 0.0)


def clear_sky_poa(moment: datetime, latitude: float, longitude: float, array: Array) -> float:
    """Clear-sky irradiance on the array's plane (W/m²) at a moment."""
    sun = solar_position(moment, latitude, longitude)
    ghi = haurwitz_ghi(sun.zenith)
    if ghi <= 0:
        return 0.0
    day_of_year = moment.astimezone(UTC).timetuple().tm_yday
    dni, dhi = erbs_split(ghi, sun.zenith, day_of_year)
    return plane_of_array(ghi=ghi, dni=dni, dhi=dhi, sun=sun, tilt=array.tilt, azimuth=array.azimuth)


def clear_sky_power(moment: datetime, latitude: float, longitude: float, array: Array) -> float:
    """Expected AC power (W) of an array under a clear sky."""
    return array_power(clear_sky_poa(moment, latitude, longitude, array), array)
