"""Register images of the simulated devices and the encoders that fill them.

The encoders are plain `struct` packing, deliberately independent of the collector's decoder so that tests
compare two implementations. Every device keeps one `RegisterMap` per Modbus table it has; an address that
is not in the map does not exist on that device (Modbus exception 2).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable

# SunSpec "not implemented" values.
NOT_IMPLEMENTED_U16 = 0xFFFF
NOT_IMPLEMENTED_S16 = 0x8000
NOT_IMPLEMENTED_U32 = 0xFFFFFFFF
NOT_IMPLEMENTED_ACC32 = 0


def _words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def _clamp_int(value: float, low: int, high: int) -> int:
    if math.isnan(value):
        return low
    return max(low, min(high, round(value)))


def u16(value: float) -> list[int]:
    """Unsigned 16 bit, rounded and clamped below 0xFFFF (SunSpec's "not implemented")."""
    return [_clamp_int(value, 0, 0xFFFE)]


def s16(value: float) -> list[int]:
    """Signed 16 bit two's complement, clamped to -32767..32767 (0x8000 means "not implemented")."""
    return _words(struct.pack(">h", _clamp_int(value, -32767, 32767)))


def u32(value: float) -> list[int]:
    """Unsigned 32 bit, high word first."""
    return _words(struct.pack(">I", _clamp_int(value, 0, 0xFFFFFFFE)))


def s32(value: float) -> list[int]:
    """Signed 32 bit, high word first."""
    return _words(struct.pack(">i", _clamp_int(value, -0x7FFFFFFF, 0x7FFFFFFF)))


def f32(value: float) -> list[int]:
    """IEEE 754 single precision, big-endian words and bytes (Eastron)."""
    return _words(struct.pack(">f", value))


def string(text: str, registers: int) -> list[int]:
    """ASCII text, two characters per register, NUL padded to `registers`."""
    data = text.encode("ascii")
    if len(data) > registers * 2:
        raise ValueError(f"{text!r} does not fit in {registers} registers")
    return _words(data.ljust(registers * 2, b"\0"))


def to_signed16(word: int) -> int:
    """Decode one register as s16 (used for writes)."""
    return int(struct.unpack(">h", struct.pack(">H", word))[0])


class RegisterMap:
    """The registers of one Modbus table of one device, and which of them a client may write."""

    def __init__(self) -> None:
        self._values: dict[int, int] = {}
        self._writable: set[int] = set()

    def define(self, address: int, words: Iterable[int], *, writable: bool = False) -> None:
        """Create registers at `address` (they exist from now on) with initial `words`."""
        for index, word in enumerate(words):
            self._values[address + index] = word & 0xFFFF
            if writable:
                self._writable.add(address + index)

    def set(self, address: int, words: Iterable[int]) -> None:
        """Update existing registers; a programming error if any of them was never defined."""
        for index, word in enumerate(words):
            if address + index not in self._values:
                raise KeyError(f"register {address + index} is not defined")
            self._values[address + index] = word & 0xFFFF

    def exists(self, address: int, count: int) -> bool:
        """Whether every register of the range exists."""
        return all(address + index in self._values for index in range(count))

    def writable(self, address: int, count: int) -> bool:
        """Whether every register of the range may be written by a client."""
        return all(address + index in self._writable for index in range(count))

    def read(self, address: int, count: int) -> list[int]:
        """The registers of the range (raises KeyError if one does not exist)."""
        return [self._values[address + index] for index in range(count)]
