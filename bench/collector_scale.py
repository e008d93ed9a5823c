"""How the collector scales with the number of devices.

Polls N simulated devices (default 1, 10 and 100) over Modbus TCP every second for --seconds and prints,
per N, the collector's CPU seconds per device-cycle and its peak RSS. The simulator runs in a separate
process (`pv-collector simulate`) and Mosquitto is started in a temporary folder, so only the collector's
own work is measured. Devices cycle through the simulator's four units (SunSpec inverter, SDM630 meter,
battery, environment sensor); every four devices share one TCP connection (one bus), as behind a gateway.

    .venv/bin/python bench/collector_scale.py --devices 1 10 100 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pv_collector.app import Collector  # noqa: E402
from pv_collector.config import validate_config  # noqa: E402
from tests.mosquitto import Mosquitto, free_port  # noqa: E402

UNITS = [(1, "sunspec"), (2, "sdm630"), (3, "pv_sim_battery"), (4, "pv_sim_environment")]
DEVICES_PER_BUS = 4
WARM_UP = 3.0


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def configuration(devices: int, mqtt_port: int, modbus_port: int, data_dir: Path) -> dict[str, Any]:
    buses = []
    for first in range(0, devices, DEVICES_PER_BUS):
        members = []
        for index in range(first, min(first + DEVICES_PER_BUS, devices)):
            unit, profile = UNITS[index % len(UNITS)]
            members.append({"id": f"d{index:03d}", "unit_id": unit, "profile": profile, "poll_interval": 1.0})
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
        "mqtt": {"port": mqtt_port, "qos": {"state": 1}},
        "publish": {"stats_interval": 10},
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
    devices: int, seconds: float, mqtt_port: int, modbus_port: int, data_dir: Path
) -> dict[str, Any]:
    config = validate_config(configuration(devices, mqtt_port, modbus_port, data_dir))
    collector = Collector(config)
    task = asyncio.create_task(collector.run())
    await asyncio.sleep(WARM_UP)  # discovery, first connection: not part of the steady state
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


def child(devices: int, seconds: float, mqtt_port: int, modbus_port: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        result = asyncio.run(measure(devices, seconds, mqtt_port, modbus_port, Path(data)))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--child", nargs=2, type=int, metavar=("MQTT_PORT", "MODBUS_PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.devices[0], args.seconds, *args.child)
        return
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
        try:
            wait_port(modbus_port)
            print(
                f"{'devices':>7} {'cycles':>7} {'expected':>8} {'CPU s':>7} {'CPU ms/device-cycle':>20} "
                f"{'CPU share':>9} {'peak RSS MB':>11}"
            )
            for devices in args.devices:
                # One process per size, so that peak RSS belongs to that size alone.
                output = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--devices",
                        str(devices),
                        "--seconds",
                        str(args.seconds),
                        "--child",
                        str(broker.port),
                        str(modbus_port),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                row = json.loads(output.strip().splitlines()[-1])
                print(
                    f"{row['devices']:>7} {row['device_cycles']:>7} {row['expected_cycles']:>8} "
                    f"{row['cpu_seconds']:>7} {row['cpu_ms_per_device_cycle']!s:>20} {row['cpu_share']:>9} "
                    f"{row['peak_rss_mb']:>11}"
                )
        finally:
            simulator.terminate()
            simulator.wait(10)
            broker.stop()


if __name__ == "__main__":
    main()
