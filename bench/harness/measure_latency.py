"""End-to-end latency inside Home Assistant's test harness (run by bench/e2e_latency.py, not by the suite).

Real Mosquitto, the real collector and simulator (bench/harness/latency_device.py, its own process) and
the pv_monitor integration on Home Assistant's real MQTT client. Every change of the meter's power
register is matched by value with the state change of its sensor; latency = state written in Home
Assistant - the poll that read the new value was served (CLOCK_MONOTONIC is shared by both processes).

Environment: BENCH_OUT (JSON file to write), BENCH_CHANGES (default 1000), BENCH_DEVICES (default 5).
"""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pv_monitor.catalogue import point_unique_id
from custom_components.pv_monitor.const import CONF_BASE_TOPIC, CONF_COLLECTOR_ID, DOMAIN
from tests.helpers import eventually
from tests.mosquitto import Mosquitto

DEVICE = Path(__file__).with_name("latency_device.py")


async def test_latency(
    hass: HomeAssistant, broker: Mosquitto, tmp_path: Path, mock_hass_config: None
) -> None:
    changes = int(os.environ.get("BENCH_CHANGES", "1000"))
    devices = int(os.environ.get("BENCH_DEVICES", "5"))
    mqtt_entry = MockConfigEntry(
        domain="mqtt", data={"broker": "127.0.0.1", "port": broker.port}, version=1, minor_version=2
    )
    mqtt_entry.add_to_hass(hass)
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="bench",
        title="bench",
        data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: "bench"},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    assert await hass.config_entries.async_setup(entry.entry_id)

    seen: dict[int, float] = {}
    watched: set[str] = set()

    @callback
    def changed(event: Event) -> None:
        if event.data["entity_id"] in watched and (new := event.data["new_state"]) is not None:
            with contextlib.suppress(ValueError):
                seen.setdefault(round(float(new.state)), time.monotonic())

    hass.bus.async_listen(EVENT_STATE_CHANGED, changed)
    served_file = tmp_path / "served.txt"
    device = subprocess.Popen(  # noqa: ASYNC220 - runs beside the loop, never waited on here
        [sys.executable, str(DEVICE), str(broker.port), str(served_file), str(devices)]
    )
    try:
        registry = er.async_get(hass)

        wanted = {point_unique_id("bench", f"m{i}", "power") for i in range(devices)}

        def power_entities() -> set[str]:
            return {
                e.entity_id
                for e in er.async_entries_for_config_entry(registry, entry.entry_id)
                if e.unique_id in wanted
            }

        await eventually(lambda: len(power_entities()) >= devices, "the devices' power entities", within=60)
        watched.update(power_entities())
        await eventually(
            lambda: len(seen) >= 20, "20 values", within=60
        )  # warm: entities subscribed, values flowing
        start = len(seen)
        await eventually(lambda: len(seen) >= start + changes, "every change", within=max(120, changes / 10))
    finally:
        device.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(None, device.wait, 20)
        assert await hass.config_entries.async_unload(entry.entry_id)
        assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()

    served = {int(v): float(t) for v, t in (line.split() for line in served_file.read_text().splitlines())}
    ordered = sorted(v for v in seen if v in served)[20:]  # skip the warm-up values
    latencies = [seen[v] - served[v] for v in ordered]
    lost = [v for v in range(min(ordered), max(ordered)) if v in served and v not in seen] if ordered else []
    out = Path(os.environ.get("BENCH_OUT", tmp_path / "latency.json"))
    out.write_text(  # noqa: ASYNC240 - once, after the measurement
        json.dumps(
            {
                "latencies": latencies,
                "served": len(served),
                "entities": sorted(watched),
                "not_seen": len(lost),
            }
        )
    )
    assert latencies, "no value made it from the register to Home Assistant"
