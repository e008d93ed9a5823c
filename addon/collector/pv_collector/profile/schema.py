"""The readers of a device profile's fields (docs/profiles.md), built on `pv_collector.validate`.

Each reader checks one field on its own; rules across the fields of a point, a probe or the whole profile
are in `profile.points` and `profile.load`. Readers pass only the fields given: the model's dataclasses
(`pv_collector.model`) own the defaults.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pv_collector import validate
from pv_collector.model import PARITIES, Computation, Connection, DataType, Function, RegisterBase
from pv_collector.validate import Fields, Invalid, Reader

PROFILE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
OPTION_RE = re.compile(r"^[a-z0-9_]{1,64}$")
DEVICE_CLASS_RE = re.compile(r"^[a-z_]{1,40}$")
_TERM_RE = re.compile(r"^([+-]?)([a-z][a-z0-9_]{0,47})$")
DEVICE_KINDS = ("inverter", "meter", "battery", "environment", "other")
STATE_CLASSES = ("measurement", "total", "total_increasing")
INFO_FIELDS = ("manufacturer", "model", "serial", "firmware")
ORDERS = ("big", "little")
MAX_REGISTER_BASE = 999_999  # six-digit Modicon numbers (400001) are the largest bases in use
BAUDRATES = (1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200)
WRITE_FUNCTIONS = (6, 16)
FIELD = "field"  # what a profile calls its keys in messages


def _contract_roles() -> tuple[str, ...]:
    """Point roles, read from the MQTT contract's announcement schema (the one owner of that list)."""
    schema_file = Path(__file__).parents[1] / "contract" / "announcement.schema.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    return tuple(schema["$defs"]["point"]["properties"]["role"]["enum"])


ROLES = _contract_roles()

point_key = validate.matching(
    KEY_RE, "a point key: a-z, 0-9 and '_', starting with a letter, at most 48 characters"
)
profile_id = validate.matching(PROFILE_ID_RE, "a profile id: a-z, 0-9, '_' and '-', at most 64 characters")
register = validate.integer(0, 0xFFFF)
block = validate.integer(1, 125)  # registers in one read
label = validate.text(max_length=100)
seconds = validate.number(0, 60, unit="seconds")


def maps(value: Any) -> dict[str, Any]:
    """A map of fields, read field by field later (points and probes, so that one bad entry does not hide the
    problems of the others)."""
    if not isinstance(value, dict):
        raise validate.refuse(value, "a map of fields")
    return value


def _raw_value(value: Any) -> int:
    """A raw register value: what an enum point's options are keyed by."""
    if not validate.is_integer(value) or not -(2**63) <= value < 2**64:
        raise validate.refuse(value, "an integer: a raw register value of at most 64 bits")
    return int(value)


def _names_by_number(number: Reader[int], name: Reader[str], what: str) -> Reader[dict[int, str]]:
    """`{number: name}` (options, bits): at least one, no name used twice."""
    read = validate.mapping_of(number, name, what=f"{what}s by number")

    def names(value: Any) -> dict[int, str]:
        result = read(value)
        if not result:
            raise validate.refuse(value, f"a map of {what}s by number, at least one")
        used = list(result.values())
        twice = sorted({item for item in used if used.count(item) > 1})
        if twice:
            raise Invalid(f"names used twice: {', '.join(twice)}")
        return result

    return names


def _writable(value: Any) -> Any:
    """`true`, or the limits of a number: `{min, max, step}`."""
    if value is True or value == {}:
        return True
    if isinstance(value, dict):
        return _WRITABLE_LIMITS(value)
    raise validate.refuse(value, "true or {min, max, step}")


_WRITABLE_LIMITS = Fields(
    {"min": validate.number(), "max": validate.number(), "step": validate.number(above=0)}, noun=FIELD
)


def _computation(value: Any) -> Computation:
    """`{sum: [a, -b]}`: the sum of other points' values, each term a point key with an optional sign."""
    if not isinstance(value, dict) or set(value) != {"sum"}:
        raise validate.refuse(value, "{sum: [point, -point, ...]}")
    terms = value["sum"]
    if not isinstance(terms, list) or not terms:
        raise validate.refuse(terms, "a non-empty list of point keys, a leading - subtracts").below("sum")
    problems = validate.Problems()
    parsed: list[tuple[str, int]] = []
    for index, term in enumerate(terms):
        match = _TERM_RE.match(term) if isinstance(term, str) else None
        if match is None:
            expected = "a point key, optionally with a leading - or +"
            problems.extend(validate.refuse(term, expected).problems, "sum", index)
        elif any(match.group(2) == seen for seen, _sign in parsed):
            problems.add(["sum", index], f"point '{match.group(2)}' appears twice")
        else:
            parsed.append((match.group(2), -1 if match.group(1) == "-" else 1))
    problems.check()
    return Computation(tuple(parsed))


def _base_number(value: Any) -> int:
    if not validate.is_integer(value) or not 0 <= value <= MAX_REGISTER_BASE:
        raise validate.refuse(
            value,
            f"the number the document gives wire address 0, 0..{MAX_REGISTER_BASE} (e.g. 1, 30001, 40001), "
            "or {holding: N, input: N}",
        )
    return int(value)


