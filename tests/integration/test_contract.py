"""The integration's side of the MQTT contract: its version and its parser against the JSON Schemas."""

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from custom_components.pv_monitor import contract, messages, topics
from custom_components.pv_monitor.contract import (
    InvalidPayload,
    parse_announcement,
    parse_event,
    parse_state,
    parse_stats,
)
from custom_components.pv_monitor.messages import CONTRACT_VERSION, MAX_PAYLOAD_BYTES

from .conftest import SCHEMAS, load_fixture

DOC = Path(__file__).parents[2] / "docs" / "mqtt-contract.md"


def schema(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{kind}.schema.json").read_text())


def doc_examples() -> list[dict[str, Any]]:
    """Every JSON object in the contract document's code blocks."""
    examples: list[dict[str, Any]] = []
    for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.DOTALL):
        for line_group in [block] if block.lstrip().startswith("{\n") else block.strip().split("\n{"):
            text = line_group if line_group.lstrip().startswith("{") else "{" + line_group
            examples.append(json.loads(text))
    return examples


def test_contract_version_agrees() -> None:
    """The integration's CONTRACT_VERSION is the schema's and the document's."""
    assert schema("announcement")["properties"]["contract"]["const"] == CONTRACT_VERSION
    assert f"version {CONTRACT_VERSION}" in DOC.read_text().splitlines()[0]


def test_fixtures_are_contract_examples() -> None:
    """Every fixture the tests feed is valid against the schemas."""
    jsonschema.validate(load_fixture("announcement.json"), schema("announcement"))
    for state in load_fixture("states.json").values():
        jsonschema.validate(state, schema("state"))
    jsonschema.validate(load_fixture("stats.json"), schema("stats"))


def test_document_examples_parse() -> None:
    """The examples of docs/mqtt-contract.md are valid and the integration reads them."""
    kinds = {"announcement": 0, "state": 0, "event": 0, "stats": 0}
    for example in doc_examples():
        payload = json.dumps(example)
        if "contract" in example:
            jsonschema.validate(example, schema("announcement"))
            announcement = parse_announcement(payload)
            assert announcement.supported
            assert announcement.problems == ()
            kinds["announcement"] += 1
        elif "seq" in example:
            jsonschema.validate(example, schema("state"))
            assert parse_state(payload).values == example["v"]
            kinds["state"] += 1
        elif "type" in example:
            jsonschema.validate(example, schema("event"))
            assert parse_event(payload).id == example["id"]
            kinds["event"] += 1
        else:
            jsonschema.validate(example, schema("stats"))
            assert parse_stats(payload).errors == example["errors"]
            kinds["stats"] += 1
    assert all(kinds.values()), kinds


def test_fixture_announcement_fully_understood() -> None:
    """Nothing of the fixture announcement is left out; kinds, roles and writability come through."""
    announcement = parse_announcement(json.dumps(load_fixture("announcement.json")))
    assert announcement.problems == ()
    inverter = announcement.device("inverter")
    assert inverter is not None
    limit = inverter.point("power_limit")
    assert limit is not None
    assert limit.writable == messages.WritableDef(min=0, max=100, step=1)
    events = inverter.point("events")
    assert events is not None
    assert events.active_bits(0b1010) == ["dc_over_voltage", "over_temperature"]
    assert events.active_bits(0b10000) == ["bit_4"]


@pytest.mark.parametrize(
    ("point", "problem"),
    [
        ({"key": "Bad", "name": "x", "kind": "number"}, "key: 'Bad'"),
        ({"key": "a", "name": "x", "kind": "enum"}, "options: None"),
        ({"key": "a", "name": "x", "kind": "bitfield", "bits": {"x": "y"}}, "bits:"),
        ({"key": "a", "name": "x", "kind": "action"}, "an action point must be writable"),
        ({"key": "a", "name": "x", "kind": "number", "writable": {"min": 0}}, "needs 'min' and 'max'"),
        ({"key": "a", "name": "x", "kind": "number", "writable": {"min": 5, "max": 1}}, "min 5 is larger"),
        (
            {"key": "a", "name": "x", "kind": "number", "writable": {"min": 0, "max": 1, "step": 0}},
            "step: 0 is not larger",
        ),
        ({"key": "a", "name": "x", "kind": "number", "writable": []}, "writable: [] is not an object"),
        ({"key": "a", "name": "x", "kind": "number", "precision": 11}, "precision: 11"),
        ({"key": "a", "name": "x", "kind": "number", "device_class": 5}, "device_class: 5"),
        ({"key": "a", "name": "x", "kind": "number", "role": "boss"}, "role: 'boss'"),
        ({"key": "a", "name": "", "kind": "number"}, "name: ''"),
        ("point", "'point' is not an object"),
    ],
)
def test_invalid_point_left_out(point: object, problem: str) -> None:
    """A broken point is left out and named; the rest of the device stays."""
    data = load_fixture("announcement.json")
    data["devices"][1]["points"].append(point)
    data["devices"][1]["points"].append(data["devices"][1]["points"][0])  # a duplicate key too
    announcement = parse_announcement(json.dumps(data))
    assert len(announcement.problems) == 2
    assert problem in announcement.problems[0]
    assert "duplicate key 'power'" in announcement.problems[1]
    assert announcement.incomplete == {"meter"}
    meter = announcement.device("meter")
    assert meter is not None
    assert len(meter.points) == 5


