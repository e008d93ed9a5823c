"""How the collector scales with the number of devices, and what it puts on the broker and in the recorder.

Polls N simulated devices (default 1, 10, 100 and 250) over Modbus TCP every second for --seconds and
prints, per N: the collector's CPU seconds per device-cycle, its share of one core, whether the cycles kept
their 1 s period (device-cycles done / device-cycles due), and its peak RSS. The simulator runs in a
separate process (`pv-collector simulate`) and Mosquitto is started in a temporary folder; each N runs the
collector in a fresh process, so CPU and peak RSS belong to the collector alone. Devices cycle through the
simulator's four units (SunSpec inverter, SDM630 meter, battery, environment sensor); every four devices
share one TCP connection (one bus), as behind a gateway.

Meanwhile a subscriber in this process records every state message and computes:
- bytes per reading: MQTT PUBLISH bytes (fixed header, topic, packet id, payload) of the compact JSON state
  per device against the same readings published one topic per point (`<base>/<cid>/<did>/<key>`, the
  value as payload, same QoS);
- recorder rows per device per hour: Home Assistant writes a `states` row when a value changes, so rows =
  readings whose value differs from the previous one of that point; once publishing every poll, once with
  `publish.on_change` and a deadband of 10 displayed digits (10 x 10^-precision) on every numeric point of
  the profile-based devices (SDM630, battery, environment sensor; SunSpec points only on change).

    .venv/bin/python bench/collector_scale.py [--devices 1 10 100 250] [--seconds 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from common import Report, verdict, wait_port

from pv_collector.app import Collector
from pv_collector.config import validate_config
from pv_collector.profile import load_profile
from tests.mosquitto import Mosquitto, free_port

UNITS = [(1, "sunspec"), (2, "sdm630"), (3, "pv_sim_battery"), (4, "pv_sim_environment")]
DEVICES_PER_BUS = 4
WARM_UP = 3.0
QOS = 1
RSS_TARGET_MB = 80
BYTES_TARGET = 1 / 3
KEPT = 0.95  # device-cycles done / due at or above this: the period is kept


def deadbands(profile_id: str) -> dict[str, float]:
    """10 displayed digits of every numeric point with a precision (empty for SunSpec: keys vary)."""
    profile = load_profile(profile_id)
    return {
        p.key: 10 * 10.0**-p.precision
        for p in profile.points
        if p.kind == "number" and p.precision is not None and not p.hidden
    }


def configuration(
    devices: int, mqtt_port: int, modbus_port: int, data_dir: Path, on_change: bool
) -> dict[str, Any]:
    buses = []
    for first in range(0, devices, DEVICES_PER_BUS):
        members = []
        for index in range(first, min(first + DEVICES_PER_BUS, devices)):
            unit, profile = UNITS[index % len(UNITS)]
            device: dict[str, Any] = {
                "id": f"d{index:03d}",
                "unit_id": unit,
                "profile": profile,
                "poll_interval": 1.0,
            }
            if on_change and profile != "sunspec":
                device["deadband"] = deadbands(profile)
            members.append(device)
        buses.append(
            {
                "name": f"bus{first // DEVICES_PER_BUS:03d}",
                "type": "tcp",
                "host": "127.0.0.1",
                "port": modbus_port,
                "timeout": 1.0,
                "devices": members,
            }
        )
    return {
        "collector": {"id": "bench"},
        "data_dir": str(data_dir),
        "log_level": "warning",
        "metrics": {"enabled": False},
        "mqtt": {"port": mqtt_port, "qos": {"state": QOS}},
        "publish": {"stats_interval": 10, "on_change": on_change, "max_interval": 300},
        "buses": buses,
    }


def device_cycles(collector: Collector) -> float:
    total = 0.0
    for metric in collector.metrics.registry.collect():
        if metric.name == "pv_collector_cycle_seconds":
            total += sum(s.value for s in metric.samples if s.name.endswith("_count"))
    return total


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(
    devices: int,
    seconds: float,
    *,
    mqtt_port: int,
    modbus_port: int,
    data_dir: Path,
    on_change: bool,
    warm_up: float,
) -> dict[str, Any]:
    config = validate_config(configuration(devices, mqtt_port, modbus_port, data_dir, on_change))
    collector = Collector(config)
    task = asyncio.create_task(collector.run())
    await asyncio.sleep(warm_up)  # discovery, first connection: not part of the steady state
    cycles_before, cpu_before, started = device_cycles(collector), cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    cycles = device_cycles(collector) - cycles_before
    cpu = cpu_seconds() - cpu_before
    elapsed = time.monotonic() - started
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return {
        "devices": devices,
        "seconds": round(elapsed, 2),
        "device_cycles": int(cycles),
        "expected_cycles": int(devices * elapsed),
        "cpu_seconds": round(cpu, 3),
        "cpu_ms_per_device_cycle": round(1000 * cpu / cycles, 3) if cycles else None,
        "cpu_share": round(cpu / elapsed, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def child(devices: int, seconds: float, ports: tuple[int, int], *, on_change: bool, warm_up: float) -> None:
    mqtt_port, modbus_port = ports
    with tempfile.TemporaryDirectory() as data:
        result = asyncio.run(
            measure(
                devices,
                seconds,
                mqtt_port=mqtt_port,
                modbus_port=modbus_port,
                data_dir=Path(data),
                on_change=on_change,
                warm_up=warm_up,
            )
        )
    print(json.dumps(result))


# ------------------------------------------------------------------------------------ what goes out


def publish_size(topic: str, payload: bytes, qos: int) -> int:
    """Bytes of one MQTT 3.1.1/5 PUBLISH packet without properties (v5 adds one property-length byte)."""
    remaining = 2 + len(topic.encode()) + (2 if qos else 0) + len(payload)
    length_bytes = 1 if remaining < 128 else 2 if remaining < 16384 else 3 if remaining < 2097152 else 4
    return 1 + length_bytes + remaining


@dataclass
class Traffic:
    """State messages seen on the broker during one run."""

    messages: int = 0
    readings: int = 0
    bytes_compact: int = 0
    bytes_per_topic: int = 0
    rows: int = 0
    first: float | None = None
    last: float = 0.0
    devices: set[str] = field(default_factory=set)
    previous: dict[tuple[str, str], Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, topic: str, payload: bytes) -> None:
        try:
            values = json.loads(payload)["v"]
        except (ValueError, KeyError, TypeError):
            return
        device = topic.split("/")[2]
        root = topic.rsplit("/", 1)[0]
        now = time.monotonic()
        with self.lock:
            self.first = self.first if self.first is not None else now
            self.last = now
            self.devices.add(device)
            self.messages += 1
            self.readings += len(values)
            self.bytes_compact += publish_size(topic, payload, QOS)
            for key, value in values.items():
                self.bytes_per_topic += publish_size(f"{root}/{key}", json.dumps(value).encode(), QOS)
                if self.previous.get((device, key), object()) != value:
                    self.rows += 1
                self.previous[(device, key)] = value

    def rows_per_device_hour(self) -> float:
        span = self.last - (self.first or self.last)
        if not span or not self.devices:
            return 0.0
        return self.rows / len(self.devices) / span * 3600


class Subscriber:
    """Collects `pv_monitor/bench/+/state` into the current `Traffic`."""

    def __init__(self, port: int) -> None:
        self.traffic = Traffic()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-scale-subscriber")
        self.client.on_message = lambda _c, _u, msg: self.traffic.add(msg.topic, msg.payload)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_args: subscribed.set()
        self.client.on_connect = lambda c, *_args: c.subscribe("pv_monitor/bench/+/state", qos=QOS)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the subscriber did not subscribe")

    def reset(self) -> Traffic:
        old, self.traffic = self.traffic, Traffic()
        return old

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run_child(
    devices: int, args: argparse.Namespace, broker: Mosquitto, modbus_port: int, on_change: bool
) -> dict[str, Any]:
    # One process per size, so that peak RSS and CPU belong to that size alone.
    command = [
        sys.executable,
        __file__,
        "--devices",
        str(devices),
        "--seconds",
        str(args.seconds),
        "--warm-up",
        str(args.warm_up),
        "--child",
        str(broker.port),
        str(modbus_port),
    ]
    if on_change:
        command.append("--on-change")
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 10, 100, 250])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--footprint-devices", type=int, default=8, help="devices of the on-change runs")
    parser.add_argument("--warm-up", type=float, default=WARM_UP, help="seconds before measuring")
    parser.add_argument("--on-change", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write figures and tables to this file")
    parser.add_argument(
        "--child", nargs=2, type=int, metavar=("MQTT_PORT", "MODBUS_PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(
            args.devices[0], args.seconds, tuple(args.child), on_change=args.on_change, warm_up=args.warm_up
        )
        return
    report = Report("collector_scale")
    with tempfile.TemporaryDirectory() as folder:
        broker = Mosquitto(Path(folder) / "mosquitto")
        broker.start()
        modbus_port = free_port()
        simulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pv_collector",
                "simulate",
                "--port",
                str(modbus_port),
                "--log-level",
                "error",
            ]
        )
        subscriber = None
        try:
            wait_port(modbus_port)
            subscriber = Subscriber(broker.port)
            rows = []
            results = []
            for devices in args.devices:
                subscriber.reset()
                result = run_child(devices, args, broker, modbus_port, on_change=False)
                result["traffic"] = subscriber.reset()
                results.append(result)
                kept = result["device_cycles"] / max(1, result["expected_cycles"])
                rows.append(
                    [
                        result["devices"],
                        result["device_cycles"],
                        result["expected_cycles"],
                        f"{kept:.2f}",
                        result["cpu_seconds"],
                        result["cpu_ms_per_device_cycle"],
                        result["cpu_share"],
                        result["peak_rss_mb"],
                    ]
                )
                report.figure(
                    f"scale.{devices}",
                    f"{devices} devices at 1 s: {result['cpu_ms_per_device_cycle']} ms CPU per device-cycle, "
                    f"{result['cpu_share']:.2f} of one core, period kept {kept:.2f} "
                    f"({verdict(kept >= KEPT and result['cpu_share'] < 1)}), "
                    f"peak RSS {result['peak_rss_mb']} MB "
                    f"(target < {RSS_TARGET_MB} MB: {verdict(result['peak_rss_mb'] < RSS_TARGET_MB)})",
                    **{k: v for k, v in result.items() if k != "traffic"},
                    kept=kept,
                )
            report.table(
                "scale",
                [
                    "devices",
                    "cycles",
                    "due",
                    "kept",
                    "CPU s",
                    "CPU ms/device-cycle",
                    "CPU share",
                    "peak RSS MB",
                ],
                rows,
            )

            # Bytes per reading (from the largest run that delivered messages) and recorder rows.
            traffic = max((r["traffic"] for r in results), key=lambda t: t.readings)
            if traffic.readings:
                ratio = traffic.bytes_compact / traffic.bytes_per_topic
                report.figure(
                    "bytes_per_reading",
                    f"{traffic.bytes_compact / traffic.readings:.1f} bytes per reading compact vs "
                    f"{traffic.bytes_per_topic / traffic.readings:.1f} one topic per point: {ratio:.2f} "
                    f"(target <= {BYTES_TARGET:.2f}: {verdict(ratio <= BYTES_TARGET)}; "
                    f"{traffic.readings} readings in {traffic.messages} messages, QoS {QOS})",
                    ratio=ratio,
                    compact=traffic.bytes_compact / traffic.readings,
                    per_topic=traffic.bytes_per_topic / traffic.readings,
                )
            subscriber.reset()
            every = run_child(args.footprint_devices, args, broker, modbus_port, on_change=False)
            every_traffic = subscriber.reset()
            changed = run_child(args.footprint_devices, args, broker, modbus_port, on_change=True)
            changed_traffic = subscriber.reset()
            r_every, r_change = every_traffic.rows_per_device_hour(), changed_traffic.rows_per_device_hour()
            report.figure(
                "recorder_rows",
                f"recorder rows per device per hour: {r_change:.0f} with publish-on-change (deadbands) vs "
                f"{r_every:.0f} publishing every poll ({r_change / r_every if r_every else 0:.2f}); "
                f"messages {changed_traffic.messages} vs {every_traffic.messages}",
                on_change=r_change,
                every_poll=r_every,
                devices=args.footprint_devices,
                cpu_on_change=changed["cpu_ms_per_device_cycle"],
                cpu_every=every["cpu_ms_per_device_cycle"],
            )
            report.note(
                f"scale runs: {args.seconds:.0f} s each after {args.warm_up:.0f} s warm-up; "
                f"state QoS {QOS}; simulator in its own process on the same 2 cores"
            )
        finally:
            if subscriber is not None:
                subscriber.stop()
            simulator.terminate()
            simulator.wait(10)
            broker.stop()
    report.write(args.json)


if __name__ == "__main__":
    main()
