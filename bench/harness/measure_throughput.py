"""Integration throughput inside Home Assistant's test harness (run by bench/ha_throughput.py).

A real Mosquitto, Home Assistant's real MQTT client and the pv_monitor integration; a separate process
(bench/harness/load_publisher.py) announces DEVICES x POINTS and then publishes ROUNDS state messages per
device as fast as it can. Messages handled = sensor state changes of the announced points / CHANGED (the
number of values each message changes: every one of the POINTS unless BENCH_CHANGED says fewer); the event
loop's lag is sampled every 10 ms meanwhile. All state writes of the entry's entities (state changes and
"reported" writes that changed nothing) and the process's CPU time while the load runs are counted too.

Environment: BENCH_OUT, BENCH_DEVICES (50), BENCH_POINTS (40), BENCH_ROUNDS (200), BENCH_CHANGED (POINTS).
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pv_monitor.const import CONF_BASE_TOPIC, CONF_COLLECTOR_ID, DOMAIN
from tests.mosquitto import Mosquitto

PUBLISHER = Path(__file__).with_name("load_publisher.py")
LAG_PERIOD = 0.01


async def until(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_throughput(
    hass: HomeAssistant, broker: Mosquitto, tmp_path: Path, mock_hass_config: None
) -> None:
    devices = int(os.environ.get("BENCH_DEVICES", "50"))
    points = int(os.environ.get("BENCH_POINTS", "40"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "200"))
    changed_per_message = max(1, min(int(os.environ.get("BENCH_CHANGED", str(points))), points))
    mqtt_entry = MockConfigEntry(
        domain="mqtt", data={"broker": "127.0.0.1", "port": broker.port}, version=1, minor_version=2
    )
    mqtt_entry.add_to_hass(hass)
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="load",
        title="load",
        data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "load"},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    assert await hass.config_entries.async_setup(entry.entry_id)

    publisher = subprocess.Popen(  # noqa: ASYNC220 - runs beside the loop, never waited on here
        [
            sys.executable,
            str(PUBLISHER),
            str(broker.port),
            str(devices),
            str(points),
            str(rounds),
            str(changed_per_message),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert publisher.stdin is not None
    assert publisher.stdout is not None
    loop = asyncio.get_running_loop()
    registry = er.async_get(hass)
    changes: list[float] = []
    watched: set[str] = set()
    lags: list[float] = []
    entry_entities: set[str] = set()
    writes = [0]  # every state write of the entry's entities while the load runs (changed or not)

    @callback
    def changed(event: Event) -> None:
        entity_id = event.data["entity_id"]
        if entity_id in entry_entities:
            writes[0] += 1
        if entity_id in watched:
            changes.append(time.monotonic())

    @callback
    def reported(event_data: Any) -> bool:
        """Event filter of EVENT_STATE_REPORTED: counts the write, never runs a listener."""
        if event_data["entity_id"] in entry_entities:
            writes[0] += 1
        return False

    async def lag_monitor() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(LAG_PERIOD)
            lags.append(time.monotonic() - before - LAG_PERIOD)

    try:
        assert (await loop.run_in_executor(None, publisher.stdout.readline)).strip() == "ready"

        def sensors() -> set[str]:
            return {
                e.entity_id
                for e in er.async_entries_for_config_entry(registry, entry.entry_id)
                if e.domain == "sensor"
                and e.unique_id.startswith("load_d")
                and e.disabled_by is None
                and e.unique_id.rsplit("_", 1)[-1].startswith("p")
            }

        setup_started = time.monotonic()
        await until(lambda: len(sensors()) >= devices * points, 300)
        await hass.async_block_till_done()
        setup_seconds = time.monotonic() - setup_started
        watched.update(sensors())
        entry_entities.update(
            e.entity_id for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        )
        hass.bus.async_listen(EVENT_STATE_CHANGED, changed)
        hass.bus.async_listen(EVENT_STATE_REPORTED, lambda _event: None, event_filter=reported)
        monitor = asyncio.create_task(lag_monitor())
        await asyncio.sleep(0.5)
        lags.clear()
        writes[0] = 0
        cpu_started = time.process_time()
        publisher.stdin.write("go\n")
        publisher.stdin.flush()
        expected = devices * changed_per_message * rounds
        last_count, idle_since = -1, time.monotonic()
        while len(changes) < expected and time.monotonic() - idle_since < 5:
            if len(changes) != last_count:
                last_count, idle_since = len(changes), time.monotonic()
            await asyncio.sleep(0.05)
        monitor.cancel()
        cpu_seconds = time.process_time() - cpu_started
        all_writes = writes[0]
        handled = list(changes)  # unloading below makes the entities unavailable: not messages
        published = (await loop.run_in_executor(None, publisher.stdout.readline)).strip()
    finally:
        if publisher.poll() is None:
            publisher.stdin.write("stop\n")
            publisher.stdin.flush()
            await loop.run_in_executor(None, publisher.wait, 20)
        assert await hass.config_entries.async_unload(entry.entry_id)
        assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()
    span = handled[-1] - handled[0] if len(handled) > 1 else 0.0
    out = Path(os.environ.get("BENCH_OUT", tmp_path / "throughput.json"))
    out.write_text(  # noqa: ASYNC240 - once, after the measurement
        json.dumps(
            {
                "devices": devices,
                "points": points,
                "messages_sent": devices * rounds,
                "changed_per_message": changed_per_message,
                "messages_handled": len(handled) / changed_per_message,
                "all_state_writes": all_writes,
                "cpu_seconds": cpu_seconds,
                "state_writes": len(handled),
                "seconds": span,
                "lags": lags,
                "setup_seconds": setup_seconds,
                "publisher": published,
            }
        )
    )
    assert handled, "no state message reached the entities"
