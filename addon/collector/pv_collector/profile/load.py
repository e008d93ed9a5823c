"""Loading profiles: by id (the user's folders, then the shipped ones) or by path, each file read and held to
every rule into a `model.Profile`; and the points of SunSpec models, held to the same rules.

Every problem found in a file is reported in one `ProfileError`, one line each, naming the file, the point
(index and key) and the field: `sdm630.yaml: points[3] (voltage_l1).writable: only holding points can be
writable (this one is input)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pv_collector.errors import ProfileError
from pv_collector.model import IdentifyProbe, Point, Profile
from pv_collector.plausibility import ENERGY_UNITS_PER_WH, counters_without_rate_bound
from pv_collector.profile.points import build_points
from pv_collector.profile.probes import build_probes
from pv_collector.profile.schema import PROFILE, PROFILE_ID_RE
from pv_collector.validate import Invalid, Problem, Problems
from pv_collector.yaml_file import YamlFileError, read_yaml

SHIPPED_DIR = Path(__file__).parents[1] / "profiles"
RATED_POWER_UNITS = {"W": 1.0, "kW": 1000.0}  # units a rated_power_point may have, in W
SUNSPEC_BASE = 40000  # where SunSpec devices usually put "SunS" (a profile's `sunspec.base` says otherwise)
# Profile fields given as they are: `Profile` owns their defaults (a field not given is not passed).
_PROFILE_FIELDS = (
    "id", "name", "manufacturer", "model", "kind", "sleeps_at_night", "max_power", "rated_power_point",
    "register_base", "connection",
)  # fmt: skip
_LIMIT_FIELDS = ("max_block", "max_gap", "single_registers")


def _fail(path: Path, lines: Sequence[str]) -> ProfileError:
    return ProfileError("\n".join(f"{path.name}: {line}" for line in lines))


def _profile(
    top: Mapping[str, Any], points: Sequence[Point], probes: tuple[IdentifyProbe, ...], path: Path
) -> Profile:
    """The `Profile` of the fields read: only those given, and the sections' fields in their places."""
    given = {name: top[name] for name in _PROFILE_FIELDS if name in top}
    limits = top.get("limits", {})
    given.update({name: limits[name] for name in _LIMIT_FIELDS if name in limits})
    if "sunspec" in top:
        given["sunspec_base"] = top["sunspec"].get("base", SUNSPEC_BASE)
        given["sunspec_models"] = tuple(top["sunspec"].get("models", ()))
    return Profile(**given, points=tuple(points), identify=probes, source=str(path))


def _profile_problems(top: Mapping[str, Any], profile: Profile, path: Path) -> list[Problem]:
    """Rules across the profile's fields."""
    problems: list[Problem] = []
    if profile.id != path.stem:
        problems.append(Problem(("id",), f"'{profile.id}' must equal the file name '{path.stem}'"))
    if not top.get("points") and profile.sunspec_base is None:
        problems.append(Problem(("points",), "a profile needs points (or a sunspec section)"))
    raw_points = top.get("points") or []
    for point in profile.points:
        if point.words > profile.max_block:
            index = next(i for i, raw in enumerate(raw_points) if raw.get("key") == point.key)
            message = f"{point.words} registers exceed limits.max_block {profile.max_block}"
            problems.append(Problem(("points", index, "count"), message))
    rated = profile.rated_power_point
    if rated is not None and profile.sunspec_base is None:
        target = next((point for point in profile.points if point.key == rated), None)
        if target is None or target.unit not in RATED_POWER_UNITS:
            message = f"'{rated}' is not a point of this profile with unit W or kW"
            problems.append(Problem(("rated_power_point",), message))
    return problems


def parse_profile(doc: Mapping[str, Any], path: Path) -> Profile:
    """Validate a profile document (already parsed YAML) read from `path`."""
    try:
        top = PROFILE(dict(doc))
    except Invalid as err:
        raise _fail(path, err.lines(doc)) from err
    problems = Problems()
    defaults = top.get("defaults", {})
    points = build_points(top.get("points") or [], defaults, problems, sunspec=False)
    probes = build_probes(top.get("identify") or [], defaults, problems)
    profile = _profile(top, points, probes, path)
    problems.extend(_profile_problems(top, profile, path))
    if problems:
        raise _fail(path, Invalid(problems.found).lines(doc))
    return profile


def counter_rate_problems(profile: Profile, extra_dirs: Sequence[Path] = ()) -> list[str]:
    """One line per `total_increasing` point of `profile` without a physical rate bound (none: []).

    Every counter needs one (docs/profiles.md, "Counters"): its `max_rate`, or, for an energy counter in
    Wh, kWh or MWh, the profile's `max_power`. For a SunSpec profile the points of every model it lists are
    checked, else of every model the overlay gives meaning to (only the overlay gives a state class).
    `load_profile` refuses a profile with problems; see also `plausibility.counter_rate_bound`.
    """
    from pv_collector.sunspec_models import load_sunspec_model, overlay_entries  # noqa: PLC0415 - it imports us

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


def read_yaml_document(
    path: Path, what: str = "a profile is a YAML mapping (id, name, points, ...)"
) -> dict[str, Any]:
    """A YAML mapping read from `path`; ProfileError naming the file (and line) otherwise, `what` saying
    what the mapping should hold."""
    try:
        doc = read_yaml(path, "the profile")
    except YamlFileError as err:
        raise ProfileError(str(err)) from err
    if not isinstance(doc, dict):
        raise ProfileError(f"{path}: {what}, not {type(doc).__name__}")
    return doc


def load_profile_file(path: Path, extra_dirs: Sequence[Path] = ()) -> Profile:
    """Load and validate one profile file; raises `ProfileError` naming every problem."""
    profile = parse_profile(read_yaml_document(path), path)
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


def build_sunspec_points(
    raw_points: Sequence[Mapping[str, Any]], source: str, locations: Sequence[str]
) -> tuple[Point, ...]:
    """Validate the points of one SunSpec model as `sunspec_models` lays them out (the definition's facts
    with the overlay's meaning, `address` = offset after ID and L) by the rules of every profile point.

    `locations` names each raw point for messages ("model 103 W"). Raises ProfileError, one line per
    problem, e.g. `model_103.json: model 103 W (ac_power).unit: ...`.
    """
    doc = {"points": list(raw_points)}
    problems = Problems()
    points = build_points(raw_points, {}, problems, sunspec=True)
    if problems:
        lines = []
        for line in Invalid(problems.found).lines(doc):
            match = re.match(r"points\[(\d+)\]", line)
            lines.append(f"{locations[int(match[1])]}{line[match.end() :]}" if match else line)
        raise ProfileError("\n".join(f"{source}: {line}" for line in lines))
    return tuple(points)
