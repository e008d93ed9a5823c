"""Commands over MQTT, executed against the simulated devices: valid ones are written and confirmed,
invalid ones produce an event naming the reason and no Modbus write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pv_collector.commands import parse_payload
from pv_collector.errors import CommandError
from pv_collector.simulator import Simulation
from tests.collector.conftest import (
    BATTERY,
    FIXED_TIME,
    INVERTER,
    Recorder,
    collector_config,
    running,
    schema,
)
from tests.helpers import eventually
from tests.mosquitto import Mosquitto

BASE = "pv_monitor/test"
BATTERY_SETTINGS = (0x0010, 3)  # mode, charge limit, discharge limit (holding registers)


def battery_settings(sim: Simulation) -> list[int]:
    return sim.registers(BATTERY, "holding", *BATTERY_SETTINGS)


def inverter_holding(sim: Simulation) -> list[int]:
    """The whole SunSpec map of the inverter (every model), to prove nothing was written."""
    words = sim.registers(INVERTER, "holding", 40000, 2)
    address = 40002
    while True:
        model, length = sim.registers(INVERTER, "holding", address, 2)
        words += [model, length]
        if model == 0xFFFF:
            return words
        words += sim.registers(INVERTER, "holding", address + 2, length)
        address += 2 + length


async def command(recorder: Recorder, device: str, point: str, payload: str | bytes) -> dict[str, Any]:
    """Send a command and return the result event that follows it (validated against the contract)."""
    topic = f"{BASE}/{device}/event"
    sent = len(recorder.on(topic))
    recorder.publish(f"{BASE}/{device}/set/{point}", payload)
    await eventually(lambda: len(recorder.on(topic)) > sent, what=f"the result of {point} = {payload!r}")
    event = recorder.on(topic)[sent].json()
    schema("event").validate(event)
    assert event["type"] == "command_result"
    assert event["point"] == point
    return dict(event)


@pytest.fixture
async def collector_with_sim(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> AsyncIterator[tuple[Simulation, Any]]:
    sim, port = simulation
    async with running(collector_config(tmp_path / "data", broker.port, port)) as collector:
        for device in ("inverter", "battery"):
            await recorder.wait(f"{BASE}/{device}/availability", lambda m: m.text == "online")
        await eventually(lambda: collector.pollers["inverter"].discovered, what="SunSpec discovery")
        await recorder.wait(f"{BASE}/inverter/state", lambda m: "power_limit" in m.json()["v"])
        yield sim, collector


async def test_command_in_range_is_written_read_back_and_confirmed(
    collector_with_sim: tuple[Simulation, Any], recorder: Recorder
) -> None:
    sim, collector = collector_with_sim
    assert sim.power_limit_pct != 40
    event = await command(recorder, "inverter", "power_limit", '{"value": 40}')
    assert event["ok"] is True
    assert event["value"] == 40
    assert sim.power_limit_pct == 40  # the register changed in the device
    state = await recorder.wait(f"{BASE}/inverter/state", lambda m: m.json()["v"].get("power_limit") == 40)
    schema("state").validate(state.json())

    # A bare value, a value on the step grid of another device, an enum option and a bool.
    event = await command(recorder, "battery", "charge_power_limit", "1250")
    assert (event["ok"], event["value"]) == (True, 1250)
    assert battery_settings(sim)[1] == 1250
    event = await command(recorder, "battery", "battery_mode", "charge")
    assert (event["ok"], event["value"]) == (True, "charge")
    assert sim.battery_mode == "charge"
    assert battery_settings(sim)[0] == 1
    writes = collector.buses["sim"].writes
    assert writes == 4  # the power limit is switched on after it is written (its enable_point)
    event = await command(recorder, "inverter", "power_limit_enabled", "on")
    assert event["ok"] is True
    assert sim.power_limit_enabled is True


@pytest.mark.parametrize(
    "case",
    [
        ("inverter", "power_limit", '{"value": 150, "id": "c0ffee"}', "out_of_range"),
        ("inverter", "power_limit", "-1", "out_of_range"),
        ("inverter", "power_limit", '{"value": "lots"}', "invalid_value"),
        ("inverter", "power_limit", '{"value": null}', "invalid_value"),
        ("inverter", "power_limit", "[1, 2]", "invalid_value"),
        ("inverter", "power_limit", b"\xff\xfe", "invalid_value"),
        ("inverter", "power_limit", "NaN", "invalid_value"),
        ("inverter", "ac_power", "5", "not_writable"),
        ("inverter", "no_such_point", "5", "unknown_point"),
        ("battery", "charge_power_limit", "1025", "invalid_value"),  # off the 50 W grid
        ("battery", "charge_power_limit", "5050", "out_of_range"),
        ("battery", "battery_mode", "turbo", "invalid_value"),
        ("battery", "soc", "50", "not_writable"),
        ("inverter", "power_limit_enabled", "maybe", "invalid_value"),
    ],
)
async def test_invalid_command_is_refused_with_an_event_and_no_write(
    collector_with_sim: tuple[Simulation, Any], recorder: Recorder, case: tuple[str, str, str | bytes, str]
) -> None:
    device, point, payload, error = case
    sim, collector = collector_with_sim
    inverter_before, battery_before = inverter_holding(sim), battery_settings(sim)
    event = await command(recorder, device, point, payload)
    assert event["ok"] is False
    assert event["error"] == error
    if isinstance(payload, str) and '"id"' in payload:
        assert event["id"] == "c0ffee"  # echoed so the sender can match its own command
    assert point in event["message"] or "payload" in event["message"]
    assert collector.buses["sim"].writes == 0
    assert inverter_holding(sim) == inverter_before
    assert battery_settings(sim) == battery_before


async def test_command_to_an_offline_device_is_refused(
    collector_with_sim: tuple[Simulation, Any], recorder: Recorder
) -> None:
    sim, collector = collector_with_sim
    sim.set_offline(BATTERY, True)
    await recorder.wait(f"{BASE}/battery/availability", lambda m: m.text == "offline")
    event = await command(recorder, "battery", "charge_power_limit", '{"value": 500}')
    assert (event["ok"], event["error"]) == (False, "device_offline")
    assert collector.buses["sim"].writes == 0


async def test_no_payload_crashes_the_collector(
    collector_with_sim: tuple[Simulation, Any], recorder: Recorder
) -> None:
    sim, collector = collector_with_sim
    weird = [
        b"",
        b"{",
        b"{}",
        b'{"value": {"a": 1}}',
        b'{"id": 5, "value": 1}',
        b"\x00" * 2000,
        b'"x"',
        b"1e999",
    ]
    for payload in weird:
        recorder.publish(f"{BASE}/inverter/set/power_limit", payload)
    recorder.publish(f"{BASE}/nobody/set/power_limit", b"1")  # unknown device: ignored
    recorder.publish(f"{BASE}/inverter/set/power_limit", b'{"value": 30, "id": "last"}')
    await recorder.wait(f"{BASE}/inverter/event", lambda m: m.json().get("id") == "last")
    events = [m.json() for m in recorder.on(f"{BASE}/inverter/event")]
    assert len(events) == len(weird) + 1
    assert [e["ok"] for e in events] == [False] * len(weird) + [True]
    assert sim.power_limit_pct == 30
    assert collector.buses["sim"].writes == 2  # the power limit and its enable switch
    assert recorder.on(f"{BASE}/nobody/event") == []


@pytest.mark.parametrize(
    ("payload", "value", "command_id"),
    [
        (b"75", 75, None),
        (b" on ", "on", None),
        (b'{"value": 75, "id": "c0ffee"}', 75, "c0ffee"),
        (b'"auto"', "auto", None),
        (b"true", True, None),
    ],
)
def test_payload_parsing(payload: bytes, value: object, command_id: str | None) -> None:
    command = parse_payload(payload)
    assert command.value == value
    assert command.id == command_id


def test_payload_with_a_bad_id_is_refused() -> None:
    with pytest.raises(CommandError) as caught:
        parse_payload(b'{"value": 1, "id": "' + b"x" * 65 + b'"}')
    assert caught.value.code == "invalid_value"


async def test_a_confirmed_write_carries_the_collectors_time(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    """The result event and the confirmed value's state message carry the collector's clock, as its readings
    do (before: the host's time.time(), which a collector running on another clock contradicted)."""
    _sim, port = simulation
    at = FIXED_TIME + 12_345.0
    async with running(collector_config(tmp_path / "data", broker.port, port), clock=lambda: at) as collector:
        await eventually(lambda: collector.pollers["battery"].availability == "online", what="battery online")
        event = await command(recorder, "battery", "charge_power_limit", '{"value": 2500}')
        assert event["ok"] is True
        assert event["ts"] == at
        await eventually(
            lambda: any(
                m.json()["v"].get("charge_power_limit") == 2500 and m.json()["ts"] == at
                for m in recorder.on(f"{BASE}/battery/state")
            ),
            what="the confirmed value's state at the collector's time",
        )
