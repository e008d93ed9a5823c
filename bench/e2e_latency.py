"""End-to-end latency: register change in the simulated device -> new state in Home Assistant.

Real Mosquitto, the real collector polling the simulated SDM630 every 0.1 s (several devices on the same
meter so that every poll brings a new value) and the pv_monitor integration on Home Assistant's real MQTT
client, in Home Assistant's test harness (bench/harness/measure_latency.py). The poll wait is excluded:
each latency runs from the moment the simulator served the read that carried the new value to the moment
Home Assistant wrote the sensor's new state.

    .venv/bin/python bench/e2e_latency.py [--changes 1000] [--devices 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import Report, percentile, run_harness, verdict

TARGET_P99 = 0.050


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=5, help="collector devices reading the one meter")
    parser.add_argument("--json", help="write figures and tables to this file")
    args = parser.parse_args()
    report = Report("e2e_latency")
    with tempfile.TemporaryDirectory() as folder:
        data = run_harness(
            "latency",
            {"BENCH_CHANGES": str(args.changes), "BENCH_DEVICES": str(args.devices)},
            Path(folder) / "latency.json",
        )
    latencies = data["latencies"]
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    report.figure(
        "e2e_latency",
        f"register change -> Home Assistant state over {len(latencies)} changes: p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms "
        f"(target p99 < {TARGET_P99 * 1000:.0f} ms: "
        f"{verdict(p99 < TARGET_P99)}); {data['not_seen']} served values never shown",
        p50=p50,
        p99=p99,
        max=max(latencies),
        mean=statistics.fmean(latencies),
        changes=len(latencies),
        not_seen=data["not_seen"],
    )
    report.note(
        f"{args.devices} collector devices poll one simulated SDM630 every 0.1 s; "
        "Home Assistant in pytest-homeassistant-custom-component with its real MQTT client"
    )
    report.write(args.json)


if __name__ == "__main__":
    main()
