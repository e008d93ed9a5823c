"""Translations: English and German cover the same keys, and every key the code uses exists."""

import json
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import Platform

from custom_components.pv_monitor.alerts import AlertType
from custom_components.pv_monitor.device_trigger import TRIGGER_TYPES
from custom_components.pv_monitor.sensor import HEALTH_DESCRIPTIONS, STAT_DESCRIPTIONS, SUMMARY_DESCRIPTIONS
from custom_components.pv_monitor.vocabulary import TRANSLATED_STATES, VOCABULARY

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
            VOCABULARY[Platform.SENSOR]
            | {d.key for d in (*STAT_DESCRIPTIONS, *HEALTH_DESCRIPTIONS, *SUMMARY_DESCRIPTIONS)}
            | {"connection"},
        ),
        ("binary_sensor", VOCABULARY[Platform.BINARY_SENSOR] | {str(a) for a in AlertType}),
        ("number", VOCABULARY[Platform.NUMBER]),
        ("select", VOCABULARY[Platform.SELECT]),
        ("switch", VOCABULARY[Platform.SWITCH]),
    ],
)
def test_entity_names(platform: str, keys: frozenset[str]) -> None:
    """Every key the code names an entity with has a name, and strings.json names nothing else."""
    entities = load("strings.json")["entity"][platform]
    assert set(keys) == set(entities)


def test_states_and_triggers() -> None:
    strings = load("strings.json")
    for key, states in TRANSLATED_STATES.items():
        for platform in ("sensor", "select"):
            if key in VOCABULARY[Platform(platform)]:
                assert set(strings["entity"][platform][key]["state"]) == states, (platform, key)
    assert set(strings["device_automation"]["trigger_type"]) == TRIGGER_TYPES


def test_icons_refer_to_translated_entities() -> None:
    entities = load("strings.json")["entity"]
    for platform, keys in load("icons.json")["entity"].items():
        assert set(keys) <= set(entities[platform]), platform
