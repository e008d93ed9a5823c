"""pv_monitor against Home Assistant's own MQTT integration on the same messages, and the direct-write floor
(run by bench/ha_throughput.py; not part of the test suite).

One test per (path, K) in BENCH_RUNS (`pv_monitor:40,mqtt:40,...`), each with a fresh `hass` of Home
Assistant's test harness, its real MQTT client and a real Mosquitto. bench/harness/load_publisher.py plays
a collector of DEVICES x POINTS; for the `mqtt` path it also publishes the collector's standard discovery
(`pv_collector.ha_discovery`, its value templates), and custom integrations stay off, as for a user
without pv_monitor. Measured, in this order:

1. Start to live: from setting up the MQTT entry (and pv_monitor's) to every point entity showing the
   retained first state; RSS growth per entity of the path (after gc; the platforms' modules are imported
   before the baseline, the MQTT client's own set-up is in the growth of both paths).
2. Load: ROUNDS state messages per device as fast as the publisher can, every value changing (K = POINTS)
   or publish-on-change messages of K values. The event loop's lag is sampled every 10 ms; the process's
   CPU time, every state write of the path's entities, and what became of every message: a counting
   subscription on the path's own topic filters sees what Home Assistant's MQTT client dispatched, the
   state changes tell which values reached an entity (value = seq * 100 + point), the broker's `$SYS`
   counter tells what Mosquitto dropped.
3. Floor (BENCH_FLOOR=1): the same number of changed entity states written directly
   (`async_write_ha_state` of plain sensors with the same device class, state class and unit) in the same
   process, the same state-change listener attached.

BENCH_TRACEMALLOC=1 (with `-s`) prints where the set-up's memory was allocated; BENCH_DEBUG_MODULES=1 the
modules it imported (both only to investigate: they change the figures).

Environment: BENCH_OUT_DIR (a folder: one `<path>-<K>-qos<Q>.json` per run), BENCH_RUNS (`path:K[:QoS]`,
comma-separated), BENCH_DEVICES (50), BENCH_POINTS (40), BENCH_ROUNDS (100), BENCH_FLOOR (1); shorter waits
for a smoke run: BENCH_IDLE_END (5.0 s without a new state change ends the load), BENCH_SETTLE (2.5 s for
the broker's dropped counter).
"""

import asyncio
import gc
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components import mqtt
from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED, UnitOfPower
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockEntityPlatform

import custom_components.pv_monitor
from tests.helpers import eventually
from tests.mosquitto import Mosquitto

PUBLISHER = Path(__file__).with_name("load_publisher.py")
COLLECTOR = "load"
ROOT = f"pv_monitor/{COLLECTOR}"
LAG_PERIOD = 0.01
IDLE_END = float(os.environ.get("BENCH_IDLE_END", "5.0"))  # no new state change this long: the load is over
FIRST_SEQ = 1
PAGE = os.sysconf("SC_PAGE_SIZE")
# Imported before the RSS baseline, for both paths: code is not per-entity memory.
MODULES = (
    [
        f"homeassistant.components.mqtt.{platform}"
        for platform in ("sensor", "binary_sensor", "number", "select", "switch", "button", "config_flow")
    ]
    + [
        # what pv_monitor's set-up imports (device triggers and conditions of its platforms)
        "homeassistant.components.http.websocket_api",
        "homeassistant.components.mqtt.trigger",
        *(f"homeassistant.components.{domain}.trigger" for domain in ("button", "select", "switch")),
        *(f"homeassistant.components.{domain}.condition" for domain in ("select", "switch")),
        *(
            f"homeassistant.components.{domain}"
            for domain in ("input_boolean", "input_button", "input_select")
        ),
    ]
    + [
        f"custom_components.pv_monitor.{m.name}"
        for m in pkgutil.iter_modules(custom_components.pv_monitor.__path__)
    ]
)


def runs() -> list[tuple[str, int, int]]:
    """(path, K, QoS) of BENCH_RUNS: `path:K[:QoS]`, comma-separated (QoS 1 unless given)."""
    spec = os.environ.get("BENCH_RUNS", "pv_monitor:40,mqtt:40")
    parsed = [[*item.split(":"), "1"][:3] for item in spec.split(",")]
    return [(path, int(k), int(qos)) for path, k, qos in parsed]


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


