"""The integration's cost per collector in Home Assistant's test harness (run by bench/ha_per_collector.py).

COLLECTORS config entries (one per collector), each fed the fixture announcement of the integration tests
(4 devices: inverter, meter, battery, weather) and its states through Home Assistant's MQTT message path
(`async_fire_mqtt_message`: the MQTT integration's real dispatch, no broker socket: the per-message cost
is the integration's own). Measured per collector: set-up time (entry set-up + announcement + first
states until Home Assistant is idle), entities, RSS growth; then ROUNDS state messages per device of every
collector, every numeric value changing: wall and CPU time per message.

Environment: BENCH_OUT, BENCH_COLLECTORS (comma-separated counts, default 1,5,10), BENCH_ROUNDS (20).
"""

import copy
import gc
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.pv_monitor.const import CONF_BASE_TOPIC, CONF_COLLECTOR_ID, DOMAIN

FIXTURES = Path(__file__).parents[2] / "tests" / "integration" / "fixtures"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident set size now, in bytes."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


def changed(values: dict[str, Any], seq: int) -> dict[str, Any]:
    """The fixture values with every number moved a little (bools, texts and enums stay)."""
    return {
        key: value + (seq % 7) * 0.5
        if isinstance(value, float)
        else value + seq % 7
        if isinstance(value, int) and not isinstance(value, bool) and key not in ("events", "power_limit")
        else value
        for key, value in values.items()
    }


async def setup_collectors(
    hass: HomeAssistant, count: int, announcement: dict[str, Any], states: dict[str, Any]
) -> tuple[list[str], list[float], int]:
    """Entries and collectors c00.. ; their ids, set-up seconds each, RSS growth in bytes."""
    gc.collect()
    rss_before = rss()
    ids, seconds = [], []
    for index in range(count):
        collector_id = f"c{len(hass.config_entries.async_entries(DOMAIN)):02d}"
        started = time.perf_counter()
        entry = MockConfigEntry(
            domain=DOMAIN,
            unique_id=collector_id,
            title=collector_id,
            data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: collector_id},
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        root = f"pv_monitor/{collector_id}"
        own = copy.deepcopy(announcement)
        own["collector"]["id"] = collector_id
        own["collector"]["name"] = f"Collector {index}"
        async_fire_mqtt_message(hass, f"{root}/status", "online")
        async_fire_mqtt_message(hass, f"{root}/config", json.dumps(own))
        for device in own["devices"]:
            async_fire_mqtt_message(hass, f"{root}/{device['id']}/availability", "online")
            if device["id"] in states:
                async_fire_mqtt_message(
                    hass, f"{root}/{device['id']}/state", json.dumps(states[device["id"]])
                )
        await hass.async_block_till_done()
        seconds.append(time.perf_counter() - started)
        ids.append(entry.entry_id)
    gc.collect()
    return ids, seconds, rss() - rss_before


async def test_per_collector(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> None:
    counts = [int(c) for c in os.environ.get("BENCH_COLLECTORS", "1,5,10").split(",")]
    rounds = int(os.environ.get("BENCH_ROUNDS", "20"))
    announcement = json.loads((FIXTURES / "announcement.json").read_text())
    states = json.loads((FIXTURES / "states.json").read_text())
    registry = er.async_get(hass)
    results = []
    for count in counts:
        ids, seconds, grown = await setup_collectors(hass, count, announcement, states)
        entities = [len(er.async_entries_for_config_entry(registry, entry_id)) for entry_id in ids]
        assert all(entities), "a collector got no entities"
        collectors = [hass.config_entries.async_get_entry(i) for i in ids]
        roots = [f"pv_monitor/{entry.data[CONF_COLLECTOR_ID]}" for entry in collectors if entry]
        messages = 0
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        for seq in range(1, rounds + 1):
            for root in roots:
                for device_id, state in states.items():
                    payload = {
                        "ts": state["ts"] + seq,
                        "seq": state["seq"] + seq,
                        "v": changed(state["v"], seq),
                    }
                    async_fire_mqtt_message(hass, f"{root}/{device_id}/state", json.dumps(payload))
                    messages += 1
            await hass.async_block_till_done()
        wall = time.perf_counter() - wall_started
        cpu = time.process_time() - cpu_started
        results.append(
            {
                "collectors": count,
                "devices": count * len(announcement["devices"]),
                "setup_seconds": seconds,
                "entities": entities,
                "rss_bytes": grown,
                "messages": messages,
                "message_wall_seconds": wall,
                "message_cpu_seconds": cpu,
            }
        )
        for entry_id in ids:  # the next count starts from none
            assert await hass.config_entries.async_remove(entry_id)
        await hass.async_block_till_done()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = Path(os.environ.get("BENCH_OUT", "per_collector.json"))
    out.write_text(json.dumps({"results": results, "peak_rss": peak}))  # noqa: ASYNC240 - once, at the end
