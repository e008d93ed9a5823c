"""PV health: the clear-sky model against published values, the health sensors, string imbalance,
decoded faults and the daily summary, moved through the day with the harness clock."""

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.pv_monitor.clearsky import (
    Array,
    array_power,
    clear_sky_power,
    erbs_split,
    haurwitz_ghi,
    plane_of_array,
    solar_position,
)
from custom_components.pv_monitor.const import CONF_ARRAYS, CONF_STRING_IMBALANCE, DOMAIN, EVENT_ALERT
from custom_components.pv_monitor.health import Counter, InverterHealth, energy_kwh

from .conftest import FakeCollector

# ---------------------------------------------------------------------------------------- the model


def test_solar_position_against_nrel_spa() -> None:
    """Reda & Andreas, "Solar Position Algorithm for Solar Radiation Applications", NREL/TP-560-34302
    (2008), example of table A5.1 (also pvlib's reference fixture): Golden, Colorado, 39.742476 N,
    105.1786 W, 2003-10-17 12:30:30 UTC-7 -> topocentric (refracted) zenith 50.11162°, azimuth
    194.34024°. NOAA's algorithm is stated to be within 0.03° of SPA: tolerance 0.03°."""
    moment = datetime(2003, 10, 17, 12, 30, 30, tzinfo=timezone(timedelta(hours=-7)))
    sun = solar_position(moment, 39.742476, -105.1786)
    assert sun.zenith == pytest.approx(50.11162, abs=0.03)
    assert sun.azimuth == pytest.approx(194.34024, abs=0.03)


@pytest.mark.parametrize(
    ("elevation", "ghi"),
    [
        # Haurwitz's formula evaluated in pvlib's test suite (test_clearsky.py::test_haurwitz),
        # Reno, Hansen, Stein, SAND2012-2389, eq. 2: 1098 cos z exp(-0.059 / cos z).
        (-20.0, 0.0),
        (-0.05, 0.0),
        (5.0, 48.6298687941956),
        (10.0, 135.741748091813),
        (30.0, 487.894132885425),
        (50.0, 778.766689344363),
        (90.0, 1035.09203253450),
    ],
)
def test_haurwitz_against_published_values(elevation: float, ghi: float) -> None:
    """Within 0.01 W/m² of the published values."""
    assert haurwitz_ghi(90.0 - elevation) == pytest.approx(ghi, abs=0.01)


def test_transposition_and_power() -> None:
    """A flat array sees the global irradiance; a tilted one facing the sun sees more in winter;
    at 1000 W/m² and 25 °C cells an array gives its peak power less its losses."""
    moment = datetime(2024, 12, 21, 11, 0, tzinfo=UTC)  # about solar noon in Munich
    sun = solar_position(moment, 48.14, 11.58)
    assert 17.0 < sun.elevation < 19.0  # winter solstice: 90 - 48.14 - 23.44 = 18.4°
    ghi = haurwitz_ghi(sun.zenith)
    dni, dhi = erbs_split(ghi, sun.zenith, 356)
    assert dni * math.cos(math.radians(sun.zenith)) + dhi == pytest.approx(ghi, rel=1e-6)
    flat = plane_of_array(ghi=ghi, dni=dni, dhi=dhi, sun=sun, tilt=0, azimuth=180)
    assert flat == pytest.approx(ghi, rel=1e-9)
    south = plane_of_array(ghi=ghi, dni=dni, dhi=dhi, sun=sun, tilt=60, azimuth=180)
    north = plane_of_array(ghi=ghi, dni=dni, dhi=dhi, sun=sun, tilt=60, azimuth=0)
    assert south > 1.5 * flat > north
    # NOCT model at 20 °C ambient: the cell is at 25 °C at POA = 5 * 800 / (45 - 20) = 160 W/m²
    array = Array(peak_power=5.0, losses=10.0)
    assert array_power(160.0, array) == pytest.approx(160 / 1000 * 5000 * 0.9, rel=1e-9)
    night = datetime(2024, 12, 21, 23, 0, tzinfo=UTC)
    assert clear_sky_power(night, 48.14, 11.58, array) == 0.0


