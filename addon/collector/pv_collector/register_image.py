"""Register images: what one Modbus device holds, as a small versioned JSON file (docs/profiles.md).

A register image records, for one device, the registers as read (holding and input tables, as runs of
consecutive registers), the ranges the device refused (with the Modbus exception code, or no answer at all),
the ranges where it reported its "not implemented" value, who it is (profile, vendor, model, firmware) and
where the image comes from (a real device, a vendor document's worked example, the project's simulator),
with a citation. `pv-collector record` writes images, `pv-collector simulate --image` serves them, and the
test fixtures in `tests/fixtures/devices/` are images.

This module owns the format: `load_image` / `parse_image` validate a file and raise `ImageError` with one
line naming the file and what is wrong; `RegisterImage.to_json` writes the canonical, diff-friendly text
(ten registers per line, so a changed register changes one line).

    {
      "format": "pv-monitor/register-image", "version": 1,
      "device": {"profile": "sdm630", "vendor": "Eastron", "model": "SDM630", "unit_id": 1},
      "source": {"kind": "device", "citation": "https://...", "captured": "2020-01-01T10:17:59"},
      "shown": {"by": "the meter's display", "values": {"voltage_l1": 228.7}},
      "holding": [],
      "input": [{"start": 0, "values": [17252, 47809, ...]}],
      "refused": [{"function": "input", "start": 100, "count": 2, "exception": 2}],
      "not_implemented": [{"function": "input", "start": 6, "count": 2}]
    }
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import ImageError, ModbusExceptionResponse, ModbusTimeout, RegisterError
from .model import Function, Value

FORMAT = "pv-monitor/register-image"
VERSION = 1
REGISTERS = 0x10000  # addresses 0..65535
ILLEGAL_DATA_ADDRESS = 2  # what a device answers for a register it does not have
_VALUES_PER_LINE = 10


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


@dataclass(frozen=True, slots=True)
class Span:
    """`count` registers from `start` in one table."""

    function: Function
    start: int
    count: int

    @property
    def end(self) -> int:
        """First register after the span."""
        return self.start + self.count

    def overlaps(self, function: Function, start: int, count: int) -> bool:
        """Whether the span shares a register with `count` registers from `start` in `function`."""
        return function is self.function and start < self.end and self.start < start + count


@dataclass(frozen=True, slots=True)
class Refusal(Span):
    """Registers the device refused: the exception code it answered with, or None for no answer."""

    exception: int | None = ILLEGAL_DATA_ADDRESS


@dataclass(slots=True, kw_only=True)
class RegisterImage:
    """The registers of one device, with its identity and provenance. Registers can be changed in place.

    `tables[function][address]` is the 16-bit value of a register; a register not in the table is not in
    the image (a read covering it is answered with exception 2, illegal data address).
    """

    identity: Identity
    source: Source
    shown: Shown | None = None
    tables: dict[Function, dict[int, int]] = field(default_factory=dict)
    refused: list[Refusal] = field(default_factory=list)
    not_implemented: list[Span] = field(default_factory=list)

    # ------------------------------------------------------------------ registers

    def put(self, function: Function, address: int, words: Sequence[int]) -> None:
        """Set registers from `address` (they are in the image from now on). Raises `RegisterError` if a
        word is not 0..65535 or the range runs past register 65535."""
        if address < 0 or address + len(words) > REGISTERS:
            raise RegisterError(f"{function.value} registers {address}+{len(words)} run past {REGISTERS - 1}")
        table = self.tables.setdefault(function, {})
        for index, word in enumerate(words):
            if isinstance(word, bool) or not isinstance(word, int) or not 0 <= word <= 0xFFFF:
                raise RegisterError(f"{function.value} register {address + index}: {word!r} is not 0..65535")
            table[address + index] = word

    def has(self, function: Function, address: int, count: int) -> bool:
        """Whether every register of the range is in the image."""
        table = self.tables.get(function, {})
        return all(address + index in table for index in range(count))

    def words(self, function: Function, address: int, count: int) -> list[int]:
        """The registers of the range as stored, ignoring refusals. Raises KeyError for a missing one."""
        table = self.tables.get(function, {})
        return [table[address + index] for index in range(count)]

    def refusal(self, function: Function, address: int, count: int) -> Refusal | None:
        """The first refusal covering a register of the range, if any."""
        return next((r for r in self.refused if r.overlaps(function, address, count)), None)

    def read(self, function: Function, address: int, count: int) -> list[int]:
        """What the device answers to a read of the range.

        Raises `ModbusExceptionResponse` with the recorded code for a refused range (2 for registers not
        in the image) and `ModbusTimeout` for a range the device did not answer.
        """
        refusal = self.refusal(function, address, count)
        if refusal is not None:
            if refusal.exception is None:
                raise ModbusTimeout(f"no answer for {function.value} registers {address}+{count}")
            raise ModbusExceptionResponse(refusal.exception)
        if not self.has(function, address, count):
            raise ModbusExceptionResponse(ILLEGAL_DATA_ADDRESS)
        return self.words(function, address, count)

    def runs(self, function: Function) -> list[tuple[int, list[int]]]:
        """The registers of a table as runs of consecutive addresses, in address order."""
        runs: list[tuple[int, list[int]]] = []
        for address, word in sorted(self.tables.get(function, {}).items()):
            if runs and runs[-1][0] + len(runs[-1][1]) == address:
                runs[-1][1].append(word)
            else:
                runs.append((address, [word]))
        return runs

    def covered(self, function: Function, address: int, count: int) -> bool:
        """Whether the range is marked "not implemented" (every register inside one marker)."""
        return any(
            span.function is function and span.start <= address and address + count <= span.end
            for span in self.not_implemented
        )

    # ------------------------------------------------------------------ JSON

    def to_document(self) -> dict[str, Any]:
        """The image as a JSON-ready dict (the keys in the canonical order)."""
        device = {"profile": self.identity.profile}
        for name in ("vendor", "model", "firmware", "unit_id"):
            value = getattr(self.identity, name)
            if value is not None:
                device[name] = value
        source: dict[str, Any] = {"kind": self.source.kind.value, "citation": self.source.citation}
        if self.source.captured is not None:
            source["captured"] = self.source.captured
        if self.source.notes:
            source["notes"] = list(self.source.notes)
        document: dict[str, Any] = {"format": FORMAT, "version": VERSION, "device": device, "source": source}
        if self.shown is not None:
            document["shown"] = {"by": self.shown.by, "values": dict(self.shown.values)}
        for function in Function:
            document[function.value] = [
                {"start": start, "values": words} for start, words in self.runs(function)
            ]
        document["refused"] = [
            {"function": r.function.value, "start": r.start, "count": r.count, "exception": r.exception}
            for r in _sorted_spans(self.refused)
        ]
        document["not_implemented"] = [
            {"function": s.function.value, "start": s.start, "count": s.count}
            for s in _sorted_spans(merge_spans(self.not_implemented))
        ]
        return document

    def to_json(self) -> str:
        """The canonical text of the image: stable key order, ten registers per line, trailing newline."""
        document = self.to_document()
        lines = ["{"]
        items = list(document.items())
        for index, (key, value) in enumerate(items):
            comma = "," if index < len(items) - 1 else ""
            if key in ("holding", "input"):
                lines.append(f"  {json.dumps(key)}: {_runs_text(value)}{comma}")
            elif key in ("refused", "not_implemented") and value:
                entries = ",\n".join(f"    {json.dumps(entry, ensure_ascii=False)}" for entry in value)
                lines.append(f"  {json.dumps(key)}: [\n{entries}\n  ]{comma}")
            else:
                text = json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n  ")
                lines.append(f"  {json.dumps(key)}: {text}{comma}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def save(self, path: Path) -> None:
        """Write the image to `path` atomically (a reader never sees half a file). Raises `ImageError`."""
        path = Path(path)
        try:
            fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path())
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.to_json())
            Path(temporary).replace(path)
        except OSError as err:
            raise ImageError(f"{path}: cannot write the register image: {err.strerror or err}") from err


def _runs_text(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "[]"
    parts = []
    for run in runs:
        words: list[int] = run["values"]
        rows = [
            ", ".join(str(word) for word in words[i : i + _VALUES_PER_LINE])
            for i in range(0, len(words), _VALUES_PER_LINE)
        ]
        body = ",\n      ".join(rows)
        parts.append(f'    {{"start": {run["start"]}, "values": [\n      {body}\n    ]}}')
    return "[\n" + ",\n".join(parts) + "\n  ]"


def _sorted_spans[S: Span](spans: Iterable[S]) -> list[S]:
    order = {function: index for index, function in enumerate(Function)}
    return sorted(spans, key=lambda s: (order[s.function], s.start, s.count))


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Spans with touching or overlapping neighbours in the same table joined."""
    merged: list[Span] = []
    for span in _sorted_spans(spans):
        last = merged[-1] if merged else None
        if last is not None and last.function is span.function and span.start <= last.end:
            merged[-1] = Span(last.function, last.start, max(last.end, span.end) - last.start)
        else:
            merged.append(Span(span.function, span.start, span.count))
    return merged