class SocketQueues:
    """Bytes waiting in the TCP connection between Mosquitto and Home Assistant's MQTT client, sampled from
    /proc/net/tcp: unread in Home Assistant's receive buffer, unsent in the broker's send buffer."""

    def __init__(self, broker_port: int) -> None:
        self.broker_port = broker_port
        self.client_port: int | None = None
        self.received_max = 0
        self.sent_max = 0

    @staticmethod
    def _rows() -> list[tuple[int, int, int, int, str]]:
        """(local port, remote port, unsent bytes, unread bytes, inode) of every IPv4 TCP socket."""
        rows = []
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, queues, inode = fields[1], fields[2], fields[4], fields[9]
            tx, rx = (int(v, 16) for v in queues.split(":"))
            rows.append((int(local.split(":")[1], 16), int(remote.split(":")[1], 16), tx, rx, inode))
        return rows

    def find_client(self) -> None:
        """The local port of this process's connection to the broker."""
        inodes = set()
        for fd in Path("/proc/self/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        for local, remote, _tx, _rx, inode in self._rows():
            if remote == self.broker_port and inode in inodes:
                self.client_port = local

    def sample(self) -> None:
        for local, remote, tx, rx, _inode in self._rows():
            if local == self.client_port and remote == self.broker_port:
                self.received_max = max(self.received_max, rx)
            elif local == self.broker_port and remote == self.client_port:
                self.sent_max = max(self.sent_max, tx)


def changed_keys(seq: int, points: int, changed: int) -> list[int]:
    """The points message `seq` carries (load_publisher.changed_values)."""
    if changed >= points:
        return list(range(points))
    first = (seq - FIRST_SEQ - 1) * changed
    return [(first + i) % points for i in range(changed)]


class FloorSensor(SensorEntity):
    """A plain sensor written directly: what a state write costs without any integration."""

    _attr_should_poll = False
    _attr_device_class = SensorDeviceClass.POWER
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfPower.WATT
    _attr_suggested_display_precision = 0

    def __init__(self, name: str) -> None:
        self._attr_name = name


def point_entities(hass: HomeAssistant, path: str, devices: int, points: int) -> dict[str, tuple[int, int]]:
    """entity_id -> (device, point) of every point sensor the path created so far."""
    registry = er.async_get(hass)
    found = {}
    for d in range(devices):
        for p in range(points):
            if path == "mqtt":
                unique_id = f"pv_monitor_{COLLECTOR}_d{d:02d}_p{p:02d}"  # ha_discovery's rule
                entity_id = registry.async_get_entity_id("sensor", "mqtt", unique_id)
            else:
                unique_id = f"{COLLECTOR}_d{d:02d}_p{p:02d}"  # catalogue.point_unique_id
                entity_id = registry.async_get_entity_id("sensor", "pv_monitor", unique_id)
            if entity_id is not None:
                found[entity_id] = (d, p)
    return found


def path_entity_count(hass: HomeAssistant, path: str, entry_id: str | None) -> int:
    registry = er.async_get(hass)
    if path == "mqtt":
        return sum(1 for e in registry.entities.values() if e.platform == "mqtt")
    assert entry_id is not None
    return len(er.async_entries_for_config_entry(registry, entry_id))


@pytest.mark.parametrize(("path", "changed", "qos"), runs(), ids=[f"{p}-{k}-qos{q}" for p, k, q in runs()])
async def test_path(  # noqa: PLR0917 - pytest passes fixtures and parameters by name
    hass: HomeAssistant, broker: Mosquitto, mock_hass_config: None, path: str, changed: int, qos: int
) -> None:
    devices = int(os.environ.get("BENCH_DEVICES", "50"))
    points = int(os.environ.get("BENCH_POINTS", "40"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "100"))
    changed = max(1, min(changed, points))
    out = Path(os.environ["BENCH_OUT_DIR"]) / f"{path}-{changed}-qos{qos}.json"
    loop = asyncio.get_running_loop()
    for module in MODULES:
        importlib.import_module(module)
    publisher = subprocess.Popen(  # noqa: ASYNC220 - runs beside the loop, talked to by lines
        [
            sys.executable,
            str(PUBLISHER),
            *("--port", str(broker.port), "--devices", str(devices), "--points", str(points)),
            *("--rounds", str(rounds), "--changed", str(changed), "--qos", str(qos)),
            *("--settle", os.environ.get("BENCH_SETTLE", "2.5")),
            *(["--discovery"] if path == "mqtt" else []),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert publisher.stdin is not None
    assert publisher.stdout is not None

    async def ask(line: str) -> str:
        assert publisher.stdin is not None
        assert publisher.stdout is not None
        publisher.stdin.write(line + "\n")
        publisher.stdin.flush()
        return (await loop.run_in_executor(None, publisher.stdout.readline)).strip()

    mqtt_entry = MockConfigEntry(
        domain="mqtt", data={"broker": "127.0.0.1", "port": broker.port}, version=1, minor_version=2
    )
    mqtt_entry.add_to_hass(hass)
    entry = None
    if path == "pv_monitor":
        from custom_components.pv_monitor.const import CONF_BASE_TOPIC, CONF_COLLECTOR_ID, DOMAIN

        entry = MockConfigEntry(
            domain=DOMAIN,
            unique_id=COLLECTOR,
            title=COLLECTOR,
            data={CONF_BASE_TOPIC: "pv_monitor", CONF_COLLECTOR_ID: COLLECTOR},
        )
        entry.add_to_hass(hass)

    events: list[tuple[str, str, float]] = []  # (entity_id, state, monotonic) of every state change
    recording = [True]
    lags: list[float] = []
    received: list[tuple[str, bytes]] = []  # what HA's MQTT client dispatched on the path's state topics
    path_entities: set[str] = set()
    writes = [0]  # every state write of the path's entities while the load runs (changed or not)

    @callback
    def on_change(event: Event) -> None:
        if recording[0]:
            new = event.data["new_state"]
            events.append((event.data["entity_id"], new.state if new else "", time.monotonic()))
        if event.data["entity_id"] in path_entities:
            writes[0] += 1

    @callback
    def reported(event_data: Any) -> bool:
        """Event filter of EVENT_STATE_REPORTED: counts the write, never runs a listener."""
        if event_data["entity_id"] in path_entities:
            writes[0] += 1
        return False

    hass.bus.async_listen(EVENT_STATE_CHANGED, on_change)
    hass.bus.async_listen(EVENT_STATE_REPORTED, lambda _event: None, event_filter=reported)
    try:
        assert (await loop.run_in_executor(None, publisher.stdout.readline)).strip() == "ready"
        # ------------------------------------------------------------------ 1. start to live
        gc.collect()
        rss_before = rss()
        modules_before = set(sys.modules)
        if os.environ.get("BENCH_TRACEMALLOC"):  # where the set-up's memory goes (slows the set-up down)
            tracemalloc.start(8)
        started = time.monotonic()
        assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
        if entry is not None:
            assert await hass.config_entries.async_setup(entry.entry_id)
        wanted = devices * points
        first_value = {p: FIRST_SEQ * 100 + p for p in range(points)}
        entities: dict[str, tuple[int, int]] = {}

        def live() -> bool:
            if len(entities) < wanted:
                entities.update(point_entities(hass, path, devices, points))
                if len(entities) < wanted:
                    return False
            for entity_id, (_d, p) in entities.items():
                state = hass.states.get(entity_id)
                if state is None or state.state != str(first_value[p]):
                    return False
            return True

        await eventually(live, f"{path}: every entity live", within=600)
        first_live: dict[str, float] = {}
        for entity_id, state, at in events:
            if (
                entity_id in entities
                and entity_id not in first_live
                and state == str(first_value[entities[entity_id][1]])
            ):
                first_live[entity_id] = at
        live_seconds = max(first_live.values()) - started
        await hass.async_block_till_done()
        gc.collect()
        entity_count = path_entity_count(hass, path, entry.entry_id if entry else None)
        rss_growth = rss() - rss_before
        if os.environ.get("BENCH_DEBUG_MODULES"):
            print("modules imported by the set-up:", sorted(set(sys.modules) - modules_before))
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot()
            held, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"{path}: set-up allocated {peak / 2**20:.1f} MiB at its peak, holds {held / 2**20:.1f} MiB"
            )
            for stat in snapshot.statistics("filename")[:15]:
                print(f"  {stat.size / 1024:8.0f} KiB {stat.count:7d} blocks  {stat.traceback[0].filename}")
        path_entities.update(
            e.entity_id
            for e in er.async_get(hass).entities.values()
            if (e.platform == "mqtt" if path == "mqtt" else entry and e.config_entry_id == entry.entry_id)
        )

        # ------------------------------------------------------------------ 2. load
        @callback
        def count(msg: mqtt.ReceiveMessage) -> None:
            payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
            received.append((msg.topic, payload))

        filters = (
            [f"{ROOT}/+/state"]
            if path == "pv_monitor"
            else [f"{ROOT}/d{d:02d}/state" for d in range(devices)]
        )
        for topic_filter in filters:  # the path's own filters: the broker sends nothing twice
            await mqtt.async_subscribe(hass, topic_filter, count, qos, encoding=None)
        await asyncio.sleep(1.0)  # HA's subscribe debounce; the retained first states come again
        events.clear()
        received.clear()
        writes[0] = 0

        async def lag_monitor() -> None:
            while True:
                before = time.monotonic()
                await asyncio.sleep(LAG_PERIOD)
                lags.append(time.monotonic() - before - LAG_PERIOD)

        dropped_before = int((await ask("stats")).removeprefix("dropped "))
        sockets = SocketQueues(broker.port)
        sockets.find_client()
        monitor = asyncio.create_task(lag_monitor())
        await asyncio.sleep(0.5)
        lags.clear()
        cpu_started = time.process_time()
        publisher.stdin.write("go\n")
        publisher.stdin.flush()
        expected = devices * rounds * changed
        last_count, idle_since, cpu_at_last = -1, time.monotonic(), cpu_started
        while len(events) < expected and time.monotonic() - idle_since < IDLE_END:
            sockets.sample()
            if len(events) != last_count:
                last_count, idle_since, cpu_at_last = len(events), time.monotonic(), time.process_time()
            await asyncio.sleep(0.05)
        if len(events) != last_count:
            cpu_at_last = time.process_time()
        monitor.cancel()
        recording[0] = False
        load_cpu = cpu_at_last - cpu_started
        all_writes = writes[0]
        load_events = list(events)
        load_received = list(received)
        published = (await loop.run_in_executor(None, publisher.stdout.readline)).strip()
        dropped_line = await ask("stats")
        gc.collect()
        rss_after_load = rss()

        # ------------------------------------------------------------------ 3. floor
        floor: dict[str, float] | None = None
        if os.environ.get("BENCH_FLOOR", "1") == "1":
            floor = await measure_floor(
                hass,
                devices=devices,
                points=points,
                rounds=rounds,
                changed=changed,
                path_entities=path_entities,
                writes=writes,
            )
    finally:
        if publisher.poll() is None:
            publisher.stdin.write("stop\n")
            publisher.stdin.flush()
            await loop.run_in_executor(None, publisher.wait, 20)
        if entry is not None:
            assert await hass.config_entries.async_unload(entry.entry_id)
        assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()

    message_bytes = max((len(payload) for _topic, payload in load_received), default=0)
    accounting = account(
        events=load_events,
        received=load_received,
        entities=entities,
        devices=devices,
        rounds=rounds,
        points=points,
        changed=changed,
    )
    changes = [at for entity_id, _state, at in load_events if entity_id in entities]
    span = changes[-1] - changes[0] if len(changes) > 1 else 0.0
    out.write_text(
        json.dumps(
            {
                "path": path,
                "devices": devices,
                "points": points,
                "rounds": rounds,
                "changed_per_message": changed,
                "qos": qos,
                "live_seconds": live_seconds,
                "entities": entity_count,
                "point_entities": len(entities),
                "rss_growth": rss_growth,
                "rss_after_load": rss_after_load,
                "cpu_seconds": load_cpu,
                "state_changes": len(changes),
                "all_state_writes": all_writes,
                "seconds": span,
                "lags": lags,
                "publisher": published,
                "broker_dropped": int(dropped_line.removeprefix("dropped ")) - dropped_before,
                "floor": floor,
                "socket_unread_max": sockets.received_max,
                "socket_unsent_max": sockets.sent_max,
                "message_bytes": message_bytes,
                **accounting,
            }
        )
    )
    assert changes, "no state message reached the entities"


def account(
    *,
    events: list[tuple[str, str, float]],
    received: list[tuple[str, bytes]],
    entities: dict[str, tuple[int, int]],
    devices: int,
    rounds: int,
    points: int,
    changed: int,
) -> dict[str, int]:
    """What became of the load's messages, seen from outside the path.

    Each message (device, seq) sent is either not delivered to Home Assistant's MQTT client (the counting
    subscription never saw it), or delivered and then `turned into states` (every value it carried reached
    its entity), `superseded` (some did not, but a newer value of each such point did) or `lost`.
    """
    shown: set[tuple[int, int, int]] = set()  # (device, point, seq) that reached an entity
    newest: dict[tuple[int, int], int] = {}
    for entity_id, state, _at in events:
        if entity_id not in entities:
            continue
        try:
            value = int(float(state))
        except ValueError:
            continue
        d, p = entities[entity_id]
        seq = value // 100
        shown.add((d, p, seq))
        newest[(d, p)] = max(newest.get((d, p), 0), seq)
    delivered: set[tuple[int, int]] = set()
    for topic, payload in received:
        seq = int(json.loads(payload)["seq"])
        if seq > FIRST_SEQ:
            delivered.add((int(topic.split("/")[2].removeprefix("d")), seq))
    turned = superseded = lost = 0
    for d, seq in delivered:
        missing = [p for p in changed_keys(seq, points, changed) if (d, p, seq) not in shown]
        if not missing:
            turned += 1
        elif all(newest.get((d, p), 0) > seq for p in missing):
            superseded += 1
        else:
            lost += 1
    last = FIRST_SEQ + rounds
    shown_last = [max((newest.get((d, p), 0) for p in range(points)), default=0) for d in range(devices)]
    return {
        "sent": devices * rounds,
        "stale_devices": sum(1 for seq in shown_last if seq < last),  # not showing their last message
        "oldest_shown_round": min(shown_last, default=0) - FIRST_SEQ,
        "delivered": len(delivered),
        "turned_into_states": turned,
        "superseded": superseded,
        "lost": lost,
    }


async def measure_floor(
    hass: HomeAssistant,
    *,
    devices: int,
    points: int,
    rounds: int,
    changed: int,
    path_entities: set[str],
    writes: list[int],
) -> dict[str, float]:
    """Write devices x rounds x changed changed states of plain sensors directly, a loop turn per round."""
    platform = MockEntityPlatform(hass, domain="sensor", platform_name="bench_floor")
    sensors = [[FloorSensor(f"Floor D{d:02d} P{p:02d}") for p in range(points)] for d in range(devices)]
    await platform.async_add_entities([s for row in sensors for s in row])
    await hass.async_block_till_done()
    path_entities.update(s.entity_id for row in sensors for s in row)  # the same listener work per write
    writes[0] = 0
    cpu_started, started = time.process_time(), time.monotonic()
    for seq in range(FIRST_SEQ + 1, FIRST_SEQ + 1 + rounds):
        keys = changed_keys(seq, points, changed)
        for d in range(devices):
            row = sensors[d]
            for p in keys:
                sensor = row[p]
                sensor._attr_native_value = seq * 100 + p
                sensor.async_write_ha_state()
        await asyncio.sleep(0)
    seconds = time.monotonic() - started
    cpu = time.process_time() - cpu_started
    written = writes[0]
    await platform.async_reset()
    return {"writes": written, "seconds": seconds, "cpu_seconds": cpu, "messages": devices * rounds}
