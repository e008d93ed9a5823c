"""The entity model has one owner, the collector (pv_collector/entity_model.py), which announces each point's
`entity`. Checked here, where Home Assistant is installed:

- the collector's hand copy of Home Assistant's tables is this Home Assistant's, for every device class it
  lists (a failure names the change to copy);
- the integration makes the same entities from this collector's announcement as from one of a collector
  before 0.2.0 (no `entity`: `contract_points.entity_of_collector_before_0_2`), for every point a shipped
  profile can announce, so a partial update moves no entity.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from enum import StrEnum

import pytest
from homeassistant.components.number import NumberDeviceClass
from homeassistant.components.number import const as number_const
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.components.sensor import const as sensor_const
from homeassistant.const import __version__ as HA_VERSION

from custom_components.pv_monitor.contract import parse_announcement, parse_point
from pv_collector import entity_model
from pv_collector.messages import PointAnnouncement
from pv_collector.profile import list_profiles, load_profile
from tests.collector.test_profile_conformance import defined_points
from tests.helpers import point_with_entity, with_entities

from .conftest import load_fixture
from .test_contract import doc_examples

SOURCE = "pv_collector/entity_model.py"


def _strings(values: Collection[object]) -> set[str | None]:
    return {None if value is None else str(value) for value in values}


def _changed(change: str, fix: str) -> str:
    """A failure line: what this Home Assistant changed, and what to do in the collector's copy."""
    return f"Home Assistant {HA_VERSION} {change}; {fix} in {SOURCE}"


def _difference(
    what: str, device_class: str, ours: Collection[object], theirs: Collection[object]
) -> list[str]:
    """A line naming how Home Assistant's set differs from the collector's copy, if it does."""
    added, dropped = _strings(theirs) - _strings(ours), _strings(ours) - _strings(theirs)
    if not added and not dropped:
        return []
    change = f"changed the {what} of {device_class!r}: added {sorted(added, key=str)}"
    return [_changed(f"{change}, dropped {sorted(dropped, key=str)}", "copy them")]


def _units(
    platform: str, classes: type[StrEnum], table: Mapping[StrEnum, Collection[object]], device_class: str
) -> list[str]:
    """The collector's units of a device class against one platform's table of Home Assistant."""
    try:
        theirs = table.get(classes(device_class))
    except ValueError:
        return [_changed(f"has no {platform} device class {device_class!r}", "remove it")]
    if device_class in entity_model.ANY_UNIT_DEVICE_CLASSES:
        restricted = f"restricts the units of {platform} device class {device_class!r} to {theirs}"
        return [] if theirs is None else [_changed(restricted, "copy them")]
    if theirs is None:
        unrestricted = f"takes any unit for {platform} device class {device_class!r}"
        return [_changed(unrestricted, "list it in ANY_UNIT_DEVICE_CLASSES")]
    return _difference(
        f"{platform} units", device_class, entity_model.DEVICE_CLASS_UNITS[device_class], theirs
    )


def test_units_are_home_assistants() -> None:
    """Sensors and numbers accept the units the collector lists for every numeric device class."""
    problems: list[str] = []
    for device_class in (*entity_model.DEVICE_CLASS_UNITS, *entity_model.ANY_UNIT_DEVICE_CLASSES):
        problems += _units("sensor", SensorDeviceClass, sensor_const.DEVICE_CLASS_UNITS, device_class)
        problems += _units("number", NumberDeviceClass, number_const.DEVICE_CLASS_UNITS, device_class)
    assert problems == [], "\n".join(problems)


def test_state_classes_are_home_assistants() -> None:
    problems: list[str] = []
    for device_class, ours in entity_model.DEVICE_CLASS_STATE_CLASSES.items():
        try:
            theirs = sensor_const.DEVICE_CLASS_STATE_CLASSES.get(SensorDeviceClass(device_class), set())
        except ValueError:
            problems.append(_changed(f"has no device class {device_class!r}", "remove it"))
            continue
        problems += _difference("state classes", device_class, ours, theirs)
    assert problems == [], "\n".join(problems)


def test_non_numeric_device_classes_are_home_assistants() -> None:
    """The device classes never a number's, and every other one the collector lists is a number's."""
    theirs = _strings(sensor_const.NON_NUMERIC_DEVICE_CLASSES)
    changed = f"changed its non-numeric device classes to {sorted(theirs, key=str)}"
    assert theirs == set(entity_model.NON_NUMERIC_DEVICE_CLASSES), _changed(changed, "copy them")
    numeric = {*entity_model.DEVICE_CLASS_UNITS, *entity_model.ANY_UNIT_DEVICE_CLASSES}
    assert not numeric & theirs


def _every_shipped_point() -> list[dict[str, object]]:
    """Every point a shipped profile can announce, as this collector announces it (with `entity`)."""
    return [
        PointAnnouncement.of(point).to_payload()
        for profile_id in list_profiles()
        for _where, point in defined_points(load_profile(profile_id))
        if not point.hidden
    ]


def test_an_older_collectors_points_make_the_same_entities() -> None:
    """Read without its `entity`, every shipped point makes the entity the collector resolved for it."""
    points = _every_shipped_point()
    assert len(points) > 1000
    differ = []
    for announced in points:
        older = {key: value for key, value in announced.items() if key != "entity"}
        if parse_point(older, "point") != parse_point(announced, "point"):
            differ.append(announced["key"])
    assert differ == []


def test_the_fixture_announcement_is_the_same_with_and_without_entities() -> None:
    """The entity snapshots (test_entities.py) are taken from this collector's form of the fixture."""
    fixture = load_fixture("announcement.json")
    assert parse_announcement(json.dumps(with_entities(fixture))) == parse_announcement(json.dumps(fixture))


@pytest.mark.parametrize(
    ("entity", "problem"),
    [
        ({"platform": "light"}, "platform: 'light' is not one of"),
        ({"platform": "switch"}, "a switch cannot show a read-only number point"),
        ({"platform": "number"}, "a number cannot show a read-only number point"),
        ({"platform": "sensor", "display_factor": 0}, "display_factor: 0 is not larger than 0"),
        ({"platform": "sensor", "display_precision": -1}, "display_precision: -1 is not an integer"),
        ({"platform": "sensor", "state_class": "sometimes"}, "state_class: 'sometimes'"),
        ("sensor", "entity: 'sensor' is not an object"),
    ],
)
def test_a_broken_entity_leaves_the_point_out(entity: object, problem: str) -> None:
    data = load_fixture("announcement.json")
    data["devices"][1]["points"].append({"key": "odd", "name": "Odd", "kind": "number", "entity": entity})
    announcement = parse_announcement(json.dumps(data))
    assert len(announcement.problems) == 1
    assert problem in announcement.problems[0]
    assert announcement.incomplete == {"meter"}


def test_the_documents_examples_carry_the_collectors_entities() -> None:
    """docs/mqtt-contract.md shows each point's `entity` as the collector resolves it."""
    examples = [example for example in doc_examples() if "contract" in example]
    points = [point for example in examples for device in example["devices"] for point in device["points"]]
    assert points
    for point in points:
        older = {key: value for key, value in point.items() if key != "entity"}
        assert point_with_entity(older) == point, point["key"]
