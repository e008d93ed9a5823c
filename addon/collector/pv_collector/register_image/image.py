"""The register image in memory (registers, refused ranges, "not implemented" markers, with its identity and
provenance) and its canonical text: stable key order, ten registers per line, so a changed register changes
one line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pv_collector.atomic import write_atomically
from pv_collector.errors import ImageError, ModbusExceptionResponse, ModbusTimeout, RegisterError
from pv_collector.model import Function

from .provenance import Identity, Shown, Source

FORMAT = "pv-monitor/register-image"
VERSION = 1
REGISTERS = 0x10000  # addresses 0..65535
ILLEGAL_DATA_ADDRESS = 2  # what a device answers for a register it does not have
_VALUES_PER_LINE = 10


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
            write_atomically(path, self.to_json())
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
