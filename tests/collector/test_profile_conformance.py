"""Conformance of every shipped profile: it loads, every point decodes from its register images, every
identify probe matches the images and `identify` names the profile from them, every counter has a rate
bound, a value and its scale factor share a read, the read plan keeps the profile's limits, and units,
device classes and state classes are ones Home Assistant accepts (its installed tables; only this test
imports Home Assistant, never the collector) and the collector's entity model keeps."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pv_collector.entity_model import point_entity
from pv_collector.identify import identify_unit, probe_outcome
from pv_collector.model import Point, Profile, ReadBlock
from pv_collector.planner import MODBUS_MAX_READ
from pv_collector.plausibility import counter_rate_bound
from pv_collector.profile import list_profiles, load_profile
from pv_collector.recording import ImageReader, read_plan
from pv_collector.register_image import load_image
from pv_collector.sunspec_models import list_sunspec_models, load_sunspec_model, overlay_entries
from tests.collector.device_images import Decoded, decode, image_paths

PROFILES = list_profiles()


def sunspec_models(profile: Profile) -> list[int]:
    """The SunSpec models a profile decodes: those it lists, else every model with a definition."""
    if profile.sunspec_base is None:
        return []
    return list(profile.sunspec_models) or list_sunspec_models()


def defined_points(profile: Profile) -> list[tuple[str, Point]]:
    """Every point a profile can give a device, with where it is defined (SunSpec: every model's, with
    one instance of each repeating group)."""
    points = [(profile.id, point) for point in profile.points]
    for model in sunspec_models(profile):
        definition = load_sunspec_model(model)
        assert definition is not None, f"{profile.id}: no definition of SunSpec model {model}"
        points.extend((f"{profile.id} model {model}", point) for point in definition.example_points())
    return points


async def decoded_images(profile_id: str) -> list[Decoded]:
    paths = image_paths(profile_id)
    assert paths, f"{profile_id}: no register image in tests/fixtures/devices/{profile_id}/"
    return [await decode(path) for path in paths]


def _sunspec_key(decoded: Decoded, point: Point) -> tuple[int, str] | None:
    """(model, key in the model definition) of a point a SunSpec scan placed."""
    assert decoded.sunspec is not None
    for model in decoded.sunspec.models:
        if model.address + 2 <= point.address < model.address + 2 + model.length:
            definition = load_sunspec_model(model.id)
            if definition is None:
                return None
            offset = point.address - model.address - 2
            for candidate in definition.points(model.length, dict(model.counts), model.plain):
                if candidate.address == offset and candidate.words == point.words:
                    return model.id, candidate.key
    return None


@pytest.mark.parametrize("profile_id", PROFILES)
def test_loads(profile_id: str) -> None:
    profile = load_profile(profile_id)
    assert profile.id == profile_id
    assert defined_points(profile)


@pytest.mark.parametrize("profile_id", PROFILES)
async def test_every_point_decodes_from_its_images(profile_id: str) -> None:
    """In each image, a point whose registers are there decodes, unless the image marks them "not
    implemented"; across the profile's images every point decodes at least once (SunSpec: every point of
    the overlay's vocabulary, one instance of each repeating group)."""
    profile = load_profile(profile_id)
    problems: list[str] = []
    decoded_somewhere: set[object] = set()
    for decoded in await decoded_images(profile_id):
        name = f"{profile_id}/{decoded.image.identity.model}"
        for point in decoded.points:
            if point.kind == "action":
                continue
            if point.compute is not None:  # no registers: it decodes when its inputs do
                inputs = point.compute.inputs
                if point.key in decoded.values:
                    decoded_somewhere.add(point.key)
                elif all(key in decoded.values for key in inputs):
                    problems.append(f"{name}: {point.key} has all its inputs but no value")
                continue
            if point.key in decoded.values:
                key: object = point.key if decoded.sunspec is None else _sunspec_key(decoded, point)
                decoded_somewhere.add(key)
            elif decoded.readable(point) and not decoded.image.covered(
                point.function, point.address, point.words
            ):
                words = decoded.image.words(point.function, point.address, point.words)
                problems.append(f"{name}: {point.key} decodes to nothing from {words} (not marked)")
    expected: set[object] = set()
    if profile.sunspec_base is None:
        expected = {point.key for point in profile.points if point.kind != "action"}
    for model in sunspec_models(profile):
        definition = load_sunspec_model(model)
        assert definition is not None
        if model in overlay_entries():
            overlaid = [p for p in definition.example_points() if not p.key.startswith(f"m{model}_")]
            expected |= {(model, p.key) for p in overlaid}
    missing = sorted(str(key) for key in expected - decoded_somewhere)
    assert problems == []
    assert missing == [], f"{profile_id}: points no image gives a value"


