"""Home Assistant side: pv_monitor against Home Assistant's own MQTT integration on the same messages.

A user who does not install pv_monitor reads the same collector through Home Assistant's `mqtt`
integration and the collector's standard discovery (`mqtt.ha_discovery`, value templates on the compact
state JSON). Both paths get the same stream from bench/harness/load_publisher.py (DEVICES x POINTS
announced, ROUNDS state messages per device as fast as it can, every value changing or publish-on-change
messages of K values) through a real Mosquitto, each in a fresh Home Assistant of the test harness in its
own process (bench/harness/measure_paths.py), one after the other in this run. In the same process as each
path, the floor: the same number of changed entity states written directly (`async_write_ha_state` of plain
sensors). Per path: CPU per state message, changed entity states per second, event-loop lag, RSS per
entity, time from set-up to every entity live from retained messages, and where the messages went that
did not become states (dropped by Mosquitto, superseded by a newer value, lost in Home Assistant).

    .venv/bin/python bench/ha_throughput.py [--devices 50] [--points 40] [--rounds 100]
        [--changed-per-message 40 3] [--qos0] [--one-process] [--idle-end 5] [--settle 2.5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from common import Report, percentile, run_harness, verdict

PATHS = ("pv_monitor", "mqtt")
NAMES = {"pv_monitor": "pv_monitor", "mqtt": "HA MQTT (standard discovery)"}
CPU_TARGET = 0.5  # pv_monitor CPU per message / HA MQTT path's
FLOOR_TARGET = 0.7  # pv_monitor changed states per second / the direct-write floor's


def figures(data: dict[str, Any]) -> dict[str, Any]:
    """The per-path figures of one run's JSON (bench/harness/measure_paths.py)."""
    k = data["changed_per_message"]
    delivered = data["delivered"] or 1
    seconds = data["seconds"] or float("nan")
    lags = data["lags"] or [0.0]
    result = {
        "k": k,
        "qos": data["qos"],
        "messages_per_second": data["state_changes"] / k / seconds,
        "states_per_second": data["state_changes"] / seconds,
        "states_per_cpu_second": data["state_changes"] / data["cpu_seconds"] if data["cpu_seconds"] else 0.0,
        "cpu_ms_per_message": data["cpu_seconds"] * 1000 / delivered,
        "writes_per_message": data["all_state_writes"] / delivered,
        "lag_p99_ms": percentile(lags, 0.99) * 1000,
        "lag_max_ms": max(lags) * 1000,
        "rss_kib_per_entity": data["rss_growth"] / data["entities"] / 1024,
        "rss_growth_mib": data["rss_growth"] / 2**20,
        "entities": data["entities"],
        "live_seconds": data["live_seconds"],
        **{key: data[key] for key in ("sent", "delivered", "turned_into_states", "superseded", "lost")},
        "stale_devices": data.get("stale_devices", 0),
        "oldest_shown_round": data.get("oldest_shown_round", 0),
        "rounds": data["rounds"],
        "broker_dropped": data["broker_dropped"],
        "socket_unread_max": data["socket_unread_max"],
        "socket_unsent_max": data["socket_unsent_max"],
        "message_bytes": data["message_bytes"],
    }
    if floor := data.get("floor"):
        result["floor"] = {
            "states_per_second": floor["writes"] / floor["seconds"],
            "states_per_cpu_second": floor["writes"] / floor["cpu_seconds"] if floor["cpu_seconds"] else 0.0,
            "cpu_ms_per_message": floor["cpu_seconds"] * 1000 / floor["messages"],
            "writes": floor["writes"],
        }
    return result


