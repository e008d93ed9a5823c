"""Device profiles: YAML data files (docs/profiles.md) loaded and validated into `model.Profile`.

Every problem found in a file is reported in one `ProfileError` whose lines name the file, the point
(index and key) and the field, e.g. `sdm630.yaml: points[3] (voltage_l1).writable: only holding points can
be writable`. The points of SunSpec models (laid out by `sunspec_models` from the SunSpec Alliance's
definitions and the overlay) are checked by the same rules (`build_sunspec_points`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, cast

import voluptuous as vol

from .errors import ProfileError
from .model import (
    Computation,
    Connection,
    DataType,
    DeviceKind,
    Function,
    IdentifyProbe,
    Point,
    Profile,
    RegisterBase,
    Writable,
)
from .plausibility import ENERGY_UNITS_PER_WH, counters_without_rate_bound
from .yaml_file import YamlFileError, read_yaml

SHIPPED_DIR = Path(__file__).parent / "profiles"
PROFILE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
OPTION_RE = re.compile(r"^[a-z0-9_]{1,64}$")
DEVICE_CLASS_RE = re.compile(r"^[a-z_]{1,40}$")
DEVICE_KINDS = ("inverter", "meter", "battery", "environment", "other")
STATE_CLASSES = ("measurement", "total", "total_increasing")
INFO_FIELDS = ("manufacturer", "model", "serial", "firmware")
RATED_POWER_UNITS = {"W": 1.0, "kW": 1000.0}  # units a rated_power_point may have, in W
ORDERS = ("big", "little")

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


def _contract_roles() -> tuple[str, ...]:
    """Point roles, read from the MQTT contract's announcement schema (the one owner of that list)."""
    schema_file = Path(__file__).parent / "contract" / "announcement.schema.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    return tuple(schema["$defs"]["point"]["properties"]["role"]["enum"])


ROLES = _contract_roles()


