"""SunSpec model definitions as the SunSpec Alliance writes them, read into `GroupDef`s and `PointDef`s.

The facts of every model (point ids and order, types, sizes, scale-factor references, units, enum and
bitfield symbols, labels, mandatory/access, repeating groups) come from the SunSpec Alliance's JSON model
definitions as the `pysunspec2` package ships them (`sunspec2/models/json/model_<N>.json`), read with its
`sunspec2.mdef` loading functions. A profile folder may add definitions the package lacks (a vendor's
model) as `sunspec/model_<N>.json` in the same format, checked with `mdef.validate_model_def`.

Raises `ProfileError` (one line per problem, naming the file and the point) for a definition that cannot
be used.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sunspec2.device
from sunspec2 import mdef

from pv_collector.errors import ProfileError

SUNSPEC_DIRNAME = "sunspec"
LIBRARY_DIR = Path(sunspec2.device.models_dir) / "json"
HEADER_POINTS = (mdef.MODEL_ID_POINT_NAME, mdef.MODEL_LEN_POINT_NAME)


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
            total += group.size(counts) * fixed_instances(group, counts)
        return total


def fixed_instances(group: GroupDef, counts: Mapping[str, int]) -> int:
    """How many times `group` repeats with these count-point values (a legacy group, count 0: none)."""
    if group.count is None:
        return 1
    if isinstance(group.count, str):
        return max(0, counts.get(group.count, 0))
    return group.count


def count_names(group: GroupDef) -> Iterator[str]:
    """The names of the count points that the repeating groups below `group` are counted by."""
    for sub in group.groups:
        if isinstance(sub.count, str):
            yield sub.count
        yield from count_names(sub)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFile:
    """One model's definition file, read and checked."""

    name: str  # the SunSpec group name, e.g. "inverter_three_phase"
    label: str
    group: GroupDef  # the model's top-level group without its ID and L points


def read_model_file(path: Path, model: int) -> ModelFile:
    """The definition of `model` in `path`. Raises ProfileError for a file that is not a valid definition
    of that model."""
    group = _read_definition(path, model)[mdef.GROUP]
    return ModelFile(
        name=str(group[mdef.NAME]),
        label=str(group.get(mdef.LABEL) or group[mdef.NAME]),
        group=_group_def(group, top=True),
    )


def definition_file(model: int, extra_dirs: Sequence[Path]) -> Path | None:
    """pysunspec2's definition of the model, else the first profile folder's (vendor models)."""
    name = str(mdef.to_json_filename(model))
    for directory in [LIBRARY_DIR, *(Path(d) / SUNSPEC_DIRNAME for d in extra_dirs)]:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


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