def measure(args: argparse.Namespace, loads: list[int]) -> dict[tuple[str, int, int], dict[str, Any]]:
    """Every (path, K, QoS) run, each in its own process unless --one-process."""
    runs = [(path, k, 1) for k in loads for path in PATHS]
    if args.qos0:
        runs += [(path, loads[0], 0) for path in PATHS]
    env = {
        "BENCH_DEVICES": str(args.devices),
        "BENCH_POINTS": str(args.points),
        "BENCH_ROUNDS": str(args.rounds),
        "BENCH_IDLE_END": str(args.idle_end),
        "BENCH_SETTLE": str(args.settle),
    }
    groups = [runs] if args.one_process else [[run] for run in runs]
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for group in groups:
            spec = ",".join(f"{path}:{k}:{qos}" for path, k, qos in group)
            floor = "1" if all(qos == 1 for _p, _k, qos in group) else "0"
            last = group[-1]
            out = Path(folder) / f"{last[0]}-{last[1]}-qos{last[2]}.json"
            run_harness(
                "paths",
                {**env, "BENCH_RUNS": spec, "BENCH_OUT_DIR": folder, "BENCH_FLOOR": floor},
                out,
                timeout=900,
            )
            for path, k, qos in group:
                data = json.loads((Path(folder) / f"{path}-{k}-qos{qos}.json").read_text())
                results[(path, k, qos)] = figures(data)
    return results


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
        help="values changed (and carried) per message; one load per K (default: all)",
    )
    parser.add_argument("--qos0", action="store_true", help="also the first load at QoS 0 (overload only)")
    parser.add_argument("--one-process", action="store_true", help="every run in one pytest process (smoke)")
    parser.add_argument(
        "--idle-end", type=float, default=5.0, help="seconds without a new state change that end a load"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=2.5,
        help="seconds to wait for the broker's dropped-messages counter (it publishes every second)",
    )
    parser.add_argument("--json", help="write figures and tables to this file")
    args = parser.parse_args()
    loads = [max(1, min(k, args.points)) for k in args.changed_per_message or [args.points]]
    report = Report("ha_throughput")
    results = measure(args, loads)

    rows = []
    for k in loads:
        pv, ha = results[("pv_monitor", k, 1)], results[("mqtt", k, 1)]
        floor = pv.get("floor") or {}
        cpu_ratio = pv["cpu_ms_per_message"] / ha["cpu_ms_per_message"] if ha["cpu_ms_per_message"] else 0.0
        floor_cpu = pv["states_per_cpu_second"] / floor["states_per_cpu_second"] if floor else 0.0
        floor_wall = pv["states_per_second"] / floor["states_per_second"] if floor else 0.0
        ha_floor = ha["states_per_cpu_second"] / floor["states_per_cpu_second"] if floor else 0.0
        what = "every value changing" if k == args.points else f"{k} of {args.points} values per message"
        report.figure(
            f"paths.{k}",
            f"{args.devices} x {args.points}, {what}: CPU per state message pv_monitor "
            f"{pv['cpu_ms_per_message']:.2f} ms vs HA MQTT {ha['cpu_ms_per_message']:.2f} ms = "
            f"{cpu_ratio:.2f}x (target <= {CPU_TARGET}x: {verdict(0 < cpu_ratio <= CPU_TARGET)}); changed "
            f"entity states per CPU second pv_monitor {pv['states_per_cpu_second']:.0f}, HA MQTT "
            f"{ha['states_per_cpu_second']:.0f}, direct writes {floor.get('states_per_cpu_second', 0):.0f}: "
            f"pv_monitor {floor_cpu:.2f}x the floor "
            f"(target >= {FLOOR_TARGET}x: {verdict(floor_cpu >= FLOOR_TARGET)}; per wall second "
            f"{pv['states_per_second']:.0f} vs {floor.get('states_per_second', 0):.0f} = {floor_wall:.2f}x), "
            f"HA MQTT {ha_floor:.2f}x",
            cpu_ratio=cpu_ratio,
            floor_ratio_cpu=floor_cpu,
            floor_ratio_wall=floor_wall,
            mqtt_floor_ratio_cpu=ha_floor,
            pv_monitor=pv,
            mqtt=ha,
        )
        for path, data in (("pv_monitor", pv), ("mqtt", ha)):
            rows.append(
                [
                    k,
                    NAMES[path],
                    f"{data['cpu_ms_per_message']:.2f}",
                    f"{data['writes_per_message']:.1f}",
                    f"{data['states_per_cpu_second']:.0f}",
                    f"{data['states_per_second']:.0f}",
                    f"{data['lag_p99_ms']:.1f}",
                    f"{data['lag_max_ms']:.0f}",
                    f"{data['rss_kib_per_entity']:.1f}",
                    f"{data['live_seconds']:.1f}",
                ]
            )
        for path, data in (("pv_monitor", pv), ("mqtt", ha)):
            if data.get("floor"):
                f = data["floor"]
                rows.append(
                    [
                        k,
                        f"floor (direct writes, {path} process)",
                        f"{f['cpu_ms_per_message']:.2f}",
                        f"{k:.1f}",
                        f"{f['states_per_cpu_second']:.0f}",
                        f"{f['states_per_second']:.0f}",
                        "-",
                        "-",
                        "-",
                        "-",
                    ]
                )
    report.table(
        "paths",
        [
            "changed/msg",
            "path",
            "CPU ms/msg",
            "writes/msg",
            "changed states/CPU s",
            "changed states/s",
            "lag p99 ms",
            "lag max ms",
            "RSS KiB/entity",
            "start to live s",
        ],
        rows,
    )

    pv_live = [results[("pv_monitor", k, 1)]["live_seconds"] for k in loads]
    ha_live = [results[("mqtt", k, 1)]["live_seconds"] for k in loads]
    report.figure(
        "paths.start",
        f"set-up to all {args.devices * args.points} point entities live from retained messages: pv_monitor "
        f"{', '.join(f'{s:.1f}' for s in pv_live)} s vs HA MQTT {', '.join(f'{s:.1f}' for s in ha_live)} s "
        f"(one per load; target no slower: {verdict(max(pv_live) <= min(ha_live))}); RSS per entity "
        f"pv_monitor {results[('pv_monitor', loads[0], 1)]['rss_kib_per_entity']:.1f} KiB "
        f"({results[('pv_monitor', loads[0], 1)]['entities']} entities), HA MQTT "
        f"{results[('mqtt', loads[0], 1)]['rss_kib_per_entity']:.1f} KiB "
        f"({results[('mqtt', loads[0], 1)]['entities']} entities)",
        pv_monitor=pv_live,
        mqtt=ha_live,
    )

    overload = []
    for (path, k, qos), data in results.items():
        missing = data["sent"] - data["delivered"]
        overload.append(
            [
                NAMES[path],
                k,
                qos,
                data["sent"],
                data["broker_dropped"],
                data["delivered"],
                data["turned_into_states"],
                data["superseded"],
                data["lost"],
                f"{data['socket_unread_max'] / 1024:.0f}",
                f"{data['socket_unsent_max'] / 1024:.0f}",
                "yes" if missing == data["broker_dropped"] else f"no ({missing} not delivered)",
                f"{data['stale_devices']} (round {data['oldest_shown_round']} of {data['rounds']})",
            ]
        )
    report.table(
        "overload",
        [
            "path",
            "changed/msg",
            "QoS",
            "sent",
            "dropped by Mosquitto",
            "delivered to HA's MQTT client",
            "turned into states",
            "superseded",
            "lost in HA",
            "max KiB unread in HA's socket",
            "max KiB unsent at broker",
            "not delivered = dropped",
            "devices left showing an older message (the oldest)",
        ],
        overload,
    )
    first = results[("pv_monitor", loads[0], 1)]
    report.figure(
        "paths.overload",
        f"where the messages went (pv_monitor, {args.devices} x {args.points}, every value changing, QoS 1): "
        f"{first['sent']} sent, {first['broker_dropped']} dropped by Mosquitto, {first['delivered']} "
        f"delivered to Home Assistant's MQTT client, {first['turned_into_states']} turned into states, "
        f"{first['superseded']} superseded, {first['lost']} lost inside Home Assistant; afterwards "
        f"{first['stale_devices']} of {args.devices} devices showed an older message than their last "
        f"(the oldest: round {first['oldest_shown_round']} of {args.rounds})",
        **{key: first[key] for key in ("sent", "broker_dropped", "delivered", "turned_into_states", "lost")},
    )
    report.note(
        f"{args.devices} devices x {args.points} points, {args.rounds} state messages per device, state "
        "QoS 1 (publisher and subscriptions) unless the overload table says 0; "
        + ("every run in one process" if args.one_process else "every run in its own fresh process")
        + "; CPU = the Home Assistant process's CPU time from the first message to the last state change, "
        "per message delivered to its MQTT client; changed states per CPU second = what one free core "
        "gives (the cores are shared with other work, so wall-clock rates vary with their load)"
    )
    report.write(args.json)


if __name__ == "__main__":
    main()
