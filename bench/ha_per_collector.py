"""The integration's cost per collector: set-up time, entities, memory and per-message handling cost.

Home Assistant's test harness (bench/harness/measure_per_collector.py): 1, 5 and 10 collectors (config
entries) of 4 devices each, fed the integration tests' fixture announcement and states through Home
Assistant's MQTT message path; then ROUNDS state messages per device of every collector.

    .venv/bin/python bench/ha_per_collector.py [--collectors 1 5 10] [--rounds 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import Report, run_harness

MB = 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collectors", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--rounds", type=int, default=20, help="state messages per device")
    parser.add_argument("--json", help="write figures and tables to this file")
    args = parser.parse_args()
    report = Report("ha_per_collector")
    with tempfile.TemporaryDirectory() as folder:
        data = run_harness(
            "per_collector",
            {
                "BENCH_COLLECTORS": ",".join(str(c) for c in args.collectors),
                "BENCH_ROUNDS": str(args.rounds),
            },
            Path(folder) / "per_collector.json",
        )
    rows = []
    for result in data["results"]:
        count = result["collectors"]
        setup = statistics.median(result["setup_seconds"]) * 1000
        entities = sum(result["entities"]) / count
        memory = result["rss_bytes"] / count / MB
        messages = result["messages"]
        wall = result["message_wall_seconds"] * 1000 / messages
        cpu = result["message_cpu_seconds"] * 1000 / messages
        report.figure(
            f"per_collector.{count}",
            f"{count} collectors x 4 devices: per collector {setup:.0f} ms set-up (median), "
            f"{entities:.0f} entities, {memory:.2f} MB RSS; {wall:.3f} ms wall / {cpu:.3f} ms CPU per state "
            f"message ({messages} messages)",
            collectors=count,
            setup_ms=setup,
            entities=entities,
            rss_mb=memory,
            message_ms=wall,
            message_cpu_ms=cpu,
        )
        rows.append(
            [
                count,
                count * 4,
                f"{setup:.0f}",
                f"{max(result['setup_seconds']) * 1000:.0f}",
                f"{entities:.0f}",
                f"{memory:.2f}",
                f"{wall:.3f}",
                f"{cpu:.3f}",
            ]
        )
    report.table(
        "per_collector",
        [
            "collectors",
            "devices",
            "set-up ms (median)",
            "set-up ms (max)",
            "entities each",
            "RSS MB each",
            "ms per message",
            "CPU ms per message",
        ],
        rows,
    )
    report.note(
        f"fixture announcement (inverter 11, meter 5, battery 8, weather 2 points) per collector; "
        f"{args.rounds} state messages per device, every number changing; RSS growth measured after "
        f"gc, per collector; peak RSS of the Home Assistant process {data['peak_rss'] / MB:.0f} MB"
    )
    report.write(args.json)


if __name__ == "__main__":
    main()