IDENTIFIED = [profile_id for profile_id in PROFILES if load_profile(profile_id).identify]


@pytest.mark.parametrize("profile_id", IDENTIFIED)
async def test_every_identify_probe_matches_its_images(profile_id: str) -> None:
    """An image that holds a probe's registers matches it (a real device never contradicts a probe), and
    at least one image holds them all."""
    profile = load_profile(profile_id)
    mismatched: list[str] = []
    complete = []
    for path in image_paths(profile_id):
        image = load_image(path)
        held = 0
        for probe in profile.identify:
            if not image.has(probe.function, probe.address, probe.words) or image.refusal(
                probe.function, probe.address, probe.words
            ):
                continue
            held += 1
            outcome, value = probe_outcome(probe, image.words(probe.function, probe.address, probe.words))
            if outcome != "match":
                mismatched.append(f"{path.stem}: {probe.describe()} reads {value}")
        if held == len(profile.identify):
            complete.append(path.stem)
    assert mismatched == []
    assert complete, f"{profile_id}: no image holds the registers of every identify probe"


@functools.cache
def shipped_profiles() -> tuple[Profile, ...]:
    """Every shipped profile, loaded once for the identify tests (frozen; identify only reads them)."""
    return tuple(load_profile(profile_id) for profile_id in PROFILES)


@pytest.mark.parametrize("profile_id", [*IDENTIFIED, "sunspec"])
async def test_identify_names_the_profile_of_its_images(profile_id: str) -> None:
    """`identify` on an image that holds every probe proposes the image's profile, sure of it (SunSpec
    images: by their marker), among every shipped profile."""
    profiles = list(shipped_profiles())
    profile = load_profile(profile_id)
    named = []
    for path in image_paths(profile_id):
        image = load_image(path)
        if not all(image.has(p.function, p.address, p.words) for p in profile.identify):
            continue
        unit = image.identity.unit_id or 1
        finding = await identify_unit(ImageReader(image), unit, profiles)
        named.append((path.stem, finding.profile_id, finding.sure))
    assert named
    assert [(stem, found, sure) for stem, found, sure in named if (found, sure) != (profile_id, True)] == []


@pytest.mark.parametrize("profile_id", PROFILES)
def test_every_counter_has_a_rate_bound(profile_id: str) -> None:
    profile = load_profile(profile_id)
    unbounded = [
        f"{where}: {point.key}"
        for where, point in defined_points(profile)
        if point.state_class in ("total", "total_increasing") and not counter_rate_bound(profile, point)
    ]
    assert unbounded == []


def _plans(decoded: Decoded) -> Iterator[tuple[str, list[ReadBlock]]]:
    """The collector's read plans for a device: polled points, then device information."""
    polled = [p for p in decoded.points if p.info is None]
    info = [p for p in decoded.points if p.info is not None]
    yield "polled", read_plan(polled, decoded.profile) if polled else []
    yield "info", read_plan(info, decoded.profile) if info else []


@pytest.mark.parametrize("profile_id", PROFILES)
async def test_a_value_and_its_scale_factor_share_a_read(profile_id: str) -> None:
    """Issue 15: a point and its scale factor are read in one request, or (where one request cannot hold
    both) the scale factor is re-read right before and after the point's block (planner module doc)."""
    split: list[str] = []
    for decoded in await decoded_images(profile_id):
        for _kind, plan in _plans(decoded):
            for index, block in enumerate(plan):
                keys = {point.key for point in block.points}
                for point in block.points:
                    if point.sf is None or point.sf in keys:
                        continue
                    reads = [i for i, b in enumerate(plan) if any(p.key == point.sf for p in b.points)]
                    if not (any(i < index for i in reads) and any(i > index for i in reads)):
                        split.append(f"{decoded.image.identity.model}: {point.key}, {point.sf} elsewhere")
    assert split == []