def test_day_bookkeeping() -> None:
    """Counters in Wh/kWh/MWh, trapezoid integration, gaps not guessed, rollover into the 7 days."""
    assert energy_kwh(1500, "Wh") == 1.5
    assert energy_kwh(2, "MWh") == 2000
    assert energy_kwh(2, "W") is None
    counter = Counter()
    counter.update(100.0)
    counter.update(101.5)
    assert counter.today == 1.5
    counter.update(3.0)  # a replaced meter starts again
    counter.update(4.0)
    assert counter.today == 1.0
    health = InverterHealth()
    start = datetime(2025, 6, 21, 12, 0, tzinfo=UTC)
    health.roll(start.date())
    health.step(start, expected=1000.0, power=500.0, counter=None)
    health.step(start + timedelta(minutes=10), expected=3000.0, power=1500.0, counter=None)
    assert health.expected_energy == pytest.approx(2000 / 6 / 1000)
    assert health.actual_energy == pytest.approx(1000 / 6 / 1000)
    assert health.performance_ratio == 50.0
    health.step(start + timedelta(minutes=40), expected=3000.0, power=1500.0, counter=None)  # a gap
    assert health.expected_energy == pytest.approx(2000 / 6 / 1000)
    restored = InverterHealth.from_dict(health.to_dict())
    restored.roll(start.date() + timedelta(days=1))
    assert restored.expected_energy == 0.0
    assert restored.performance_ratio is None
    assert restored.performance_ratio_rolling == 50.0


# ---------------------------------------------------------------------------------------- in HA


def _without_weather(announcement: dict[str, Any]) -> dict[str, Any]:
    announcement["devices"] = [d for d in announcement["devices"] if d["id"] != "weather"]
    return announcement


async def _configure_array(hass: HomeAssistant, entry: MockConfigEntry, **array: float) -> None:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "array_device"}
    )
    assert result["step_id"] == "array_device"
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"device": "inverter"})
    assert result["step_id"] == "array"
    result = await hass.config_entries.options.async_configure(result["flow_id"], array)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def _tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float = 60) -> None:
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


def _value(hass: HomeAssistant, entity_id: str) -> float:
    return float(hass.states.get(entity_id).state)


