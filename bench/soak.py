"""Soak: many simulated devices polled every second for minutes, with broker restarts and device faults.

N devices (default 100) at 1 s for --minutes (default 10); Mosquitto is restarted every --restart-every
seconds (default 120) and every --fault-every seconds (default 60) one device starts answering with
Modbus exception 04 (device failure) for half that time. The collector runs as its own process
(`python -m pv_collector run`), so its RSS and its log are its own; the simulated devices and a persistent
QoS 1 subscriber run in this process. Devices cycle through the simulator's four units, four to a bus
(one TCP connection each); the last bus talks to a simulator of its own, the one that gets the faults.

At the end the collector is stopped (SIGTERM) and its queue file is read:
- produced = the last sequence number of every device (`sequences` in DATA_DIR/outbox.sqlite3),
- delivered = distinct sequence numbers the subscriber received (de-duplicated by seq),
- queued = readings still in the queue at the end (not lost: sent after the next start),
- lost = produced - delivered - queued (target 0), plus duplicates and out-of-order arrivals,
- RSS of the collector after the warm-up and at the end (target: growth < 5 MB), log lines.

    .venv/bin/python bench/soak.py [--devices 100] [--minutes 10] [--restart-every 120] [--fault-every 60]
                                   [--json FILE]

tests/reliability/test_soak.py runs a ~20 s version (few devices, restarts and faults every few seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import yaml
from common import ROOT, Report, machine, verdict
from paho.mqtt.enums import CallbackAPIVersion

from pv_collector.simulator import Simulation
from tests.mosquitto import Mosquitto

UNITS = [(1, "sunspec"), (2, "sdm630"), (3, "pv_sim_battery"), (4, "pv_sim_environment")]
DEVICES_PER_BUS = 4
BASE = "pv_monitor/soak"
RSS_TARGET_MB = 5.0
SEQ = re.compile(rb'"seq":(\d+)')


@dataclass
class Result:
    devices: int
    seconds: float
    broker_restarts: int = 0
    device_faults: int = 0
    produced: int = 0
    delivered: int = 0
    queued_at_end: int = 0
    lost: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    log_lines: int = 0
    log_errors: int = 0
    log_warnings: int = 0
    exit_code: int | None = None
    missing: dict[str, list[int]] = field(default_factory=dict)

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_start_mb


class Subscriber:
    """Persistent QoS 1 session on `<base>/+/state`; keeps only (device, seq) in order of arrival."""

    def __init__(self, port: int) -> None:
        self.seqs: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="soak-subscriber", clean_session=False)
        client.on_connect = lambda c, _u, _f, reason, _p: (
            None if reason.is_failure else (c.subscribe(f"{BASE}/+/state", qos=1), self._connected.set())
        )
        client.on_message = self._on_message
        client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        self._client = client
        self._port = port

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        match = SEQ.search(message.payload)
        if match is None:
            return
        device = message.topic.split("/")[-2]
        with self._lock:
            self.seqs.setdefault(device, []).append(int(match.group(1)))

    def start(self) -> None:
        self._client.connect("127.0.0.1", self._port)
        self._client.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError("subscriber could not connect")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def snapshot(self) -> dict[str, list[int]]:
        with self._lock:
            return {device: list(seqs) for device, seqs in self.seqs.items()}

    def count(self) -> int:
        with self._lock:
            return sum(len(seqs) for seqs in self.seqs.values())


class Devices:
    """Two simulators on a loop in a thread of their own: `main` for most buses, `faulty` for the last."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="simulators", daemon=True)
        self._thread.start()
        self.main = Simulation(seed=1)
        self.faulty = Simulation(seed=2)
        self.main_port = self._run(self.main.start("127.0.0.1", 0))
        self.faulty_port = self._run(self.faulty.start("127.0.0.1", 0))

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def fault(self, unit: int, code: int | None) -> None:
        self.loop.call_soon_threadsafe(self.faulty.set_exception, unit, code)

    def stop(self) -> None:
        self._run(self.main.stop())
        self._run(self.faulty.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def configuration(devices: int, mqtt_port: int, sims: Devices, data_dir: Path) -> dict[str, Any]:
    buses = []
    for first in range(0, devices, DEVICES_PER_BUS):
        last_bus = first + DEVICES_PER_BUS >= devices
        members = []
        for index in range(first, min(first + DEVICES_PER_BUS, devices)):
            unit, profile = UNITS[index % len(UNITS)]
            members.append({"id": f"d{index:03d}", "unit_id": unit, "profile": profile, "poll_interval": 1.0})
        buses.append(
            {
                "name": f"bus{first // DEVICES_PER_BUS:02d}",
                "type": "tcp",
                "host": "127.0.0.1",
                "port": sims.faulty_port if last_bus else sims.main_port,
                "timeout": 0.5,
                "retries": 0,
                "devices": members,
            }
        )
    return {
        "collector": {"id": "soak", "name": "Soak"},
        "data_dir": str(data_dir),
        "log_level": "info",
        "metrics": {"enabled": False},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "base_topic": "pv_monitor", "qos": {"state": 1}},
        "queue": {"max_messages": 1_000_000, "max_age": 86_400},
        "publish": {"stats_interval": 60},
        "buses": buses,
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def read_queue(data_dir: Path) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Last seq per device and the seqs still queued, from the collector's queue file."""
    db = sqlite3.connect(data_dir / "outbox.sqlite3")
    try:
        produced = {str(d): int(s) for d, s in db.execute("SELECT device, seq FROM sequences")}
        queued: dict[str, list[int]] = {}
        for device, payload in db.execute("SELECT device, payload FROM messages ORDER BY id"):
            if match := SEQ.search(str(payload).encode()):
                queued.setdefault(str(device), []).append(int(match.group(1)))
    finally:
        db.close()
    return produced, queued


def soak(devices: int, seconds: float, restart_every: float, fault_every: float, directory: Path) -> Result:
    result = Result(devices=devices, seconds=seconds)
    broker = Mosquitto(directory / "mosquitto")
    broker.start()
    sims = Devices()
    subscriber = Subscriber(broker.port)
    subscriber.start()
    data_dir = directory / "data"
    config_file = directory / "collector.yaml"
    config_file.write_text(yaml.safe_dump(configuration(devices, broker.port, sims, data_dir)))
    log_file = directory / "collector.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "addon/collector")}
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pv_collector", "run", "--config", str(config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    faulted: int | None = None
    try:
        started = time.monotonic()
        warm_up = min(30.0, seconds / 5)
        settle = min(restart_every / 2, 15.0)  # no restart in the last stretch: the queue drains
        next_restart, next_fault = restart_every, fault_every
        rss_taken = False
        while (elapsed := time.monotonic() - started) < seconds:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the collector exited with {process.returncode}: {log_file.read_text()[-2000:]}"
                )
            if not rss_taken and elapsed >= warm_up:
                result.rss_start_mb, rss_taken = rss_mb(process.pid), True
            if elapsed >= next_restart:
                next_restart += restart_every
                if elapsed < seconds - settle:
                    broker.restart()
                    result.broker_restarts += 1
            if faulted is not None and elapsed >= next_fault - fault_every / 2:
                sims.fault(faulted, None)
                faulted = None
            if elapsed >= next_fault:
                faulted = UNITS[result.device_faults % len(UNITS)][0]
                sims.fault(faulted, 4)  # exception 04: device failure
                result.device_faults += 1
                next_fault += fault_every
            time.sleep(0.05)
        if faulted is not None:
            sims.fault(faulted, None)
        result.rss_end_mb = rss_mb(process.pid)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # clean stop: what is not yet sent stays in the queue file
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        result.exit_code = process.returncode
        # What the broker still holds for the subscriber arrives: wait until its count stays put for 1 s.
        last, still = -1, time.monotonic()
        while time.monotonic() - still < 1.0:
            count = subscriber.count()
            if count != last:
                last, still = count, time.monotonic()
            time.sleep(0.05)
        subscriber.stop()
        sims.stop()
        broker.stop()
    produced, queued = read_queue(data_dir)
    received = subscriber.snapshot()
    for device, last_seq in produced.items():
        seqs = received.get(device, [])
        unique = list(dict.fromkeys(seqs))
        result.produced += last_seq
        result.delivered += len({s for s in unique if s <= last_seq})
        result.queued_at_end += len(queued.get(device, []))
        result.duplicates += len(seqs) - len(unique)
        result.out_of_order += sum(1 for a, b in itertools.pairwise(unique) if b < a)
        missing = sorted(set(range(1, last_seq + 1)) - set(unique) - set(queued.get(device, [])))
        if missing:
            result.missing[device] = missing[:20]
    result.lost = result.produced - result.delivered - result.queued_at_end
    lines = log_file.read_text(errors="replace").splitlines()
    result.log_lines = len(lines)
    result.log_errors = sum(1 for line in lines if " level=error " in line)
    result.log_warnings = sum(1 for line in lines if " level=warning " in line)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--restart-every", type=float, default=120.0, help="seconds between broker restarts")
    parser.add_argument("--fault-every", type=float, default=60.0, help="seconds between device faults")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    report = Report("soak")
    report.note(machine())
    with tempfile.TemporaryDirectory(prefix="pv-soak-") as tmp:
        result = soak(args.devices, args.minutes * 60, args.restart_every, args.fault_every, Path(tmp))
    report.figure(
        "soak.readings",
        f"{result.devices} devices at 1 s for {result.seconds:.0f} s, "
        f"{result.broker_restarts} broker restarts, {result.device_faults} device faults: "
        f"produced {result.produced}, delivered {result.delivered}, queued at the end "
        f"{result.queued_at_end}, lost {result.lost} (target 0: {verdict(result.lost == 0)}), "
        f"duplicates {result.duplicates}, out of order {result.out_of_order}",
        **{k: v for k, v in asdict(result).items() if k != "missing"},
    )
    report.figure(
        "soak.rss",
        f"collector RSS {result.rss_start_mb:.1f} MB after warm-up, {result.rss_end_mb:.1f} MB at the end: "
        f"growth {result.rss_growth_mb:+.1f} MB (target < {RSS_TARGET_MB:.0f} MB: "
        f"{verdict(result.rss_growth_mb < RSS_TARGET_MB)})",
        growth_mb=result.rss_growth_mb,
    )
    report.figure(
        "soak.log",
        f"{result.log_lines} log lines ({result.log_errors} errors, {result.log_warnings} warnings), "
        f"collector exit code {result.exit_code}",
    )
    if result.missing:
        report.note(f"missing seqs (first 20 per device): {json.dumps(result.missing)}")
    report.write(args.json)
    return 0 if result.lost == 0 and result.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
