"""The entity model (pv_collector/entity_model.py): the Home Assistant entity each announced point becomes,
resolved once in the collector for both consumers (the integration and the standard MQTT discovery)."""

from __future__ import annotations

import pytest

from pv_collector.entity_model import Entity, published_while_asleep, resolve
from pv_collector.model import PointKind


@pytest.mark.parametrize(
    ("kind", "writable", "platform"),
    [
        ("number", False, "sensor"),
        ("number", True, "number"),
        ("enum", False, "sensor"),
        ("enum", True, "select"),
        ("bool", False, "binary_sensor"),
        ("bool", True, "switch"),
        ("text", False, "sensor"),
        ("text", True, "sensor"),
        ("bitfield", False, "sensor"),
        ("action", True, "button"),
        ("action", False, "button"),
    ],
)
def test_platform_by_kind_and_writability(kind: PointKind, writable: bool, platform: str) -> None:
    assert resolve(kind, writable=writable).platform == platform


@pytest.mark.parametrize(
    ("unit", "device_class", "expected"),
    [
        ("W", "power", "power"),
        ("kWh", "power", None),  # Home Assistant refuses kWh for power: the entity has no device class
        ("W", "no_such_class", None),
        ("kWh", "energy", "energy"),
        (None, "power_factor", "power_factor"),  # a plain factor has no unit
        ("EUR", "monetary", "monetary"),  # any currency
        (None, "timestamp", None),  # its states are not numbers
        ("s", "uptime", None),
        (None, None, None),
    ],
)
def test_device_class_only_where_home_assistant_accepts_the_unit(
    unit: str | None, device_class: str | None, expected: str | None
) -> None:
    assert resolve("number", writable=False, unit=unit, device_class=device_class).device_class == expected
    assert resolve("number", writable=True, unit=unit, device_class=device_class).device_class == expected


@pytest.mark.parametrize(
    ("unit", "device_class", "state_class", "expected"),
    [
        ("W", "power", "measurement", "measurement"),
        ("W", "power", "total_increasing", None),  # not for power
        ("kWh", "energy", "total_increasing", "total_increasing"),
        ("kWh", "energy", "measurement", None),
        ("W", "power", None, None),  # a rating: no statistics
        ("rpm", None, "measurement", "measurement"),  # no device class: any state class
        ("kWh", "power", "total_increasing", "total_increasing"),  # the refused class does not count
    ],
)
def test_state_class_only_where_allowed_for_the_device_class(
    unit: str, device_class: str | None, state_class: str | None, expected: str | None
) -> None:
    entity = resolve("number", writable=False, unit=unit, device_class=device_class, state_class=state_class)
    assert entity.state_class == expected


def test_classes_are_a_numbers_and_a_number_entity_has_no_state_class() -> None:
    assert resolve("enum", writable=False, device_class="power", state_class="measurement") == Entity(
        platform="sensor"
    )
    number = resolve("number", writable=True, unit="W", device_class="power", state_class="measurement")
    assert number == Entity(platform="number", device_class="power")


def test_a_plain_power_factor_is_shown_in_percent() -> None:
    plain = resolve(
        "number", writable=False, device_class="power_factor", state_class="measurement", precision=3
    )
    assert plain.to_payload() == {
        "platform": "sensor",
        "device_class": "power_factor",
        "state_class": "measurement",
        "display_unit": "%",
        "display_precision": 1,
        "display_factor": 100,
    }
    assert resolve("number", writable=False, device_class="power_factor").display_precision == 0
    percent = resolve("number", writable=False, unit="%", device_class="power_factor", precision=1)
    assert (percent.display_unit, percent.display_precision, percent.display_factor) == (None, None, None)


@pytest.mark.parametrize(("unit", "decimals"), [("Wh", 0), ("kWh", 2), ("MWh", 4)])
def test_energy_counters_show_the_same_decimals(unit: str, decimals: int) -> None:
    for precision in (None, 0, 1, 3):
        entity = resolve("number", writable=False, unit=unit, device_class="energy", precision=precision)
        assert entity.display_precision == decimals
    assert resolve("number", writable=False, unit="J", device_class="energy").display_precision is None


@pytest.mark.parametrize(
    ("kind", "writable", "device_class", "state_class", "expected"),
    [
        ("number", False, "energy", "total_increasing", True),  # its last value
        ("number", False, None, "total", True),
        ("number", False, "power", "measurement", True),  # 0 W, inferred
        ("number", False, "reactive_power", "measurement", True),
        ("number", False, "voltage", "measurement", False),
        ("number", False, "power", None, False),  # a rating
        ("number", True, "power", "measurement", False),  # a setting
        ("bool", False, None, None, False),
    ],
)
def test_points_published_while_asleep(
    kind: str, writable: bool, device_class: str | None, state_class: str | None, expected: bool
) -> None:
    found = published_while_asleep(
        kind, writable=writable, device_class=device_class, state_class=state_class
    )
    assert found is expected
