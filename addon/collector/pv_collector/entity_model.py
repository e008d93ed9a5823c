"""The entity model: which Home Assistant entity each announced point becomes.

The collector is the one owner of these rules. It resolves them for every point it announces (contract
field `entity`, docs/mqtt-contract.md) and both consumers read the result instead of applying rules of
their own: the PV Monitor integration and Home Assistant's standard MQTT discovery (ha_discovery.py).

- platform: from the point's kind and whether it is writable.
- device class (numbers only): the announced one where Home Assistant accepts it with the point's unit;
  else none, which Home Assistant always accepts.
- state class (read-only numbers only): the announced one where Home Assistant allows it for the device
  class; none for a point announced without one (nameplate ratings, settings, vendor codes: no long-term
  statistics, no Energy dashboard candidate).
- display hints: every energy counter in Wh, kWh or MWh is shown with the same decimals whatever its
  register's resolution; a plain power factor (-1..1, no unit) is shown in % (its values times 100).

The tables of Home Assistant below are facts copied by hand from homeassistant/components/sensor/const.py
of release 2026.10 (`DEVICE_CLASS_UNITS`, `DEVICE_CLASS_STATE_CLASSES`, `NON_NUMERIC_DEVICE_CLASSES`); the
number platform (homeassistant/components/number/const.py) has the numeric device classes with the same
units. tests/integration/test_entity_model_tables.py compares them with the installed Home Assistant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from pv_collector.model import Point, PointKind

type Platform = Literal["sensor", "binary_sensor", "number", "select", "switch", "button"]

# ------------------------------------------------------------------ Home Assistant's tables (2026.10)

_ENERGY: Final = frozenset(
    {"GJ", "GWh", "Gcal", "J", "MJ", "MWh", "Mcal", "TWh", "Wh", "cal", "kJ", "kWh", "kcal", "mWh", "thm"}
)
_PRESSURE: Final = frozenset(
    {"Pa", "atm", "bar", "cbar", "hPa", "inHg", "inH₂O", "kPa", "mPa", "mbar", "mmHg", "psi"}
)
_GAS: Final = frozenset({"CCF", "L", "MCF", "ft³", "m³"})
_VOLUME: Final = _GAS | {"fl. oz.", "gal", "mL"}
_PERCENT: Final = frozenset({"%"})
_TEMPERATURE: Final = frozenset({"K", "°C", "°F"})
_MICROGRAMS_PER_M3: Final = frozenset({"μg/m³"})
_PPB_PPM_UG: Final = frozenset({"ppb", "ppm", "μg/m³"})
_PPB_UG: Final = frozenset({"ppb", "μg/m³"})
_WIND_SPEED: Final = frozenset({"Beaufort", "ft/s", "in/s", "km/h", "kn", "m/min", "m/s", "mm/s", "mph"})
_PRECIPITATION_INTENSITY: Final = frozenset({"in/d", "in/h", "mm/d", "mm/h"})
_NO_UNIT: Final = frozenset({None})

# The units Home Assistant accepts per numeric device class (`None`: no unit).
DEVICE_CLASS_UNITS: Final[Mapping[str, frozenset[str | None]]] = {
    "absolute_humidity": frozenset({"g/m³", "mg/m³"}),
    "apparent_power": frozenset({"VA", "kVA", "mVA"}),
    "aqi": _NO_UNIT,
    "area": frozenset({"ac", "cm²", "ft²", "ha", "in²", "km²", "mi²", "mm²", "m²", "yd²"}),
    "atmospheric_pressure": _PRESSURE,
    "battery": _PERCENT,
    "blood_glucose_concentration": frozenset({"mg/dL", "mmol/L"}),
    "carbon_dioxide": frozenset({"ppm"}),
    "carbon_monoxide": frozenset({"mg/m³", "ppb", "ppm", "μg/m³"}),
    "conductivity": frozenset({"S/cm", "mS/cm", "μS/cm"}),
    "current": frozenset({"A", "mA", "μA"}),
    "data_rate": frozenset(
        {"B/s", "GB/s", "Gbit/s", "GiB/s", "KiB/s", "MB/s", "Mbit/s", "MiB/s", "bit/s", "kB/s", "kbit/s"}
    ),
    "data_size": frozenset(
        {"B", "EB", "EiB", "GB", "Gbit", "GiB", "KiB", "MB", "Mbit", "MiB", "PB", "PiB", "TB", "TiB", "YB"}
        | {"YiB", "ZB", "ZiB", "bit", "kB", "kbit"}
    ),
    "distance": frozenset({"cm", "ft", "in", "km", "m", "mi", "mm", "nmi", "yd"}),
    "duration": frozenset({"d", "h", "min", "ms", "s", "μs"}),
    "energy": _ENERGY,
    "energy_distance": frozenset({"Wh/km", "kWh/100km", "km/kWh", "mi/kWh"}),
    "energy_storage": _ENERGY,
    "frequency": frozenset({"GHz", "Hz", "MHz", "kHz", "mHz"}),
    "gas": _GAS,
    "humidity": _PERCENT,
    "illuminance": frozenset({"lx"}),
    "irradiance": frozenset({"BTU/(h⋅ft²)", "W/m²"}),
    "moisture": _PERCENT,
    "nitrogen_dioxide": _PPB_PPM_UG,
    "nitrogen_monoxide": _PPB_UG,
    "nitrous_oxide": _MICROGRAMS_PER_M3,
    "ozone": _PPB_PPM_UG,
    "ph": _NO_UNIT,
    "pm1": _MICROGRAMS_PER_M3,
    "pm10": _MICROGRAMS_PER_M3,
    "pm25": _MICROGRAMS_PER_M3,
    "pm4": _MICROGRAMS_PER_M3,
    "power": frozenset({"GW", "MW", "TW", "W", "kW", "mW"}),
    "power_factor": frozenset({"%", None}),
    "precipitation": frozenset({"cm", "in", "mm"}),
    "precipitation_intensity": _PRECIPITATION_INTENSITY,
    "pressure": _PRESSURE,
    "radon": frozenset({"Bq/m³", "pCi/L"}),
    "reactive_energy": frozenset({"kvarh", "varh"}),
    "reactive_power": frozenset({"kvar", "mvar", "var"}),
    "signal_strength": frozenset({"dB", "dBm"}),
    "sound_pressure": frozenset({"dB", "dBA"}),
    "speed": _WIND_SPEED | _PRECIPITATION_INTENSITY,
    "sulphur_dioxide": _PPB_UG,
    "temperature": _TEMPERATURE,
    "temperature_delta": _TEMPERATURE,
    "volatile_organic_compounds": frozenset({"mg/m³", "μg/m³"}),
    "volatile_organic_compounds_parts": frozenset({"ppb", "ppm"}),
    "voltage": frozenset({"MV", "V", "kV", "mV", "μV"}),
    "volume": _VOLUME,
    "volume_flow_rate": frozenset(
        {"L/h", "L/min", "L/s", "ft³/min", "gal/d", "gal/h", "gal/min", "mL/s", "m³/h", "m³/min", "m³/s"}
    ),
    "volume_storage": _VOLUME,
    "water": _GAS | {"gal"},
    "weight": frozenset({"g", "kg", "lb", "mg", "oz", "st", "μg"}),
    "wind_direction": frozenset({"°"}),
    "wind_speed": _WIND_SPEED,
}
# Numeric device classes Home Assistant accepts with any unit (monetary: an ISO 4217 currency code).
ANY_UNIT_DEVICE_CLASSES: Final = frozenset({"monetary"})
# Device classes whose states are not numbers (dates, options, timestamps): never a number's.
NON_NUMERIC_DEVICE_CLASSES: Final = frozenset({"date", "enum", "timestamp", "uptime"})

_MEASUREMENT: Final = frozenset({"measurement"})
_TOTALS: Final = frozenset({"total", "total_increasing"})
_ANY_STATE_CLASS: Final = frozenset({"measurement", "measurement_angle", "total", "total_increasing"})
# The state classes Home Assistant allows per device class (a device class not listed allows none).
DEVICE_CLASS_STATE_CLASSES: Final[Mapping[str, frozenset[str]]] = {
    **dict.fromkeys(DEVICE_CLASS_UNITS, _MEASUREMENT),
    **dict.fromkeys(("area", "data_size", "distance", "duration", "precipitation"), _ANY_STATE_CLASS),
    **dict.fromkeys(("energy", "gas", "reactive_energy", "volume", "water"), _TOTALS),
    "weight": frozenset({"measurement", "total", "total_increasing"}),
    "wind_direction": frozenset({"measurement_angle"}),
    "monetary": frozenset({"total"}),
    **dict.fromkeys(NON_NUMERIC_DEVICE_CLASSES, frozenset[str]()),
}

# ------------------------------------------------------------------ the project's own display rules

# Decimals shown for energy counters, by unit (kWh: to 10 Wh).
ENERGY_DISPLAY_PRECISION: Final[Mapping[str, int]] = {"Wh": 0, "kWh": 2, "MWh": 4}
PERCENT_FACTOR: Final = 100  # a plain power factor (-1..1) times this is its value in %

# What the collector publishes while a device sleeps (poller `_publish_inferred`): measured power as an
# inferred 0, counters at their last value. Their entities stay available while the device is `asleep`.
INFERRED_ZERO_CLASSES: Final = frozenset({"power", "apparent_power", "reactive_power"})
COUNTER_STATE_CLASSES: Final = _TOTALS


@dataclass(frozen=True, slots=True, kw_only=True)
class Entity:
    """The Home Assistant entity of one point (contract `point.entity`).

    `display_unit`, `display_precision` and `display_factor` are set only where the entity shows the
    value otherwise than the point's own `unit` and `precision` say (the state times `display_factor`).
    """

    platform: Platform
    device_class: str | None = None
    state_class: str | None = None
    display_unit: str | None = None
    display_precision: int | None = None
    display_factor: float | None = None

    def to_payload(self) -> dict[str, Any]:
        """The contract's `entity` object (fields without a value left out)."""
        fields = (
            ("platform", self.platform),
            ("device_class", self.device_class),
            ("state_class", self.state_class),
            ("display_unit", self.display_unit),
            ("display_precision", self.display_precision),
            ("display_factor", self.display_factor),
        )
        return {name: value for name, value in fields if value is not None}