def test_invalid_devices_left_out() -> None:
    data = load_fixture("announcement.json")
    data["devices"].append(data["devices"][0])
    data["devices"].append({"id": "Bad Id"})
    data["devices"].append({"id": "x", "name": "X", "kind": "meter", "points": {}})
    data["devices"].append(7)
    announcement = parse_announcement(json.dumps(data))
    assert [d.id for d in announcement.devices] == ["inverter", "meter", "battery", "weather"]
    assert len(announcement.problems) == 4
    assert announcement.incomplete == {"x", "Bad Id"}


@pytest.mark.parametrize(
    "payload",
    [
        '{"contract": 1, "collector": {"id": "Bad"}}',
        "null",
        '{"contract": 1, "collector": {"id": "a", "name": "A", '
        '"version": "' + "9" * 41 + '"}, "devices": []}',
    ],
)
def test_invalid_announcements(payload: str) -> None:
    with pytest.raises(InvalidPayload):
        parse_announcement(payload)


def test_parse_helpers() -> None:
    assert contract.parse_status("online") is True
    assert contract.parse_availability(b"asleep") == "asleep"
    assert topics.collector_id_from_config_topic("a/b/home/config") == ("a/b", "home")
    assert topics.collector_id_from_config_topic("home/config") is None
    assert topics.collector_id_from_config_topic("a/home/status") is None
    home = topics.Topics("pv_monitor", "home")
    assert home.device_of("pv_monitor/home/meter/state") == "meter"
    assert home.device_of("pv_monitor/home/meter/set/x") is None
    assert home.device_of("other/home/meter/state") is None
    assert json.loads(contract.command_payload(75, "c0ffee")) == {"value": 75, "id": "c0ffee"}
    with pytest.raises(InvalidPayload, match="not UTF-8"):
        contract.parse_status(b"\xff")
    assert contract.parse_stats("{}").errors_total is None


def test_state_reset_lists_counters_that_started_again() -> None:
    """Issue 15: the collector marks a counter reset it believes (`reset`, optional, no version change);
    the schema and the parser agree on it, and a state without it has none."""
    state = {"ts": 5.0, "seq": 7, "v": {"energy_export": 0.005, "power": 10}, "reset": ["energy_export"]}
    jsonschema.validate(state, schema("state"))
    assert parse_state(json.dumps(state)).reset == frozenset({"energy_export"})
    del state["reset"]
    assert parse_state(json.dumps(state)).reset == frozenset()
    for bad in ("energy_export", [1], {"energy_export": True}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**state, "reset": bad}, schema("state"))
        with pytest.raises(InvalidPayload, match="reset:"):
            parse_state(json.dumps({**state, "reset": bad}))


def test_an_announcement_may_be_larger_than_a_state_message() -> None:
    """50 devices of 40 points with their entities are about 400 KB: a site that size is read (before: one
    cap of 256 KiB for every payload ignored its collector), while a state message keeps the 256 KiB cap."""
    point = {
        "kind": "number", "unit": "W", "device_class": "power", "state_class": "measurement", "precision": 0,
        "entity": {"platform": "sensor", "device_class": "power", "state_class": "measurement"},
        "name": "A point with a name of a usual length",
    }  # fmt: skip
    devices = [
        {
            "id": f"d{d:02d}", "name": f"Device {d}", "kind": "other", "profile": "p", "poll_interval": 1.0,
            "points": [{"key": f"p{p:02d}", **point} for p in range(40)],
        }
        for d in range(50)
    ]  # fmt: skip
    document = {
        "contract": CONTRACT_VERSION,
        "collector": {"id": "big", "name": "Big", "version": "0.2.0"},
        "devices": devices,
    }
    payload = json.dumps(document, separators=(",", ":"))
    assert len(payload) > MAX_PAYLOAD_BYTES
    announcement = parse_announcement(payload)
    assert sum(len(device.points) for device in announcement.devices) == 2000
    with pytest.raises(InvalidPayload, match="larger than 262144 bytes"):
        parse_state('{"ts": 1, "seq": 1, "v": {"p": "' + "x" * MAX_PAYLOAD_BYTES + '"}}')
