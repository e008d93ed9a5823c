"""Registers to values and back.

`decode` turns the registers of one point into the value published in the state message (a number, an
option name, a string, a bitfield integer or a bool), or `None` when the device says "not available".
`encode` is its inverse for writes. `decode_block`/`decode_reads` decode whole read blocks, taking SunSpec
scale factors from the same read (or from agreeing reads right before and after it).

Texts are cut at the first NUL and keep printable characters only (`text_of`); empty means not available.
Numbers are `raw * 10^sf * scale + offset`, rounded to `precision + 2` decimals (6 when the point has no
precision) so that the JSON stays compact without hiding what the device measured; a float32 register is
taken as the shortest decimal that is the same float32 (`shortest_float32`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import cast

from .errors import CommandError, RegisterError
from .model import DataType, Order, Point, ReadBlock, Value

_SIGNED = frozenset({DataType.S16, DataType.S32, DataType.S64, DataType.SUNSSF})
_FLOATS = frozenset({DataType.F32, DataType.F64})
SUNSSF_LIMIT = 10  # SunSpec scale factors are -10..10; anything else is garbage
_DEFAULT_DECIMALS = 6


def _swap_bytes(word: int) -> int:
    return ((word & 0xFF) << 8) | (word >> 8)


def registers_to_int(registers: Sequence[int], word_order: Order = "big", byte_order: Order = "big") -> int:
    """Unsigned integer from registers (first register most significant with big word order)."""
    words = [_swap_bytes(w) for w in registers] if byte_order == "little" else list(registers)
    if word_order == "little":
        words.reverse()
    value = 0
    for word in words:
        value = (value << 16) | word
    return value


def int_to_registers(
    value: int, words: int, word_order: Order = "big", byte_order: Order = "big"
) -> list[int]:
    """Inverse of `registers_to_int` for a non-negative `value` below 2^(16·words)."""
    regs = [(value >> (16 * (words - 1 - i))) & 0xFFFF for i in range(words)]
    if word_order == "little":
        regs.reverse()
    if byte_order == "little":
        regs = [_swap_bytes(w) for w in regs]
    return regs


def _check_registers(point: Point, registers: Sequence[int]) -> None:
    if len(registers) != point.words:
        raise RegisterError(f"{point.key}: expected {point.words} registers, got {len(registers)}")
    for word in registers:
        if not 0 <= word <= 0xFFFF:
            raise RegisterError(f"{point.key}: register value {word} is not 0..65535")


def text_of(data: bytes) -> str:
    """The text of a string register: cut at the first NUL, bytes that are not UTF-8 and characters that are
    not printable dropped, padding stripped ("" when nothing is left: all NUL, 0xFF or spaces)."""
    text = data.split(b"\x00", 1)[0].decode("utf-8", errors="ignore")
    return "".join(char for char in text if char.isprintable()).strip()


def shortest_float32(data: bytes) -> float:
    """The float32 in `data` (4 bytes, big endian) as the shortest decimal that is the same float32: a
    register holding 12345.6 gives 12345.6, not its float64 value 12345.599609375 (issue 15)."""
    value = float(struct.unpack(">f", data)[0])
    if not math.isfinite(value):
        return value
    for digits in range(1, 10):  # 9 significant digits always round-trip a float32
        candidate = float(f"{value:.{digits}g}")
        if struct.pack(">f", candidate) == data:
            return candidate
    return value


def _to_signed(raw: int, bits: int) -> int:
    return raw - (1 << bits) if raw & (1 << (bits - 1)) else raw


def _decimals(point: Point) -> int:
    return point.precision + 2 if point.precision is not None else _DEFAULT_DECIMALS


def raw_value(point: Point, registers: Sequence[int]) -> int | float | str:
    """The undecoded value: an integer (signed for signed types), a float, or the string."""
    _check_registers(point, registers)
    if point.type is DataType.STRING:
        words = [_swap_bytes(w) for w in registers] if point.byte_order == "little" else registers
        if point.chars_per_register == 1:  # one character per register, in its low byte
            data = bytes(w & 0xFF for w in words)
        else:
            data = b"".join(w.to_bytes(2, "big") for w in words)
        return text_of(data)
    raw = registers_to_int(registers, point.word_order, point.byte_order)
    bits = 16 * len(registers)
    if point.type is DataType.F32:
        return shortest_float32(raw.to_bytes(4, "big"))
    if point.type is DataType.F64:
        return float(struct.unpack(">d", raw.to_bytes(8, "big"))[0])
    if point.type in _SIGNED:
        return _to_signed(raw, bits)
    return raw


def is_invalid(point: Point, registers: Sequence[int]) -> bool:
    """True when the registers hold one of the point's "not available" raw values."""
    if not point.invalid or point.type is DataType.STRING:
        return False
    raw = registers_to_int(registers, point.word_order, point.byte_order)
    if raw in point.invalid:
        return True
    bits = 16 * len(registers)
    return point.type in _SIGNED and _to_signed(raw, bits) in point.invalid


