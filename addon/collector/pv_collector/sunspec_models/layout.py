"""A SunSpec model laid out into our points for the length and counts a device reports.

Each point instance gets its offset (from the first register after the model's ID and length registers,
as `Point.address`), its type, its key and name, its enum or bit symbols, its unit and its scale factor.
A point the overlay names takes the overlay's meaning; every other point gets a generated key
`m<model>_<group><n>_..._<point>` in snake case (`m701_throt_pct`, `m705_crv1_pt2_v`), its SunSpec label
as name, its SunSpec unit in Home Assistant's spelling, and is published as an advanced diagnostic
(contract `advanced`: created disabled). An overlay meaning with a `when` holds only where the named
point of its group instance reads the given symbols: a device decides that at discovery (`conditions`).

SunSpec types map onto the decoder's `DataType` as follows: int16/uint16/count -> s16/u16, acc16 -> u16
(0 = not implemented), enum16/enum32 -> u16/u32 with the symbols as options, bitfield16/32 with the
symbols as bits (no symbols: a plain u16/u32 number), int32/uint32/int64/uint64 -> s32/u32/s64/u64,
acc32 -> acc32, acc64 -> u64 (0 = not implemented), float32/float64 -> f32/f64, string -> string,
sunssf -> sunssf. `pad` registers are skipped; so are `ipaddr`, `ipv6addr` and `eui48` (the MAC and IP
addresses of models 11 and 16: network configuration, not measurements, for which the decoder has no
types) and points longer than one Modbus read (125 registers: only the harmonics tables of SunSpec's
test-equipment model 64411).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sunspec2 import mdef

from pv_collector.errors import ProfileError
from pv_collector.model import DataType, Point
from pv_collector.planner import MODBUS_MAX_READ
from pv_collector.profile import build_sunspec_points

from .definitions import GroupDef, PointDef, fixed_instances
from .overlay import OVERLAY_FILE, WHEN, when_problems

# SunSpec type -> (our type, "not implemented" raw values when they differ from the type's SunSpec sentinel)
_TYPES: dict[str, tuple[DataType, tuple[int, ...] | None]] = {
    mdef.TYPE_INT16: (DataType.S16, None),
    mdef.TYPE_UINT16: (DataType.U16, None),
    mdef.TYPE_COUNT: (DataType.U16, None),
    mdef.TYPE_ACC16: (DataType.U16, (0,)),
    mdef.TYPE_ENUM16: (DataType.U16, None),
    mdef.TYPE_BITFIELD16: (DataType.BITFIELD16, None),
    mdef.TYPE_INT32: (DataType.S32, None),
    mdef.TYPE_UINT32: (DataType.U32, None),
    mdef.TYPE_ACC32: (DataType.ACC32, None),
    mdef.TYPE_ENUM32: (DataType.U32, None),
    mdef.TYPE_BITFIELD32: (DataType.BITFIELD32, None),
    mdef.TYPE_INT64: (DataType.S64, None),
    mdef.TYPE_UINT64: (DataType.U64, None),
    mdef.TYPE_ACC64: (DataType.U64, (0,)),
    mdef.TYPE_FLOAT32: (DataType.F32, None),
    mdef.TYPE_FLOAT64: (DataType.F64, None),
    mdef.TYPE_STRING: (DataType.STRING, None),
    mdef.TYPE_SUNSSF: (DataType.SUNSSF, None),
}
SKIPPED_TYPES = frozenset({mdef.TYPE_PAD, mdef.TYPE_IPADDR, mdef.TYPE_IPV6ADDR, mdef.TYPE_EUI48})
_ENUMS = frozenset({mdef.TYPE_ENUM16, mdef.TYPE_ENUM32})
_BITFIELDS = {mdef.TYPE_BITFIELD16: 16, mdef.TYPE_BITFIELD32: 32}

# SunSpec unit -> Home Assistant's spelling of the same unit; None: not a unit (a format, a reference).
# Units not listed are published as SunSpec writes them ("% WMax", "V/s").
HA_UNITS: dict[str, str | None] = {
    "Secs": "s", "Sec": "s", "mSecs": "ms", "C": "°C", "Pct": "%", "%": "%", "W/m2": "W/m²",
    "W/m^2": "W/m²", "ohms": "Ω", "kO": "kΩ", "Degrees": "°", "deg": "°", "mps": "m/s", "HPa": "hPa",
    "meters": "m", "WH": "Wh", "Var": "var", "Varh": "varh", "AH": "Ah", "kAH": "kAh", "bps": "bit/s",
    "Mbps": "Mbit/s", "SF": None, "text": None, "YYYYMMDD": None, "hhmmss": None, "hhmmss.sssZ": None,
    "cos()": None, "PF": None, "DeptRef": None,
}  # fmt: skip

MAX_NAME = 100
MAX_GENERATED_KEY = 44  # of the key pattern's 48 characters: room for an instance suffix such as "_2"

type Counts = tuple[tuple[str, int], ...]  # count point -> value, sorted (hashable: a cache key)


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """Overlay meanings that hold only where a point of their group instance reads one of `allowed`.

    `offset` is the condition point's (from the first register after ID and L, as `Point.address`);
    `governs` are the locations ("Prt[2].DCW") of the points that lose the overlay's meaning otherwise
    (pass them as `plain` to `SunSpecModelDef.points`)."""

    offset: int
    allowed: frozenset[int]
    governs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Slot:
    """One point instance of a laid-out model: where it is and in which group instances."""

    point: PointDef
    offset: int
    trail: tuple[tuple[str, int | None], ...]  # (group name, instance number or None) below the model


def snake_case(name: str) -> str:
    """A SunSpec id in snake case: "WMaxLimPct_RvrtTms" -> "w_max_lim_pct_rvrt_tms", "SoC" -> "so_c"."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def symbol_name(symbol: str, value: int, taken: set[str]) -> str:
    """A SunSpec symbol as an option/bit name (lower snake case, unique within the point)."""
    name = re.sub(r"[^a-z0-9]+", "_", symbol.lower()).strip("_")[:60] or f"value_{value}"
    if name in taken:
        name = f"{name}_{value}"
    taken.add(name)
    return name


