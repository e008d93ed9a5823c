"""Bad input never crashes the integration: generated payloads (hypothesis) for every topic it reads.

The parsers either return a value or raise `InvalidPayload` (logged once as a warning by the hub);
through `hass`, a storm of generated messages leaves the entry loaded and the entities working.
"""

from __future__ import annotations

import copy
import json
import math
import random
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pv_monitor.contract import (
    InvalidPayload,
    parse_announcement,
    parse_availability,
    parse_event,
    parse_state,
    parse_stats,
    parse_status,
)
from tests.helpers import with_entities

from .conftest import FakeCollector, load_fixture

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


def _mutations(document: dict[str, Any]) -> st.SearchStrategy[str]:
    """A valid document with one field somewhere replaced, removed or added."""

    def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        found = [prefix] if prefix else []
        if isinstance(value, dict):
            for key, item in value.items():
                found += paths(item, (*prefix, key))
        elif isinstance(value, list):
            for index, item in enumerate(value[:3]):
                found += paths(item, (*prefix, index))
        return found

    def mutate(path: tuple[Any, ...], action: str, replacement: Any) -> str:
        doc = copy.deepcopy(document)
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[f"{last}_extra"] = replacement
        else:
            parent[last] = replacement
        return _dumps(doc)

    return st.builds(
        mutate, st.sampled_from(paths(document)), st.sampled_from(["replace", "delete", "add"]), JSON
    )


PAYLOADS = (
    st.binary(max_size=200).map(bytes)
    | st.text(max_size=200)
    | JSON.map(_dumps)
    | st.sampled_from(["", "null", "[]", "{}", "NaN", '{"ts": Infinity}', "1e999", "[" * 500])
)
ANNOUNCEMENTS = (
    PAYLOADS
    | _mutations(load_fixture("announcement.json"))  # as collectors before 0.2.0 announce
    | _mutations(with_entities(load_fixture("announcement.json")))  # every point with its `entity`
)
STATES = PAYLOADS | _mutations(load_fixture("states.json")["inverter"])
EVENTS = PAYLOADS | _mutations(
    {"ts": 1.0, "type": "command_result", "point": "power_limit", "ok": False, "error": "out_of_range"}
)
STATS = PAYLOADS | _mutations(load_fixture("stats.json"))
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parses_or_rejects(parse: Any, payload: str | bytes) -> None:
    try:
        parse(payload)
    except InvalidPayload as err:
        assert str(err)  # a reason that names what is wrong


@FUZZ
@given(ANNOUNCEMENTS)
def test_announcement_parser(payload: str | bytes) -> None:
    _parses_or_rejects(parse_announcement, payload)


@FUZZ
@given(STATES)
def test_state_parser(payload: str | bytes) -> None:
    try:
        state = parse_state(payload)
    except InvalidPayload:
        return
    for value in state.values.values():  # nothing that is not a finite number, a string or a bool
        assert isinstance(value, bool | str) or (isinstance(value, int | float) and math.isfinite(value))


@FUZZ
@given(EVENTS)
def test_event_parser(payload: str | bytes) -> None:
    _parses_or_rejects(parse_event, payload)


@FUZZ
@given(STATS)
def test_stats_parser(payload: str | bytes) -> None:
    _parses_or_rejects(parse_stats, payload)


@FUZZ
@given(PAYLOADS)
def test_status_and_availability_parsers(payload: str | bytes) -> None:
    _parses_or_rejects(parse_status, payload)
    _parses_or_rejects(parse_availability, payload)


WEIRD = [None, True, -1, 2**80, 1e308, float("nan"), float("inf"), "", "x" * 300, "\u0000", {}, [], [[[]]]]


def _storm(seed: int, count: int) -> list[tuple[str, str | bytes]]:
    """Reproducible bad messages: valid documents with one field broken, plus raw junk."""
    rng = random.Random(seed)
    documents = {
        "config": load_fixture("announcement.json"),
        "stats": load_fixture("stats.json"),
        "inverter/state": load_fixture("states.json")["inverter"],
        "meter/state": load_fixture("states.json")["meter"],
    }
    junk: list[str | bytes] = ["", "null", "[]", "{", "NaN", "online!", b"\xed\xa0\x80", "1e999"]
    junk += ["[" * 500, "x" * 300_000]  # deep nesting; larger than any message but an announcement may be
    messages: list[tuple[str, str | bytes]] = []
    for _ in range(count):
        leaf = rng.choice([*documents, "status", "inverter/availability", "battery/event"])
        if leaf not in documents or rng.random() < 0.2:
            messages.append((leaf, rng.choice(junk)))
            continue
        doc = copy.deepcopy(documents[leaf])
        node: Any = doc
        while isinstance(node, dict | list) and node and rng.random() < 0.7:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            if not isinstance(node[key], dict | list) or not node[key]:
                break
            node = node[key]
        if isinstance(node, dict) and node:
            node[rng.choice(list(node))] = rng.choice(WEIRD)
        elif isinstance(node, list) and node:
            node[rng.randrange(len(node))] = rng.choice(WEIRD)
        messages.append((leaf, _dumps(doc)))
    return messages


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_message_storm_leaves_the_integration_working(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, seed: int
) -> None:
    """Hundreds of broken messages on every topic; afterwards a good state still shows."""
    for leaf, payload in _storm(seed, 200):
        collector.raw(leaf, payload)
    await hass.async_block_till_done()
    # The collector's own messages after the storm. A broken message may have claimed any sequence number
    # and time; a (re)started collector announces a new instance, which resets the hub's duplicate check.
    announcement = load_fixture("announcement.json")
    announcement["collector"]["instance"] = f"restart{seed}"
    collector.announce(announcement)
    collector.start()
    collector.state("inverter", {"ac_power": 1234})
    await hass.async_block_till_done()
    assert running.state is ConfigEntryState.LOADED
    assert hass.states.get("sensor.inverter_ac_power").state == "1234"
    assert hass.states.get("sensor.inverter_connection").state == "online"
