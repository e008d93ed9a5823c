"""Read planning against the physical limit: modelled RS-485 bus time per poll cycle, then a measured one.

Model (every shipped profile): three plans of the same points,
- planner: `plan_reads` with the profile's limits (what the collector does),
- one per point: one request per point (what a naive poller or core `modbus` does),
- optimum: `optimal_plan`, the least modelled bus time (exact dynamic programming over the sorted
  registers: which gaps to bridge, where to split at the profile's maximum block size; gaps unlimited),
timed for Modbus RTU at 9600 baud with 11 bits per character (Modbus RTU's character: start, 8 data,
parity or second stop bit, stop), an 8-byte request, a 5 + 2n byte response, 3.5 characters of silence
after each frame and a configurable device turnaround (--turnaround, default 0).
SunSpec uses the models of the simulated inverter (1, 103, 120, 123, 160 with 2 modules) plus meter 203,
laid out back to back from 40000 as a device would.

Measured (--measure): the simulated devices served as Modbus RTU on one end of a throttled pseudo-terminal
line (bench/rtu_relay.py, a separate process that releases every byte at 9600 baud timing, half duplex),
polled with the collector's own bus code (`pv_collector.transport.Bus`) following the collector's plan;
prints measured / modelled for a full cycle of each device.

    .venv/bin/python bench/poll_plan.py [--measure] [--cycles 5] [--turnaround 0.0] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import Report, verdict

from pv_collector.config import BusConfig
from pv_collector.errors import ModbusExceptionResponse
from pv_collector.model import Point, Profile, ReadBlock
from pv_collector.planner import optimal_plan, plan_reads, points_to_read, rtu_cycle_seconds
from pv_collector.profile import list_profiles, load_profile
from pv_collector.simulator import Simulation
from pv_collector.sunspec import place_model, scan
from pv_collector.sunspec_models import load_sunspec_model
from pv_collector.transport import Bus

BAUDRATE = 9600
BITS_PER_CHAR = 11
SIMULATED_SUNSPEC_MODELS = (1, 103, 120, 123, 160, 203)
PLAN_TARGET = 1.05  # planner / optimum
MEASURED_TARGET = 1.2  # measured / modelled
RELAY = Path(__file__).with_name("rtu_relay.py")


def sunspec_points(base: int = 40000) -> tuple[Point, ...]:
    """The points of the simulated SunSpec inverter + meter chain, at the addresses a device has them."""
    points: list[Point] = []
    taken: set[str] = set()
    address = base + 2
    for model in SIMULATED_SUNSPEC_MODELS:
        definition = load_sunspec_model(model)
        if definition is None:
            raise SystemExit(f"SunSpec model {model} has no definition")
        points.extend(place_model(definition, address, definition.length, 1, taken))
        address += 2 + definition.length
    return tuple(points)


def one_per_point(points: list[Point]) -> list[ReadBlock]:
    return [ReadBlock(p.function, p.address, p.words, (p,)) for p in points]


def seconds(plan: list[ReadBlock], turnaround: float) -> float:
    return rtu_cycle_seconds(plan, baudrate=BAUDRATE, bits_per_char=BITS_PER_CHAR, turnaround=turnaround)


def model_row(profile: Profile, points: tuple[Point, ...], turnaround: float) -> dict[str, Any]:
    readable = points_to_read(points)
    planned = plan_reads(readable, max_block=profile.max_block, max_gap=profile.max_gap)
    naive = one_per_point(readable)
    best = optimal_plan(
        readable, profile.max_block, baudrate=BAUDRATE, bits_per_char=BITS_PER_CHAR, turnaround=turnaround
    )
    t_plan, t_naive, t_best = (
        seconds(planned, turnaround),
        seconds(naive, turnaround),
        seconds(best, turnaround),
    )
    return {
        "profile": profile.id,
        "points": len(readable),
        "req_plan": len(planned),
        "req_naive": len(naive),
        "req_opt": len(best),
        "ms_plan": t_plan * 1000,
        "ms_naive": t_naive * 1000,
        "ms_opt": t_best * 1000,
        "naive_over_plan": t_naive / t_plan,
        "plan_over_opt": t_plan / t_best,
    }


def model(report: Report, turnaround: float) -> None:
    print(
        f"Modbus RTU at {BAUDRATE} baud, {BITS_PER_CHAR} bits per character, turnaround "
        f"{turnaround * 1000:.1f} ms; modelled bus time per poll cycle"
    )
    rows = []
    for profile_id in list_profiles():
        profile = load_profile(profile_id)
        points = sunspec_points() if profile.sunspec_base is not None else profile.points
        rows.append(model_row(profile, points, turnaround))
    report.table(
        "model",
        [
            "profile",
            "points",
            "req plan",
            "req 1/pt",
            "req opt",
            "ms plan",
            "ms 1/pt",
            "ms opt",
            "1pt/plan",
            "plan/opt",
        ],
        [
            [
                r["profile"],
                r["points"],
                r["req_plan"],
                r["req_naive"],
                r["req_opt"],
                f"{r['ms_plan']:.1f}",
                f"{r['ms_naive']:.1f}",
                f"{r['ms_opt']:.1f}",
                f"{r['naive_over_plan']:.2f}x",
                f"{r['plan_over_opt']:.3f}",
            ]
            for r in rows
        ],
    )
    models = ", ".join(map(str, SIMULATED_SUNSPEC_MODELS))
    report.note(f"sunspec: {len(sunspec_points())} points from models {models}, scale factors included")
    for r in rows:
        report.figure(
            f"bus_time.{r['profile']}",
            f"{r['profile']}: planner / optimum {r['plan_over_opt']:.3f} (target <= {PLAN_TARGET}: "
            f"{verdict(r['plan_over_opt'] <= PLAN_TARGET)}), "
            f"one per point / planner {r['naive_over_plan']:.2f}x "
            f"({r['ms_plan']:.1f} ms vs {r['ms_naive']:.1f} ms per cycle)",
            plan_over_opt=r["plan_over_opt"],
            naive_over_plan=r["naive_over_plan"],
            ms_plan=r["ms_plan"],
        )


# ------------------------------------------------------------------------------------------- measured


async def effective_plan(bus: Bus, unit: int, plan: list[ReadBlock]) -> list[ReadBlock]:
    """The plan the collector ends up with: a block the device refuses is split at unused registers."""
    result: list[ReadBlock] = []
    for block in plan:
        try:
            await bus.read(unit, block.function, block.address, block.count, retries=0)
            result.append(block)
        except ModbusExceptionResponse:
            result.extend(plan_reads(block.points, max_block=block.count, max_gap=0))
    return result


async def timed_cycle(bus: Bus, unit: int, plan: list[ReadBlock]) -> float:
    started = time.perf_counter()
    for block in plan:
        await bus.read(unit, block.function, block.address, block.count, retries=0)
    return time.perf_counter() - started


async def measure(report: Report, cycles: int, turnaround: float) -> None:
    relay = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block; it runs beside us
        [sys.executable, str(RELAY), "--baudrate", str(BAUDRATE), "--bits", str(BITS_PER_CHAR)],
        stdout=subprocess.PIPE,
        text=True,
    )
    simulation = Simulation(seed=1)
    try:
        assert relay.stdout is not None
        client_port, server_port = (await asyncio.to_thread(relay.stdout.readline)).split()
        tcp_port = await simulation.start("127.0.0.1", 0)
        await simulation.start_rtu(server_port, baudrate=BAUDRATE)
        tcp = Bus(BusConfig(name="scan", type="tcp", host="127.0.0.1", port=tcp_port))
        inverter = await scan(tcp.reader(1), load_profile("sunspec"))
        await tcp.close()
        bus = Bus(
            BusConfig(
                name="rtu", type="serial", serial_port=client_port, baudrate=BAUDRATE, timeout=2.0, retries=0
            )
        )
        devices = [
            (1, "sunspec", load_profile("sunspec"), inverter.points),
            (2, "sdm630", load_profile("sdm630"), None),
            (3, "pv_sim_battery", load_profile("pv_sim_battery"), None),
            (4, "pv_sim_environment", load_profile("pv_sim_environment"), None),
        ]
        rows = []
        for unit, name, profile, found in devices:
            points = points_to_read(found if found is not None else profile.points)
            plan = await effective_plan(
                bus, unit, plan_reads(points, max_block=profile.max_block, max_gap=profile.max_gap)
            )
            times = [await timed_cycle(bus, unit, plan) for _ in range(cycles)]
            measured = statistics.median(times)
            modelled = seconds(plan, turnaround)
            ratio = measured / modelled
            rows.append(
                [
                    name,
                    len(plan),
                    f"{modelled * 1000:.1f}",
                    f"{measured * 1000:.1f}",
                    f"{min(times) * 1000:.1f}",
                    f"{max(times) * 1000:.1f}",
                    f"{ratio:.3f}",
                ]
            )
            report.figure(
                f"rtu_measured.{name}",
                f"{name}: measured / modelled RTU cycle {ratio:.3f} ({measured * 1000:.1f} ms vs "
                f"{modelled * 1000:.1f} ms, {len(plan)} requests; target <= {MEASURED_TARGET}: "
                f"{verdict(ratio <= MEASURED_TARGET)})",
                ratio=ratio,
                measured_ms=measured * 1000,
                modelled_ms=modelled * 1000,
            )
        await bus.close()
        print()
        report.table(
            "measured",
            [
                "device",
                "requests",
                "modelled ms",
                "measured ms (median)",
                "min ms",
                "max ms",
                "measured/model",
            ],
            rows,
        )
        report.note(
            f"measured over {cycles} cycles per device through bench/rtu_relay.py "
            f"({BAUDRATE} baud, {BITS_PER_CHAR} bits per character, half duplex)"
        )
    finally:
        await simulation.stop()
        relay.terminate()
        relay.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help="also measure cycles over a throttled pty")
    parser.add_argument("--cycles", type=int, default=5, help="measured cycles per device")
    parser.add_argument("--turnaround", type=float, default=0.0, help="device turnaround in seconds")
    parser.add_argument("--json", help="write figures and tables to this file")
    args = parser.parse_args()
    report = Report("poll_plan")
    model(report, args.turnaround)
    if args.measure:
        asyncio.run(measure(report, args.cycles, args.turnaround))
    report.write(args.json)


if __name__ == "__main__":
    main()