@pytest.mark.parametrize("profile_id", PROFILES)
async def test_the_read_plan_keeps_the_profile_limits(profile_id: str) -> None:
    profile = load_profile(profile_id)
    assert 1 <= profile.max_block <= MODBUS_MAX_READ
    for decoded in await decoded_images(profile_id):
        for kind, plan in _plans(decoded):
            # Scale factors may be read again around a block whose points they scale (issue 15).
            planned = [point.key for block in plan for point in block.points if point.type != "sunssf"]
            assert len(planned) == len(set(planned)), f"{kind}: a point is read twice"
            for block in plan:
                assert 1 <= block.count <= profile.max_block, block
                ordered = sorted(block.points, key=lambda p: p.address)
                assert ordered[0].address == block.address
                assert max(p.end for p in ordered) == block.address + block.count
                reach = ordered[0].end
                for index, point in enumerate(ordered[1:], start=1):
                    if point.address - reach > profile.max_gap:  # only to keep a value with its scale factor
                        before = {p.key for p in ordered[:index]}
                        assert any(p.sf in before for p in ordered[index:]) or any(
                            p.sf is not None and p.sf not in before for p in ordered[:index]
                        ), f"{point.key}: gap beyond max_gap"
                    reach = max(reach, point.end)


@dataclass(frozen=True)
class HomeAssistantTables:
    """What the installed Home Assistant accepts, per device class. As HA checks them, a device class
    missing from a units or state-class table is not restricted by it."""

    sensor_classes: frozenset[str]
    sensor_units: dict[str, set[str | None]]
    sensor_state_classes: dict[str, set[str]]
    number_classes: frozenset[str]
    number_units: dict[str, set[str | None]]


def home_assistant_tables() -> HomeAssistantTables:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # HA swaps voluptuous for probatio at import
        warnings.simplefilter("ignore", DeprecationWarning)  # raised inside HA's own modules
        from homeassistant.components.number import const as number
        from homeassistant.components.sensor import const as sensor
    return HomeAssistantTables(
        sensor_classes=frozenset(str(dc.value) for dc in sensor.SensorDeviceClass),
        sensor_units={str(dc.value): set(units) for dc, units in sensor.DEVICE_CLASS_UNITS.items()},
        sensor_state_classes={
            str(dc.value): {str(sc.value) for sc in classes}
            for dc, classes in sensor.DEVICE_CLASS_STATE_CLASSES.items()
        },
        number_classes=frozenset(str(dc.value) for dc in number.NumberDeviceClass),
        number_units={str(dc.value): set(units) for dc, units in number.DEVICE_CLASS_UNITS.items()},
    )


def _class_problems(
    point: Point, classes: frozenset[str], units: dict[str, set[str | None]], platform: str
) -> list[str]:
    device_class = point.device_class
    if device_class is None:
        return []
    if device_class not in classes:
        return [f"{device_class} is not a {platform} device class"]
    if device_class in units and point.unit not in units[device_class]:
        return [f"unit {point.unit!r} is not one HA accepts for {device_class}"]
    return []


@pytest.mark.parametrize("profile_id", PROFILES)
def test_units_and_classes_are_ones_home_assistant_accepts(profile_id: str) -> None:
    """Read-only numbers become sensors, writable numbers number entities (the integration's rule)."""
    tables = home_assistant_tables()
    problems: list[str] = []
    for where, point in defined_points(load_profile(profile_id)):
        if point.hidden:
            continue
        label = f"{where}: {point.key}"
        if point.kind != "number":
            if point.device_class or point.state_class:
                problems.append(f"{label}: a {point.kind} point with a device or state class")
        elif point.writable is not None:
            found = _class_problems(point, tables.number_classes, tables.number_units, "number")
            problems.extend(f"{label}: {problem}" for problem in found)
        else:
            found = _class_problems(point, tables.sensor_classes, tables.sensor_units, "sensor")
            problems.extend(f"{label}: {problem}" for problem in found)
            allowed = tables.sensor_state_classes.get(point.device_class or "")
            if point.state_class is not None and allowed is not None and point.state_class not in allowed:
                problems.append(f"{label}: state class {point.state_class} not for {point.device_class}")
    assert problems == []


@pytest.mark.parametrize("profile_id", PROFILES)
def test_the_entity_model_keeps_every_announced_class(profile_id: str) -> None:
    """The entity model (entity_model.py) leaves out a device class Home Assistant would refuse with the
    point's unit, and a state class it does not allow with the device class: in a shipped profile either is
    a profile bug (the announced class would reach no entity)."""
    dropped: list[str] = []
    for where, point in defined_points(load_profile(profile_id)):
        if point.hidden or point.kind != "number":
            continue
        entity = point_entity(point)
        label = f"{where}: {point.key}"
        if entity.device_class != point.device_class:
            dropped.append(f"{label}: device class {point.device_class} with unit {point.unit!r}")
        if entity.platform == "sensor" and entity.state_class != point.state_class:
            dropped.append(f"{label}: state class {point.state_class} with device class {point.device_class}")
    assert dropped == []
