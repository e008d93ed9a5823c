"""The contract's messages as the collector sends them (pv_collector/messages.py): the exact JSON of each, and
the announcement's `entity` against the schema for every point of every shipped profile."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from pv_collector.entity_model import Entity
from pv_collector.messages import (
    Announcement,
    CollectorInfo,
    DeviceAnnouncement,
    EventMessage,
    GatewayStats,
    PointAnnouncement,
    StateMessage,
    StatsMessage,
)
from pv_collector.model import Point, Writable
from pv_collector.profile import list_profiles, load_profile
from tests.collector.conftest import schema
from tests.collector.test_profile_conformance import defined_points


def wire(payload: dict[str, Any]) -> str:
    """As the publisher writes it (publisher.dumps)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False)


def test_the_announcement_as_on_the_wire() -> None:
    """Fields in the contract's order, optional ones only when set, every point with its `entity` last."""
    limit = Point(key="power_limit", name="Power limit", address=1, unit="%", precision=0, role="power_limit",
                  category="config", writable=Writable(min=0, max=100, step=1))  # fmt: skip
    mode = Point(key="mode", name="Mode", address=2, kind="enum", options={0: "auto", 1: "manual", 2: "auto"},
                 writable=Writable())  # fmt: skip
    events = Point(key="events", name="Events", address=3, kind="bitfield", bits={3: "fault", 0: "arc"},
                   advanced=True)  # fmt: skip
    device = DeviceAnnouncement(
        id="inverter",
        name="Inverter",
        kind="inverter",
        profile="sunspec",
        poll_interval=5.0,
        manufacturer="SunSpec",
        serial="S" * 120,
        points=tuple(PointAnnouncement.of(point) for point in (limit, mode, events)),
        pending=True,
    )
    announcement = Announcement(
        collector=CollectorInfo(
            id="home", name="Home PV", version="0.2.0", instance="4f1c", ha_discovery=True
        ),
        devices=(device,),
    )
    assert wire(announcement.to_payload()) == (
        '{"contract":1,"collector":{"id":"home","name":"Home PV","version":"0.2.0","instance":"4f1c",'
        '"ha_discovery":true},"devices":[{"id":"inverter","name":"Inverter","kind":"inverter",'
        '"profile":"sunspec","poll_interval":5.0,"manufacturer":"SunSpec","serial":"' + "S" * 100 + '",'
        '"points":[{"key":"power_limit","name":"Power limit","kind":"number","unit":"%","precision":0,'
        '"category":"config","role":"power_limit","writable":{"min":0,"max":100,"step":1},'
        '"entity":{"platform":"number"}},'
        '{"key":"mode","name":"Mode","kind":"enum","options":["auto","manual"],"writable":{},'
        '"entity":{"platform":"select"}},'
        '{"key":"events","name":"Events","kind":"bitfield","bits":{"0":"arc","3":"fault"},"advanced":true,'
        '"entity":{"platform":"sensor"}}],"pending":true}]}'
    )
    plain = CollectorInfo(id="home", name="Home PV", version="0.2.0", instance="4f1c")
    assert "ha_discovery" not in plain.to_payload()


def test_state_and_event_messages_as_on_the_wire() -> None:
    state = StateMessage(ts=1.5, values={"ac_power": 0, "energy_total": 12.5}, inferred=("ac_power",))
    assert (
        wire(state.to_payload())
        == '{"ts":1.5,"v":{"ac_power":0,"energy_total":12.5},"inferred":["ac_power"]}'
    )
    reset = StateMessage(ts=2.0, values={"energy_export": 0.005}, reset=("energy_export",))
    assert wire(reset.to_payload()) == '{"ts":2.0,"v":{"energy_export":0.005},"reset":["energy_export"]}'
    done = EventMessage.command_result(3.0, "power_limit", ok=True, value=75, command_id="c0ffee")
    assert wire(done.to_payload()) == (
        '{"ts":3.0,"type":"command_result","point":"power_limit","ok":true,"value":75,"id":"c0ffee"}'
    )
    refused = EventMessage.command_result(
        3.0, "power_limit", ok=False, error="out_of_range", message="x" * 600
    )
    assert refused.to_payload() == {
        "ts": 3.0,
        "type": "command_result",
        "point": "power_limit",
        "ok": False,
        "error": "out_of_range",
        "message": "x" * 500,
    }
    rejected = EventMessage.point_rejected(4.0, "energy", error="counter_jump", message="too fast")
    assert wire(rejected.to_payload()) == (
        '{"ts":4.0,"type":"point_rejected","point":"energy","error":"counter_jump","message":"too fast"}'
    )
    for event in (done, refused, rejected):
        schema("event").validate(event.to_payload())
    schema("state").validate({**state.to_payload(), "seq": 1})


