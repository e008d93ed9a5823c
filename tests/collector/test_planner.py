"""The read planner, the RTU bus-time model and the optimal plan."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pv_collector.errors import PlanError
from pv_collector.model import DataType, Function, Point, ReadBlock
from pv_collector.planner import (
    optimal_plan,
    plan_reads,
    requests_per_cycle,
    rtu_cycle_seconds,
    rtu_request_seconds,
)
from pv_collector.profile import load_profile

SDM630_USUAL = (
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "current_l1",
    "current_l2",
    "current_l3",
    "power_l1",
    "power_l2",
    "power_l3",
    "power",
    "power_factor",
    "frequency",
    "energy_import",
    "energy_export",
)


def u16(key: str, address: int, function: Function = Function.HOLDING, **kwargs: object) -> Point:
    return Point(key=key, name=key, address=address, function=function, **kwargs)  # type: ignore[arg-type]


def assert_valid_plan(
    plan: Sequence[ReadBlock], points: Sequence[Point], max_block: int, max_gap: int | None
) -> None:
    """Every point read exactly once, whole, inside a block of its function that respects the limits."""
    seen: list[str] = []
    for block in plan:
        assert 1 <= block.count <= max_block
        for p in block.points:
            assert p.function is block.function
            assert block.address <= p.address
            assert p.end <= block.address + block.count
            seen.append(p.key)
        if max_gap is not None:
            ordered = sorted(block.points, key=lambda p: p.address)
            end = ordered[0].end
            for p in ordered[1:]:
                assert p.address - end <= max_gap
                end = max(end, p.end)
    assert sorted(seen) == sorted(p.key for p in points)


def test_sdm630_usual_points_take_at_most_three_requests() -> None:
    profile = load_profile("sdm630")
    points = [p for p in profile.points if p.key in SDM630_USUAL]
    assert len(points) == 14
    plan = plan_reads(points, max_block=profile.max_block, max_gap=profile.max_gap)
    assert requests_per_cycle(plan) <= 3
    assert_valid_plan(plan, points, profile.max_block, profile.max_gap)


def test_coalesces_across_small_gaps_and_splits_at_large_ones() -> None:
    points = [u16("a", 0), u16("b", 5), u16("c", 16), u16("d", 28)]  # gaps of 4, 10 and 11 registers
    plan = plan_reads(points, max_gap=10)
    assert [(b.address, b.count) for b in plan] == [(0, 17), (28, 1)]
    plan = plan_reads(points, max_gap=0)
    assert len(plan) == 4


def test_never_exceeds_max_block_and_never_splits_a_point() -> None:
    points = [
        Point(key=f"p{i}", name="p", address=2 * i, type=DataType.U32) for i in range(100)
    ]  # 200 contiguous registers
    plan = plan_reads(points, max_block=125, max_gap=10)
    assert [b.count for b in plan] == [124, 76]  # 125 would split a 2-register point
    assert_valid_plan(plan, points, 125, 10)
    with pytest.raises(PlanError, match="max_block"):
        plan_reads(points, max_block=126)
    with pytest.raises(PlanError, match="do not fit"):
        plan_reads([Point(key="s", name="s", address=0, type=DataType.STRING, count=20)], max_block=10)


def test_groups_by_function() -> None:
    points = [u16("h", 3), u16("i", 4, Function.INPUT), u16("h2", 5)]
    plan = plan_reads(points)
    assert [(b.function, b.address, b.count) for b in plan] == [
        (Function.HOLDING, 3, 3),
        (Function.INPUT, 4, 1),
    ]


def test_scale_factor_points_are_added() -> None:
    w_sf = Point(key="w_sf", name="w_sf", address=40, type=DataType.SUNSSF)
    w = u16("w", 10, sf="w_sf")
    other = u16("other", 90)
    plan = plan_reads([w], all_points=[w, w_sf, other])
    assert sorted(p.key for b in plan for p in b.points) == ["w", "w_sf"]
    with pytest.raises(PlanError, match="w_sf"):
        plan_reads([w])


def test_action_points_are_not_read_and_duplicates_once() -> None:
    button = u16("reset", 7, kind="action")
    plan = plan_reads([u16("a", 0), button, u16("a", 0)])
    assert [p.key for b in plan for p in b.points] == ["a"]


def test_rtu_model() -> None:
    # 8-byte request + 5 + 2n byte response + two 3.5-character silences, 11 bits per character
    assert rtu_request_seconds(10, baudrate=9600) == pytest.approx((8 + 5 + 20 + 7) * 11 / 9600)
    assert rtu_request_seconds(1, 9600, bits_per_char=10, turnaround=0.005) == pytest.approx(
        (8 + 5 + 2 + 7) * 10 / 9600 + 0.005
    )
    plan = [ReadBlock(Function.HOLDING, 0, 10), ReadBlock(Function.INPUT, 0, 1)]
    assert rtu_cycle_seconds(plan) == pytest.approx(rtu_request_seconds(10) + rtu_request_seconds(1))


def brute_force_cost(points: Sequence[Point], max_block: int) -> float:
    """Cheapest split of the sorted points into contiguous blocks, by trying every split."""
    ordered = sorted(points, key=lambda p: (p.address, p.end))
    n = len(ordered)
    best = float("inf")
    for cuts in itertools.product((False, True), repeat=n - 1):
        blocks: list[list[Point]] = [[ordered[0]]]
        for p, cut in zip(ordered[1:], cuts, strict=True):
            if cut:
                blocks.append([p])
            else:
                blocks[-1].append(p)
        spans = [max(p.end for p in b) - b[0].address for b in blocks]
        if all(s <= max_block for s in spans):
            best = min(best, sum(rtu_request_seconds(s) for s in spans))
    return best


@pytest.mark.parametrize("seed", range(25))
def test_optimal_plan_is_optimal_and_never_worse_than_the_planner(seed: int) -> None:
    rng = random.Random(seed)
    points: list[Point] = []
    address = 0
    for i in range(rng.randint(2, 10)):
        address += rng.choice([0, 1, 2, 5, 12, 30])
        dtype = rng.choice([DataType.U16, DataType.U32, DataType.U64])
        points.append(Point(key=f"p{i}", name="p", address=address, type=dtype))
        address += dtype.words
    max_block = rng.choice([8, 16, 40, 125])
    max_gap = rng.choice([0, 3, 10])
    planned = plan_reads(points, max_block=max_block, max_gap=max_gap)
    best = optimal_plan(points, max_block)
    assert_valid_plan(planned, points, max_block, max_gap)
    assert_valid_plan(best, points, max_block, None)
    assert rtu_cycle_seconds(best) <= rtu_cycle_seconds(planned) + 1e-12
    assert rtu_cycle_seconds(best) == pytest.approx(brute_force_cost(points, max_block))
    gap_limited = optimal_plan(points, max_block, max_gap=max_gap)
    assert_valid_plan(gap_limited, points, max_block, max_gap)
    assert rtu_cycle_seconds(best) <= rtu_cycle_seconds(gap_limited) <= rtu_cycle_seconds(planned) + 1e-12


def test_optimal_plan_bridges_gaps_only_when_cheaper() -> None:
    # A gap of 30 registers costs 60 bytes; a second request costs 20 characters: split.
    far = [u16("a", 0), u16("b", 31)]
    assert len(optimal_plan(far)) == 2
    # A gap of 5 registers costs 10 characters: read through it.
    near = [u16("a", 0), u16("b", 6)]
    assert len(optimal_plan(near)) == 1


# ------------------------------------------------------------------ issue 15: a value and its scale factor


@st.composite
def scaled_layouts(draw: st.DrawFn) -> tuple[list[Point], int, int]:
    """Points of one or two register tables, some of them SunSpec scale factors referenced by others, at
    random addresses; with random max_block and max_gap."""
    max_block = draw(st.integers(1, 125))
    count = draw(st.integers(1, 30))
    sf_keys = [f"sf{i}" for i in range(draw(st.integers(1, 4)))]
    points: list[Point] = []
    for key in sf_keys:
        function = draw(st.sampled_from([Function.HOLDING, Function.HOLDING, Function.INPUT]))
        address = draw(st.integers(0, 400))
        points.append(Point(key=key, name=key, address=address, function=function, type=DataType.SUNSSF))
    for index in range(count):
        dtype = draw(st.sampled_from([DataType.U16, DataType.S16, DataType.U32, DataType.ACC32]))
        if dtype.words > max_block:
            dtype = DataType.U16
        sf = draw(st.one_of(st.none(), st.sampled_from(sf_keys)))
        function = draw(st.sampled_from([Function.HOLDING, Function.HOLDING, Function.INPUT]))
        address = draw(st.integers(0, 400))
        points.append(Point(key=f"p{index}", name="p", address=address, function=function, type=dtype, sf=sf))
    return points, max_block, draw(st.integers(0, 20))


def blocks_of(plan: Sequence[ReadBlock], key: str) -> list[int]:
    return [index for index, block in enumerate(plan) if any(p.key == key for p in block.points)]


def check_scale_factors_read_with_their_points(plan: Sequence[ReadBlock], points: Sequence[Point]) -> int:
    """Every point with a scale factor shares a block with it, or the plan reads the scale factor before
    and after the point's block (the pair is re-read together; the decoder uses the scale factor only when
    both reads agree). Returns how many points are re-read that way."""
    by_key = {point.key: point for point in points}
    reread = 0
    for point in points:
        if point.sf is None:
            continue
        [home] = blocks_of(plan, point.key)  # every value point exactly once
        if any(p.key == point.sf for p in plan[home].points):
            continue
        reread += 1
        reads = blocks_of(plan, by_key[point.sf].key)
        assert any(index < home for index in reads), (point, plan)
        assert any(index > home for index in reads), (point, plan)
    return reread


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scaled_layouts())
def test_a_value_and_its_scale_factor_come_from_one_read(layout: tuple[list[Point], int, int]) -> None:
    points, max_block, max_gap = layout
    plan = plan_reads(points, max_block=max_block, max_gap=max_gap)
    assert all(block.count <= max_block for block in plan)
    for block in plan:
        assert all(block.address <= p.address and p.end <= block.address + block.count for p in block.points)
    check_scale_factors_read_with_their_points(plan, points)
    # A pair that one request can hold alone is read in one request when nothing else is in the way.
    for point in points:
        sf = next((p for p in points if p.key == point.sf), None)
        alone = [p for p in points if p.key in (point.key, point.sf)]
        if sf is not None and sf.function is point.function and len(points) == 2:
            span = max(point.end, sf.end) - min(point.address, sf.address)
            assert (len(plan_reads(alone, max_block=max_block, max_gap=0)) == 1) == (span <= max_block)


def test_sunspec_string_values_share_a_read_with_their_scale_factors() -> None:
    """Model 160 (MPPT strings): the module values sit 13+ registers after their scale factors, beyond the
    default max_gap of 10; Fronius inverters change those scale factors while running."""
    from pv_collector.sunspec import place_model
    from pv_collector.sunspec_models import load_sunspec_model

    definition = load_sunspec_model(160)
    assert definition is not None
    points = place_model(definition, 40000, 8 + 20 * 2, 1, set())
    plan = plan_reads(points, max_block=125, max_gap=10)
    assert check_scale_factors_read_with_their_points(plan, points) == 0
    assert len(plan) == 1
    # With all eight strings the model is longer than one request: the far strings re-read their scale
    # factors, nothing else does.
    points = place_model(definition, 40000, 8 + 20 * 8, 1, set())
    plan = plan_reads(points, max_block=125, max_gap=10)
    assert 0 < check_scale_factors_read_with_their_points(plan, points) <= 3 * 4
    assert len(plan) <= 4
