"""Which profile fits the device answering at one unit id: SunSpec first (the marker "SunS" at 40000, 50000
or 0, then its model chain, through `sunspec.scan`), then every profile's `identify` probes
(docs/profiles.md), ranked by how many matched; and the presence read that tells whether a unit is there.

Reads only, each asked once however many probes need it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from pv_collector import sunspec
from pv_collector.decode import decode_reads, raw_value
from pv_collector.errors import (
    ModbusConnectionError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusTimeout,
    ProfileError,
)
from pv_collector.identify.findings import SUNSPEC_PROFILE, Candidate, Outcome, ProbeResult, UnitFinding
from pv_collector.model import Function, IdentifyProbe, Point, Profile, RegisterReader
from pv_collector.planner import plan_reads
from pv_collector.profile import list_profiles, load_profile
from pv_collector.transport import Bus

_LOGGER = logging.getLogger(__name__)

PRESENCE = (Function.HOLDING, 0, 1)  # the read that tells whether a unit is there


def probe_outcome(probe: IdentifyProbe, registers: Sequence[int]) -> tuple[Outcome, str]:
    """Whether registers read for `probe` match it, and the raw value as text."""
    raw = raw_value(probe.as_point(), registers)
    if probe.match is not None:
        text = str(raw)
        return ("match" if re.search(probe.match, text) else "mismatch"), text
    if isinstance(raw, str):
        return "mismatch", raw
    if probe.values:
        return ("match" if raw in probe.values else "mismatch"), _number_text(raw)
    low, high = probe.range or (0.0, 0.0)
    return ("match" if low <= raw <= high else "mismatch"), _number_text(raw)


def _number_text(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class _Reads:
    """The reads of one unit, each asked once however many probes need it."""

    def __init__(self, reader: RegisterReader) -> None:
        self.reader = reader
        self.answers: dict[tuple[Function, int, int], list[int] | ModbusError] = {}
        self.answered = False  # some read returned registers or a Modbus exception

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        key = (function, address, count)
        if key not in self.answers:
            try:
                self.answers[key] = await self.reader.read(function, address, count)
                self.answered = True
            except ModbusExceptionResponse as err:
                self.answers[key] = err
                self.answered = True
            except ModbusTimeout as err:
                self.answers[key] = err
            except ModbusConnectionError:
                raise
            except ModbusError as err:  # an answer that was no valid reply: treated as none
                self.answers[key] = err
        answer = self.answers[key]
        if isinstance(answer, ModbusError):
            raise answer
        return answer


async def _try_probe(reads: _Reads, probe: IdentifyProbe) -> ProbeResult:
    try:
        registers = await reads.read(probe.function, probe.address, probe.words)
    except ModbusExceptionResponse as err:
        return ProbeResult(probe, "refused", f"exception {err.code}")
    except ModbusConnectionError:
        raise
    except ModbusError:
        return ProbeResult(probe, "silent")
    outcome, value = probe_outcome(probe, registers)
    return ProbeResult(probe, outcome, value)


def _rank(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Complete matches first, then by probes matched, fewest mismatches, profile id."""

    def key(candidate: Candidate) -> tuple[bool, int, int, str]:
        mismatches = sum(1 for result in candidate.results if result.outcome == "mismatch")
        return (not candidate.complete, -candidate.matched, mismatches, candidate.profile.id)

    return sorted((c for c in candidates if c.matched), key=key)


async def _info(reads: _Reads, points: Sequence[Point]) -> dict[str, str]:
    """Manufacturer, model, serial, firmware from the device's info points (unreadable ones left out)."""
    info_points = [point for point in points if point.info is not None and not point.computed]
    found: dict[str, str] = {}
    for block in plan_reads(info_points, max_gap=0):
        try:
            registers = await reads.read(block.function, block.address, block.count)
        except ModbusConnectionError:
            raise
        except ModbusError:
            continue
        values = decode_reads([(block, registers)])
        for point in block.points:
            value = values.get(point.key)
            if point.info is not None and isinstance(value, str) and value:
                found.setdefault(point.info, value[:64])
    return found


def shipped_and_own_profiles(extra_dirs: Sequence[Path] = ()) -> list[Profile]:
    """Every profile that can be loaded (a broken profile of the user's is logged and left out)."""
    profiles: list[Profile] = []
    for profile_id in list_profiles(extra_dirs):
        try:
            profiles.append(load_profile(profile_id, extra_dirs))
        except ProfileError as err:
            _LOGGER.warning("profile left out of identify", extra={"profile": profile_id, "error": str(err)})
    return profiles


async def _sunspec(
    reads: _Reads, profile: Profile, extra_dirs: Sequence[Path]
) -> sunspec.SunSpecDevice | None:
    """The SunSpec map, if "SunS" is at one of the usual bases (each asked; silence is no answer)."""
    for base in sunspec.BASE_ADDRESSES:
        try:
            marker = await reads.read(Function.HOLDING, base, len(sunspec.SUNS_MARKER))
        except ModbusConnectionError:
            raise
        except ModbusError:
            continue
        if tuple(marker) != sunspec.SUNS_MARKER:
            continue
        try:
            return await sunspec.scan(reads, replace(profile, sunspec_base=base), extra_dirs)
        except ModbusConnectionError:
            raise
        except (ModbusError, ProfileError):
            return None
    return None


async def identify_unit(
    reader: RegisterReader,
    unit_id: int,
    profiles: Sequence[Profile],
    *,
    extra_dirs: Sequence[Path] = (),
) -> UnitFinding:
    """Identify the device answering as `unit_id` behind `reader` (reads only).

    SunSpec first (marker at 40000, 50000, 0; its model chain and common model), then every profile's
    `identify` probes. Raises `ModbusTimeout` when the unit answered no read at all, and what the reader
    raises for a lost connection (`ModbusConnectionError`).
    """
    reads = _Reads(reader)
    finding = UnitFinding(unit_id=unit_id)
    sunspec_profile = next((p for p in profiles if p.id == SUNSPEC_PROFILE), None)
    if sunspec_profile is not None:
        finding.sunspec = await _sunspec(reads, sunspec_profile, extra_dirs)
    candidates = []
    for profile in profiles:
        if profile.identify:
            results = [await _try_probe(reads, probe) for probe in profile.identify]
            candidates.append(Candidate(profile, tuple(results)))
    if not reads.answered:
        raise ModbusTimeout(f"unit {unit_id} answered no read")
    finding.candidates = _rank(candidates)
    if finding.sunspec is not None:
        finding.info = await _info(reads, finding.sunspec.points)
    elif finding.profile is not None:
        finding.info = await _info(reads, finding.profile.points)
    finding.signature = (
        finding.profile_id,
        tuple(sorted(finding.info.items())),
        tuple(model.id for model in finding.sunspec.models) if finding.sunspec else (),
        tuple(sorted((k, repr(v)) for k, v in reads.answers.items() if not isinstance(v, ModbusTimeout))),
    )
    return finding


async def unit_is_there(bus: Bus, unit_id: int) -> bool:
    """Whether `unit_id` answers the presence read (registers or an exception; a gateway's "no answer from
    the target" counts as absent). Raises `ModbusConnectionError` when the bus cannot be reached."""
    function, address, count = PRESENCE
    try:
        await bus.read(unit_id, function, address, count, retries=0)
    except ModbusExceptionResponse:
        return True
    except ModbusConnectionError:
        raise
    except ModbusError:
        return False
    return True