def test_the_statistics_as_on_the_wire() -> None:
    """The contract's field order (the one of the dict the collector sent before this model), errors in the
    order they first happened, `cycle_seconds` and `gateway` only when there are such figures."""
    stats = StatsMessage(
        ts=1763900061.0,
        uptime=0.0,
        requests_per_cycle=8,
        messages_published=1,
        errors={"timeout": 1, "publish": 2, "decode": 1},
        rejected_readings=1,
        queue_length=7,
        queue_dropped=2,
        cycle_seconds=0.138765,
        quarantined={"alpha": ("x",), "meter": ("b", "a")},
        gateway=GatewayStats(clients=3, cached=1, forwarded=0, written=0, refused=0, failed=1),
    )
    assert wire(stats.to_payload()) == (
        '{"ts":1763900061.0,"uptime":0.0,"requests_per_cycle":8,"messages_published":1,'
        '"errors":{"timeout":1,"publish":2,"decode":1},"rejected_readings":1,"queue_length":7,'
        '"queue_dropped":2,"cycle_seconds":0.138765,"quarantined":{"alpha":["x"],"meter":["b","a"]},'
        '"gateway":{"clients":3,"cached":1,"forwarded":0,"written":0,"refused":0,"failed":1}}'
    )
    schema("stats").validate(stats.to_payload())
    first = StatsMessage(
        ts=1763900060.123,
        uptime=12.346,
        requests_per_cycle=0,
        messages_published=0,
        errors={},
        rejected_readings=0,
        queue_length=0,
        queue_dropped=0,
        quarantined={},
    )
    assert wire(first.to_payload()) == (
        '{"ts":1763900060.123,"uptime":12.346,"requests_per_cycle":0,"messages_published":0,"errors":{},'
        '"rejected_readings":0,"queue_length":0,"queue_dropped":0,"quarantined":{}}'
    )


@pytest.mark.parametrize("profile_id", list_profiles())
def test_every_point_announces_its_entity_as_the_schema_says(profile_id: str) -> None:
    """Every point a shipped profile can give a device, as announced: valid, with its `entity`."""
    points = tuple(
        PointAnnouncement.of(point)
        for _where, point in defined_points(load_profile(profile_id))
        if not point.hidden
    )
    unique = tuple({point.key: point for point in points}.values())  # SunSpec repeats keys across models
    devices = tuple(  # a device has at most 1000 points; the SunSpec profile's models have more together
        DeviceAnnouncement(
            id=f"d{start}", name="D", kind="other", profile=profile_id, poll_interval=5.0,
            points=unique[start : start + 1000],
        )
        for start in range(0, len(unique), 1000)
    )  # fmt: skip
    collector = CollectorInfo(id="c", name="C", version="1", instance="i")
    document = Announcement(collector=collector, devices=devices).to_payload()
    schema("announcement").validate(document)
    for device in document["devices"]:
        for point in device["points"]:
            assert point["entity"]["platform"], point["key"]


@pytest.mark.parametrize(
    "entity",
    [
        {},  # no platform
        {"platform": "light"},
        {"platform": "sensor", "device_class": "Power"},
        {"platform": "sensor", "state_class": "measurement_angle"},
        {"platform": "sensor", "display_unit": "x" * 21},
        {"platform": "sensor", "display_precision": 11},
        {"platform": "sensor", "display_factor": 0},
        "sensor",
    ],
)
def test_the_schema_refuses_a_broken_entity(entity: object) -> None:
    point = PointAnnouncement.of(Point(key="p", name="P", address=0)).to_payload()
    assert point["entity"] == Entity(platform="sensor").to_payload()
    document = {
        "contract": 1,
        "collector": {"id": "c", "name": "C", "version": "1"},
        "devices": [{"id": "d", "name": "D", "kind": "other", "points": [{**point, "entity": entity}]}],
    }
    with pytest.raises(jsonschema.ValidationError):
        schema("announcement").validate(document)
