"""Malformed payloads: one warning each, nothing else changes, the integration keeps running."""

import json

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pv_monitor.messages import MAX_ANNOUNCEMENT_BYTES, MAX_PAYLOAD_BYTES

from .conftest import FakeCollector

STATE_OK = {"ts": 1763900100.0, "seq": 10_000, "v": {"power": 777}}


@pytest.mark.parametrize(
    ("leaf", "payload", "problem"),
    [
        ("meter/state", "{not json", "payload is not valid JSON"),
        ("meter/state", "[1, 2]", "payload is a JSON list, expected an object"),
        (
            "meter/state",
            json.dumps({"seq": 99999, "v": {"power": 1}}),
            "ts: None is not a non-negative number",
        ),
        ("meter/state", json.dumps({"ts": 1.0, "seq": "x", "v": {}}), "seq: 'x' is not a positive integer"),
        ("meter/state", json.dumps({"ts": 1.0, "seq": 99999, "v": [1]}), "v: [1] is not an object"),
        (
            "meter/state",
            json.dumps({"ts": 1.0, "seq": 99999, "v": {}, "inferred": "power"}),
            "inferred: 'power'",
        ),
        ("meter/state", "{" + " " * MAX_PAYLOAD_BYTES + "}", "larger than 262144 bytes"),
        ("config", "{" + " " * MAX_ANNOUNCEMENT_BYTES + "}", "larger than 4194304 bytes"),
        ("meter/availability", "maybe", "availability: 'maybe' is not"),
        ("status", "sleeping", "status: 'sleeping' is not 'online' or 'offline'"),
        ("stats", json.dumps({"queue_length": -1}), "queue_length: -1 is not a non-negative integer"),
        ("stats", json.dumps({"errors": {"timeout": "many"}}), "errors: {'timeout': 'many'}"),
        ("stats", json.dumps({"quarantined": {"meter": "power"}}), "quarantined: {'meter': 'power'}"),
        ("stats", json.dumps({"cycle_seconds": "fast"}), "stats.cycle_seconds: 'fast' is not a number"),
        (
            "meter/event",
            json.dumps({"ts": 1.0, "type": "command_result", "point": "power"}),
            "ok: None is not",
        ),
        ("meter/event", json.dumps({"ts": "now", "type": "command_result"}), "ts: 'now' is not a number"),
        ("meter/event", json.dumps({"ts": 1.0, "type": ""}), "type: '' is not an event type"),
        ("meter/event", json.dumps({"ts": 1.0, "type": "command_result", "point": 3}), "point: 3 is not"),
        ("config", json.dumps({"contract": "1"}), "contract: '1' is not a contract version number"),
        ("config", json.dumps({"contract": 1, "collector": "home"}), "collector: 'home' is not an object"),
        (
            "config",
            json.dumps(
                {"contract": 1, "collector": {"id": "home", "name": "H", "version": "1"}, "devices": {}}
            ),
            "devices: {} is not a list",
        ),
        (
            "config",
            json.dumps(
                {"contract": 1, "collector": {"id": "other", "name": "O", "version": "1"}, "devices": []}
            ),
            "it announces collector 'other'",
        ),
        (
            "config",
            json.dumps({"contract": 1, "collector": {"id": "home", "version": "1"}, "devices": []}),
            "collector: missing 'name'",
        ),
    ],
)
async def test_malformed_payload(
    hass: HomeAssistant,
    running: MockConfigEntry,
    collector: FakeCollector,
    caplog: pytest.LogCaptureFixture,
    leaf: str,
    payload: str | bytes,
    problem: str,
) -> None:
    """The payload is ignored with one warning naming the problem; later good messages still work."""
    caplog.clear()
    collector.raw(leaf, payload)
    await hass.async_block_till_done()
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "pv_monitor" in r.name]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert problem in warnings[0].getMessage()
    assert leaf in warnings[0].getMessage()
    assert running.state is ConfigEntryState.LOADED
    assert hass.states.get("sensor.grid_meter_power").state == "-1200"
    assert hass.states.get("sensor.home_pv_errors").state == "3"
    collector.raw("meter/state", json.dumps(STATE_OK))
    await hass.async_block_till_done()
    assert hass.states.get("sensor.grid_meter_power").state == "777"


async def test_wrong_value_types(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, caplog: pytest.LogCaptureFixture
) -> None:
    """Values that do not fit their point are dropped with a warning; the rest of the message applies."""
    collector.state(
        "inverter",
        {
            "ac_power": "lots",
            "status": "dancing",
            "events": -1,
            "relay_closed": 1,
            "ac_frequency": 50.05,
            "firmware_text": 3,
            "unknown_key": 5,
        },
    )
    await hass.async_block_till_done()
    assert "ac_power='lots'" in caplog.text
    assert "status='dancing'" in caplog.text
    assert "events=-1" in caplog.text
    assert "relay_closed=1" in caplog.text
    assert "unknown_key" not in caplog.records[-1].getMessage()  # unknown keys are ignored silently
    assert hass.states.get("sensor.inverter_ac_power").state == "2345"
    assert hass.states.get("sensor.inverter_operating_state").state == "mppt"
    assert hass.states.get("sensor.inverter_ac_frequency").state == "50.05"


async def test_unknown_keys_ignored(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector
) -> None:
    """A newer collector's extra fields are ignored everywhere."""
    announcement = collector.announcement
    announcement["site"] = {"lat": 50}
    announcement["devices"][1]["colour"] = "blue"
    announcement["devices"][1]["points"][0]["future_field"] = True
    collector.announce(announcement)
    collector.raw("meter/state", json.dumps({**STATE_OK, "quality": "good"}))
    await hass.async_block_till_done()
    assert hass.states.get("sensor.grid_meter_power").state == "777"


async def test_messages_for_unknown_devices(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector, caplog: pytest.LogCaptureFixture
) -> None:
    """Availability and events of devices not announced, and odd topics, change nothing."""
    caplog.clear()
    collector.availability("ghost", "online")
    collector.event("ghost", {"type": "command_result", "point": "x", "ok": True, "value": 1})
    collector.raw("Bad Id/state", json.dumps(STATE_OK))
    collector.raw("Bad Id/availability", "online")
    collector.raw("Bad Id/event", "{}")
    collector.raw("config", "")  # a withdrawn announcement
    await hass.async_block_till_done()
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []
    assert hass.states.get("sensor.grid_meter_power").state == "-1200"


async def test_sequence_restart_and_duplicates(
    hass: HomeAssistant, running: MockConfigEntry, collector: FakeCollector
) -> None:
    """Same or lower seq with no newer time is a duplicate; lower seq with newer readings is followed."""
    collector.raw("inverter/state", json.dumps({"ts": 1763900100.0, "seq": 1000, "v": {"ac_power": 100}}))
    collector.raw("inverter/state", json.dumps({"ts": 1763900090.0, "seq": 999, "v": {"ac_power": 999}}))
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_ac_power").state == "100"  # the stale duplicate was dropped
    collector.raw("inverter/state", json.dumps({"ts": 1763900200.0, "seq": 1, "v": {"ac_power": 200}}))
    await hass.async_block_till_done()
    assert hass.states.get("sensor.inverter_ac_power").state == "200"  # numbering restarted: followed
