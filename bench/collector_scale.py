"""How the collector scales with the number of devices, and what it puts on the broker and in the recorder.

Polls N simulated devices (default 10, 100, 300 and 1,000) over Modbus TCP every second for --seconds and
prints, per N: the collector's CPU seconds per device-cycle, its share of one core, whether the cycles kept
their 1 s period (device-cycles done / device-cycles due), its peak RSS and the simulator's share of a core
(when the period is not kept, whose core ran out). The simulator runs in a separate process
(`pv-collector simulate`) and Mosquitto is started in a temporary folder; each N runs the collector in a
fresh process, so CPU and peak RSS belong to the collector alone. A least-squares line through the CPU
shares, share = fixed + N x marginal, says whether the cost grows linearly (the cost per device-cycle is
flat when the fixed part is small) and at how many devices one core runs out. With --profile the largest
N runs once more under cProfile (measuring window only) and the functions with the most own time are
listed. Devices cycle through the
simulator's four units (SunSpec inverter, SDM630 meter, battery, environment sensor); every four devices
share one TCP connection (one bus), as behind a gateway (BENCH_DEVICES_PER_BUS changes that).

Meanwhile a subscriber in this process records every state message and computes:
- bytes per reading: MQTT PUBLISH bytes (fixed header, topic, packet id, payload) of the compact JSON state
  per device against the same readings published one topic per point (`<base>/<cid>/<did>/<key>`, the
  value as payload, same QoS) and one JSON object per device with every current value, as Zigbee2MQTT
  and Tasmota publish (`device_json_sizes`); publishing every poll, and with publish-on-change;
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
import cProfile
import io
import json
import os
import pstats
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
DEVICES_PER_BUS = int(os.environ.get("BENCH_DEVICES_PER_BUS", "4"))  # one TCP connection each
WARM_UP = 3.0
QOS = 1
RSS_TARGET_MB = 80
BYTES_TARGET = 1 / 3
KEPT = 0.95  # device-cycles done / due at or above this: the period is kept
FLAT = 0.20  # CPU per device-cycle within +-20 % of the smallest N's from the smallest to the largest N
TICKS = os.sysconf("SC_CLK_TCK")


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


def devices_cycled(collector: Collector) -> int:
    """How many devices have finished at least one poll cycle."""
    done = 0
    for metric in collector.metrics.registry.collect():
        if metric.name == "pv_collector_cycle_seconds":
            done += sum(1 for s in metric.samples if s.name.endswith("_count") and s.value >= 1)
    return done


async def warm(collector: Collector, devices: int, warm_up: float) -> float:
    """Wait `warm_up` seconds, and longer until every device has finished a cycle and the announcements
    that start-up triggers (SunSpec discovery, device information) are over (at most 120 s); the seconds
    waited. Start-up is not the steady state the scale runs measure."""
    started = time.monotonic()
    await asyncio.sleep(warm_up)
    while devices_cycled(collector) < devices and time.monotonic() - started < 120:  # noqa: ASYNC110
        await asyncio.sleep(0.5)  # a metric, not an event: polled
    await asyncio.sleep(1.0)  # the last re-announcement (coalesced 50 ms) and its publishing
    return time.monotonic() - started


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
    profile: str | None = None,
) -> dict[str, Any]:
    config = validate_config(configuration(devices, mqtt_port, modbus_port, data_dir, on_change))
    collector = Collector(config)
    task = asyncio.create_task(collector.run())
    warmed = await warm(collector, devices, warm_up)  # discovery, first connection: not the steady state
    profiler = cProfile.Profile() if profile else None
    cycles_before, cpu_before, started = device_cycles(collector), cpu_seconds(), time.monotonic()
    if profiler is not None:
        profiler.enable()
    await asyncio.sleep(seconds)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
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
        "warm_up_seconds": round(warmed, 1),
    }


def child(
    devices: int,
    seconds: float,
    ports: tuple[int, int],
    *,
    on_change: bool,
    warm_up: float,
    profile: str | None = None,
) -> None:
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
                profile=profile,
            )
        )
    print(json.dumps(result))


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process used so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def linear_fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (intercept, slope) of y = intercept + slope x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx if sxx else 0.0
    return mean_y - slope * mean_x, slope


def hot_spots(profile: Path, limit: int = 15) -> list[list[str]]:
    """The functions with the most own time in a cProfile dump: share of own time, calls, where."""
    stats = pstats.Stats(str(profile), stream=io.StringIO())
    total = sum(row[2] for row in stats.stats.values()) or 1.0  # type: ignore[attr-defined]
    ordered = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    rows = []
    for (filename, line, function), (_cc, calls, own, cumulative, _callers) in ordered[:limit]:
        where = filename.split("site-packages/")[-1].split("pv_collector/")[-1]
        rows.append(
            [
                f"{100 * own / total:.1f} %",
                f"{100 * cumulative / total:.0f} %",
                str(calls),
                f"{where}:{line} {function}",
            ]
        )
    return rows


# ------------------------------------------------------------------------------------ what goes out


def publish_size(topic: str, payload: bytes, qos: int) -> int:
    """Bytes of one MQTT 3.1.1/5 PUBLISH packet without properties (v5 adds one property-length byte)."""
    remaining = 2 + len(topic.encode()) + (2 if qos else 0) + len(payload)
    length_bytes = 1 if remaining < 128 else 2 if remaining < 16384 else 3 if remaining < 2097152 else 4
    return 1 + length_bytes + remaining


TASMOTA_TIME = "2026-11-30T12:00:00"  # Tasmota's `Time` field: local time, seconds


def device_json_sizes(device: str, values: dict[str, Any]) -> tuple[int, int]:
    """PUBLISH bytes of the same device's values in the layouts of Zigbee2MQTT and Tasmota.

    Zigbee2MQTT publishes a device's state on `zigbee2mqtt/<friendly name>` as one JSON object of its
    attributes, and with `advanced.cache_state` (the default) every message carries every attribute, not
    only the changed ones (zigbee2mqtt.io, "MQTT Topics and Messages" and the configuration reference;
    Koenkk/zigbee2mqtt#32). Tasmota publishes telemetry on `tele/<topic>/SENSOR` as
    `{"Time":"<local time>","<sensor>":{...every value...}}` every TelePeriod (tasmota.github.io/docs/MQTT/).
    Key names are the collector's point keys in all layouts, both without spaces, as both firmwares send.
    """
    compact = (",", ":")
    zigbee2mqtt = publish_size(f"zigbee2mqtt/{device}", json.dumps(values, separators=compact).encode(), QOS)
    payload = json.dumps({"Time": TASMOTA_TIME, device: values}, separators=compact).encode()
    return zigbee2mqtt, publish_size(f"tele/{device}/SENSOR", payload, QOS)


@dataclass
class Traffic:
    """State messages seen on the broker during one run."""

    messages: int = 0
    readings: int = 0
    bytes_compact: int = 0
    bytes_per_topic: int = 0
    bytes_zigbee2mqtt: int = 0
    bytes_tasmota: int = 0
    rows: int = 0
    first: float | None = None
    last: float = 0.0
    devices: set[str] = field(default_factory=set)
    previous: dict[tuple[str, str], Any] = field(default_factory=dict)
    full: dict[str, dict[str, Any]] = field(default_factory=dict)  # every device's current values
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
            # One JSON object per device with every current value (see device_json_sizes).
            full = self.full.setdefault(device, {})
            full.update(values)
            zigbee2mqtt, tasmota = device_json_sizes(device, full)
            self.bytes_zigbee2mqtt += zigbee2mqtt
            self.bytes_tasmota += tasmota

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


def scale_summary(report: Report, results: list[dict[str, Any]]) -> None:
    """Linear or not, flat or not, and where one core runs out."""
    measured = [r for r in results if r["cpu_ms_per_device_cycle"]]
    if len(measured) < 2:
        return
    # CPU share against device-cycles per second actually done (the period may not have been kept).
    fixed, marginal = linear_fit([(r["device_cycles"] / r["seconds"], r["cpu_share"]) for r in measured])
    smallest, largest = measured[0], measured[-1]
    costs = [r["cpu_ms_per_device_cycle"] for r in measured]
    change = largest["cpu_ms_per_device_cycle"] / smallest["cpu_ms_per_device_cycle"] - 1
    flat = max(abs(c / smallest["cpu_ms_per_device_cycle"] - 1) for c in costs) <= FLAT
    fitted = [fixed + marginal * r["device_cycles"] / r["seconds"] for r in measured]
    worst_fit = max(
        abs(f / r["cpu_share"] - 1) for f, r in zip(fitted, measured, strict=True) if r["cpu_share"]
    )
    one_core = (1 - fixed) / marginal if marginal > 0 else float("inf")
    report.figure(
        "scale.linear",
        f"CPU per device-cycle {smallest['devices']} -> {largest['devices']} devices: "
        f"{smallest['cpu_ms_per_device_cycle']} -> {largest['cpu_ms_per_device_cycle']} ms ({change:+.0%}; "
        f"target flat within +-{FLAT:.0%}: {verdict(flat)}); least-squares line: {fixed * 1000:.1f} ms per "
        f"second fixed + {marginal * 1000:.3f} ms per device-cycle (fits every step within {worst_fit:.0%}), "
        f"so one core runs out at about {one_core:.0f} devices polled every second",
        fixed_ms_per_second=fixed * 1000,
        marginal_ms_per_device_cycle=marginal * 1000,
        one_core_devices=one_core,
        change=change,
        flat=flat,
        worst_fit=worst_fit,
    )


def run_child(
    devices: int,
    args: argparse.Namespace,
    broker: Mosquitto,
    modbus_port: int,
    *,
    on_change: bool,
    profile: Path | None = None,
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
    if profile is not None:
        command += ["--profile", str(profile)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[10, 100, 300, 1000])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--footprint-devices", type=int, default=8, help="devices of the on-change runs")
    parser.add_argument("--warm-up", type=float, default=WARM_UP, help="seconds before measuring")
    parser.add_argument("--on-change", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile",
        nargs="?",
        const="",
        help="profile the largest N once more (the child's own use: the file to write)",
    )
    parser.add_argument("--json", help="write figures and tables to this file")
    parser.add_argument(
        "--child", nargs=2, type=int, metavar=("MQTT_PORT", "MODBUS_PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(
            args.devices[0],
            args.seconds,
            tuple(args.child),
            on_change=args.on_change,
            warm_up=args.warm_up,
            profile=args.profile or None,
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
                simulator_before, wall_before = process_cpu(simulator.pid), time.monotonic()
                result = run_child(devices, args, broker, modbus_port, on_change=False)
                result["simulator_share"] = round(
                    (process_cpu(simulator.pid) - simulator_before) / (time.monotonic() - wall_before), 2
                )
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
                        result["simulator_share"],
                    ]
                )
                report.figure(
                    f"scale.{devices}",
                    f"{devices} devices at 1 s: {result['cpu_ms_per_device_cycle']} ms CPU per device-cycle, "
                    f"{result['cpu_share']:.2f} of one core, period kept {kept:.2f} "
                    f"({verdict(kept >= KEPT and result['cpu_share'] < 1)}; simulator "
                    f"{result['simulator_share']:.2f} of a core), peak RSS {result['peak_rss_mb']} MB "
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
                    "simulator CPU share",
                ],
                rows,
            )
            scale_summary(report, results)
            if args.profile is not None:
                with tempfile.TemporaryDirectory() as profiles:
                    dump = Path(profiles) / "collector.prof"
                    run_child(max(args.devices), args, broker, modbus_port, on_change=False, profile=dump)
                    report.table(
                        "profile", ["own time", "with callees", "calls", "function"], hot_spots(dump)
                    )
                subscriber.reset()

            # Bytes per reading (from the largest run that delivered messages) and recorder rows.
            traffic = max((r["traffic"] for r in results), key=lambda t: t.readings)
            if traffic.readings:
                ratio = traffic.bytes_compact / traffic.bytes_per_topic
                n = traffic.readings
                report.figure(
                    "bytes_per_reading",
                    f"publishing every poll: {traffic.bytes_compact / n:.1f} bytes per reading compact vs "
                    f"{traffic.bytes_per_topic / n:.1f} one topic per point: {ratio:.2f} "
                    f"(target <= {BYTES_TARGET:.2f}: {verdict(ratio <= BYTES_TARGET)}); one JSON object per "
                    f"device as Zigbee2MQTT publishes {traffic.bytes_zigbee2mqtt / n:.1f}, as Tasmota "
                    f"{traffic.bytes_tasmota / n:.1f} (compact / Zigbee2MQTT "
                    f"{traffic.bytes_compact / traffic.bytes_zigbee2mqtt:.2f}; {n} readings in "
                    f"{traffic.messages} messages, QoS {QOS})",
                    ratio=ratio,
                    compact=traffic.bytes_compact / n,
                    per_topic=traffic.bytes_per_topic / n,
                    zigbee2mqtt=traffic.bytes_zigbee2mqtt / n,
                    tasmota=traffic.bytes_tasmota / n,
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
            if changed_traffic.readings:
                n = changed_traffic.readings
                report.figure(
                    "bytes_on_change",
                    f"publish-on-change (deadbands, {args.footprint_devices} devices): "
                    f"{changed_traffic.bytes_compact / n:.1f} bytes per changed reading compact, "
                    f"{changed_traffic.bytes_per_topic / n:.1f} one topic per point, "
                    f"{changed_traffic.bytes_zigbee2mqtt / n:.1f} as Zigbee2MQTT (every attribute in every "
                    f"message), {changed_traffic.bytes_tasmota / n:.1f} as Tasmota",
                    compact=changed_traffic.bytes_compact / n,
                    per_topic=changed_traffic.bytes_per_topic / n,
                    zigbee2mqtt=changed_traffic.bytes_zigbee2mqtt / n,
                    tasmota=changed_traffic.bytes_tasmota / n,
                )
            report.note(
                f"scale runs: {args.seconds:.0f} s each after a warm-up of at least {args.warm_up:.0f} s, "
                "longer until every device had finished a cycle ("
                + ", ".join(f"{r['devices']} devices: {r['warm_up_seconds']} s" for r in results)
                + "); "
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
