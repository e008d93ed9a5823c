"""The collector side of the Home Assistant measurements: a paho client that plays a collector of DEVICES x
POINTS, so that the stream is the same whichever path in Home Assistant consumes it.

Before `ready` it publishes, retained, what a collector leaves on the broker: status `online`, the
announcement, with `--discovery` also Home Assistant's standard device discovery made by the collector's
own code (`pv_collector.ha_discovery.plan`, as `mqtt.ha_discovery.enabled` does), every device's
availability and a first state message (seq 1) carrying every point. It prints `ready`, then:
- on a line `go` publishes ROUNDS state messages per device (seq 2, 3, ...) as fast as it can and prints
  `published N in S`; every value changes in every message, unless CHANGED (1..POINTS) is given: then each
  message is a publish-on-change message carrying only CHANGED keys (the next CHANGED points in turn,
  each with a new value). Point pNN of message seq carries seq * 100 + NN, so a consumer can tell from a
  value which message brought it.
- on a line `stats` prints `dropped N`: Mosquitto's `$SYS/broker/publish/messages/dropped` counter (messages
  the broker dropped for clients whose in-flight window and queue were full), read after the request
  (the broker needs `sys_interval 1`; the value is the broker's total since it started).

    python bench/harness/load_publisher.py --port MQTT_PORT --devices 50 --points 40 --rounds 100
        [--changed K] [--discovery] [--qos 1] [--settle 2.5]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as paho

from pv_collector import ha_discovery
from pv_collector.entity_model import resolve

COLLECTOR = "load"
ROOT = f"pv_monitor/{COLLECTOR}"
DROPPED = "$SYS/broker/publish/messages/dropped"
FIRST_SEQ = 1  # the retained state before `ready`; the load starts at 2 (pv_monitor drops seq <= the last)


def announcement(devices: int, points: int) -> dict[str, Any]:
    entity = resolve("number", writable=False, unit="W", device_class="power", state_class="measurement")
    return {
        "contract": 1,
        "collector": {"id": COLLECTOR, "name": "Load", "version": "0.0.0", "instance": "bench"},
        "devices": [
            {
                "id": f"d{d:02d}",
                "name": f"D{d:02d}",
                "kind": "other",
                "profile": "bench",
                "poll_interval": 1.0,
                "points": [
                    {
                        "key": f"p{p:02d}",
                        "name": f"P{p:02d}",
                        "kind": "number",
                        "unit": "W",
                        "device_class": "power",
                        "state_class": "measurement",
                        "precision": 0,
                        "entity": entity.to_payload(),  # as the collector announces it
                    }
                    for p in range(points)
                ],
            }
            for d in range(devices)
        ],
    }


def changed_values(seq: int, points: int, changed: int) -> dict[str, int]:
    """Message `seq`: all points, or the `changed` points after those of message seq - 1."""
    if changed >= points:
        return {f"p{p:02d}": seq * 100 + p for p in range(points)}
    first = (seq - FIRST_SEQ - 1) * changed
    keys = [(first + i) % points for i in range(changed)]
    return {f"p{p:02d}": seq * 100 + p for p in keys}


class Dropped:
    """The broker's dropped-messages counter, as `$SYS` last published it."""

    def __init__(self) -> None:
        self.value: int | None = None
        self.updated = 0.0
        self.lock = threading.Condition()

    def on_message(self, payload: bytes) -> None:
        with self.lock:
            self.value = int(payload)
            self.updated = time.monotonic()
            self.lock.notify_all()

    def settled(self, wait: float = 2.5) -> int:
        """The counter after `wait` seconds (more than two `sys_interval`s: Mosquitto publishes a `$SYS`
        value only when it changed, so a counter never published is 0)."""
        time.sleep(wait)
        with self.lock:
            return self.value or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--points", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--changed", type=int, help="values per message (default: every point)")
    parser.add_argument("--discovery", action="store_true", help="also Home Assistant's standard discovery")
    parser.add_argument("--qos", type=int, default=1, choices=(0, 1, 2), help="QoS of the state messages")
    parser.add_argument(
        "--settle", type=float, default=2.5, help="seconds `stats` waits for the broker's dropped counter"
    )
    args = parser.parse_args()
    devices, points = args.devices, args.points
    changed = points if args.changed is None else max(1, min(args.changed, points))
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="pv_monitor_load")
    client.will_set(f"{ROOT}/status", "offline", qos=1, retain=True)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    dropped = Dropped()
    client.on_connect = lambda *_args: connected.set()
    client.on_message = lambda _c, _u, msg: dropped.on_message(msg.payload)
    client.connect("127.0.0.1", args.port)
    client.loop_start()
    if not connected.wait(10):
        raise SystemExit("load publisher: no connection to the broker")
    client.subscribe(DROPPED)

    def retained(topic: str, payload: str, qos: int = 1) -> None:
        client.publish(topic, payload, qos=qos, retain=True).wait_for_publish(30)

    def state(device: int, seq: int, values: dict[str, int]) -> str:
        return json.dumps({"ts": round(time.time(), 3), "seq": seq, "v": values}, separators=(",", ":"))

    retained(f"{ROOT}/status", "online")
    document = announcement(devices, points)
    retained(f"{ROOT}/config", json.dumps(document, separators=(",", ":")))
    if args.discovery:
        topics = ha_discovery.DiscoveryTopics(base=ROOT, collector_id=COLLECTOR)
        plan = ha_discovery.plan(topics, document, (), enabled=True, qos=args.qos)
        for topic, payload in plan.publish.items():
            retained(topic, ha_discovery.dumps(payload))
    for d in range(devices):
        retained(f"{ROOT}/d{d:02d}/availability", "online")
        retained(
            f"{ROOT}/d{d:02d}/state", state(d, FIRST_SEQ, changed_values(FIRST_SEQ, points, points)), args.qos
        )
    print("ready", flush=True)
    for line in sys.stdin:
        match line.strip():
            case "go":
                started = time.monotonic()
                last = None
                for seq in range(FIRST_SEQ + 1, FIRST_SEQ + 1 + args.rounds):
                    values = changed_values(seq, points, changed)
                    for d in range(devices):
                        last = client.publish(
                            f"{ROOT}/d{d:02d}/state", state(d, seq, values), qos=args.qos, retain=True
                        )
                if last is not None:
                    last.wait_for_publish(120)
                print(f"published {args.rounds * devices} in {time.monotonic() - started:.3f}", flush=True)
            case "stats":
                print(f"dropped {dropped.settled(args.settle)}", flush=True)
            case _:
                break
    client.loop_stop()
    client.disconnect()


if __name__ == "__main__":
    main()
