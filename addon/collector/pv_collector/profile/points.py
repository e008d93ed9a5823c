"""A profile's points: each read by `profile.schema`, then held to the rules across its fields (a bool point
needs an integer type, only holding points are writable, ...) and to the points it names (scale factors,
computed sums, revert and enable points). Every problem is a `validate.Problem` at the field it is about, e.g.
`points[3] (voltage_l1).writable: only holding points can be writable (this one is input)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, cast

from pv_collector.model import DataType, Function, Point, Writable
from pv_collector.profile.schema import POINT
from pv_collector.validate import Problem, Problems, default_of

# SunSpec "not implemented" values per register type (SunSpec Information Model Specification).
SUNSPEC_SENTINELS: dict[DataType, tuple[int, ...]] = {
    DataType.U16: (0xFFFF,),
    DataType.S16: (0x8000,),
    DataType.U32: (0xFFFFFFFF,),
    DataType.S32: (0x80000000,),
    DataType.U64: (0xFFFFFFFFFFFFFFFF,),
    DataType.S64: (0x8000000000000000,),
    DataType.F32: (0x7FC00000,),
    DataType.BITFIELD16: (0xFFFF,),
    DataType.BITFIELD32: (0xFFFFFFFF,),
    DataType.SUNSSF: (0x8000,),
    DataType.ACC32: (0,),
}
# Types that only exist in SunSpec: they get their sentinels in every profile.
SUNSPEC_ONLY_TYPES = frozenset({DataType.SUNSSF, DataType.ACC32})
_INTEGER_TYPES = frozenset(
    {DataType.U16, DataType.S16, DataType.U32, DataType.S32, DataType.U64, DataType.S64, DataType.ACC32}
)
_BITFIELD_BITS = {DataType.BITFIELD16: 16, DataType.BITFIELD32: 32}
INTEGER_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.U16: (0, 0xFFFF),
    DataType.S16: (-0x8000, 0x7FFF),
    DataType.U32: (0, 0xFFFFFFFF),
    DataType.S32: (-0x80000000, 0x7FFFFFFF),
    DataType.U64: (0, 0xFFFFFFFFFFFFFFFF),
    DataType.S64: (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF),
    DataType.ACC32: (0, 0xFFFFFFFF),
    DataType.BITFIELD16: (0, 0xFFFF),
    DataType.BITFIELD32: (0, 0xFFFFFFFF),
    DataType.SUNSSF: (-0x8000, 0x7FFF),
}
NUMERIC_TYPES = frozenset({*INTEGER_RANGES, DataType.F32, DataType.F64})
# Fields a computed point may have: it has no registers, so nothing about where or how they are encoded.
COMPUTED_FIELDS = frozenset(
    {"key", "name", "compute", "scale", "offset", "unit", "device_class", "state_class", "precision",
     "category", "role", "range", "max_rate", "hidden", "resets"}
)  # fmt: skip
# Point fields a profile entry gives as they are: `Point` owns their defaults (a field not given is not
# passed).
_REGISTER_POINT_FIELDS: Final = (
    "count", "word_order", "byte_order", "scale", "offset", "sf", "unit", "device_class", "state_class",
    "precision", "category", "role", "options", "bits", "on_value", "off_value", "press_value", "range",
    "max_rate", "resets", "advanced", "info", "revert_point", "enable_point", "write_address",
    "chars_per_register",
)  # fmt: skip
_COMPUTED_POINT_FIELDS: Final = (
    "scale", "offset", "unit", "device_class", "state_class", "precision", "category", "role", "range",
    "max_rate", "hidden", "resets",
)  # fmt: skip


def at(field: str, message: str) -> Problem:
    """A problem of the field `field` of a point or probe."""
    return Problem((field,), message)


def given(data: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The entries of `data` among `names`."""
    return {name: data[name] for name in names if name in data}


def register_type(data: Mapping[str, Any]) -> tuple[DataType, Function]:
    """The point's or probe's type and table: as given, else `Point`'s defaults."""
    return data.get("type", default_of(Point, "type")), data.get("function", default_of(Point, "function"))


def register_words(data: Mapping[str, Any], dtype: DataType) -> int:
    """Registers a point or probe of type `dtype` reads."""
    return int(data.get("count", default_of(Point, "count"))) if dtype is DataType.STRING else dtype.words


def past_the_end(field: str, address: int, words: int) -> list[Problem]:
    """The problem of `words` registers from `address` that do not all exist."""
    if address + words > 0x10000:
        return [at(field, f"{words} registers from {address} run past 65535")]
    return []


# --------------------------------------------------------------------------------------------------
# Points


def _derive_kind(data: Mapping[str, Any], dtype: DataType) -> str:
    if "kind" in data:
        return str(data["kind"])
    if "options" in data:
        return "enum"
    if dtype is DataType.STRING:
        return "text"
    if dtype in _BITFIELD_BITS:
        return "bitfield"
    return "number"