def platform_of(kind: PointKind, *, writable: bool) -> Platform:
    """The platform of a point's entity: read-only points are sensors (bools binary sensors), writable ones
    numbers, selects and switches, actions buttons."""
    match kind:
        case "number":
            return "number" if writable else "sensor"
        case "enum":
            return "select" if writable else "sensor"
        case "bool":
            return "switch" if writable else "binary_sensor"
        case "action":
            return "button"
        case _:  # text, bitfield
            return "sensor"


def accepted_device_class(device_class: str | None, unit: str | None) -> str | None:
    """`device_class` if Home Assistant accepts it for a number with `unit`, else None."""
    if device_class in ANY_UNIT_DEVICE_CLASSES:
        return device_class
    units = DEVICE_CLASS_UNITS.get(device_class) if device_class is not None else None
    return device_class if units is not None and unit in units else None


def allowed_state_class(state_class: str | None, device_class: str | None) -> str | None:
    """`state_class` if Home Assistant allows it with `device_class` (any, without a device class)."""
    if state_class is None or device_class is None:
        return state_class
    return state_class if state_class in DEVICE_CLASS_STATE_CLASSES.get(device_class, ()) else None


def resolve(
    kind: PointKind,
    *,
    writable: bool,
    unit: str | None = None,
    device_class: str | None = None,
    state_class: str | None = None,
    precision: int | None = None,
) -> Entity:
    """The entity of a point with these announced fields."""
    platform = platform_of(kind, writable=writable)
    if kind != "number":
        return Entity(platform=platform)  # classes and units are a number's
    accepted = accepted_device_class(device_class, unit)
    if platform == "number":
        return Entity(platform=platform, device_class=accepted)  # a number entity has no state class
    state = allowed_state_class(state_class, accepted)
    if accepted == "power_factor" and unit is None:
        return Entity(
            platform=platform,
            device_class=accepted,
            state_class=state,
            display_unit="%",
            display_precision=max((precision or 2) - 2, 0),
            display_factor=PERCENT_FACTOR,
        )
    if accepted == "energy" and unit is not None and unit in ENERGY_DISPLAY_PRECISION:
        display_precision = ENERGY_DISPLAY_PRECISION[unit]
        return Entity(
            platform=platform, device_class=accepted, state_class=state, display_precision=display_precision
        )
    return Entity(platform=platform, device_class=accepted, state_class=state)


def point_entity(point: Point) -> Entity:
    """The entity of a profile's point."""
    return resolve(
        point.kind,
        writable=point.writable is not None,
        unit=point.unit,
        device_class=point.device_class,
        state_class=point.state_class,
        precision=point.precision,
    )


def published_while_asleep(
    kind: str, *, writable: bool, device_class: str | None, state_class: str | None
) -> bool:
    """Whether the collector keeps publishing a point while its device sleeps: read-only counters (their
    last value) and measured power (an inferred 0)."""
    if kind != "number" or writable:
        return False
    if state_class in COUNTER_STATE_CLASSES:
        return True
    return state_class == "measurement" and device_class in INFERRED_ZERO_CLASSES
