"""Reading a device through its profile: record it into a register image, or decode an image.

`record_image` reads every register the device's profile covers (a SunSpec device: its whole model chain
from the "SunS" marker to the end marker; other profiles: every block of the read plan) and, on request,
whole extra ranges. A read the device refuses is split until the refused points (or, in extra ranges, the
refused registers) are found; they are recorded with the exception code, or as unanswered. A device that
answers nothing is told at once (`DeviceSilent`): its first unanswered block is split only after a single
point of it was answered.

`decode_image` decodes an image the way the collector decodes a device: the same SunSpec scan, the same read
plan and the same decoder, with the image as the device (`ImageReader`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import sunspec
from .decode import computed_values, decode, decode_snapshot, holds_not_available
from .errors import DeviceSilent, ModbusExceptionResponse, ModbusTimeout
from .model import Function, Point, Profile, ReadBlock, RegisterReader, Value
from .planner import MODBUS_MAX_READ, plan_reads
from .register_image import (
    Identity,
    Refusal,
    RegisterImage,
    Source,
    SourceKind,
    Span,
    merge_spans,
)

END_MARKER_WORDS = 2  # the SunSpec end marker: ID 0xFFFF and L 0


class ImageReader:
    """A `RegisterReader` answering from a register image (refusals and missing registers included)."""

    def __init__(self, image: RegisterImage) -> None:
        self.image = image
        self.requests = 0

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        """The registers of the range; raises what `RegisterImage.read` raises."""
        self.requests += 1
        return self.image.read(function, address, count)


@dataclass(frozen=True, slots=True)
class Extent:
    """A range of registers to read whole: `count` registers from `start` in one table."""

    function: Function
    start: int
    count: int


class _Watched:
    """The reader of a recording: notes whether the device has answered anything yet (registers or a Modbus
    exception), and the reads that went unanswered before it did."""

    def __init__(self, reader: RegisterReader) -> None:
        self.reader = reader
        self.answered = False
        self.unanswered: list[str] = []

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        """The registers of the range; raises what the reader raises."""
        try:
            words = await self.reader.read(function, address, count)
        except ModbusExceptionResponse:
            self.answered = True
            raise
        except ModbusTimeout:
            if not self.answered:
                self.unanswered.append(f"{function.value} {address}+{count}")
            raise
        self.answered = True
        return words

    async def present(self, function: Function, address: int, count: int) -> None:
        """Before an unanswered read is split: unless the device answered before, whether it answers this
        single point; raises `DeviceSilent` when it does not."""
        if self.answered:
            return
        try:
            await self.read(function, address, count)
        except ModbusExceptionResponse:
            return
        except ModbusTimeout as err:
            raise self.silent() from err

    def silent(self) -> DeviceSilent:
        """The error for a device that answered nothing."""
        return DeviceSilent(f"the device answers no read ({', '.join(self.unanswered)} unanswered)")


@dataclass(slots=True)
class _Reading:
    """What reading a device found: registers per table and refusals. `watch`: the recording's reader, asked
    whether the device is there before a first unanswered read is split (None: split at once)."""

    registers: dict[Function, dict[int, int]] = field(default_factory=dict)
    refused: list[Refusal] = field(default_factory=list)
    watch: _Watched | None = None

    def keep(self, function: Function, address: int, words: Sequence[int]) -> None:
        table = self.registers.setdefault(function, {})
        for index, word in enumerate(words):
            table[address + index] = word


async def device_points(
    reader: RegisterReader, profile: Profile, extra_dirs: Sequence[Path] = ()
) -> tuple[tuple[Point, ...], sunspec.SunSpecDevice | None]:
    """The points of the device: the profile's, or those a SunSpec scan places (with what it found)."""
    if profile.sunspec_base is None:
        return profile.points, None
    found = await sunspec.scan(reader, profile, extra_dirs)
    return found.points, found


def read_plan(points: Sequence[Point], profile: Profile, max_gap: int | None = None) -> list[ReadBlock]:
    """The blocks the collector reads for these points (polled points and device information alike)."""
    gap = profile.max_gap if max_gap is None else max_gap
    return plan_reads(
        points,
        max_block=profile.max_block,
        max_gap=gap,
        all_points=points,
        single_registers=profile.single_registers,
    )


