"""Which device a register image is of, where it comes from (a real device, a vendor document, the project's
simulator, with a citation) and what another tool showed for the same moment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from pv_collector.model import Value


class SourceKind(StrEnum):
    """Where the registers of an image come from."""

    DEVICE = "device"  # read from a real device (a published dump, or `pv-collector record`)
    DOCUMENT = "document"  # built from a vendor document's or specification's worked example
    SIMULATOR = "simulator"  # recorded from PV Monitor's own simulator (only for the simulated devices)


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Which device the image is of. `profile` is the profile id the image is decoded with."""

    profile: str
    vendor: str | None = None
    model: str | None = None
    firmware: str | None = None
    unit_id: int | None = None  # the unit id the device answered on when the image was taken


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Provenance: what kind of source, the citation (URL, document and section), when, and notes."""

    kind: SourceKind
    citation: str
    captured: str | None = None  # ISO 8601 date or date-time of the reading, when known
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """Values shown for the same moment by the device's display or another named tool, by point key."""

    by: str
    values: Mapping[str, Value]
