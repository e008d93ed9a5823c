"""Entity names over the whole catalogue: every point of every shipped profile, as the collector announces
it, on a device named as people name them (its kind, the demo's names), gets a translated name that
does not repeat the device's name, no two entities of a device share a name, every enum state is
translated, and only measurements and totals collect statistics."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest
from homeassistant.const import Platform

from custom_components.pv_monitor.alerts import AlertType
from custom_components.pv_monitor.catalogue import point_platform
from custom_components.pv_monitor.contract import parse_announcement
from custom_components.pv_monitor.messages import DeviceDef
from custom_components.pv_monitor.sensor import point_sensor_description
from custom_components.pv_monitor.vocabulary import TRANSLATED_STATES, point_name, without_device_name
from pv_collector.messages import PointAnnouncement
from tests.collector.device_images import decode, image_name, image_paths

ROOT = Path(__file__).parents[2] / "custom_components" / "pv_monitor"
STRINGS = json.loads((ROOT / "strings.json").read_text())
# Device names as the demo and the documentation give them, per device kind.
DEVICE_NAMES = {
    "inverter": ("Inverter", "Hybrid inverter"),
    "meter": ("Grid meter", "Meter"),
    "battery": ("Battery",),
    "environment": ("Weather station", "Environment sensor"),
    "other": ("Device",),
}
# Every register image of a shipped profile (real devices and the vendors' documents): the points the
# collector announces for that device, as it announces them. The user's own example profile names its
# points itself: it is not part of the shipped vocabulary.
IMAGES = [path for path in image_paths() if path.parent.name != "generic_example"]


def _devices(path: Path) -> list[DeviceDef]:
    """The image's device as announced, once under each name people give its kind."""
    decoded = asyncio.run(decode(path))
    kind = decoded.sunspec.kind if decoded.sunspec is not None else decoded.profile.kind
    announced = {p.key: PointAnnouncement.of(p) for p in decoded.points if not p.hidden}
    points = [point.to_payload() for point in announced.values()]
    devices = [
        {"id": f"{kind}_{n}", "name": name, "kind": kind, "points": points}
        for n, name in enumerate(DEVICE_NAMES[kind])
    ]
    document = {
        "contract": 1,
        "collector": {"id": "c", "name": "Home PV", "version": "1"},
        "devices": devices,
    }
    announcement = parse_announcement(json.dumps(document))
    assert not announcement.problems
    return list(announcement.devices)


def _name(device: DeviceDef, platform: Platform, key: str) -> str:
    point = device.point(key)
    assert point is not None
    named = point_name(point, device, platform)
    if named.translation_key is None:
        assert named.name is not None
        return named.name
    text: str = STRINGS["entity"][str(platform)][named.translation_key]["name"]
    for placeholder, value in (named.placeholders or {}).items():
        text = text.replace("{" + placeholder + "}", value)
    return text


@pytest.mark.parametrize("path", IMAGES, ids=image_name)
def test_every_point_has_a_translated_name(path: Path) -> None:
    """A shipped point is named by a translation key (so German users read German names); the advanced
    points (generated SunSpec keys, created disabled) keep the names the SunSpec definitions give."""
    untranslated = [
        f"{device.kind}:{point.key}"
        for device in _devices(path)
        for point in device.points
        if not point.advanced and point_name(point, device, point_platform(point)).translation_key is None
    ]
    assert untranslated == []


@pytest.mark.parametrize("path", IMAGES, ids=image_name)
def test_no_name_starts_with_the_device_name(path: Path) -> None:
    problems = [
        f"{device.name!r}: {name!r}"
        for device in _devices(path)
        for point in device.points
        if (name := _name(device, point_platform(point), point.key))
        .lower()
        .startswith(device.name.lower() + " ")
    ]
    assert problems == []


@pytest.mark.parametrize("path", IMAGES, ids=image_name)
def test_names_are_unique_on_a_device(path: Path) -> None:
    for device in _devices(path):
        names = Counter(_name(device, point_platform(point), point.key) for point in device.points)
        assert [name for name, count in names.items() if count > 1] == [], device.kind


@pytest.mark.parametrize("path", IMAGES, ids=image_name)
def test_every_enum_state_is_translated(path: Path) -> None:
    for device in _devices(path):
        for point in device.points:
            if point.kind != "enum" or point.advanced:
                continue
            named = point_name(point, device, point_platform(point))
            assert named.translation_key in TRANSLATED_STATES, point.key
            assert set(point.options) <= TRANSLATED_STATES[named.translation_key], point.key


@pytest.mark.parametrize("path", IMAGES, ids=image_name)
def test_only_measurements_collect_statistics(path: Path) -> None:
    """Nameplate ratings, vendor codes and settings are neither measurements nor totals (they would
    collect statistics and show up among the Energy dashboard's candidates)."""
    constants = ("rated_", "setting_", "status_vendor", "capacity", "der_type", "device_type")
    for device in _devices(path):
        for point in device.points:
            if point_platform(point) is not Platform.SENSOR or not point.key.startswith(constants):
                continue
            assert point_sensor_description(point, device).state_class is None, point.key


def test_alert_and_summary_names_do_not_repeat_their_device() -> None:
    """Alerts sit on devices named after what they watch ("Inverter", "Battery"); the daily figures
    on the collector ("Simulated PV")."""
    names = {alert: STRINGS["entity"]["binary_sensor"][str(alert)]["name"] for alert in AlertType}
    for device_name in ("Inverter", "Battery", "Grid meter", "Collector", "Device"):
        for alert, name in names.items():
            assert not name.lower().startswith(device_name.lower()), (alert, name)
    for key in ("pv_energy_today", "pv_peak_power_today"):
        assert not STRINGS["entity"]["sensor"][key]["name"].startswith("PV ")


def test_announced_names_lose_a_leading_device_name() -> None:
    assert without_device_name("Battery power", "Battery") == "Power"
    assert without_device_name("Battery", "Battery") == "Battery"
    assert without_device_name("PV1 voltage", "Inverter") == "PV1 voltage"
