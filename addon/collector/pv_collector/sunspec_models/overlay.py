"""PV Monitor's meaning laid over the SunSpec definitions: one data file, `profiles/sunspec/overlay.yaml`.

For the points it names (SunSpec model and point path, e.g. "W" or "module.DCA"), the published key of the
key vocabulary (docs/profiles.md), name, unit, device and state class, precision, range, role, category and
writability. A meaning may hold only where another point of the same group instance reads given SunSpec
symbols (`when`, e.g. 714's ports: only a port whose `PrtTyp` is PV is a PV string). The SunSpec facts
(address, type, size, scale factor) come from the definition and may not be written here.

Raises `ProfileError` (one line per problem, naming the file and the point) for an overlay that cannot be
used.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pv_collector.errors import ProfileError
from pv_collector.profile import SHIPPED_DIR, read_yaml_document

from .definitions import SUNSPEC_DIRNAME

OVERLAY_FILE = SHIPPED_DIR / SUNSPEC_DIRNAME / "overlay.yaml"
WHEN = "when"  # overlay field: {point of the same group instance: [SunSpec symbols]} for which it holds
# Fields of an overlay entry that are SunSpec facts: they come from the definition, never the overlay.
_DEFINITION_FIELDS = ("address", "type", "count", "sf", "function", "word_order", "byte_order")


def overlay_entries() -> dict[int, dict[str, Any]]:
    """The overlay: SunSpec model id -> point path ("W", "module.DCA") -> key text or meaning mapping."""
    return _overlay_cached(OVERLAY_FILE, OVERLAY_FILE.stat().st_mtime_ns)


def when_problems(when: Any) -> list[str]:
    """What is wrong with an overlay entry's `when` (nothing for an entry without one)."""
    if when is None:
        return []
    if (
        not isinstance(when, dict)
        or len(when) != 1
        or not all(isinstance(v, list) and v and all(isinstance(s, str) for s in v) for v in when.values())
    ):
        return ["expected {point of the same group: [SunSpec symbols]} (one point)"]
    return []


@cache
def _overlay_cached(path: Path, mtime_ns: int) -> dict[int, dict[str, Any]]:
    del mtime_ns  # part of the cache key only: an edited file is read again
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
                errors.extend(f"{where}.{WHEN}: {problem}" for problem in when_problems(entry.get(WHEN)))
                entries[str(name)] = entry
            else:
                errors.append(f"{where}: expected a key or a map of key, name, unit, ...")
        result[model] = entries
    if errors:
        raise ProfileError("\n".join(f"{path.name}: {line}" for line in errors))
    return result