def ha_unit(units: str | None) -> str | None:
    """Home Assistant's spelling of a SunSpec unit (None for formats such as "YYYYMMDD")."""
    if units is None:
        return None
    return HA_UNITS.get(units, units)


def generated_key(model: int, trail: Sequence[tuple[str, int | None]], point: str) -> str:
    """`m<model>_<group><n>_..._<point>` in snake case; one longer than `MAX_GENERATED_KEY` is cut and
    ends in 4 hex digits of its SHA-1, so that instance suffixes (`_2`) still fit the key pattern."""
    parts = [f"m{model}"]
    parts.extend(f"{snake_case(name)}{number if number is not None else ''}" for name, number in trail)
    parts.append(snake_case(point))
    key = "_".join(parts)
    if len(key) <= MAX_GENERATED_KEY:
        return key
    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:4]
    return f"{key[: MAX_GENERATED_KEY - 5].rstrip('_')}_{digest}"


def model_points(
    model: int,
    group: GroupDef,
    overlay: Mapping[str, Any],
    source: str,
    *,
    length: int,
    counts: Counts,
    plain: frozenset[str],
) -> tuple[Point, ...]:
    """Our points of `model` (top-level `group`, `overlay` entries, read from the file `source`) for a
    device that reports `length` and these count-point values, sorted by offset; the point instances in
    `plain` without the overlay's meaning. Raises ProfileError when the overlay and the definition do
    not fit together."""
    slots = _slots(group, length, counts)
    raws = [
        _raw_point(model, slot, None if _location(slot) in plain else overlay.get(_path(slot)))
        for slot in slots
    ]
    for raw, sf_key in zip(raws, _sf_keys(slots, [str(raw["key"]) for raw in raws]), strict=True):
        if sf_key is not None:
            raw["sf"] = sf_key
    locations = [f"model {model} {_location(slot)}" for slot in slots]
    problems = [
        f"model {model} {name}: the overlay names a point the definition does not have"
        for name in overlay
        if not _defines(group, name.split("."))
    ]
    if problems:
        raise ProfileError("\n".join(f"{OVERLAY_FILE.name}: {line}" for line in problems))
    return build_sunspec_points(raws, source, locations)


