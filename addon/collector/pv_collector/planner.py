"""Read planning: turn a device's points into the fewest block reads it allows.

`plan_reads` is the planner the collector uses: per register table (holding/input) it sorts the points by
address and joins neighbours while the unused registers between them are at most `max_gap` and the block
stays within `max_block` registers. A point is never split across blocks. Action points (buttons) are
write-only and never read.

A value and its SunSpec scale factor come from one read (issue 15: devices such as Fronius inverters change
a scale factor while running, so a value and a scale factor from two requests can be 10x or 100x off).
The planner joins the blocks of a point and of its `sf` point, whatever the gap, whenever one request can
hold both (`max_block`). Where none can (a long repeating model, a small `max_block`, another register
table) the pair is re-read together: the plan reads the scale factor right before and right after the
point's block (`reread_scale_factors`), and `decode.decode_reads` scales the point only when both reads
agree.

For the benchmark, `rtu_cycle_seconds` models the time a plan occupies an RS-485 line and `optimal_plan`
finds, by dynamic programming, the plan with the least modelled bus time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .errors import PlanError
from .model import DataType, Function, Point, ReadBlock

MODBUS_MAX_READ = 125  # registers per FC3/FC4 request allowed by the Modbus specification
REQUEST_FRAME_BYTES = 8  # unit, function, address (2), count (2), CRC (2)
RESPONSE_OVERHEAD_BYTES = 5  # unit, function, byte count, CRC (2); plus 2 bytes per register
SILENCE_CHARS = 3.5  # inter-frame silence after every RTU frame
_FUNCTION_ORDER = {Function.HOLDING: 0, Function.INPUT: 1}


def _check_limits(max_block: int, max_gap: int | None) -> None:
    if not 1 <= max_block <= MODBUS_MAX_READ:
        raise PlanError(f"max_block must be 1..{MODBUS_MAX_READ}, not {max_block}")
    if max_gap is not None and max_gap < 0:
        raise PlanError(f"max_gap must be >= 0, not {max_gap}")


def points_to_read(points: Iterable[Point], all_points: Iterable[Point] | None = None) -> list[Point]:
    """The readable points plus the points they need (looked up in `all_points`): the scale-factor points
    they reference and the inputs of computed points. Computed points themselves have no registers.

    Duplicates (same key) are dropped; a referenced point that cannot be found is an error.
    """
    wanted: dict[str, Point] = {}
    for point in points:
        if point.kind != "action":
            wanted.setdefault(point.key, point)
    lookup = {p.key: p for p in all_points} if all_points is not None else {}
    lookup.update(wanted)
    for point in [p for p in wanted.values() if p.compute is not None]:
        for key in point.compute.inputs if point.compute is not None else ():
            if key not in lookup:
                raise PlanError(f"{point.key}: input point '{key}' is not among the points")
            wanted.setdefault(key, lookup[key])
    selected = {key: point for key, point in wanted.items() if point.compute is None}
    for point in list(selected.values()):
        if point.sf is None or point.sf in selected:
            continue
        if point.sf not in lookup:
            raise PlanError(f"{point.key}: scale factor point '{point.sf}' is not among the points")
        selected[point.sf] = lookup[point.sf]
    return list(selected.values())


def touches(ranges: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    """Whether registers `start..end-1` share a register with one of the ranges (first, last)."""
    return any(first < end and start <= last for first, last in ranges)


def _by_function(points: Iterable[Point]) -> dict[Function, list[Point]]:
    groups: dict[Function, list[Point]] = {}
    for point in points:
        groups.setdefault(point.function, []).append(point)
    for group in groups.values():
        group.sort(key=lambda p: (p.address, p.end))
    return dict(sorted(groups.items(), key=lambda item: _FUNCTION_ORDER[item[0]]))


def _block(function: Function, points: Sequence[Point]) -> ReadBlock:
    start = points[0].address
    end = max(p.end for p in points)
    return ReadBlock(function, start, end - start, tuple(points))


def _too_long(points: Iterable[Point], max_block: int) -> None:
    for point in points:
        if point.words > max_block:
            raise PlanError(f"{point.key}: {point.words} registers do not fit max_block {max_block}")


def plan_reads(
    points: Iterable[Point],
    *,
    max_block: int = MODBUS_MAX_READ,
    max_gap: int = 10,
    all_points: Iterable[Point] | None = None,
    single_registers: Sequence[tuple[int, int]] = (),
) -> list[ReadBlock]:
    """Group points into block reads: by function, by address, bridging gaps of at most `max_gap` (any gap
    between a point and its scale factor); see the module doc for scale factors.

    Scale-factor points referenced by `sf` and the inputs of computed points are added (from `points`
    or `all_points`). A point touching one of the `single_registers` ranges (first, last; a profile's
    `limits.single_registers`) is read alone, and no block of other points reaches into such a range.
    """
    _check_limits(max_block, max_gap)
    selected = points_to_read(points, all_points)
    _too_long(selected, max_block)
    plan = _group(selected, max_block, max_gap, single_registers)
    joined = _join_scale_factors(plan, max_block, single_registers)
    return reread_scale_factors(
        joined, max_block=max_block, max_gap=max_gap, single_registers=single_registers
    )


def _group(
    points: Iterable[Point], max_block: int, max_gap: int, single_registers: Sequence[tuple[int, int]] = ()
) -> list[ReadBlock]:
    plan: list[ReadBlock] = []
    for function, group in _by_function(points).items():
        current: list[Point] = []
        keys: set[str] = set()
        start = end = 0
        for point in group:
            paired = point.sf in keys or any(p.sf == point.key for p in current)
            near = point.address - end <= max_gap or paired
            alone = touches(single_registers, point.address, point.end)
            joins = (
                current
                and not alone
                and near
                and max(end, point.end) - start <= max_block
                and not touches(single_registers, start, max(end, point.end))
            )
            if joins:
                current.append(point)
                keys.add(point.key)
                end = max(end, point.end)
                continue
            if current:
                plan.append(_block(function, current))
            current, keys, start, end = [point], {point.key}, point.address, point.end
            if alone:
                plan.append(_block(function, current))
                current, keys = [], set()
        if current:
            plan.append(_block(function, current))
    return plan


def _join_scale_factors(
    plan: list[ReadBlock], max_block: int, single_registers: Sequence[tuple[int, int]] = ()
) -> list[ReadBlock]:
    """Join the blocks from a point to its scale factor into one wherever one request can hold them."""
    while True:
        home = {point.key: index for index, block in enumerate(plan) for point in block.points}
        pairs = (
            sorted((index, home[point.sf]))
            for index, block in enumerate(plan)
            for point in block.points
            if point.sf is not None and home.get(point.sf, index) != index
        )
        for first, last in pairs:
            if (joined := _joined(plan, first, last, max_block, single_registers)) is not None:
                plan = joined
                break
        else:
            return plan


def _joined(
    plan: list[ReadBlock], first: int, last: int, max_block: int, single_registers: Sequence[tuple[int, int]]
) -> list[ReadBlock] | None:
    """`plan` with blocks `first..last` as one, if they are of one register table, fit `max_block` and
    reach into none of the `single_registers` ranges."""
    blocks = plan[first : last + 1]
    if any(block.function is not blocks[0].function for block in blocks):
        return None
    start = min(block.address for block in blocks)
    end = max(block.address + block.count for block in blocks)
    if end - start > max_block or touches(single_registers, start, end):
        return None
    points = tuple(point for block in blocks for point in block.points)
    return [*plan[:first], ReadBlock(blocks[0].function, start, end - start, points), *plan[last + 1 :]]


def _is_reread(block: ReadBlock, plan: Sequence[ReadBlock]) -> bool:
    """A block of scale factors only, each of which another block reads too."""
    if not all(point.type is DataType.SUNSSF for point in block.points):
        return False
    return all(
        any(other is not block and any(p.key == point.key for p in other.points) for other in plan)
        for point in block.points
    )


def reread_scale_factors(
    plan: Sequence[ReadBlock],
    *,
    max_block: int = MODBUS_MAX_READ,
    max_gap: int = 10,
    single_registers: Sequence[tuple[int, int]] = (),
) -> list[ReadBlock]:
    """`plan` with a read of the scale factors right before and after every block holding a point whose
    scale factor is read in another block only (see module doc); earlier re-reads are replaced. Blocks are
    read in list order. Scale factors re-read at one place share requests (limits as for planning)."""
    base = [block for block in plan if not _is_reread(block, plan)]
    keys = [{point.key for point in block.points} for block in base]
    scale_factors = {p.key: p for block in base for p in block.points if p.type is DataType.SUNSSF}
    result: list[ReadBlock] = []
    seen: set[str] = set()
    for index, block in enumerate(base):
        needed = {p.sf for p in block.points if p.sf in scale_factors and p.sf not in keys[index]}
        later = set().union(*keys[index + 1 :])
        result.extend(
            _group([scale_factors[key] for key in needed - seen], max_block, max_gap, single_registers)
        )
        result.append(block)
        seen |= keys[index] | needed
        result.extend(
            _group([scale_factors[key] for key in needed - later], max_block, max_gap, single_registers)
        )
    return result


def requests_per_cycle(plan: Sequence[ReadBlock]) -> int:
    """Modbus requests one poll of this plan takes."""
    return len(plan)


def rtu_request_seconds(
    count: int, baudrate: int = 9600, bits_per_char: int = 11, turnaround: float = 0.0
) -> float:
    """Modelled bus time of one RTU read of `count` registers: both frames, their silences, turnaround."""
    chars = REQUEST_FRAME_BYTES + SILENCE_CHARS + RESPONSE_OVERHEAD_BYTES + 2 * count + SILENCE_CHARS
    return chars * bits_per_char / baudrate + turnaround


def rtu_cycle_seconds(
    plan: Sequence[ReadBlock], baudrate: int = 9600, bits_per_char: int = 11, turnaround: float = 0.0
) -> float:
    """Modelled bus time of one poll cycle over RS-485 (11 bits per character as Modbus RTU specifies)."""
    return sum(rtu_request_seconds(block.count, baudrate, bits_per_char, turnaround) for block in plan)


def optimal_plan(
    points: Iterable[Point],
    max_block: int = MODBUS_MAX_READ,
    *,
    max_gap: int | None = None,
    all_points: Iterable[Point] | None = None,
    baudrate: int = 9600,
    bits_per_char: int = 11,
    turnaround: float = 0.0,
    single_registers: Sequence[tuple[int, int]] = (),
) -> list[ReadBlock]:
    """The plan with the least modelled RTU bus time (exact, by dynamic programming).

    Over the points sorted by address, `best[j]` is the cheapest way to read the first `j` points;
    the last block covers points `i..j-1` if it fits `max_block` (and, when `max_gap` is given, bridges
    no gap larger than it, and, with several points, touches none of the `single_registers` ranges).
    Unconstrained by `max_gap` it is a lower bound for every planner.
    """
    _check_limits(max_block, max_gap)
    selected = points_to_read(points, all_points)
    _too_long(selected, max_block)
    plan: list[ReadBlock] = []
    for function, group in _by_function(selected).items():
        n = len(group)
        best = [0.0] + [float("inf")] * n
        cut = [0] * (n + 1)
        for i in range(n):
            max_end = group[i].end
            for j in range(i, n):
                if j > i:
                    if max_gap is not None and group[j].address - max_end > max_gap:
                        break
                    max_end = max(max_end, group[j].end)
                span = max_end - group[i].address
                if span > max_block or (j > i and touches(single_registers, group[i].address, max_end)):
                    break
                cost = best[i] + rtu_request_seconds(span, baudrate, bits_per_char, turnaround)
                if cost < best[j + 1]:
                    best[j + 1], cut[j + 1] = cost, i
        blocks: list[ReadBlock] = []
        j = n
        while j > 0:
            i = cut[j]
            blocks.append(_block(function, group[i:j]))
            j = i
        plan.extend(reversed(blocks))
    return plan
