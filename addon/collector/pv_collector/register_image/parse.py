"""Reading a register image file: `load_image` / `parse_image` validate it and raise `ImageError` with one
line naming the file and what is wrong (the first problem, with its path into the document)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pv_collector.errors import ImageError, RegisterError
from pv_collector.model import Function

from .image import FORMAT, REGISTERS, VERSION, Refusal, RegisterImage, Span
from .provenance import Identity, Shown, Source, SourceKind


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