# --- voluptuous building blocks -------------------------------------------------------------------


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise vol.Invalid(f"expected an integer, got {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise vol.Invalid(f"expected a finite number, got {value!r}")
    return float(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid(f"expected true or false, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid(f"expected a non-empty string, got {value!r}")
    return value


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        if isinstance(value, bool):
            raise vol.Invalid(
                f"{value!r} is not a valid {what}: YAML reads unquoted on/off/yes/no as true/false, "
                "quote the name"
            )
        if not isinstance(value, str) or not pattern.match(value):
            raise vol.Invalid(f"{value!r} is not a valid {what} ({pattern.pattern})")
        return value

    return validate


def _one_of(choices: Sequence[str]) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        if value not in choices:
            raise vol.Invalid(f"{value!r} is not one of {', '.join(choices)}")
        return cast("str", value)

    return validate


def _in_range(low: float, high: float) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        if not low <= value <= high:
            raise vol.Invalid(f"{value} is outside {low:g}..{high:g}")
        return value

    return validate


def _nonzero(value: float) -> float:
    if value == 0:
        raise vol.Invalid("must not be 0")
    return value


def _int_keyed(
    value_check: Callable[[Any], Any], key_range: tuple[int, int]
) -> Callable[[Any], dict[int, Any]]:
    def validate(value: Any) -> dict[int, Any]:
        if not isinstance(value, dict) or not value:
            raise vol.Invalid("expected a non-empty map")
        result: dict[int, Any] = {}
        for key, item in value.items():
            if isinstance(key, bool) or not isinstance(key, int):
                raise vol.Invalid(f"key {key!r} is not an integer", path=[key])
            if not key_range[0] <= key <= key_range[1]:
                raise vol.Invalid(f"key {key} is outside {key_range[0]}..{key_range[1]}", path=[key])
            try:
                result[key] = value_check(item)
            except vol.Invalid as err:
                raise vol.Invalid(err.msg, path=[key]) from err
        names = list(result.values())
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise vol.Invalid(f"names used twice: {', '.join(duplicates)}")
        return result

    return validate


def _pair(value: Any) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise vol.Invalid(f"expected [min, max], got {value!r}")
    low, high = _number(value[0]), _number(value[1])
    if low > high:
        raise vol.Invalid(f"min {low:g} is greater than max {high:g}")
    return low, high


def _writable(value: Any) -> Any:
    if value is True or value == {}:
        return True
    if isinstance(value, dict):
        return vol.Schema(
            {
                vol.Optional("min"): _number,
                vol.Optional("max"): _number,
                vol.Optional("step"): vol.All(_number, _in_range(1e-12, float("inf"))),
            }
        )(value)
    raise vol.Invalid(f"expected true or {{min, max, step}}, got {value!r}")


# --- device access, identification and computed points (issue 19) -------------------------------
# The profile keys `register_base`, `connection`, `identify` and `limits.single_registers`, and the point
# fields `compute`, `write_address` and `chars_per_register` (docs/profiles.md). Kept together so that a
# later split of this module moves them as one piece.

MAX_REGISTER_BASE = 999_999  # six-digit Modicon numbers (400001) are the largest bases in use
BAUDRATES = (1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200)
PARITIES = ("N", "E", "O")
WRITE_FUNCTIONS = (6, 16)
# Fields a computed point may have: it has no registers, so nothing about where or how they are encoded.
COMPUTED_FIELDS = frozenset(
    {"key", "name", "compute", "scale", "offset", "unit", "device_class", "state_class", "precision",
     "category", "role", "range", "max_rate", "hidden", "resets"}
)  # fmt: skip
_TERM_RE = re.compile(r"^([+-]?)([a-z][a-z0-9_]{0,47})$")
_INTEGER_RANGES: dict[DataType, tuple[int, int]] = {
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
_NUMERIC_TYPES = frozenset({*_INTEGER_RANGES, DataType.F32, DataType.F64})


def _computation(value: Any) -> Computation:
    """`{sum: [a, -b]}`: the sum of other points' values, each term a point key with an optional sign."""
    if not isinstance(value, dict) or set(value) != {"sum"}:
        raise vol.Invalid(f"expected {{sum: [point, -point, ...]}}, got {value!r}")
    terms = value["sum"]
    if not isinstance(terms, list) or not terms:
        raise vol.Invalid("sum: expected a non-empty list of point keys (a leading - subtracts)")
    parsed: list[tuple[str, int]] = []
    for term in terms:
        match = _TERM_RE.match(term) if isinstance(term, str) else None
        if match is None:
            raise vol.Invalid(f"sum: {term!r} is not a point key (optionally with a leading - or +)")
        key = match.group(2)
        if any(key == seen for seen, _sign in parsed):
            raise vol.Invalid(f"sum: point '{key}' appears twice")
        parsed.append((key, -1 if match.group(1) == "-" else 1))
    return Computation(tuple(parsed))


def _register_base(value: Any) -> RegisterBase:
    """An integer (both tables) or `{holding: N, input: N}`."""
    if isinstance(value, dict):
        unknown = sorted(str(key) for key in value if key not in ("holding", "input"))
        if unknown:
            raise vol.Invalid(f"{unknown[0]!r} is not a register table (holding, input)")
        bases = {key: _base_number(item) for key, item in value.items()}
        return RegisterBase(holding=bases.get("holding", 0), input=bases.get("input", 0))
    base = _base_number(value)
    return RegisterBase(holding=base, input=base)


def _base_number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REGISTER_BASE:
        raise vol.Invalid(
            f"expected the number the document gives wire address 0 (0..{MAX_REGISTER_BASE}, e.g. 1, "
            f"30001, 40001) or {{holding: N, input: N}}, got {value!r}"
        )
    return value


def _single_ranges(value: Any) -> tuple[tuple[int, int], ...]:
    """`[[first, last], ...]`: wire address ranges, both ends included."""
    if not isinstance(value, list) or not value:
        raise vol.Invalid("expected a list of [first, last] register ranges")
    ranges: list[tuple[int, int]] = []
    for item in value:
        if (
            not isinstance(item, list | tuple)
            or len(item) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 0xFFFF for v in item)
        ):
            raise vol.Invalid(f"{item!r} is not a [first, last] pair of register addresses (0..65535)")
        first, last = item
        if first > last:
            raise vol.Invalid(f"[{first}, {last}]: the first register comes after the last")
        ranges.append((first, last))
    return tuple(sorted(ranges))


def _seconds(value: Any) -> float:
    number = _number(value)
    if not 0 <= number <= 60:
        raise vol.Invalid(f"{number:g} s is outside 0..60 s")
    return number


_CONNECTION_SCHEMA = vol.Schema(
    {
        vol.Optional("tcp_port"): vol.All(_integer, _in_range(1, 0xFFFF)),
        vol.Optional("unit_id"): vol.All(_integer, _in_range(0, 255)),
        vol.Optional("baudrate"): vol.All(_integer, vol.In(BAUDRATES, msg=f"expected one of {BAUDRATES}")),
        vol.Optional("parity"): _one_of(PARITIES),
        vol.Optional("stopbits"): vol.All(_integer, vol.In((1, 2), msg="expected 1 or 2")),
        vol.Optional("delay_after_connect"): _seconds,
        vol.Optional("request_interval"): _seconds,
        vol.Optional("write_function"): vol.All(
            _integer, vol.In(WRITE_FUNCTIONS, msg="expected 6 (FC6 for one register) or 16 (always FC16)")
        ),
    }
)


def _regex(value: Any) -> str:
    text = _text(value)
    try:
        re.compile(text)
    except re.error as err:
        raise vol.Invalid(f"{text!r} is not a valid regular expression ({err})") from None
    return text


def _build_connection(data: Mapping[str, Any]) -> Connection:
    return Connection(
        tcp_port=data.get("tcp_port"),
        unit_id=data.get("unit_id"),
        baudrate=data.get("baudrate"),
        parity=data.get("parity"),
        stopbits=data.get("stopbits"),
        delay_after_connect=data.get("delay_after_connect", 0.0),
        request_interval=data.get("request_interval", 0.0),
        write_function=data.get("write_function", 6),
    )


def _probe_problems(data: Mapping[str, Any], dtype: DataType) -> list[str]:
    """Rules across the fields of one identify probe, each problem as "field: message"."""
    problems: list[str] = []
    tests = [name for name in ("match", "values", "range") if name in data]
    if len(tests) != 1:
        found = ", ".join(tests) or "none"
        problems.append(f"match: a probe takes exactly one of match, values, range (found: {found})")
    if "match" in data and dtype is not DataType.STRING:
        problems.append(f"match: only string probes take match (type is {dtype.value}; use values or range)")
    if "values" in data:
        limits = _INTEGER_RANGES.get(dtype)
        if limits is None:
            problems.append(f"values: only integer probes take values (type is {dtype.value})")
        else:
            outside = [v for v in data["values"] if not limits[0] <= v <= limits[1]]
            if outside:
                problems.append(f"values: {outside[0]} does not fit a {dtype.value} register")
    if "range" in data and dtype not in _NUMERIC_TYPES:
        problems.append(f"range: only number probes take range (type is {dtype.value})")
    if dtype is not DataType.STRING:
        problems.extend(
            f"{field_name}: only string probes take {field_name} (type is {dtype.value})"
            for field_name in ("count", "chars_per_register")
            if field_name in data
        )
    words = int(data.get("count", 1)) if dtype is DataType.STRING else dtype.words
    if int(data["address"]) + words > 0x10000:
        problems.append(f"address: {words} registers from {data['address']} run past 65535")
    return problems


def _build_probes(
    raw_probes: Sequence[Any], defaults: Mapping[str, Any], doc: Mapping[str, Any]
) -> tuple[tuple[IdentifyProbe, ...], list[str]]:
    """Validate the `identify` list; the profile's `defaults` apply as they do to points."""
    probes: list[IdentifyProbe] = []
    errors: list[str] = []
    for index, raw in enumerate(raw_probes):
        try:
            data = _IDENTIFY_PROBE_SCHEMA(raw)
        except vol.Invalid as err:
            errors.extend(_errors(err, doc, ["identify", index]))
            continue
        merged = {**defaults, **data}
        dtype = DataType(merged.get("type", DataType.U16.value))
        problems = _probe_problems(merged, dtype)
        if problems:
            errors.extend(f"identify[{index}].{problem}" for problem in problems)
            continue
        probes.append(
            IdentifyProbe(
                function=Function(merged.get("function", Function.HOLDING.value)),
                address=merged["address"],
                type=dtype,
                count=merged.get("count", 1),
                word_order=merged.get("word_order", "big"),
                byte_order=merged.get("byte_order", "big"),
                chars_per_register=merged.get("chars_per_register", 2),
                match=merged.get("match"),
                values=tuple(merged.get("values", ())),
                range=merged.get("range"),
            )
        )
    return tuple(probes), errors


def _computed_problems(data: Mapping[str, Any]) -> list[str]:
    """Fields a computed point (one with `compute`) must not have."""
    return [
        f"{field_name}: not allowed on a computed point (it has no registers; its value is its compute)"
        for field_name in data
        if field_name not in COMPUTED_FIELDS
    ]


def _compute_reference_problems(point: Point, by_key: Mapping[str, Point], failed: set[str]) -> list[str]:
    """A computed point's terms must name number points of the same profile that are not computed."""
    problems: list[str] = []
    assert point.compute is not None
    for key in point.compute.inputs:
        target = by_key.get(key)
        if target is None:
            if key not in failed:
                problems.append(f"compute: no point has the key '{key}'")
        elif key == point.key:
            problems.append("compute: a point cannot be computed from itself")
        elif target.compute is not None:
            problems.append(f"compute: '{key}' is itself computed (compute from register points only)")
        elif target.kind != "number":
            problems.append(f"compute: '{key}' is a {target.kind} point, not a number")
    return problems


_TYPE_NAMES = [t.value for t in DataType]
_ORDER_FIELDS: dict[Any, Any] = {
    vol.Optional("function"): _one_of([f.value for f in Function]),
    vol.Optional("type"): _one_of(_TYPE_NAMES),
    vol.Optional("word_order"): _one_of(ORDERS),
    vol.Optional("byte_order"): _one_of(ORDERS),
}
_POINT_SCHEMA = vol.Schema(
    {
        vol.Required("key"): _matching(KEY_RE, "point key"),
        vol.Required("name"): vol.All(_text, vol.Length(max=100)),
        vol.Optional("address"): vol.All(_integer, _in_range(0, 0xFFFF)),  # required unless computed
        **_ORDER_FIELDS,
        vol.Optional("count"): vol.All(_integer, _in_range(1, 125)),
        vol.Optional("chars_per_register"): vol.All(_integer, vol.In((1, 2), msg="expected 1 or 2")),
        vol.Optional("compute"): _computation,
        vol.Optional("write_address"): vol.All(_integer, _in_range(0, 0xFFFF)),
        vol.Optional("scale"): vol.All(_number, _nonzero),
        vol.Optional("offset"): _number,
        vol.Optional("sf"): _matching(KEY_RE, "point key"),
        vol.Optional("unit"): vol.All(_text, vol.Length(max=20)),
        vol.Optional("device_class"): _matching(DEVICE_CLASS_RE, "device class"),
        vol.Optional("state_class"): _one_of(STATE_CLASSES),
        vol.Optional("precision"): vol.All(_integer, _in_range(0, 10)),
        vol.Optional("category"): _one_of(("diagnostic", "config")),
        vol.Optional("role"): _one_of(ROLES),
        vol.Optional("options"): _int_keyed(_matching(OPTION_RE, "option name"), (-(2**63), 2**64 - 1)),
        vol.Optional("bits"): _int_keyed(_matching(OPTION_RE, "bit name"), (0, 63)),
        vol.Optional("kind"): _one_of(("bool", "action")),
        vol.Optional("writable"): _writable,
        vol.Optional("on_value"): _integer,
        vol.Optional("off_value"): _integer,
        vol.Optional("press_value"): _integer,
        vol.Optional("range"): _pair,
        vol.Optional("max_rate"): vol.All(_number, _in_range(1e-12, float("inf"))),
        vol.Optional("resets"): _one_of(("daily",)),
        vol.Optional("invalid"): [_integer],
        vol.Optional("hidden"): _boolean,
        vol.Optional("advanced"): _boolean,
        vol.Optional("info"): _one_of(INFO_FIELDS),
        vol.Optional("revert_point"): _matching(KEY_RE, "point key"),
        vol.Optional("enable_point"): _matching(KEY_RE, "point key"),
    }
)
_LIMITS_SCHEMA = vol.Schema(
    {
        vol.Optional("max_block"): vol.All(_integer, _in_range(1, 125)),
        vol.Optional("max_gap"): vol.All(_integer, _in_range(0, 125)),
        vol.Optional("single_registers"): _single_ranges,
    }
)
_IDENTIFY_PROBE_SCHEMA = vol.Schema(
    {
        vol.Required("address"): vol.All(_integer, _in_range(0, 0xFFFF)),
        **_ORDER_FIELDS,
        vol.Optional("count"): vol.All(_integer, _in_range(1, 125)),
        vol.Optional("chars_per_register"): vol.All(_integer, vol.In((1, 2), msg="expected 1 or 2")),
        vol.Optional("match"): _regex,
        vol.Optional("values"): vol.All([_integer], vol.Length(min=1, msg="expected at least one value")),
        vol.Optional("range"): _pair,
    }
)
_PROFILE_SCHEMA = vol.Schema(
    {
        vol.Required("id"): _matching(PROFILE_ID_RE, "profile id"),
        vol.Required("name"): vol.All(_text, vol.Length(max=100)),
        vol.Optional("manufacturer"): vol.All(_text, vol.Length(max=100)),
        vol.Optional("model"): vol.All(_text, vol.Length(max=100)),
        vol.Optional("kind"): _one_of(DEVICE_KINDS),
        vol.Optional("sleeps_at_night"): _boolean,
        vol.Optional("max_power"): vol.All(_number, _in_range(1e-9, float("inf"))),
        vol.Optional("rated_power_point"): _matching(KEY_RE, "point key"),
        vol.Optional("register_base"): _register_base,
        vol.Optional("connection"): vol.Any(None, _CONNECTION_SCHEMA),
        vol.Optional("identify"): vol.All(list, vol.Length(min=1, msg="expected at least one probe")),
        vol.Optional("limits"): _LIMITS_SCHEMA,
        vol.Optional("defaults"): vol.Schema(_ORDER_FIELDS),
        vol.Optional("sunspec"): vol.Schema(
            {
                vol.Optional("base"): vol.All(_integer, _in_range(0, 0xFFFF)),
                vol.Optional("models"): vol.All([vol.All(_integer, _in_range(1, 0xFFFE))], vol.Length(min=1)),
            }
        ),
        vol.Optional("points"): vol.Any(None, [dict]),
    }
)

# --- error formatting -----------------------------------------------------------------------------


def _where(path: Sequence[Any], doc: Mapping[str, Any]) -> str:
    """`points[3] (voltage_l1).writable.min` for a voluptuous path into the document."""
    parts: list[str] = []
    node: Any = doc
    for step in path:
        if isinstance(step, int) and isinstance(node, list):
            label = f"[{step}]"
            item = node[step] if step < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                label += f" ({item['key']})"
            parts.append(label)
            node = item
        else:
            parts.append(f".{step}")
            node = node.get(step) if isinstance(node, dict) else None
    return "".join(parts).lstrip(".")


def _message(err: vol.Invalid) -> str:
    msg = str(err.msg)
    if msg == "extra keys not allowed":
        return "unknown field"
    if msg == "required key not provided":
        return "missing (required)"
    return msg


def _errors(err: vol.Invalid, doc: Mapping[str, Any], prefix: Sequence[Any] = ()) -> list[str]:
    errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
    return [f"{_where([*prefix, *e.path], doc)}: {_message(e)}" for e in errors]


# --- points ---------------------------------------------------------------------------------------


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
    (
        ("options",),
        lambda kind, _t, _d: kind == "enum",
        lambda kind, _t: f"options: not allowed on {kind} points",
    ),
    (
        ("bits",),
        lambda _k, dtype, _d: dtype in _BITFIELD_BITS,
        lambda _k, dtype: f"bits: only bitfield16/bitfield32 points have bits, not {dtype.value}",
    ),
    (
        ("count",),
        lambda _k, dtype, _d: dtype is DataType.STRING,
        lambda _k, dtype: f"count: only string points take count (type is {dtype.value})",
    ),
    (
        ("sf",),
        lambda _k, dtype, _d: dtype in _INTEGER_TYPES,
        lambda _k, dtype: f"sf: scale factors apply to integer points, not {dtype.value}",
    ),
    (
        ("on_value", "off_value"),
        lambda kind, _t, _d: kind == "bool",
        lambda _k, _t: "on_value: only bool points take on_value/off_value",
    ),
    (
        ("press_value",),
        lambda kind, _t, _d: kind == "action",
        lambda _k, _t: "press_value: only action points take press_value",
    ),
    (
        ("max_rate",),
        lambda kind, _t, _d: kind == "number",
        lambda _k, _t: "max_rate: only number points take max_rate",
    ),
    (
        ("range",),
        lambda kind, _t, _d: kind == "number",
        lambda _k, _t: "range: only number points take range",
    ),
    (
        ("resets",),
        lambda _k, _t, data: data.get("state_class") == "total_increasing",
        lambda _k, _t: "resets: only total_increasing points take resets",
    ),
    (
        ("revert_point", "enable_point"),
        lambda _k, _t, data: data.get("writable") is not None,
        lambda _k, _t: "revert_point: only writable points take revert_point/enable_point",
    ),
    (
        ("chars_per_register",),
        lambda _k, dtype, _d: dtype is DataType.STRING,
        lambda _k, dtype: (
            f"chars_per_register: only string points take chars_per_register (type is {dtype.value})"
        ),
    ),
)


def _kind_problems(data: Mapping[str, Any], dtype: DataType, kind: str, function: Function) -> list[str]:
    """Whether the point's kind, type and table fit it and its `writable`."""
    problems: list[str] = []
    writable = data.get("writable")
    if writable is not None and function is not Function.HOLDING:
        problems.append(f"writable: only holding points can be writable (this one is {function.value})")
    if kind == "number" and isinstance(writable, dict):
        if "min" not in writable or "max" not in writable:
            problems.append("writable: writable numbers need min and max")
        elif writable["min"] > writable["max"]:
            problems.append(f"writable: min {writable['min']:g} is greater than max {writable['max']:g}")
    if kind == "number" and writable is True:
        problems.append("writable: writable numbers need {min, max, step}, not true")
    if kind in ("enum", "bool", "action") and isinstance(writable, dict):
        problems.append(f"writable: {kind} points take writable: true")
    if kind == "action" and function is not Function.HOLDING:
        problems.append("kind: action points must be holding registers")
    if kind in ("enum", "bool", "action") and dtype not in _INTEGER_TYPES:
        problems.append(f"type: {kind} points need an integer type, not {dtype.value}")
    if dtype in _BITFIELD_BITS:
        if "bits" not in data:
            problems.append(f"bits: {dtype.value} points need bits (bit number: condition name)")
        elif too_high := [b for b in data["bits"] if b >= _BITFIELD_BITS[dtype]]:
            problems.append(f"bits: bit {too_high[0]} does not exist in {dtype.value}")
    return problems


def _address_problems(data: Mapping[str, Any], dtype: DataType) -> list[str]:
    """Whether the point's registers (and those it is written at) exist."""
    if "address" not in data:
        return ["address: missing (required)"]
    problems: list[str] = []
    address = int(data["address"])
    words = int(data.get("count", 1)) if dtype is DataType.STRING else dtype.words
    if address + words > 0x10000:
        problems.append(f"address: {words} registers from {address} run past 65535")
    if "write_address" in data:
        if data.get("writable") is None:
            problems.append("write_address: only writable points take write_address")
        elif int(data["write_address"]) + words > 0x10000:
            problems.append(f"write_address: {words} registers from {data['write_address']} run past 65535")
    return problems


def _point_problems(data: Mapping[str, Any], dtype: DataType, kind: str, function: Function) -> list[str]:
    """Rules across fields of one point, each problem as "field: message"."""
    scoped = [
        problem(kind, dtype)
        for fields, allowed, problem in _SCOPED_FIELDS
        if any(field in data for field in fields) and not allowed(kind, dtype, data)
    ]
    return [*_kind_problems(data, dtype, kind, function), *scoped, *_address_problems(data, dtype)]


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


def _given(data: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The entries of `data` among `names`."""
    return {name: data[name] for name in names if name in data}


def _build_point(
    data: Mapping[str, Any], defaults: Mapping[str, Any], sunspec: bool
) -> tuple[Point | None, list[str]]:
    if "compute" in data:
        return _build_computed_point(data, sunspec)
    merged = {**defaults, **data}
    dtype = DataType(merged.get("type", DataType.U16.value))
    function = Function(merged.get("function", Function.HOLDING.value))
    kind = _derive_kind(merged, dtype)
    problems = _point_problems(merged, dtype, kind, function)
    if sunspec and "write_address" in merged:
        problems.append("write_address: not in SunSpec model definitions")
    if problems:
        return None, problems
    writable_data = merged.get("writable")
    writable: Writable | None = None
    if isinstance(writable_data, dict):
        writable = Writable(
            min=writable_data.get("min"), max=writable_data.get("max"), step=writable_data.get("step")
        )
    elif writable_data is True or kind == "action":
        writable = Writable()
    if "invalid" in merged:
        invalid = tuple(merged["invalid"])
    elif sunspec or dtype in SUNSPEC_ONLY_TYPES:
        invalid = SUNSPEC_SENTINELS.get(dtype, ())
    else:
        invalid = ()
    hidden_default = dtype is DataType.SUNSSF or "info" in merged
    point = Point(
        key=merged["key"],
        name=merged["name"],
        address=merged["address"],
        function=function,
        type=dtype,
        kind=cast("Any", kind),
        writable=writable,
        invalid=invalid,
        hidden=merged.get("hidden", hidden_default),
        **_given(merged, _REGISTER_POINT_FIELDS),
    )
    return point, []


def _build_computed_point(data: Mapping[str, Any], sunspec: bool) -> tuple[Point | None, list[str]]:
    """A point with `compute`: no registers, no defaults (they describe registers)."""
    problems = _computed_problems(data)
    if "resets" in data and data.get("state_class") != "total_increasing":
        problems.append("resets: only total_increasing points take resets")
    if sunspec:
        problems.append("compute: not in SunSpec model definitions")
    if problems:
        return None, problems
    point = Point(
        key=data["key"],
        name=data["name"],
        address=0,
        compute=data["compute"],
        **_given(data, _COMPUTED_POINT_FIELDS),
    )
    return point, []


def _reference_problems(point: Point, by_key: Mapping[str, Point], failed: set[str]) -> list[str]:
    """What is wrong with the points `point` names (revert_point, enable_point, compute, sf), each as
    "field: message"; a named point in `failed` (it did not build: its own error is reported) is none."""
    problems: list[str] = []
    for field_name, wanted in (("revert_point", "number"), ("enable_point", "bool")):
        ref = getattr(point, field_name)
        target = by_key.get(ref) if ref is not None else None
        if ref is None or (target is None and ref in failed):
            continue
        if target is None:
            problems.append(f"{field_name}: no point has the key '{ref}'")
        elif target.kind != wanted or target.writable is None:
            problems.append(f"{field_name}: point '{ref}' is not a writable {wanted} point")
    if point.compute is not None:
        problems.extend(_compute_reference_problems(point, by_key, failed))
    if point.sf is not None:
        target = by_key.get(point.sf)
        if target is None and point.sf not in failed:
            problems.append(f"sf: no point has the key '{point.sf}'")
        elif target is not None and target.type is not DataType.SUNSSF:
            problems.append(f"sf: point '{point.sf}' is not a sunssf point")
    return problems


def _build_points(
    raw_points: Sequence[Any],
    defaults: Mapping[str, Any],
    doc: Mapping[str, Any],
    sunspec: bool,
    known: Mapping[str, Point] | None = None,
) -> tuple[list[Point], list[str]]:
    """Validate point entries; `known` are points defined elsewhere in the file (references may name them)."""
    points: list[Point] = []
    errors: list[str] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_points):
        try:
            data = _POINT_SCHEMA(raw)
        except vol.Invalid as err:
            errors.extend(_errors(err, doc, ["points", index]))
            continue
        where = _where(["points", index], doc)
        key = data["key"]
        if key in first_index:
            errors.append(f"{where}.key: duplicate key (first used by points[{first_index[key]}])")
            continue
        first_index[key] = index
        point, problems = _build_point(data, defaults, sunspec)
        errors.extend(f"{where}.{problem}" for problem in problems)
        if point is not None:
            points.append(point)
    by_key = {**(known or {}), **{p.key: p for p in points}}
    failed = set(first_index) - {p.key for p in points}
    for point in points:
        where = _where(["points", first_index[point.key]], doc)
        if point.key in (known or {}):
            errors.append(f"{where}.key: duplicate key (also a point outside this list)")
        errors.extend(f"{where}.{problem}" for problem in _reference_problems(point, by_key, failed))
    return points, errors


# --- files ----------------------------------------------------------------------------------------


def _read_yaml(
    path: Path, what: str = "a profile is a YAML mapping (id, name, points, ...)"
) -> dict[str, Any]:
    try:
        doc = read_yaml(path, "the profile")
    except YamlFileError as err:
        raise ProfileError(str(err)) from err
    if not isinstance(doc, dict):
        raise ProfileError(f"{path}: {what}, not {type(doc).__name__}")
    return doc


def _fail(path: Path, errors: list[str]) -> ProfileError:
    return ProfileError("\n".join(f"{path.name}: {line}" for line in errors))


def parse_profile(doc: Mapping[str, Any], path: Path) -> Profile:
    """Validate a profile document (already parsed YAML) read from `path`."""
    try:
        top = _PROFILE_SCHEMA(dict(doc))
    except vol.Invalid as err:
        raise _fail(path, _errors(err, doc)) from err
    errors: list[str] = []
    if top["id"] != path.stem:
        errors.append(f"id: '{top['id']}' must equal the file name '{path.stem}'")
    raw_points = top.get("points") or []
    if not raw_points and "sunspec" not in top:
        errors.append("points: a profile needs points (or a sunspec section)")
    points, point_errors = _build_points(raw_points, top.get("defaults", {}), doc, sunspec=False)
    errors.extend(point_errors)
    limits = top.get("limits", {})
    max_block = limits.get("max_block", 125)
    for index, point in enumerate(points):
        if point.words > max_block:
            errors.append(
                f"{_where(['points', index], doc)}.count: {point.words} registers exceed "
                f"limits.max_block {max_block}"
            )
    rated = top.get("rated_power_point")
    if rated is not None and "sunspec" not in top:
        target = next((point for point in points if point.key == rated), None)
        if target is None or target.unit not in RATED_POWER_UNITS:
            errors.append(f"rated_power_point: '{rated}' is not a point of this profile with unit W or kW")
    probes, probe_errors = _build_probes(top.get("identify") or [], top.get("defaults", {}), doc)
    errors.extend(probe_errors)
    if errors:
        raise _fail(path, errors)
    sunspec = top.get("sunspec")
    return Profile(
        id=top["id"],
        name=top["name"],
        manufacturer=top.get("manufacturer"),
        model=top.get("model"),
        kind=cast("DeviceKind", top.get("kind", "other")),
        points=tuple(points),
        max_block=max_block,
        max_gap=limits.get("max_gap", 10),
        sunspec_base=sunspec.get("base", 40000) if sunspec else None,
        sunspec_models=tuple(sunspec.get("models", ())) if sunspec else (),
        sleeps_at_night=top.get("sleeps_at_night", False),
        max_power=top.get("max_power"),
        rated_power_point=rated,
        source=str(path),
        register_base=top.get("register_base", RegisterBase()),
        connection=_build_connection(top.get("connection") or {}),
        identify=probes,
        single_registers=limits.get("single_registers", ()),
    )


def counter_rate_problems(profile: Profile, extra_dirs: Sequence[Path] = ()) -> list[str]:
    """One line per `total_increasing` point of `profile` without a physical rate bound (none: []).

    Every counter needs one (docs/profiles.md, "Counters"): its `max_rate`, or, for an energy counter in
    Wh, kWh or MWh, the profile's `max_power`. For a SunSpec profile the points of every model it lists are
    checked, else of every model the overlay gives meaning to (only the overlay gives a state class).
    `load_profile` refuses a profile with problems; see also `plausibility.counter_rate_bound`.
    """
    from .sunspec_models import load_sunspec_model, overlay_entries  # noqa: PLC0415 - it imports us

    sources: list[tuple[str, tuple[Point, ...]]] = [("points", profile.points)]
    if profile.sunspec_base is not None:
        for model in profile.sunspec_models or tuple(sorted(overlay_entries())):
            definition = load_sunspec_model(model, extra_dirs)
            if definition is not None:  # every kind of point the model can give a device
                sources.append((f"sunspec model {model}", definition.example_points()))
    return [
        f"{where} ({key}): a total_increasing counter needs max_rate, or the profile's max_power "
        f"(energy counters in {', '.join(ENERGY_UNITS_PER_WH)} only)"
        for where, points in sources
        for key in counters_without_rate_bound(points, profile.max_power)
    ]


def load_profile_file(path: Path, extra_dirs: Sequence[Path] = ()) -> Profile:
    """Load and validate one profile file; raises `ProfileError` naming every problem."""
    profile = parse_profile(_read_yaml(path), path)
    if problems := counter_rate_problems(profile, extra_dirs):
        raise _fail(path, problems)
    return profile


def _search_dirs(extra_dirs: Sequence[Path]) -> list[Path]:
    return [*(Path(d) for d in extra_dirs), SHIPPED_DIR]


def load_profile(ref: str, extra_dirs: Sequence[Path] = ()) -> Profile:
    """Load a profile by id (user folders first, then the shipped profiles) or by path to a YAML file."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref:
        path = Path(ref).expanduser()
        if not path.is_file():
            raise ProfileError(f"profile file {ref} does not exist")
        return load_profile_file(path, extra_dirs)
    if not PROFILE_ID_RE.match(ref):
        raise ProfileError(
            f"'{ref}' is neither a profile id ({PROFILE_ID_RE.pattern}) nor a path to a .yaml file"
        )
    for directory in _search_dirs(extra_dirs):
        candidate = directory / f"{ref}.yaml"
        if candidate.is_file():
            return load_profile_file(candidate, extra_dirs)
    known = ", ".join(list_profiles(extra_dirs))
    raise ProfileError(f"unknown profile '{ref}' (known profiles: {known})")


def list_profiles(extra_dirs: Sequence[Path] = ()) -> list[str]:
    """Ids of every profile available: shipped ones and those in the user's folders."""
    ids: set[str] = set()
    for directory in _search_dirs(extra_dirs):
        if directory.is_dir():
            ids.update(p.stem for p in directory.glob("*.yaml") if PROFILE_ID_RE.match(p.stem))
    return sorted(ids)


# --- SunSpec model points ------------------------------------------------------------------------


def build_sunspec_points(
    raw_points: Sequence[Mapping[str, Any]], source: str, locations: Sequence[str]
) -> tuple[Point, ...]:
    """Validate the points of one SunSpec model as `sunspec_models` lays them out (the definition's facts
    with the overlay's meaning, `address` = offset after ID and L) by the rules of every profile point.

    `locations` names each raw point for messages ("model 103 W"). Raises ProfileError, one line per
    problem, e.g. `model_103.json: model 103 W (ac_power).unit: ...`.
    """
    doc = {"points": list(raw_points)}
    points, errors = _build_points(raw_points, {}, doc, sunspec=True)
    if errors:
        lines = []
        for line in errors:
            match = re.match(r"points\[(\d+)\]", line)
            lines.append(f"{locations[int(match[1])]}{line[match.end() :]}" if match else line)
        raise ProfileError("\n".join(f"{source}: {line}" for line in lines))
    return tuple(points)


def read_yaml_document(path: Path, what: str) -> dict[str, Any]:
    """A YAML mapping read from `path`; ProfileError naming the file (and line) otherwise, `what` saying
    what the mapping should hold."""
    return _read_yaml(path, what)