_TABLE_BASES = Fields({"holding": _base_number, "input": _base_number}, noun="register table")


def _register_base(value: Any) -> RegisterBase:
    """An integer (both tables) or `{holding: N, input: N}`."""
    if isinstance(value, dict):
        return RegisterBase(**_TABLE_BASES(value))
    base = _base_number(value)
    return RegisterBase(holding=base, input=base)


def _register_range(value: Any) -> tuple[int, int]:
    """`[first, last]`: wire addresses, both included."""
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(validate.is_integer(item) and 0 <= item <= 0xFFFF for item in value)
    ):
        raise validate.refuse(value, "[first, last] register addresses, each 0..65535")
    first, last = value
    if first > last:
        raise Invalid(f"the first register ({first}) comes after the last ({last})")
    return first, last


def _single_ranges(value: Any) -> tuple[tuple[int, int], ...]:
    return tuple(
        sorted(
            validate.list_of(_register_range, items="[first, last] register ranges", at_least_one="range")(
                value
            )
        )
    )


def _regex(value: Any) -> str:
    pattern = validate.text()(value)
    try:
        re.compile(pattern)
    except re.error as err:
        raise Invalid(f"{validate.show(pattern)} is not a valid regular expression ({err})") from None
    return pattern


# --------------------------------------------------------------------------------------------------
# Points, probes and the profile's sections

ORDER_FIELDS: dict[str, Reader[Any]] = {
    "function": validate.member(Function),
    "type": validate.member(DataType),
    "word_order": validate.choice(*ORDERS),
    "byte_order": validate.choice(*ORDERS),
}

POINT = Fields(
    {
        "key": point_key,
        "name": label,
        "address": register,  # required unless computed
        **ORDER_FIELDS,
        "count": block,
        "chars_per_register": validate.choice(1, 2),
        "compute": _computation,
        "write_address": register,
        "scale": validate.number(nonzero=True),
        "offset": validate.number(),
        "sf": point_key,
        "unit": validate.text(max_length=20),
        "device_class": validate.matching(
            DEVICE_CLASS_RE, "a device class: a-z and '_', at most 40 characters"
        ),
        "state_class": validate.choice(*STATE_CLASSES),
        "precision": validate.integer(0, 10),
        "category": validate.choice("diagnostic", "config"),
        "role": validate.choice(*ROLES),
        "options": _names_by_number(
            _raw_value, validate.matching(OPTION_RE, "an option name: a-z, 0-9 and '_'"), "option name"
        ),
        "bits": _names_by_number(
            validate.integer(0, 63), validate.matching(OPTION_RE, "a bit name: a-z, 0-9 and '_'"), "bit name"
        ),
        "kind": validate.choice("bool", "action"),
        "writable": _writable,
        "on_value": validate.integer(),
        "off_value": validate.integer(),
        "press_value": validate.integer(),
        "range": validate.pair(validate.number()),
        "max_rate": validate.number(above=0),
        "resets": validate.choice("daily"),
        "invalid": validate.list_of(validate.integer(), items="integers"),
        "hidden": validate.boolean,
        "advanced": validate.boolean,
        "info": validate.choice(*INFO_FIELDS),
        "revert_point": point_key,
        "enable_point": point_key,
    },
    required=("key", "name"),
    noun=FIELD,
)

PROBE = Fields(
    {
        "address": register,
        **ORDER_FIELDS,
        "count": block,
        "chars_per_register": validate.choice(1, 2),
        "match": _regex,
        "values": validate.list_of(validate.integer(), items="integers", at_least_one="value"),
        "range": validate.pair(validate.number()),
    },
    required=("address",),
    noun=FIELD,
)

PROFILE = Fields(
    {
        "id": profile_id,
        "name": label,
        "manufacturer": label,
        "model": label,
        "kind": validate.choice(*DEVICE_KINDS),
        "sleeps_at_night": validate.boolean,
        "max_power": validate.number(above=0),
        "rated_power_point": point_key,
        "register_base": _register_base,
        "connection": validate.record(
            Connection,
            {
                "tcp_port": validate.integer(1, 0xFFFF),
                "unit_id": validate.integer(0, 255),
                "baudrate": validate.choice(*BAUDRATES),
                "parity": validate.choice(*PARITIES),
                "stopbits": validate.choice(1, 2),
                "delay_after_connect": seconds,
                "request_interval": seconds,
                "write_function": validate.choice(*WRITE_FUNCTIONS),
            },
            noun=FIELD,
        ),
        "identify": validate.list_of(maps, items="probes", at_least_one="probe"),
        "limits": Fields(
            {"max_block": block, "max_gap": validate.integer(0, 125), "single_registers": _single_ranges},
            noun=FIELD,
        ),
        "defaults": Fields(ORDER_FIELDS, noun=FIELD),
        "sunspec": Fields(
            {
                "base": register,
                "models": validate.list_of(
                    validate.integer(1, 0xFFFE), items="model ids", at_least_one="model"
                ),
            },
            noun=FIELD,
        ),
        "points": validate.list_of(maps, items="points"),
    },
    required=("id", "name"),
    noun=FIELD,
)