# ---------------------------------------------------------------------------------------------- reading


class _Invalid(Exception):
    """One problem, with the path into the document where it is."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)


def _fields(value: Any, where: str, required: Sequence[str], optional: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(where, f"expected an object, got {_kind(value)}")
    for name in value:
        if name not in required and name not in optional:
            raise _Invalid(_join(where, str(name)), "unknown field")
    for name in required:
        if name not in value:
            raise _Invalid(_join(where, name), "missing (required)")
    return value


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def _text(value: Any, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(where, f"expected a non-empty string, got {_kind(value)}")
    return value


def _integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(where, f"expected an integer, got {_kind(value)}")
    if not low <= value <= high:
        raise _Invalid(where, f"{value} is outside {low}..{high}")
    return value


def _function(value: Any, where: str) -> Function:
    try:
        return Function(value)
    except ValueError:
        raise _Invalid(where, f"{value!r} is not 'holding' or 'input'") from None


def _span_fields(entry: dict[str, Any], where: str) -> tuple[Function, int, int]:
    function = _function(entry["function"], _join(where, "function"))
    start = _integer(entry["start"], _join(where, "start"), 0, REGISTERS - 1)
    count = _integer(entry["count"], _join(where, "count"), 1, REGISTERS)
    if start + count > REGISTERS:
        raise _Invalid(where, f"{count} registers from {start} run past {REGISTERS - 1}")
    return function, start, count


def _shown(value: Any) -> Shown:
    data = _fields(value, "shown", ("by", "values"), ())
    by = _text(data["by"], "shown.by")
    values = data["values"]
    if not isinstance(values, dict) or not values:
        raise _Invalid("shown.values", "expected an object of point key: value")
    for key, item in values.items():
        if not isinstance(item, int | float | str | bool):
            raise _Invalid(f"shown.values.{key}", f"expected a number, text or true/false, got {_kind(item)}")
    return Shown(by=str(by), values=dict(values))


def _table(value: Any, function: Function, image: RegisterImage) -> None:
    where = function.value
    if not isinstance(value, list):
        raise _Invalid(where, f"expected a list of runs, got {_kind(value)}")
    seen: dict[int, int] = {}
    for index, raw in enumerate(value):
        run_where = f"{where}[{index}]"
        run = _fields(raw, run_where, ("start", "values"), ())
        start = _integer(run["start"], f"{run_where}.start", 0, REGISTERS - 1)
        words = run["values"]
        if not isinstance(words, list) or not words:
            raise _Invalid(f"{run_where}.values", "expected a non-empty list of register values")
        if start + len(words) > REGISTERS:
            raise _Invalid(run_where, f"{len(words)} registers from {start} run past {REGISTERS - 1}")
        for offset, word in enumerate(words):
            _integer(word, f"{run_where}.values[{offset}] (register {start + offset})", 0, 0xFFFF)
            if start + offset in seen:
                raise _Invalid(
                    run_where, f"register {start + offset} is also in {where}[{seen[start + offset]}]"
                )
            seen[start + offset] = index
        image.put(function, start, words)


def parse_image(document: Any) -> RegisterImage:
    """Validate a parsed JSON document; raises `ImageError` naming the first problem (without the file)."""
    try:
        top = _fields(
            document,
            "",
            ("format", "version", "device", "source"),
            ("shown", "holding", "input", "refused", "not_implemented"),
        )
        if top["format"] != FORMAT:
            raise _Invalid("format", f"expected {FORMAT!r}, got {top['format']!r}")
        version = top["version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise _Invalid("version", f"expected a positive integer, got {version!r}")
        if version > VERSION:
            raise _Invalid("version", f"{version} is newer than this collector reads ({VERSION})")
        device = _fields(top["device"], "device", ("profile",), ("vendor", "model", "firmware", "unit_id"))
        unit_id = device.get("unit_id")
        identity = Identity(
            profile=str(_text(device["profile"], "device.profile")),
            vendor=_text(device.get("vendor"), "device.vendor", optional=True),
            model=_text(device.get("model"), "device.model", optional=True),
            firmware=_text(device.get("firmware"), "device.firmware", optional=True),
            unit_id=None if unit_id is None else _integer(unit_id, "device.unit_id", 0, 255),
        )
        source_data = _fields(top["source"], "source", ("kind", "citation"), ("captured", "notes"))
        try:
            kind = SourceKind(source_data["kind"])
        except ValueError:
            choices = ", ".join(k.value for k in SourceKind)
            raise _Invalid("source.kind", f"{source_data['kind']!r} is not one of {choices}") from None
        notes = source_data.get("notes", [])
        if not isinstance(notes, list):
            raise _Invalid("source.notes", f"expected a list of strings, got {_kind(notes)}")
        source = Source(
            kind=kind,
            citation=str(_text(source_data["citation"], "source.citation")),
            captured=_text(source_data.get("captured"), "source.captured", optional=True),
            notes=tuple(str(_text(note, f"source.notes[{i}]")) for i, note in enumerate(notes)),
        )
        image = RegisterImage(
            identity=identity, source=source, shown=_shown(top["shown"]) if "shown" in top else None
        )
        for function in Function:
            _table(top.get(function.value, []), function, image)
        if not any(image.tables.get(function) for function in Function):
            raise _Invalid("", "the image holds no registers (holding and input are both empty)")
        image.refused = list(_refusals(top.get("refused", [])))
        image.not_implemented = list(_markers(top.get("not_implemented", []), image))
    except _Invalid as err:
        raise ImageError(str(err)) from None
    return image


def _refusals(value: Any) -> Iterator[Refusal]:
    if not isinstance(value, list):
        raise _Invalid("refused", f"expected a list, got {_kind(value)}")
    for index, raw in enumerate(value):
        where = f"refused[{index}]"
        entry = _fields(raw, where, ("function", "start", "count", "exception"), ())
        function, start, count = _span_fields(entry, where)
        code = entry["exception"]
        exception = None if code is None else _integer(code, f"{where}.exception", 1, 255)
        yield Refusal(function, start, count, exception)


def _markers(value: Any, image: RegisterImage) -> Iterator[Span]:
    if not isinstance(value, list):
        raise _Invalid("not_implemented", f"expected a list, got {_kind(value)}")
    for index, raw in enumerate(value):
        where = f"not_implemented[{index}]"
        entry = _fields(raw, where, ("function", "start", "count"), ())
        function, start, count = _span_fields(entry, where)
        if not image.has(function, start, count):
            raise _Invalid(where, f"{function.value} registers {start}+{count} are not all in the image")
        yield Span(function, start, count)


def load_image(path: Path | str) -> RegisterImage:
    """Read and validate an image file. Raises `ImageError`: `FILE: what is wrong`, one line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImageError(f"{path}: no such register image file") from None
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise ImageError(f"{path}: cannot read the register image: {reason or err}") from err
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        where = f"line {err.lineno}, column {err.colno}"
        raise ImageError(f"{path}: not valid JSON ({where}): {err.msg}") from None
    try:
        return parse_image(document)
    except (ImageError, RegisterError) as err:
        raise ImageError(f"{path}: {err}") from None
