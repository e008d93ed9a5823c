"""SunSpec model definitions: the SunSpec Alliance's own, with PV Monitor's meaning laid over them.

The facts of every model (point ids and order, types, sizes, scale-factor references, units, enum and
bitfield symbols, labels, mandatory/access, repeating groups) come from the SunSpec Alliance's JSON model
definitions as the `pysunspec2` package ships them (`sunspec2/models/json/model_<N>.json`), read with its
`sunspec2.mdef` loading functions. A profile folder may add definitions the package lacks (a vendor's
model) as `sunspec/model_<N>.json` in the same format, checked with `mdef.validate_model_def`.

What a point means to PV Monitor comes from one small data file, `profiles/sunspec/overlay.yaml`: for the
points it names (SunSpec model and point id), the published key of the key vocabulary (docs/profiles.md),
name, unit, device and state class, precision, range, role, category and writability. A meaning may hold
only where another point of the same group instance reads given SunSpec symbols (`when`, e.g. 714's
ports: only a port whose `PrtTyp` is PV is a PV string); a device decides that at discovery
(`conditions`). Every other point gets a generated key `m<model>_<group><n>_..._<point>` in snake case
(`m701_throt_pct`, `m705_crv1_pt2_v`), its SunSpec label as name, its SunSpec unit in Home Assistant's
spelling, and is published as an advanced diagnostic (contract `advanced`: created disabled).

SunSpec types map onto the decoder's `DataType` as follows: int16/uint16/count -> s16/u16, acc16 -> u16
(0 = not implemented), enum16/enum32 -> u16/u32 with the symbols as options, bitfield16/32 with the
symbols as bits (no symbols: a plain u16/u32 number), int32/uint32/int64/uint64 -> s32/u32/s64/u64,
acc32 -> acc32, acc64 -> u64 (0 = not implemented), float32/float64 -> f32/f64, string -> string,
sunssf -> sunssf. `pad` registers are skipped; so are `ipaddr`, `ipv6addr` and `eui48` (the MAC and IP
addresses of models 11 and 16: network configuration, not measurements, for which the decoder has no
types) and points longer than one Modbus read (125 registers: only the harmonics tables of SunSpec's
test-equipment model 64411).

Offsets (`Point.address`) count from the first register after the model's ID and length registers.
Raises `ProfileError` (one line per problem, naming the file and the point) for a definition or overlay
that cannot be used.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

import sunspec2.device
from sunspec2 import mdef

from .errors import ProfileError
from .model import DataType, Point
from .planner import MODBUS_MAX_READ
from .profile import SHIPPED_DIR, build_sunspec_points, read_yaml_document

SUNSPEC_DIRNAME = "sunspec"
OVERLAY_FILE = SHIPPED_DIR / SUNSPEC_DIRNAME / "overlay.yaml"
LIBRARY_DIR = Path(sunspec2.device.models_dir) / "json"
HEADER_POINTS = (mdef.MODEL_ID_POINT_NAME, mdef.MODEL_LEN_POINT_NAME)

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

# Fields of an overlay entry that are SunSpec facts: they come from the definition, never the overlay.
_DEFINITION_FIELDS = ("address", "type", "count", "sf", "function", "word_order", "byte_order")
WHEN = "when"  # overlay field: {point of the same group instance: [SunSpec symbols]} for which it holds
MAX_NAME = 100
MAX_GENERATED_KEY = 44  # of the key pattern's 48 characters: room for an instance suffix such as "_2"


@dataclass(frozen=True, slots=True, kw_only=True)
class PointDef:
    """One point as the SunSpec definition states it."""

    name: str  # SunSpec point id, e.g. "WMaxLimPct"
    type: str  # SunSpec type, e.g. "uint16"
    size: int  # registers
    sf: str | int | None = None  # name of its scale-factor point, or a fixed exponent
    units: str | None = None
    label: str | None = None
    symbols: tuple[tuple[str, int], ...] = ()  # enum values / bit numbers
    mandatory: bool = False
    access: Literal["R", "RW"] = "R"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupDef:
    """A group of points; `count` None: once, 0: as many as the model's length holds, text: the value of
    that top-level count point, n: n times."""

    name: str
    label: str | None = None
    count: int | str | None = None
    points: tuple[PointDef, ...] = ()
    groups: tuple[GroupDef, ...] = ()

    def size(self, counts: Mapping[str, int]) -> int:
        """Registers of one instance, with nested groups repeated as `counts` says (legacy groups: 0)."""
        total = sum(point.size for point in self.points)
        for group in self.groups:
            total += group.size(counts) * _fixed_instances(group, counts)
        return total


def _fixed_instances(group: GroupDef, counts: Mapping[str, int]) -> int:
    if group.count is None:
        return 1
    if isinstance(group.count, str):
        return max(0, counts.get(group.count, 0))
    return group.count


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


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class SunSpecModelDef:
    """The definition of one SunSpec model, ready to lay out for the length and counts a device reports.

    Compared and hashed by identity: definitions are loaded once per file version."""

    model: int
    name: str  # the SunSpec group name, e.g. "inverter_three_phase"
    label: str
    group: GroupDef  # the model's top-level group without its ID and L points
    source: str  # the definition file
    overlay: Mapping[str, Any]  # SunSpec point path -> overlay entry (key text or mapping)

    @property
    def length(self) -> int:
        """Registers after ID and L with every repeating group empty (the model's fixed part)."""
        return sum(point.size for point in self.group.points)

    @property
    def count_points(self) -> dict[str, int]:
        """Top-level points that give a repeating group its count: name -> offset."""
        names = set(_count_names(self.group))
        found: dict[str, int] = {}
        offset = 0
        for point in self.group.points:
            if point.name in names:
                found[point.name] = offset
            offset += point.size
        return found

    def length_for(self, counts: Mapping[str, int] | None = None, modules: int = 0) -> int:
        """The length (L) of the model with these group counts; `modules` instances of a legacy group."""
        counts = dict(counts or {})
        total = self.length
        for group in self.group.groups:
            instances = modules if group.count == 0 else _fixed_instances(group, counts)
            total += group.size(counts) * instances
        return total

    def example_points(self) -> tuple[Point, ...]:
        """The points of the model with one instance of every repeating group: every kind of point the
        model can give a device (for checks over all points, e.g. units and rate bounds)."""
        counts = dict.fromkeys(self.count_points, 1)
        return self.points(self.length_for(counts, modules=1), counts)

    def points(
        self,
        length: int | None = None,
        counts: Mapping[str, int] | None = None,
        plain: Iterable[str] = (),
    ) -> tuple[Point, ...]:
        """Our points of the model for a device that reports `length` (default: the fixed part) and these
        count-point values; offsets from the first register after ID and L, sorted by offset. `plain`
        names point instances ("Prt[2].DCW", see `Condition.governs`) laid out without the overlay's
        meaning (a condition they failed on the device): generated keys, advanced diagnostics.

        Raises ProfileError when the overlay and the definition do not fit together.
        """
        wanted = self.length if length is None else length
        frozen = tuple(sorted((counts or {}).items()))
        return _laid_out(self, wanted, frozen, frozenset(plain))

    def conditions(
        self, length: int | None = None, counts: Mapping[str, int] | None = None
    ) -> tuple[Condition, ...]:
        """The overlay's conditions (`when`) of the model as laid out for this length and these counts:
        one per group instance and condition point, in offset order."""
        wanted = self.length if length is None else length
        return _conditions(self, wanted, tuple(sorted((counts or {}).items())))


def _count_names(group: GroupDef) -> Iterator[str]:
    for sub in group.groups:
        if isinstance(sub.count, str):
            yield sub.count
        yield from _count_names(sub)


# --- reading definitions ----------------------------------------------------------------------------


def _point_def(raw: Mapping[str, Any]) -> PointDef:
    kind = str(raw[mdef.TYPE])
    size: int = raw[mdef.SIZE] if kind == mdef.TYPE_STRING else mdef.point_type_info[kind]["len"]
    symbols = tuple((str(s[mdef.NAME]), int(s[mdef.VALUE])) for s in raw.get(mdef.SYMBOLS) or [])
    sf = raw.get(mdef.SF)
    units = raw.get(mdef.UNITS)
    return PointDef(
        name=str(raw[mdef.NAME]),
        type=kind,
        size=int(size),
        sf=sf if isinstance(sf, int | str) and not isinstance(sf, bool) else None,
        units=str(units).strip() or None if units is not None else None,
        label=raw.get(mdef.LABEL),
        symbols=symbols,
        mandatory=raw.get(mdef.MANDATORY) == mdef.MANDATORY_TRUE,
        access="RW" if raw.get(mdef.ACCESS) == mdef.ACCESS_RW else "R",
    )


def _group_def(raw: Mapping[str, Any], top: bool = False) -> GroupDef:
    points = list(raw.get(mdef.POINTS) or [])
    if top:
        points = [p for p in points if p.get(mdef.NAME) not in HEADER_POINTS]
    count = raw.get(mdef.COUNT)
    if isinstance(count, str) and count.isdigit():
        count = int(count)
    return GroupDef(
        name=str(raw[mdef.NAME]),
        label=raw.get(mdef.LABEL),
        count=count if isinstance(count, int | str) else None,
        points=tuple(_point_def(p) for p in points),
        groups=tuple(_group_def(g) for g in raw.get(mdef.GROUPS) or []),
    )


def _definition_file(model: int, extra_dirs: Sequence[Path]) -> Path | None:
    """pysunspec2's definition of the model, else the first profile folder's (vendor models)."""
    name = str(mdef.to_json_filename(model))
    for directory in [LIBRARY_DIR, *(Path(d) / SUNSPEC_DIRNAME for d in extra_dirs)]:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _read_definition(path: Path, model: int) -> dict[str, Any]:
    try:
        doc = mdef.from_json_file(str(path))
    except (OSError, ValueError) as err:
        raise ProfileError(f"{path}: not a SunSpec JSON model definition: {err}") from err
    if not isinstance(doc, dict):
        raise ProfileError(f"{path}: a SunSpec model definition is a JSON object with id and group")
    try:
        problems = mdef.validate_model_def(doc)
    except (KeyError, TypeError, AttributeError) as err:
        problems = f"incomplete definition ({err!r})"
    if not problems and doc.get(mdef.ID) != model:
        problems = f"id {doc.get(mdef.ID)!r} does not match the file name"
    if not problems:
        problems = "".join(
            f"string point {name} has no size\n" for name in _strings_without_size(doc[mdef.GROUP])
        )
    if problems:
        lines = [line for line in str(problems).splitlines() if line.strip()]
        raise ProfileError("\n".join(f"{path}: {line}" for line in lines))
    return doc


def _strings_without_size(group: Mapping[str, Any]) -> Iterator[str]:
    for point in group.get(mdef.POINTS) or []:
        if point.get(mdef.TYPE) == mdef.TYPE_STRING and not isinstance(point.get(mdef.SIZE), int):
            yield str(point.get(mdef.NAME))
    for sub in group.get(mdef.GROUPS) or []:
        yield from _strings_without_size(sub)


@cache
def _load_cached(path: Path, mtime_ns: int, model: int) -> SunSpecModelDef:
    del mtime_ns  # part of the cache key only: an edited file is read again
    doc = _read_definition(path, model)
    group = doc[mdef.GROUP]
    overlay = overlay_entries().get(model, {}) if path.parent == LIBRARY_DIR else {}  # ours: theirs only
    return SunSpecModelDef(
        model=model,
        name=str(group[mdef.NAME]),
        label=str(group.get(mdef.LABEL) or group[mdef.NAME]),
        group=_group_def(group, top=True),
        source=str(path),
        overlay=overlay,
    )


def load_sunspec_model(model: int, extra_dirs: Sequence[Path] = ()) -> SunSpecModelDef | None:
    """The definition of SunSpec model `model`: pysunspec2's, else a profile folder's
    `sunspec/model_<N>.json` (a model pysunspec2 lacks: it cannot replace the SunSpec Alliance's), or None
    when nobody defines it. Raises ProfileError for a definition file that is not a valid definition."""
    path = _definition_file(model, extra_dirs)
    if path is None:
        return None
    return _load_cached(path, path.stat().st_mtime_ns, model)


def list_sunspec_models(extra_dirs: Sequence[Path] = ()) -> list[int]:
    """Model ids that have a definition (pysunspec2's and the profile folders')."""
    found: set[int] = set()
    for directory in [*(Path(d) / SUNSPEC_DIRNAME for d in extra_dirs), LIBRARY_DIR]:
        for path in directory.glob("model_*.json"):
            try:
                found.add(mdef.model_filename_to_id(path.name))
            except mdef.ModelDefinitionError:
                continue
    return sorted(found)


# --- the overlay ------------------------------------------------------------------------------------


@cache
def _overlay_cached(path: Path, mtime_ns: int) -> dict[int, dict[str, Any]]:
    del mtime_ns
    doc = read_yaml_document(path, "the SunSpec overlay is a YAML mapping (shared, models)")
    models = doc.get("models")
    errors: list[str] = []
    unknown = sorted(str(k) for k in doc if k not in ("shared", "models"))
    errors.extend(f"{key}: unknown field (expected shared, models)" for key in unknown)
    if not isinstance(models, dict):
        errors.append("models: expected a map of SunSpec model id -> points")
        models = {}
    result: dict[int, dict[str, Any]] = {}
    for model, points in models.items():
        if isinstance(model, bool) or not isinstance(model, int) or not isinstance(points, dict):
            errors.append(f"models.{model}: expected a model id with a map of SunSpec point -> meaning")
            continue
        entries: dict[str, Any] = {}
        for name, entry in points.items():
            where = f"models.{model}.{name}"
            if isinstance(entry, str):
                entries[str(name)] = entry
            elif isinstance(entry, dict):
                facts = [field for field in _DEFINITION_FIELDS if field in entry]
                errors.extend(
                    f"{where}.{field}: comes from the SunSpec definition, not the overlay" for field in facts
                )
                if "key" not in entry:
                    errors.append(f"{where}.key: missing (required)")
                errors.extend(f"{where}.{WHEN}: {problem}" for problem in _when_problems(entry.get(WHEN)))
                entries[str(name)] = entry
            else:
                errors.append(f"{where}: expected a key or a map of key, name, unit, ...")
        result[model] = entries
    if errors:
        raise ProfileError("\n".join(f"{path.name}: {line}" for line in errors))
    return result


def _when_problems(when: Any) -> list[str]:
    if when is None:
        return []
    if (
        not isinstance(when, dict)
        or len(when) != 1
        or not all(isinstance(v, list) and v and all(isinstance(s, str) for s in v) for v in when.values())
    ):
        return ["expected {point of the same group: [SunSpec symbols]} (one point)"]
    return []


def overlay_entries() -> dict[int, dict[str, Any]]:
    """The overlay: SunSpec model id -> point path ("W", "module.DCA") -> key text or meaning mapping."""
    return _overlay_cached(OVERLAY_FILE, OVERLAY_FILE.stat().st_mtime_ns)


# --- laying a model out -----------------------------------------------------------------------------


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
            instances = _fixed_instances(sub, counts)
        for number in range(1, instances + 1):
            if offset >= length:
                break
            step = (sub.name, None if sub.count is None else number)
            offset = _lay(sub, offset, (*trail, step), length=length, counts=counts, slots=slots)
    return offset


def _path(slot: _Slot) -> str:
    return ".".join([*(name for name, _ in slot.trail), slot.point.name])


def _module_number(slot: _Slot) -> int | None:
    numbers = [number for _, number in slot.trail if number is not None]
    return numbers[-1] if numbers else None


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


def _slots(definition: SunSpecModelDef, length: int, counts: tuple[tuple[str, int], ...]) -> list[_Slot]:
    """The point instances of the model we decode, in offset order."""
    slots: list[_Slot] = []
    _lay(definition.group, 0, (), length=length, counts=dict(counts), slots=slots)
    return [
        slot for slot in slots if slot.point.type not in SKIPPED_TYPES and slot.point.size <= MODBUS_MAX_READ
    ]


@lru_cache(maxsize=512)
def _laid_out(
    definition: SunSpecModelDef,
    length: int,
    counts: tuple[tuple[str, int], ...],
    plain: frozenset[str] = frozenset(),
) -> tuple[Point, ...]:
    slots = _slots(definition, length, counts)
    overlay = definition.overlay
    _conditions(definition, length, counts)  # a `when` that does not fit the definition is an error
    raws = [
        _raw_point(definition.model, slot, None if _location(slot) in plain else overlay.get(_path(slot)))
        for slot in slots
    ]
    for raw, sf_key in zip(raws, _sf_keys(slots, [str(raw["key"]) for raw in raws]), strict=True):
        if sf_key is not None:
            raw["sf"] = sf_key
    locations = [f"model {definition.model} {_location(slot)}" for slot in slots]
    problems = [
        f"model {definition.model} {name}: the overlay names a point the definition does not have"
        for name in overlay
        if not _defines(definition.group, name.split("."))
    ]
    if problems:
        raise ProfileError("\n".join(f"{OVERLAY_FILE.name}: {line}" for line in problems))
    return build_sunspec_points(raws, Path(definition.source).name, locations)


@lru_cache(maxsize=512)
def _conditions(
    definition: SunSpecModelDef, length: int, counts: tuple[tuple[str, int], ...]
) -> tuple[Condition, ...]:
    """Raises ProfileError for a `when` naming a point that is not an enum of the same group, or a symbol
    that point does not have."""
    slots = _slots(definition, length, counts)
    siblings = {(slot.trail, slot.point.name): slot for slot in slots}
    found: dict[tuple[int, frozenset[int]], list[str]] = {}
    problems: list[str] = []
    for slot in slots:
        entry = definition.overlay.get(_path(slot))
        when = entry.get(WHEN) if isinstance(entry, dict) else None
        if when is None:
            continue
        if malformed := _when_problems(when):
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
        unique = dict.fromkeys(f"{OVERLAY_FILE.name}: model {definition.model} {p}" for p in problems)
        raise ProfileError("\n".join(unique))
    return tuple(
        Condition(offset=offset, allowed=allowed, governs=tuple(governs))
        for (offset, allowed), governs in sorted(found.items(), key=lambda item: item[0][0])
    )


def _location(slot: _Slot) -> str:
    parts = [f"{name}[{number}]" if number is not None else name for name, number in slot.trail]
    return ".".join([*parts, slot.point.name])


def _defines(group: GroupDef, path: Sequence[str]) -> bool:
    if len(path) == 1:
        return any(point.name == path[0] for point in group.points)
    sub = next((g for g in group.groups if g.name == path[0]), None)
    return sub is not None and _defines(sub, path[1:])