def holds_not_available(point: Point, registers: Sequence[int]) -> bool:
    """True when the registers hold the point's "not available" value: one of its `invalid` raw values, a
    NaN float, or a text that reads empty (SunSpec's "not implemented" string is all NULs)."""
    if point.type is DataType.STRING:
        return raw_value(point, registers) == ""
    if is_invalid(point, registers):
        return True
    raw = raw_value(point, registers)
    return isinstance(raw, float) and math.isnan(raw)


def scale_number(point: Point, raw: float, scale_factor: int | None) -> float | int:
    """Apply scale factor, scale and offset; keep integers integral when nothing fractional applies."""
    sf = scale_factor or 0
    integral = (
        isinstance(raw, int)
        and sf >= 0
        and float(point.scale).is_integer()
        and float(point.offset).is_integer()
    )
    if integral:
        return int(raw) * int(10**sf) * int(point.scale) + int(point.offset)
    value: float = raw / 10 ** (-sf) if sf < 0 else raw * 10**sf
    value = value * point.scale + point.offset
    return round(value, _decimals(point))


def decode(point: Point, registers: Sequence[int], scale_factor: int | None = None) -> Value | None:
    """Decode one point's registers; `None` when not available (invalid raw value, NaN, unknown option).

    `scale_factor` is the value of the point's SunSpec scale factor (`point.sf`); a point that has one
    but gets `None` cannot be scaled and is not available either.
    """
    if point.kind == "action":
        return None
    raw = raw_value(point, registers)
    if isinstance(raw, str):
        return raw or None
    if is_invalid(point, registers):
        return None
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return None
    elif point.type is DataType.SUNSSF:
        return raw if -SUNSSF_LIMIT <= raw <= SUNSSF_LIMIT else None
    if point.kind == "enum":
        return point.options.get(int(raw)) if point.options and isinstance(raw, int) else None
    if point.kind == "bool":
        if raw == point.on_value:
            return True
        return False if raw == point.off_value else None
    if point.kind == "bitfield":
        return int(raw)
    if point.sf is not None and scale_factor is None:
        return None
    return scale_number(point, raw, scale_factor)


def decode_block(
    block: ReadBlock, registers: Sequence[int], sf_values: Mapping[str, int | None] | None = None
) -> dict[str, Value]:
    """Decode every point of a read block; scale factors come from `sf_values` or the block itself.

    The result holds hidden points too (scale factors, device info); points that are not available
    are absent.
    """
    if len(registers) != block.count:
        raise RegisterError(
            f"block at {block.address}: expected {block.count} registers, got {len(registers)}"
        )
    scale_factors: dict[str, int | None] = dict(sf_values or {})
    values: dict[str, Value] = {}
    ordered = sorted(block.points, key=lambda p: p.type is not DataType.SUNSSF)
    for point in ordered:
        start = point.address - block.address
        regs = registers[start : start + point.words]
        value = decode(point, regs, scale_factors.get(point.sf) if point.sf else None)
        if point.type is DataType.SUNSSF:
            scale_factors[point.key] = value if isinstance(value, int) else None
        if value is not None:
            values[point.key] = value
    return values


def decode_snapshot(reads: Iterable[tuple[ReadBlock, Sequence[int]]]) -> dict[str, Value]:
    """Decode reads that are one image of the device's registers (a register image, a recording): a
    scale factor is taken from whichever read holds it, since nothing changed between the reads."""
    reads = list(reads)
    scale_factors: dict[str, int | None] = {}
    for block, registers in reads:
        for point in block.points:
            if point.type is DataType.SUNSSF:
                start = point.address - block.address
                sf = decode(point, registers[start : start + point.words])
                scale_factors[point.key] = sf if isinstance(sf, int) else None
    values: dict[str, Value] = {}
    for block, registers in reads:
        values.update(decode_block(block, registers, scale_factors))
    return values


def decode_reads(reads: Iterable[tuple[ReadBlock, Sequence[int]]]) -> dict[str, Value]:
    """Decode the registers of a whole poll cycle, read in this order.

    A point is scaled by its scale factor from its own block; a point whose scale factor is in another block
    only when that scale factor was read before and after the point's block with the same value (the pair
    re-read together, `planner.reread_scale_factors`), else the point is left out: a device may change a
    scale factor between two requests.
    """
    reads = list(reads)
    found: list[dict[str, int | None]] = []
    for block, registers in reads:
        scale_factors: dict[str, int | None] = {}
        for point in block.points:
            if point.type is DataType.SUNSSF:
                start = point.address - block.address
                sf = decode(point, registers[start : start + point.words])
                scale_factors[point.key] = sf if isinstance(sf, int) else None
        found.append(scale_factors)
    values: dict[str, Value] = {}
    for index, (block, registers) in enumerate(reads):
        outside: dict[str, int | None] = {}
        for point in block.points:
            key = point.sf
            if key is None or key in found[index] or key in outside:
                continue
            before = next((reads_sf[key] for reads_sf in reversed(found[:index]) if key in reads_sf), None)
            after = next((reads_sf[key] for reads_sf in found[index + 1 :] if key in reads_sf), None)
            outside[key] = before if before is not None and before == after else None
        values.update(decode_block(block, registers, outside))
    return values