async def test_clear_sky_health_sensors(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    announcement: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """Without an irradiance sensor the array from the options gives the clear-sky expectation; energy,
    performance ratio and specific yield follow the day, and midnight starts a new one."""
    freezer.move_to("2025-06-21T18:00:00+00:00")  # 11:00 in San Diego (the harness's home)
    collector.start()
    collector.announce(_without_weather(announcement))
    await hass.async_block_till_done()
    entry = setup_integration
    assert hass.states.get("sensor.inverter_expected_power").state == "unknown"
    assert hass.states.get("binary_sensor.inverter_production_below_expected") is None
    await _configure_array(hass, entry, peak_power=5.0, tilt=20, azimuth=180, losses=14)
    assert entry.options[CONF_ARRAYS] == {
        "inverter": {"peak_power": 5.0, "tilt": 20.0, "azimuth": 180.0, "losses": 14.0}
    }
    # the production alert appears with the array
    assert hass.states.get("binary_sensor.inverter_production_below_expected") is not None

    array = Array(peak_power=5.0, tilt=20, azimuth=180, losses=14)
    lat, lon = hass.config.latitude, hass.config.longitude
    energy = 10234.518
    for _ in range(60):  # an hour, 2 kWh produced
        energy += 2.0 / 60
        collector.state("inverter", {"energy_total": round(energy, 3), "ac_power": 2000})
        await _tick(hass, freezer)
    now = datetime.now(UTC)
    expected_now = clear_sky_power(now, lat, lon, array)
    assert expected_now > 3000  # midday in June
    assert _value(hass, "sensor.inverter_expected_power") == pytest.approx(expected_now, abs=0.1)
    expected_energy = _value(hass, "sensor.inverter_expected_energy_today")
    assert 3.0 < expected_energy < 4.5  # one hour of a bit more than 3.x kW
    produced = _value(hass, "sensor.home_pv_production_today")
    assert produced == pytest.approx(2.0, abs=0.05)
    assert _value(hass, "sensor.inverter_performance_ratio_today") == pytest.approx(
        100 * produced / expected_energy, abs=0.2
    )
    assert _value(hass, "sensor.inverter_specific_yield_today") == pytest.approx(produced / 5.0, abs=0.01)
    summary = hass.states.get("sensor.home_pv_production_today").attributes
    assert summary["expected_energy_today"] == pytest.approx(expected_energy, abs=0.01)
    assert summary["peak_power"] == 2345  # the collector's first state
    assert hass.states.get("sensor.home_pv_peak_power_today").state == "2345.0"
    expected_state = hass.states.get("sensor.inverter_expected_energy_today")
    assert "state_class" not in expected_state.attributes  # an estimate: no Energy dashboard candidate
    assert expected_state.attributes["unit_of_measurement"] == "kWh"

    # self-consumption from the meter's export counter: 0.5 kWh of the 2 kWh exported
    collector.state("meter", {"energy_export": 3321.57})
    await _tick(hass, freezer)
    summary = hass.states.get("sensor.home_pv_production_today").attributes
    assert summary["grid_export_today"] == pytest.approx(0.5, abs=0.001)
    assert summary["self_consumption"] == pytest.approx(100 * (produced - 0.5) / produced, abs=0.5)

    # the next day: today's figures start again; the 7-day ratio keeps yesterday
    yesterday_ratio = _value(hass, "sensor.inverter_performance_ratio_today")
    freezer.move_to("2025-06-22T07:00:30+00:00")  # 00:00:30 local
    await _tick(hass, freezer)
    assert _value(hass, "sensor.inverter_expected_energy_today") == 0.0
    assert hass.states.get("sensor.inverter_performance_ratio_today").state == "unknown"
    assert _value(hass, "sensor.inverter_performance_ratio_7_days") == yesterday_ratio
    assert hass.states.get("sensor.home_pv_production_today").state == "0.0"

    # the figures survive a restart of the entry
    await _configure_array(hass, entry, peak_power=0, tilt=20, azimuth=180, losses=14)  # removes it
    assert hass.states.get("binary_sensor.inverter_production_below_expected") is None
    assert hass.states.get("sensor.inverter_expected_power").state == "unknown"
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    collector.start()
    collector.announce(_without_weather(announcement))
    await hass.async_block_till_done()
    await _configure_array(hass, entry, peak_power=5.0, tilt=20, azimuth=180, losses=14)
    assert _value(hass, "sensor.inverter_performance_ratio_7_days") == yesterday_ratio


async def test_options_without_inverters(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    announcement: dict[str, Any],
) -> None:
    """The array step needs an inverter."""
    collector.status(True)
    announcement["devices"] = [d for d in announcement["devices"] if d["id"] == "meter"]
    collector.announce(announcement)
    await hass.async_block_till_done()
    result = await hass.config_entries.options.async_init(setup_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "array_device"}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "no_inverters")


