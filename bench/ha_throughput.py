"""Integration throughput: state messages per second pv_monitor handles through a real broker, with lag.

Home Assistant's test harness (bench/harness/measure_throughput.py) with its real MQTT client on a real
Mosquitto; a separate process announces DEVICES x POINTS (default 50 x 40) and publishes ROUNDS state
messages per device as fast as it can, every value changing (or, with `--changed-per-message K`,
publish-on-change messages carrying only K changed values each). Messages handled per second = entity state
changes / K over the time from the first to the last; the event loop's lag is sampled every 10 ms; every
state write of the entry's entities (changed or not) and Home Assistant's CPU time under load are counted.

    .venv/bin/python bench/ha_throughput.py [--devices 50] [--points 40] [--rounds 100]
        [--changed-per-message K] [--json FILE]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import Report, percentile, run_harness, verdict

TARGET_RATE = 5000
TARGET_LAG = 0.050


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--points", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=100, help="state messages per device")
    parser.add_argument(
        "--changed-per-message",
        type=int,
        nargs="+",
        metavar="K",
        help="values changed (and carried) per message; several K run one after the other (default: all)",
    )
    parser.add_argument("--json", help="write figures and tables to this file")
    args = parser.parse_args()
    report = Report("ha_throughput")
    rows = []
    for wanted in args.changed_per_message or [args.points]:
        changed = max(1, min(wanted, args.points))
        with tempfile.TemporaryDirectory() as folder:
            data = run_harness(
                "throughput",
                {
                    "BENCH_DEVICES": str(args.devices),
                    "BENCH_POINTS": str(args.points),
                    "BENCH_ROUNDS": str(args.rounds),
                    "BENCH_CHANGED": str(changed),
                },
                Path(folder) / "throughput.json",
            )
        rate = data["messages_handled"] / data["seconds"] if data["seconds"] else 0.0
        lags = data["lags"] or [0.0]
        p99, worst = percentile(lags, 0.99), max(lags)
        handled = data["messages_handled"]
        writes_per_message = data["all_state_writes"] / handled if handled else 0.0
        cpu_ms = data["cpu_seconds"] * 1000 / handled if handled else 0.0
        ok = rate >= TARGET_RATE and worst < TARGET_LAG
        all_changed = changed == args.points
        name = "ha_throughput" if all_changed else f"ha_throughput.changed_{changed}"
        what = "every value changing" if all_changed else f"{changed} of {args.points} values per message"
        report.figure(
            name,
            f"{args.devices} x {args.points}, {what}: {rate:.0f} state messages/s "
            f"({rate * changed:.0f} changed entity states/s), {handled:.0f} of {data['messages_sent']} "
            f"handled, {writes_per_message:.1f} state writes and {cpu_ms:.2f} ms CPU per message; event-loop "
            f"lag p99 {p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms (target >= {TARGET_RATE} msg/s with "
            f"lag < {TARGET_LAG * 1000:.0f} ms: {verdict(ok)})",
            rate=rate,
            changed_per_message=changed,
            states_per_second=rate * changed,
            writes_per_message=writes_per_message,
            cpu_ms_per_message=cpu_ms,
            lag_p99=p99,
            lag_max=worst,
            handled=handled,
            sent=data["messages_sent"],
            setup_seconds=data["setup_seconds"],
        )
        rows.append(
            [
                changed,
                f"{rate:.0f}",
                f"{handled:.0f} / {data['messages_sent']}",
                f"{writes_per_message:.1f}",
                f"{cpu_ms:.2f}",
                f"{p99 * 1000:.1f}",
                f"{worst * 1000:.1f}",
            ]
        )
        report.note(
            f"K={changed}: entity set-up of {args.devices * args.points} sensors took "
            f"{data['setup_seconds']:.1f} s (not part of the rate); publisher: {data['publisher']}"
        )
    report.table(
        "throughput",
        ["changed/msg", "msg/s", "handled / sent", "writes/msg", "CPU ms/msg", "lag p99 ms", "lag max ms"],
        rows,
    )
    report.write(args.json)


if __name__ == "__main__":
    main()