async def _read_units(
    reader: RegisterReader, function: Function, units: Sequence[tuple[int, int]], reading: _Reading
) -> None:
    """Read consecutive units (address, count) in one request; split on a refusal down to single units."""
    start = units[0][0]
    end = max(address + count for address, count in units)
    try:
        words = await reader.read(function, start, end - start)
    except (ModbusExceptionResponse, ModbusTimeout) as err:
        if len(units) > 1:
            if isinstance(err, ModbusTimeout) and reading.watch is not None:
                await reading.watch.present(function, *units[0])
            middle = len(units) // 2
            await _read_units(reader, function, units[:middle], reading)
            await _read_units(reader, function, units[middle:], reading)
            return
        code = err.code if isinstance(err, ModbusExceptionResponse) else None
        reading.refused.append(Refusal(function, start, end - start, code))
        return
    reading.keep(function, start, words)


async def _read_block(reader: RegisterReader, block: ReadBlock, reading: _Reading) -> None:
    units = sorted({(p.address, p.words) for p in block.points})
    await _read_units(reader, block.function, units, reading)


async def _read_extent(reader: RegisterReader, extent: Extent, max_block: int, reading: _Reading) -> None:
    for start in range(extent.start, extent.start + extent.count, max_block):
        count = min(max_block, extent.start + extent.count - start)
        await _read_units(reader, extent.function, [(a, 1) for a in range(start, start + count)], reading)


def sunspec_extents(found: sunspec.SunSpecDevice) -> list[Extent]:
    """The whole chain of a SunSpec device: marker, every model (ID, L and body), the end marker."""
    extents = [Extent(Function.HOLDING, found.base, 2)]
    extents.extend(Extent(Function.HOLDING, m.address, 2 + m.length) for m in found.models)
    end = found.models[-1].address + 2 + found.models[-1].length if found.models else found.base + 2
    if end + END_MARKER_WORDS <= 0x10000:
        extents.append(Extent(Function.HOLDING, end, END_MARKER_WORDS))
    return extents


def not_implemented_spans(image: RegisterImage, points: Sequence[Point]) -> list[Span]:
    """Where the image holds a point's "not available" value: its `invalid` raw values, a NaN float, a
    text of only NULs (SunSpec's "not implemented" string)."""
    spans: list[Span] = []
    for point in points:
        if (
            point.kind == "action"
            or point.computed
            or not image.has(point.function, point.address, point.words)
        ):
            continue
        words = image.words(point.function, point.address, point.words)
        if holds_not_available(point, words):
            spans.append(Span(point.function, point.address, point.words))
    return merge_spans(spans)


async def record_image(
    reader: RegisterReader,
    profile: Profile,
    *,
    unit_id: int | None = None,
    extents: Sequence[Extent] = (),
    extra_dirs: Sequence[Path] = (),
    max_gap: int | None = None,
    citation: str = "recorded with pv-collector record",
    now: datetime | None = None,
) -> RegisterImage:
    """Read the device into a register image of kind "device".

    A SunSpec device is recorded whole (marker, every model of its chain, end marker) in reads of at most
    the profile's `max_block` registers; other devices block by block of the collector's read plan. Refused
    or unanswered reads are split down to the refusing point (or register, in `extents`) and recorded.
    Raises `DeviceSilent` as soon as the device is found to answer nothing (its first read and a single
    point of it unanswered, or a SunSpec device's first marker read), `ModbusTimeout` or
    `ModbusExceptionResponse` when no read at all was answered with registers, what the reader raises
    otherwise (e.g. `ModbusConnectionError`), and `ProfileError` when a SunSpec device has no "SunS" marker.
    """
    watch = _Watched(reader)
    reading = _Reading(watch=watch)
    try:
        points, found = await device_points(watch, profile, extra_dirs)
    except ModbusTimeout as err:
        if watch.answered:
            raise
        raise watch.silent() from err
    if found is not None:
        for extent in sunspec_extents(found):
            await _read_extent(watch, extent, profile.max_block, reading)
    else:
        for block in read_plan(points, profile, max_gap):
            await _read_block(watch, block, reading)
    for extent in extents:
        await _read_extent(watch, extent, min(profile.max_block, MODBUS_MAX_READ), reading)
    if not any(reading.registers.values()):
        codes = {refusal.exception for refusal in reading.refused}
        if None in codes or not codes:
            raise ModbusTimeout("the device answered no read")
        raise ModbusExceptionResponse(min(c for c in codes if c is not None), "the device refused every read")
    image = RegisterImage(
        identity=Identity(
            profile=profile.id,
            vendor=profile.manufacturer,
            model=profile.model,
            unit_id=unit_id,
        ),
        source=Source(
            kind=SourceKind.DEVICE,
            citation=citation,
            captured=(now or datetime.now(UTC)).replace(microsecond=0).isoformat(),
        ),
    )
    for function, table in reading.registers.items():
        for start, words in _runs(table):
            image.put(function, start, words)
    image.refused = _merged_refusals(reading.refused, image)
    image.not_implemented = not_implemented_spans(image, points)
    info = _info(image, points)
    image.identity = Identity(
        profile=profile.id,
        vendor=info.get("manufacturer") or profile.manufacturer,
        model=info.get("model") or profile.model,
        firmware=info.get("firmware"),
        unit_id=unit_id,
    )
    return image