# Fields that only some points take: (fields, whether this point may take them, the problem when not).
type _Scope = Callable[[str, DataType, Mapping[str, Any]], bool]
_SCOPED_FIELDS: tuple[tuple[tuple[str, ...], _Scope, Callable[[str, DataType], str]], ...] = (
    (("options",), lambda kind, _t, _d: kind == "enum", lambda kind, _t: f"not allowed on {kind} points"),
    (
        ("bits",),
        lambda _k, dtype, _d: dtype in _BITFIELD_BITS,
        lambda _k, dtype: f"only bitfield16/bitfield32 points have bits, not {dtype.value}",
    ),
    (
        ("count",),
        lambda _k, dtype, _d: dtype is DataType.STRING,
        lambda _k, dtype: f"only string points take count (type is {dtype.value})",
    ),
    (
        ("sf",),
        lambda _k, dtype, _d: dtype in _INTEGER_TYPES,
        lambda _k, dtype: f"scale factors apply to integer points, not {dtype.value}",
    ),
    (
        ("on_value", "off_value"),
        lambda kind, _t, _d: kind == "bool",
        lambda _k, _t: "only bool points take on_value/off_value",
    ),
    (
        ("press_value",),
        lambda kind, _t, _d: kind == "action",
        lambda _k, _t: "only action points take press_value",
    ),
    (("max_rate",), lambda kind, _t, _d: kind == "number", lambda _k, _t: "only number points take max_rate"),
    (("range",), lambda kind, _t, _d: kind == "number", lambda _k, _t: "only number points take range"),
    (
        ("resets",),
        lambda _k, _t, data: data.get("state_class") == "total_increasing",
        lambda _k, _t: "only total_increasing points take resets",
    ),
    (
        ("revert_point", "enable_point"),
        lambda _k, _t, data: data.get("writable") is not None,
        lambda _k, _t: "only writable points take revert_point/enable_point",
    ),
    (
        ("chars_per_register",),
        lambda _k, dtype, _d: dtype is DataType.STRING,
        lambda _k, dtype: f"only string points take chars_per_register (type is {dtype.value})",
    ),
)


def _kind_problems(data: Mapping[str, Any], dtype: DataType, kind: str, function: Function) -> list[Problem]:
    """Whether the point's kind, type and table fit it and its `writable`."""
    problems: list[Problem] = []
    writable = data.get("writable")
    if writable is not None and function is not Function.HOLDING:
        problems.append(at("writable", f"only holding points can be writable (this one is {function.value})"))
    if kind == "number" and isinstance(writable, dict):
        if "min" not in writable or "max" not in writable:
            problems.append(at("writable", "writable numbers need min and max"))
        elif writable["min"] > writable["max"]:
            message = f"min {writable['min']:g} is greater than max {writable['max']:g}"
            problems.append(at("writable", message))
    if kind == "number" and writable is True:
        problems.append(at("writable", "writable numbers need {min, max, step}, not true"))
    if kind in ("enum", "bool", "action") and isinstance(writable, dict):
        problems.append(at("writable", f"{kind} points take writable: true"))
    if kind == "action" and function is not Function.HOLDING:
        problems.append(at("kind", "action points must be holding registers"))
    if kind in ("enum", "bool", "action") and dtype not in _INTEGER_TYPES:
        problems.append(at("type", f"{kind} points need an integer type, not {dtype.value}"))
    if dtype in _BITFIELD_BITS:
        if "bits" not in data:
            problems.append(at("bits", f"{dtype.value} points need bits (bit number: condition name)"))
        elif too_high := [b for b in data["bits"] if b >= _BITFIELD_BITS[dtype]]:
            problems.append(at("bits", f"bit {too_high[0]} does not exist in {dtype.value}"))
    return problems


def _address_problems(data: Mapping[str, Any], dtype: DataType) -> list[Problem]:
    """Whether the point's registers (and those it is written at) exist."""
    if "address" not in data:
        return [at("address", "required field is missing")]
    words = register_words(data, dtype)
    problems = past_the_end("address", int(data["address"]), words)
    if "write_address" in data:
        if data.get("writable") is None:
            problems.append(at("write_address", "only writable points take write_address"))
        else:
            problems.extend(past_the_end("write_address", int(data["write_address"]), words))
    return problems


def _point_problems(data: Mapping[str, Any], dtype: DataType, kind: str, function: Function) -> list[Problem]:
    """Rules across the fields of one point."""
    scoped = [
        at(names[0], problem(kind, dtype))
        for names, allowed, problem in _SCOPED_FIELDS
        if any(name in data for name in names) and not allowed(kind, dtype, data)
    ]
    return [*_kind_problems(data, dtype, kind, function), *scoped, *_address_problems(data, dtype)]