def model_conditions(
    model: int, group: GroupDef, overlay: Mapping[str, Any], *, length: int, counts: Counts
) -> tuple[Condition, ...]:
    """The overlay's conditions (`when`) as laid out for this length and these counts: one per group
    instance and condition point, in offset order. Raises ProfileError for a `when` naming a point that
    is not an enum of the same group, or a symbol that point does not have."""
    slots = _slots(group, length, counts)
    siblings = {(slot.trail, slot.point.name): slot for slot in slots}
    found: dict[tuple[int, frozenset[int]], list[str]] = {}
    problems: list[str] = []
    for slot in slots:
        entry = overlay.get(_path(slot))
        when = entry.get(WHEN) if isinstance(entry, dict) else None
        if when is None:
            continue
        if malformed := when_problems(when):
            problems.extend(f"{_path(slot)}.{WHEN}: {problem}" for problem in malformed)
            continue
        ((name, symbols),) = when.items()
        target = siblings.get((slot.trail, name))
        values = {s.upper(): v for s, v in target.point.symbols} if target is not None else {}
        if target is None or target.point.type not in _ENUMS:
            problems.append(f"{_path(slot)}.{WHEN}: {name} is not an enum point of the same group")
            continue
        unknown = [symbol for symbol in symbols if symbol.upper() not in values]
        if unknown:
            problems.append(f"{_path(slot)}.{WHEN}: {name} has no symbol {', '.join(unknown)}")
            continue
        allowed = frozenset(values[symbol.upper()] for symbol in symbols)
        found.setdefault((target.offset, allowed), []).append(_location(slot))
    if problems:
        unique = dict.fromkeys(f"{OVERLAY_FILE.name}: model {model} {p}" for p in problems)
        raise ProfileError("\n".join(unique))
    return tuple(
        Condition(offset=offset, allowed=allowed, governs=tuple(governs))
        for (offset, allowed), governs in sorted(found.items(), key=lambda item: item[0][0])
    )