def _info(image: RegisterImage, points: Sequence[Point]) -> dict[str, str]:
    """Manufacturer, model and firmware the device reports through its info points (serial left out)."""
    info: dict[str, str] = {}
    for point in points:
        if (
            point.info in ("manufacturer", "model", "firmware")
            and not point.computed
            and image.has(point.function, point.address, point.words)
        ):
            value = decode(point, image.words(point.function, point.address, point.words))
            if isinstance(value, str) and value:
                info[point.info] = value
    return info


def _runs(table: dict[int, int]) -> list[tuple[int, list[int]]]:
    runs: list[tuple[int, list[int]]] = []
    for address, word in sorted(table.items()):
        if runs and runs[-1][0] + len(runs[-1][1]) == address:
            runs[-1][1].append(word)
        else:
            runs.append((address, [word]))
    return runs


def _merged_refusals(refused: Sequence[Refusal], image: RegisterImage) -> list[Refusal]:
    """Neighbouring refusals with the same answer joined; registers that were read after all dropped."""
    merged: list[Refusal] = []
    for refusal in sorted(refused, key=lambda r: (r.function.value, r.start)):
        if image.has(refusal.function, refusal.start, refusal.count):
            continue
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.function is refusal.function
            and last.exception == refusal.exception
            and refusal.start <= last.end
        ):
            count = max(last.end, refusal.end) - last.start
            merged[-1] = Refusal(last.function, last.start, count, last.exception)
        else:
            merged.append(refusal)
    return merged


async def read_values(
    reader: RegisterReader, profile: Profile, extra_dirs: Sequence[Path] = ()
) -> tuple[dict[str, Value], tuple[Point, ...], list[Refusal]]:
    """Decode a device as the collector does: points, read plan, reads (split on refusals), decoder.

    Returns the decoded values (hidden ones such as scale factors and device information included; points
    not available are absent), the device's points, and the refusals met.
    """
    points, _found = await device_points(reader, profile, extra_dirs)
    reading = _Reading()
    reads: list[tuple[ReadBlock, list[int]]] = []
    for block in read_plan(points, profile):
        await _read_block(reader, block, reading)
        for point in block.points:
            if _has(reading, block.function, point.address, point.words):
                words = [reading.registers[block.function][point.address + i] for i in range(point.words)]
                reads.append((ReadBlock(block.function, point.address, point.words, (point,)), words))
    values = decode_snapshot(reads)  # the reads are one image: a point's scale factor may be in another
    values.update(computed_values(points, values))
    return values, points, reading.refused


def _has(reading: _Reading, function: Function, address: int, count: int) -> bool:
    table = reading.registers.get(function, {})
    return all(address + index in table for index in range(count))


async def decode_image(
    image: RegisterImage, profile: Profile, extra_dirs: Sequence[Path] = ()
) -> dict[str, Value]:
    """The values the collector decodes from a device holding this image (see `read_values`)."""
    values, _points, _refused = await read_values(ImageReader(image), profile, extra_dirs)
    return values