def computed_values(points: Iterable[Point], values: Mapping[str, Value]) -> dict[str, Value]:
    """The values of the computed points among `points`, from the decoded `values` of the same cycle.

    A computed point's value is the sum of its terms (each + or - a point's decoded value), then
    `* scale + offset`, rounded like a register value. It is absent when any term has no number this
    cycle (not read, not available), so a value never mixes readings of different cycles.
    """
    result: dict[str, Value] = {}
    for point in points:
        if point.compute is None:
            continue
        total: float | int = 0
        for key, sign in point.compute.terms:
            value = values.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                break
            total += sign * value
        else:
            result[point.key] = scale_number(point, total, None)
    return result


def _encode_integer(point: Point, raw: int) -> list[int]:
    bits = 16 * point.words
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if point.type in _SIGNED else (0, (1 << bits) - 1)
    if not low <= raw <= high:
        raise CommandError(
            "out_of_range", f"{point.key}: raw value {raw} does not fit a {point.type.value} register"
        )
    return int_to_registers(raw & ((1 << bits) - 1), point.words, point.word_order, point.byte_order)


def _as_number(point: Point, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandError("invalid_value", f"{point.key}: {value!r} is not a number")
    return float(value)


def _encode_enum(point: Point, value: object) -> list[int]:
    options = point.options or {}
    for raw, name in options.items():
        if value == name or (isinstance(value, int) and not isinstance(value, bool) and value == raw):
            return _encode_integer(point, raw)
    raise CommandError("invalid_value", f"{point.key}: {value!r} is not one of {', '.join(options.values())}")


def _encode_text(point: Point, value: object) -> list[int]:
    if not isinstance(value, str):
        raise CommandError("invalid_value", f"{point.key}: {value!r} is not a string")
    data = value.encode("utf-8")
    size = point.chars_per_register * point.count
    if len(data) > size:
        raise CommandError("out_of_range", f"{point.key}: text longer than {size} bytes")
    data = data.ljust(size, b"\x00")
    if point.chars_per_register == 1:
        regs = list(data)
    else:
        regs = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return [_swap_bytes(w) for w in regs] if point.byte_order == "little" else regs


def _encode_number(point: Point, value: object, scale_factor: int | None) -> list[int]:
    number = _as_number(point, value)
    exact = isinstance(value, int) and point.scale == 1 and point.offset == 0 and point.sf is None
    if exact and point.type not in _FLOATS:
        return _encode_integer(point, int(cast("int", value)))  # no float rounding for 64-bit values
    if point.sf is not None and scale_factor is None:
        raise CommandError("write_failed", f"{point.key}: scale factor {point.sf} is not known yet")
    sf = scale_factor or 0
    unscaled = (number - point.offset) / point.scale
    raw = unscaled * 10 ** (-sf) if sf < 0 else unscaled / 10**sf
    if point.type in _FLOATS:
        fmt = ">f" if point.type is DataType.F32 else ">d"
        try:
            packed = struct.pack(fmt, raw)
        except OverflowError as err:
            raise CommandError(
                "out_of_range", f"{point.key}: {value!r} does not fit {point.type.value}"
            ) from err
        as_int = int.from_bytes(packed, "big")
        return int_to_registers(as_int, point.words, point.word_order, point.byte_order)
    return _encode_integer(point, math.floor(raw + 0.5))


def encode(point: Point, value: object, scale_factor: int | None = None) -> list[int]:
    """Registers to write for `value` (inverse of `decode`); the caller checks min/max/options first.

    Enum points take an option name (or a raw value among the options), bool points a bool, action
    points anything (their `press_value` is written), strings a str, numbers a number in decoded units.
    Raises `CommandError` (`invalid_value`, `out_of_range`) when the value cannot be represented.
    """
    if point.kind == "action":
        return _encode_integer(point, point.press_value)
    if point.kind == "bool":
        if not isinstance(value, bool):
            raise CommandError("invalid_value", f"{point.key}: {value!r} is not true or false")
        return _encode_integer(point, point.on_value if value else point.off_value)
    if point.kind == "enum":
        return _encode_enum(point, value)
    if point.type is DataType.STRING:
        return _encode_text(point, value)
    if point.kind == "bitfield" or point.type is DataType.SUNSSF:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CommandError("invalid_value", f"{point.key}: {value!r} is not an integer")
        return _encode_integer(point, value)
    return _encode_number(point, value, scale_factor)
