"""Translations: English and German cover the same keys, and every key the code uses exists."""

import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.pv_monitor.alerts import AlertType
from custom_components.pv_monitor.const import (
    BINARY_SENSOR_KEYS,
    NUMBER_KEYS,
    PV_STRING_KEYS,
    SELECT_KEYS,
    SENSOR_KEYS,
    SWITCH_KEYS,
    TRANSLATED_STATES,
)
from custom_components.pv_monitor.device_trigger import TRIGGER_TYPES
from custom_components.pv_monitor.sensor import STAT_DESCRIPTIONS

ROOT = Path(__file__).parents[2] / "custom_components" / "pv_monitor"


def load(name: str) -> dict[str, Any]:
    return json.loads((ROOT / name).read_text())


def leaves(data: Any, prefix: str = "") -> set[str]:
    if isinstance(data, dict):
        return {leaf for key, value in data.items() for leaf in leaves(value, f"{prefix}{key}.")}
    return {prefix.rstrip(".")}


def test_english_is_strings() -> None:
    assert load("translations/en.json") == load("strings.json")


def test_german_complete() -> None:
    assert leaves(load("translations/de.json")) == leaves(load("strings.json"))


@pytest.mark.parametrize(
    ("platform", "keys"),
    [
        (
            "sensor",
            SENSOR_KEYS
            | {d.key for d in STAT_DESCRIPTIONS}
            | {"connection"}
            | {v[0] for v in PV_STRING_KEYS.values()},
        ),
        ("binary_sensor", BINARY_SENSOR_KEYS | {str(a) for a in AlertType}),
        ("number", NUMBER_KEYS),
        ("select", SELECT_KEYS),
        ("switch", SWITCH_KEYS),
    ],
)
def test_entity_names(platform: str, keys: frozenset[str]) -> None:
    entities = load("strings.json")["entity"][platform]
    assert set(keys) <= set(entities)


def test_states_and_triggers() -> None:
    strings = load("strings.json")
    for key, states in TRANSLATED_STATES.items():
        assert set(strings["entity"]["sensor"][key]["state"]) == states
    assert set(strings["device_automation"]["trigger_type"]) == TRIGGER_TYPES


def test_icons_refer_to_translated_entities() -> None:
    entities = load("strings.json")["entity"]
    for platform, keys in load("icons.json")["entity"].items():
        assert set(keys) <= set(entities[platform]), platform
