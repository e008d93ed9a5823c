"""The collector side of the throughput measurement: a paho client that announces N devices x M points,
then, on a line on stdin, publishes ROUNDS state messages per device as fast as it can and prints how long
publishing took. Every value changes in every message, unless CHANGED (optional, 1..POINTS) is given:
then each message is a publish-on-change message carrying only CHANGED keys (the next CHANGED points in
turn, each with a new value), the rest of the device's points staying as they are.

    python bench/harness/load_publisher.py MQTT_PORT DEVICES POINTS ROUNDS [CHANGED]
"""

from __future__ import annotations

import json
import sys
import threading
import time

import paho.mqtt.client as paho

ROOT = "pv_monitor/load"
QOS = 1


def announcement(devices: int, points: int) -> dict[str, object]:
    return {
        "contract": 1,
        "collector": {"id": "load", "name": "Load", "version": "0.0.0", "instance": "bench"},
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
                    }
                    for p in range(points)
                ],
            }
            for d in range(devices)
        ],
    }


def changed_values(seq: int, points: int, changed: int) -> dict[str, int]:
    """Message `seq` (from 1): all points, or the `changed` points after those of message seq - 1."""
    if changed >= points:
        return {f"p{p:02d}": seq * 100 + p for p in range(points)}
    first = (seq - 1) * changed
    keys = [(first + i) % points for i in range(changed)]
    return {f"p{p:02d}": seq * 100 + p for p in keys}


def main(port: int, devices: int, points: int, rounds: int, changed: int | None = None) -> None:
    changed = points if changed is None else max(1, min(changed, points))
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="pv_monitor_load")
    client.will_set(f"{ROOT}/status", "offline", qos=1, retain=True)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not connected.wait(10):
        raise SystemExit("load publisher: no connection to the broker")
    client.publish(f"{ROOT}/status", "online", qos=1, retain=True).wait_for_publish(10)
    client.publish(
        f"{ROOT}/config", json.dumps(announcement(devices, points), separators=(",", ":")), qos=1, retain=True
    ).wait_for_publish(10)
    for d in range(devices):
        client.publish(f"{ROOT}/d{d:02d}/availability", "online", qos=1, retain=True).wait_for_publish(10)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    last = None
    for seq in range(1, rounds + 1):
        for d in range(devices):
            values = changed_values(seq, points, changed)
            message = {"ts": round(time.time(), 3), "seq": seq, "v": values}
            last = client.publish(
                f"{ROOT}/d{d:02d}/state", json.dumps(message, separators=(",", ":")), qos=QOS, retain=True
            )
    if last is not None:
        last.wait_for_publish(120)
    print(f"published {rounds * devices} in {time.monotonic() - started:.3f}", flush=True)
    sys.stdin.readline()
    client.loop_stop()
    client.disconnect()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:6]))
