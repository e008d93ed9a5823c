"""Integration throughput: state messages per second pv_monitor handles through a real broker, with lag.

Home Assistant's test harness (bench/harness/measure_throughput.py) with its real MQTT client on a real
Mosquitto; a separate process announces DEVICES x POINTS (default 50 x 40) and publishes ROUNDS state
messages per device as fast as it can, every value changing. Messages handled per second = entity state
changes / POINTS over the time from the first to the last; the event loop's lag is sampled every 10 ms.

    .venv/bin/python bench/ha_throughput.py [--devices 50] [--points 40] [--rounds 100] [--json FILE]
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
    parser.add_argument("--json", help="write figures and tables to this file")
    args = parser.parse_args()
    report = Report("ha_throughput")
    with tempfile.TemporaryDirectory() as folder:
        data = run_harness(
            "throughput",
            {
                "BENCH_DEVICES": str(args.devices),
                "BENCH_POINTS": str(args.points),
                "BENCH_ROUNDS": str(args.rounds),
            },
            Path(folder) / "throughput.json",
        )
    rate = data["messages_handled"] / data["seconds"] if data["seconds"] else 0.0
    lags = data["lags"] or [0.0]
    p99, worst = percentile(lags, 0.99), max(lags)
    ok = rate >= TARGET_RATE and worst < TARGET_LAG
    report.figure(
        "ha_throughput",
        f"{args.devices} x {args.points}: {rate:.0f} state messages/s "
        f"({rate * args.points:.0f} entity states/s), "
        f"{data['messages_handled']:.0f} of {data['messages_sent']} handled; event-loop lag p99 "
        f"{p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms (target >= {TARGET_RATE} msg/s with lag < "
        f"{TARGET_LAG * 1000:.0f} ms: {verdict(ok)})",
        rate=rate,
        states_per_second=rate * args.points,
        lag_p99=p99,
        lag_max=worst,
        handled=data["messages_handled"],
        sent=data["messages_sent"],
        setup_seconds=data["setup_seconds"],
    )
    report.note(
        f"entity set-up of {args.devices * args.points} sensors took {data['setup_seconds']:.1f} s "
        f"(not part of the rate); publisher: {data['publisher']}"
    )
    report.write(args.json)


if __name__ == "__main__":
    main()
