"""One SunSpec model ready to lay out: its definition (`definitions`) with its overlay (`overlay`), laid out
(`layout`) for the length and counts a device reports, each layout computed once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from pv_collector.model import Point

from .definitions import LIBRARY_DIR, GroupDef, count_names, definition_file, fixed_instances, read_model_file
from .layout import Condition, Counts, model_conditions, model_points
from .overlay import overlay_entries


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
        names = set(count_names(self.group))
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
            instances = modules if group.count == 0 else fixed_instances(group, counts)
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


def load_sunspec_model(model: int, extra_dirs: Sequence[Path] = ()) -> SunSpecModelDef | None:
    """The definition of SunSpec model `model`: pysunspec2's, else a profile folder's
    `sunspec/model_<N>.json` (a model pysunspec2 lacks: it cannot replace the SunSpec Alliance's), or None
    when nobody defines it. Raises ProfileError for a definition file that is not a valid definition."""
    path = definition_file(model, extra_dirs)
    if path is None:
        return None
    return _load_cached(path, path.stat().st_mtime_ns, model)


@cache
def _load_cached(path: Path, mtime_ns: int, model: int) -> SunSpecModelDef:
    del mtime_ns  # part of the cache key only: an edited file is read again
    read = read_model_file(path, model)
    overlay = overlay_entries().get(model, {}) if path.parent == LIBRARY_DIR else {}  # ours: theirs only
    return SunSpecModelDef(
        model=model, name=read.name, label=read.label, group=read.group, source=str(path), overlay=overlay
    )


@lru_cache(maxsize=512)
def _laid_out(
    definition: SunSpecModelDef, length: int, counts: Counts, plain: frozenset[str] = frozenset()
) -> tuple[Point, ...]:
    _conditions(definition, length, counts)  # a `when` that does not fit the definition is an error
    return model_points(
        definition.model,
        definition.group,
        definition.overlay,
        Path(definition.source).name,
        length=length,
        counts=counts,
        plain=plain,
    )


@lru_cache(maxsize=512)
def _conditions(definition: SunSpecModelDef, length: int, counts: Counts) -> tuple[Condition, ...]:
    return model_conditions(
        definition.model, definition.group, definition.overlay, length=length, counts=counts
    )
