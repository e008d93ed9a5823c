"""Read planning benchmark: requests and modelled RS-485 bus time per poll cycle for every shipped profile.

For each profile it compares three plans of the same points:
- planner: `plan_reads` with the profile's limits (what the collector does),
- one per point: one request per point (what a naive poller does),
- optimum: `optimal_plan`, the least modelled bus time (dynamic programming, gaps unlimited).
Bus time is modelled for Modbus RTU at 9600 baud 8N1 (10 bits per character): 8-byte request, 5 + 2n
byte response, 3.5 characters of silence after each frame, no device turnaround.
SunSpec uses the models of the simulated inverter (1, 103, 120, 123, 160 with 2 modules) plus meter 203,
laid out back to back from 40000 as a device would.

    .venv/bin/python bench/poll_plan.py
"""

from __future__ import annotations

from pv_collector.model import Point, Profile, ReadBlock
from pv_collector.planner import optimal_plan, plan_reads, points_to_read, rtu_cycle_seconds
from pv_collector.profile import list_profiles, load_profile, load_sunspec_model
from pv_collector.sunspec import place_model

BAUDRATE = 9600
BITS_PER_CHAR = 10  # 8N1: start + 8 data + stop
SIMULATED_SUNSPEC_MODELS = (1, 103, 120, 123, 160, 203)


def sunspec_points(base: int = 40000) -> tuple[Point, ...]:
    """The points of the simulated SunSpec inverter + meter chain, at the addresses a device has them."""
    points: list[Point] = []
    taken: set[str] = set()
    address = base + 2
    for model in SIMULATED_SUNSPEC_MODELS:
        definition = load_sunspec_model(model)
        if definition is None or definition.length is None:
            raise SystemExit(f"SunSpec model {model} has no definition with a length")
        points.extend(place_model(definition, address, definition.length, 1, taken))
        address += 2 + definition.length
    return tuple(points)


def one_per_point(points: list[Point]) -> list[ReadBlock]:
    return [ReadBlock(p.function, p.address, p.words, (p,)) for p in points]


def seconds(plan: list[ReadBlock]) -> float:
    return rtu_cycle_seconds(plan, baudrate=BAUDRATE, bits_per_char=BITS_PER_CHAR)


def row(profile: Profile, points: tuple[Point, ...]) -> str:
    readable = points_to_read(points)
    planned = plan_reads(readable, max_block=profile.max_block, max_gap=profile.max_gap)
    naive = one_per_point(readable)
    best = optimal_plan(readable, profile.max_block)
    t_plan, t_naive, t_best = seconds(planned), seconds(naive), seconds(best)
    return (
        f"{profile.id:<16} {len(readable):>6} {len(planned):>8} {len(naive):>8} {len(best):>8} "
        f"{t_plan * 1000:>9.1f} {t_naive * 1000:>9.1f} {t_best * 1000:>9.1f} "
        f"{t_naive / t_plan:>8.2f}x {t_plan / t_best:>8.3f}"
    )


def main() -> None:
    print(f"Modbus RTU at {BAUDRATE} baud, {BITS_PER_CHAR} bits per character (8N1); times per poll cycle")
    print(
        f"{'profile':<16} {'points':>6} {'req plan':>8} {'req 1/pt':>8} {'req opt':>8} "
        f"{'ms plan':>9} {'ms 1/pt':>9} {'ms opt':>9} {'1pt/plan':>9} {'plan/opt':>8}"
    )
    for profile_id in list_profiles():
        profile = load_profile(profile_id)
        points = sunspec_points() if profile.sunspec_models else profile.points
        print(row(profile, points))
    models = ", ".join(map(str, SIMULATED_SUNSPEC_MODELS))
    print(f"(sunspec: {len(sunspec_points())} points from models {models}, scale factors included)")


if __name__ == "__main__":
    main()