async def test_string_imbalance(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    announcement: dict[str, Any],
) -> None:
    """One string more than the configured % below its siblings' mean raises the alert, with a
    hysteresis; below the minimum power nothing is compared."""
    inverter = next(d for d in announcement["devices"] if d["id"] == "inverter")
    inverter["points"] += [
        {"key": f"pv{n}_power", "name": f"PV{n} power", "kind": "number", "unit": "W",
         "device_class": "power", "state_class": "measurement", "precision": 0}
        for n in (1, 2, 3)
    ]  # fmt: skip
    collector.start()
    collector.announce(announcement)
    await hass.async_block_till_done()
    events = async_capture_events(hass, EVENT_ALERT)
    entity_id = "binary_sensor.inverter_string_imbalance"
    collector.state("inverter", {"pv1_power": 1000, "pv2_power": 980, "pv3_power": 850})  # 14 % below
    await hass.async_block_till_done()
    assert (hass.states.get(entity_id).state, hass.states.get(entity_id).attributes["reason"]) == (
        "off",
        "balanced",
    )
    collector.state("inverter", {"pv3_power": 700})  # 29 % below
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert (state.state, state.attributes["string"], state.attributes["percent"]) == ("on", "pv3_power", 29.3)
    assert "string pv3_power produces 700 W" in events[-1].data["message"]
    collector.state("inverter", {"pv3_power": 830})  # 16 %: inside the 5-point hysteresis
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == "on"
    collector.state("inverter", {"pv3_power": 900})
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == "off"
    hass.config_entries.async_update_entry(setup_integration, options={CONF_STRING_IMBALANCE: 5})
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == "on"
    collector.state("inverter", {"pv1_power": 60, "pv2_power": 50, "pv3_power": 10})  # dusk
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert (state.state, state.attributes["reason"]) == ("off", "low_power")
    assert [(e.data["alert"], e.data["active"]) for e in events] == [
        ("string_imbalance", True),
        ("string_imbalance", False),
        ("string_imbalance", True),
        ("string_imbalance", False),
    ]


async def test_fault_texts_translated(
    hass: HomeAssistant,
    mqtt_mock: Any,
    config_entry: MockConfigEntry,
    collector: FakeCollector,
    entity_registry: er.EntityRegistry,
) -> None:
    """Fault codes and the alert's sentence are in the user's language (attributes and event); the event
    also carries the reason code and the placeholders; a code nothing translates is made readable."""
    hass.config.language = "de"
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    collector.start()
    await hass.async_block_till_done()
    events = async_capture_events(hass, EVENT_ALERT)
    collector.state("inverter", {"events": 0b1101})
    await hass.async_block_till_done()
    entity_id = entity_registry.async_get_entity_id(
        "binary_sensor", DOMAIN, "home_inverter-alert-inverter_fault"
    )
    assert entity_id is not None
    fault = hass.states.get(entity_id)
    assert fault.attributes["faults"] == ["ground_fault", "bit_2", "over_temperature"]
    assert fault.attributes["fault_texts"] == ["Erdschluss", "Bit 2", "Übertemperatur"]
    assert fault.attributes["message"] == "Inverter: Störung aktiv (Erdschluss, Bit 2, Übertemperatur)"
    assert [(e.data["reason"], e.data["placeholders"], e.data["message"]) for e in events] == [
        (
            "fault_bits",
            {"device": "Inverter", "faults": "Erdschluss, Bit 2, Übertemperatur"},
            "Inverter: Störung aktiv (Erdschluss, Bit 2, Übertemperatur)",
        )
    ]


async def test_the_array_step_names_each_inverter_once(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    collector: FakeCollector,
    announcement: dict[str, Any],
) -> None:
    """An inverter is offered by its name ("Inverter", not "Inverter (inverter)"); its id is added only
    where two inverters share a name."""
    inverter = next(d for d in announcement["devices"] if d["id"] == "inverter")
    twins = [{**inverter, "id": "roof_east"}, {**inverter, "id": "roof_west"}]
    garage = {**inverter, "id": "garage", "name": "Garage"}
    announcement["devices"] = [d for d in announcement["devices"] if d["id"] != "inverter"]
    announcement["devices"] += [*twins, garage]
    collector.start()
    collector.announce(announcement)
    await hass.async_block_till_done()
    result = await hass.config_entries.options.async_init(setup_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "array_device"}
    )
    options = result["data_schema"].schema["device"].config["options"]
    assert [option["label"] for option in options] == [
        "Inverter (roof_east)",
        "Inverter (roof_west)",
        "Garage",
    ]