def _build_point(
    data: Mapping[str, Any], defaults: Mapping[str, Any], sunspec: bool
) -> tuple[Point | None, list[Problem]]:
    if "compute" in data:
        return _build_computed_point(data, sunspec)
    merged = {**defaults, **data}
    dtype, function = register_type(merged)
    kind = _derive_kind(merged, dtype)
    problems = _point_problems(merged, dtype, kind, function)
    if sunspec and "write_address" in merged:
        problems.append(at("write_address", "not in SunSpec model definitions"))
    if problems:
        return None, problems
    writable_data = merged.get("writable")
    writable: Writable | None = None
    if isinstance(writable_data, dict):
        writable = Writable(**writable_data)
    elif writable_data is True or kind == "action":
        writable = Writable()
    if "invalid" in merged:
        invalid = tuple(merged["invalid"])
    elif sunspec or dtype in SUNSPEC_ONLY_TYPES:
        invalid = SUNSPEC_SENTINELS.get(dtype, ())
    else:
        invalid = ()
    point = Point(
        key=merged["key"],
        name=merged["name"],
        address=merged["address"],
        function=function,
        type=dtype,
        kind=cast("Any", kind),
        writable=writable,
        invalid=invalid,
        hidden=merged.get("hidden", dtype is DataType.SUNSSF or "info" in merged),
        **given(merged, _REGISTER_POINT_FIELDS),
    )
    return point, []


def _build_computed_point(data: Mapping[str, Any], sunspec: bool) -> tuple[Point | None, list[Problem]]:
    """A point with `compute`: no registers, no defaults (they describe registers)."""
    problems = [
        at(name, "not allowed on a computed point (it has no registers; its value is its compute)")
        for name in data
        if name not in COMPUTED_FIELDS
    ]
    if "resets" in data and data.get("state_class") != "total_increasing":
        problems.append(at("resets", "only total_increasing points take resets"))
    if sunspec:
        problems.append(at("compute", "not in SunSpec model definitions"))
    if problems:
        return None, problems
    return Point(
        key=data["key"],
        name=data["name"],
        address=0,
        compute=data["compute"],
        **given(data, _COMPUTED_POINT_FIELDS),
    ), []


def _compute_reference_problems(point: Point, by_key: Mapping[str, Point], failed: set[str]) -> list[Problem]:
    """A computed point's terms must name number points of the same profile that are not computed."""
    problems: list[str] = []
    assert point.compute is not None
    for key in point.compute.inputs:
        target = by_key.get(key)
        if target is None:
            if key not in failed:
                problems.append(f"no point has the key '{key}'")
        elif key == point.key:
            problems.append("a point cannot be computed from itself")
        elif target.compute is not None:
            problems.append(f"'{key}' is itself computed (compute from register points only)")
        elif target.kind != "number":
            problems.append(f"'{key}' is a {target.kind} point, not a number")
    return [at("compute", message) for message in problems]


def _reference_problems(point: Point, by_key: Mapping[str, Point], failed: set[str]) -> list[Problem]:
    """What is wrong with the points `point` names (revert_point, enable_point, compute, sf); a named point
    in `failed` (it did not build: its own problem is reported) is none."""
    problems: list[Problem] = []
    for field_name, wanted in (("revert_point", "number"), ("enable_point", "bool")):
        ref = getattr(point, field_name)
        target = by_key.get(ref) if ref is not None else None
        if ref is None or (target is None and ref in failed):
            continue
        if target is None:
            problems.append(at(field_name, f"no point has the key '{ref}'"))
        elif target.kind != wanted or target.writable is None:
            problems.append(at(field_name, f"point '{ref}' is not a writable {wanted} point"))
    if point.compute is not None:
        problems.extend(_compute_reference_problems(point, by_key, failed))
    if point.sf is not None:
        target = by_key.get(point.sf)
        if target is None and point.sf not in failed:
            problems.append(at("sf", f"no point has the key '{point.sf}'"))
        elif target is not None and target.type is not DataType.SUNSSF:
            problems.append(at("sf", f"point '{point.sf}' is not a sunssf point"))
    return problems


def build_points(
    raw_points: Sequence[Any],
    defaults: Mapping[str, Any],
    problems: Problems,
    *,
    sunspec: bool,
) -> list[Point]:
    """The points of a `points` list, their problems recorded at `points[<index>]`."""
    points: list[Point] = []
    first_index: dict[str, int] = {}

    for index, data in problems.read_each(POINT, raw_points, "points"):
        key = data["key"]
        if key in first_index:
            problems.add(
                ["points", index, "key"], f"duplicate key (first used by points[{first_index[key]}])"
            )
            continue
        first_index[key] = index
        point, found = _build_point(data, defaults, sunspec)
        problems.extend(found, "points", index)
        if point is not None:
            points.append(point)
    by_key = {p.key: p for p in points}
    failed = set(first_index) - {p.key for p in points}
    for point in points:
        problems.extend(_reference_problems(point, by_key, failed), "points", first_index[point.key])
    return points