def _lay(
    group: GroupDef,
    offset: int,
    trail: tuple[tuple[str, int | None], ...],
    *,
    length: int,
    counts: Mapping[str, int],
    slots: list[_Slot],
) -> int:
    """Append the point instances of one group instance starting at `offset`; returns the end offset."""
    for point in group.points:
        slots.append(_Slot(point, offset, trail))
        offset += point.size
    for sub in group.groups:
        if sub.count == 0:
            size = sub.size(counts)
            instances = max(0, (length - offset) // size) if size else 0
        else:
            instances = fixed_instances(sub, counts)
        for number in range(1, instances + 1):
            if offset >= length:
                break
            step = (sub.name, None if sub.count is None else number)
            offset = _lay(sub, offset, (*trail, step), length=length, counts=counts, slots=slots)
    return offset


def _slots(group: GroupDef, length: int, counts: Counts) -> list[_Slot]:
    """The point instances of the model we decode, in offset order."""
    slots: list[_Slot] = []
    _lay(group, 0, (), length=length, counts=dict(counts), slots=slots)
    return [
        slot for slot in slots if slot.point.type not in SKIPPED_TYPES and slot.point.size <= MODBUS_MAX_READ
    ]


def _path(slot: _Slot) -> str:
    return ".".join([*(name for name, _ in slot.trail), slot.point.name])


def _location(slot: _Slot) -> str:
    parts = [f"{name}[{number}]" if number is not None else name for name, number in slot.trail]
    return ".".join([*parts, slot.point.name])


def _module_number(slot: _Slot) -> int | None:
    numbers = [number for _, number in slot.trail if number is not None]
    return numbers[-1] if numbers else None


def _generated_name(slot: _Slot) -> str:
    base = slot.point.label or slot.point.name
    if not slot.trail:
        return base[:MAX_NAME]
    where = " ".join(f"{name} {number}" if number is not None else name for name, number in slot.trail)
    return f"{base} ({where})"[:MAX_NAME]


def _symbols(slot: _Slot) -> dict[int, str] | None:
    point = slot.point
    if not point.symbols:
        return None
    width = _BITFIELDS.get(point.type)
    taken: set[str] = set()
    return {
        value: symbol_name(symbol, value, taken)
        for symbol, value in point.symbols
        if width is None or 0 <= value < width
    } or None


def _named_point(model: int, slot: _Slot, entry: Any) -> dict[str, Any]:
    """The overlay's `entry` for a point instance (a mapping, a key, or None: a generated key and name, an
    advanced diagnostic), with `{n}` replaced by the instance number."""
    dtype, _invalid = _TYPES[slot.point.type]
    number = _module_number(slot)
    raw: dict[str, Any] = {"address": slot.offset}
    if isinstance(entry, dict):
        raw.update(entry)
        raw.pop(WHEN, None)
    elif isinstance(entry, str):
        raw["key"] = entry
    if entry is None:
        raw["key"] = generated_key(model, slot.trail, slot.point.name)
        raw["name"] = _generated_name(slot)
        if dtype is not DataType.SUNSSF:
            raw["category"] = "diagnostic"
            raw["advanced"] = True
    for field in ("key", "name"):
        if isinstance(raw.get(field), str) and number is not None:
            raw[field] = raw[field].replace("{n}", str(number))
    raw.setdefault("name", _generated_name(slot))
    return raw


def _raw_point(model: int, slot: _Slot, entry: Any) -> dict[str, Any]:
    """Our point for one SunSpec point instance (without its scale-factor reference)."""
    point = slot.point
    dtype, invalid = _TYPES[point.type]
    symbols = _symbols(slot)
    raw = _named_point(model, slot, entry)
    if point.type in _BITFIELDS and symbols is None and "bits" not in raw:
        dtype = DataType.U16 if dtype is DataType.BITFIELD16 else DataType.U32
    raw["type"] = dtype.value
    if dtype is DataType.STRING:
        raw["count"] = point.size
    if invalid is not None:
        raw.setdefault("invalid", list(invalid))
    plain = "kind" not in raw
    if plain and point.type in _ENUMS and symbols is not None:
        raw.setdefault("options", symbols)
    if plain and dtype in (DataType.BITFIELD16, DataType.BITFIELD32) and symbols is not None:
        raw.setdefault("bits", symbols)
    kind_is_number = plain and "options" not in raw and "bits" not in raw and dtype is not DataType.STRING
    if entry is None and kind_is_number and dtype is not DataType.SUNSSF:
        unit = ha_unit(point.units)
        if unit is not None:
            raw["unit"] = unit
    if isinstance(point.sf, int):
        raw["scale"] = float(raw.get("scale", 1.0)) * 10.0**point.sf
    return raw


def _sf_keys(slots: Sequence[_Slot], keys: Sequence[str]) -> list[str | None]:
    """The key of each point's scale-factor point: in its own group instance, else the model's top level."""
    scope = {(slot.trail, slot.point.name): key for slot, key in zip(slots, keys, strict=True)}
    found: list[str | None] = []
    for slot in slots:
        sf = slot.point.sf
        if not isinstance(sf, str):
            found.append(None)
            continue
        found.append(scope.get((slot.trail, sf)) or scope.get(((), sf)))
    return found


def _defines(group: GroupDef, path: Sequence[str]) -> bool:
    if len(path) == 1:
        return any(point.name == path[0] for point in group.points)
    sub = next((g for g in group.groups if g.name == path[0]), None)
    return sub is not None and _defines(sub, path[1:])
