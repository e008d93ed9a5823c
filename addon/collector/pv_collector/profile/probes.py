"""A profile's identify probes (`identify`): each read by `profile.schema`, then held to the rules across its
fields (one test of match, values or range, fitting the probe's type; registers that exist). The profile's
`defaults` apply to probes as they do to points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pv_collector.model import DataType, IdentifyProbe
from pv_collector.profile.points import (
    INTEGER_RANGES,
    NUMERIC_TYPES,
    at,
    given,
    past_the_end,
    register_type,
    register_words,
)
from pv_collector.profile.schema import PROBE
from pv_collector.validate import Problem, Problems

_PROBE_FIELDS: Final = (
    "function", "count", "word_order", "byte_order", "chars_per_register", "match", "values", "range",
)  # fmt: skip


def _probe_problems(data: Mapping[str, Any], dtype: DataType) -> list[Problem]:
    """Rules across the fields of one identify probe."""
    problems: list[Problem] = []
    tests = [name for name in ("match", "values", "range") if name in data]
    if len(tests) != 1:
        found = ", ".join(tests) or "none"
        problems.append(at("match", f"a probe takes exactly one of match, values, range (found: {found})"))
    if "match" in data and dtype is not DataType.STRING:
        problems.append(
            at("match", f"only string probes take match (type is {dtype.value}; use values or range)")
        )
    if "values" in data:
        limits = INTEGER_RANGES.get(dtype)
        if limits is None:
            problems.append(at("values", f"only integer probes take values (type is {dtype.value})"))
        elif outside := [v for v in data["values"] if not limits[0] <= v <= limits[1]]:
            problems.append(at("values", f"{outside[0]} does not fit a {dtype.value} register"))
    if "range" in data and dtype not in NUMERIC_TYPES:
        problems.append(at("range", f"only number probes take range (type is {dtype.value})"))
    if dtype is not DataType.STRING:
        problems.extend(
            at(name, f"only string probes take {name} (type is {dtype.value})")
            for name in ("count", "chars_per_register")
            if name in data
        )
    return [*problems, *past_the_end("address", int(data["address"]), register_words(data, dtype))]


def build_probes(
    raw_probes: Sequence[Any], defaults: Mapping[str, Any], problems: Problems
) -> tuple[IdentifyProbe, ...]:
    """The `identify` list; the profile's `defaults` apply as they do to points."""
    probes: list[IdentifyProbe] = []
    for index, data in problems.read_each(PROBE, raw_probes, "identify"):
        merged = {**defaults, **data}
        dtype, _function = register_type(merged)
        found = _probe_problems(merged, dtype)
        problems.extend(found, "identify", index)
        if not found:
            probes.append(
                IdentifyProbe(address=merged["address"], type=dtype, **given(merged, _PROBE_FIELDS))
            )
    return tuple(probes)
