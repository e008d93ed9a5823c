"""Decoding registers into values and encoding values for writes."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from pv_collector.decode import (
    decode,
    decode_block,
    decode_reads,
    encode,
    int_to_registers,
    registers_to_int,
)
from pv_collector.errors import CommandError, RegisterError
from pv_collector.model import DataType, Function, Point, ReadBlock, Writable


def point(**kwargs: Any) -> Point:
    fields: dict[str, Any] = {"key": "p", "name": "P", "address": 0}
    fields.update(kwargs)
    return Point(**fields)


def words_of(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def arrange(big_endian_words: list[int], word_order: str, byte_order: str) -> list[int]:
    """How a device with the given orders lays out a value whose big-endian words are given."""
    words = list(reversed(big_endian_words)) if word_order == "little" else list(big_endian_words)
    if byte_order == "little":
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return words


ORDERS = [("big", "big"), ("little", "big"), ("big", "little"), ("little", "little")]

# type, struct format of the value, a value that exercises every byte
CASES = [
    (DataType.U16, ">H", 0xBEEF),
    (DataType.S16, ">h", -12345),
    (DataType.U32, ">I", 0xDEADBEEF),
    (DataType.S32, ">i", -123456789),
    (DataType.U64, ">Q", 0x0123456789ABCDEF),
    (DataType.S64, ">q", -1234567890123456789),
    (DataType.F32, ">f", -1234.5),
    (DataType.F64, ">d", 98765.4321),
    (DataType.ACC32, ">I", 4_000_000_000),
]


@pytest.mark.parametrize(("word_order", "byte_order"), ORDERS)
@pytest.mark.parametrize(("dtype", "fmt", "value"), CASES)
def test_every_numeric_type_in_every_order(
    dtype: DataType, fmt: str, value: float, word_order: str, byte_order: str
) -> None:
    regs = arrange(words_of(struct.pack(fmt, value)), word_order, byte_order)
    p = point(type=dtype, word_order=word_order, byte_order=byte_order)
    assert decode(p, regs) == value
    assert encode(p, value) == regs


def test_word_order_matters_for_32_bit() -> None:
    regs = [0x0001, 0x0002]
    assert decode(point(type=DataType.U32), regs) == 0x00010002
    assert decode(point(type=DataType.U32, word_order="little"), regs) == 0x00020001


def test_registers_int_round_trip() -> None:
    for word_order, byte_order in ORDERS:
        regs = int_to_registers(0x1122334455667788, 4, word_order, byte_order)  # type: ignore[arg-type]
        assert registers_to_int(regs, word_order, byte_order) == 0x1122334455667788  # type: ignore[arg-type]


def test_string_strips_nul_and_spaces_in_both_byte_orders() -> None:
    data = b"  SIM0001\x00\x00\x00\x00\x00\x00\x00"
    regs = words_of(data)
    assert decode(point(type=DataType.STRING, count=8), regs) == "SIM0001"
    swapped = [((w & 0xFF) << 8) | (w >> 8) for w in regs]
    assert decode(point(type=DataType.STRING, count=8, byte_order="little"), swapped) == "SIM0001"


def test_empty_string_is_not_available() -> None:
    assert decode(point(type=DataType.STRING, count=4), [0, 0, 0, 0]) is None


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"12345678\x00\x00\xff\xfe\x01\x02", "12345678"),  # issue 15: cut at the first NUL
        (b"SE\x01\x1b[31m\x7f5000H", "SE[31m5000H"),  # control characters dropped
        (b"Fronius \xe2\x80\x93 Symo", "Fronius \u2013 Symo"),  # UTF-8 kept
        (b"Symo\xff\xfe GEN24", "Symo GEN24"),  # bytes that are no UTF-8 dropped
        (b"\xff" * 16, None),
        (b" " * 16, None),
        (b"\x00SIM0001" + b"\x00" * 8, None),  # a NUL first: nothing
        (b"\t\r\n  \x00", None),
    ],
)
def test_text_registers_cut_at_nul_printable_only_and_padding_stripped(data: bytes, text: str | None) -> None:
    """Issue 15 section 3: every text decoded from registers."""
    regs = words_of(data.ljust(16, b"\x00"))
    assert decode(point(type=DataType.STRING, count=8), regs) == text
    swapped = [((w & 0xFF) << 8) | (w >> 8) for w in regs]
    assert decode(point(type=DataType.STRING, count=8, byte_order="little"), swapped) == text


def test_string_encode_pads_and_refuses_too_long() -> None:
    p = point(type=DataType.STRING, count=3)
    assert encode(p, "abc") == words_of(b"abc\x00\x00\x00")
    with pytest.raises(CommandError) as err:
        encode(p, "abcdefg")
    assert err.value.code == "out_of_range"


def test_scale_offset_and_precision_rounding() -> None:
    p = point(type=DataType.S16, scale=0.1, offset=-40, precision=1)
    assert decode(p, [652]) == 25.2  # 65.2 - 40
    assert decode(point(scale=0.1), [2307]) == 230.7  # no float noise like 230.70000000000002
    f = point(type=DataType.F32, precision=1)
    assert decode(f, words_of(struct.pack(">f", 230.12345))) == 230.123  # precision + 2 decimals


def test_integers_stay_integers() -> None:
    assert decode(point(), [1234]) == 1234
    assert isinstance(decode(point(), [1234]), int)
    assert decode(point(scale=10), [5]) == 50


def test_sunspec_scale_factor() -> None:
    p = point(type=DataType.U16, sf="v_sf", precision=1)
    assert decode(p, [2305], -1) == 230.5
    assert decode(p, [23], 1) == 230
    assert decode(p, [2305], None) is None  # cannot be scaled without its scale factor


def test_invalid_raw_values() -> None:
    assert decode(point(type=DataType.U16, invalid=(0xFFFF,)), [0xFFFF]) is None
    assert decode(point(type=DataType.S16, invalid=(0x8000,)), [0x8000]) is None
    assert decode(point(type=DataType.S16, invalid=(-1,)), [0xFFFF]) is None  # signed spelling works too
    assert decode(point(type=DataType.ACC32, invalid=(0,)), [0, 0]) is None
    assert decode(point(type=DataType.ACC32, invalid=(0,)), [0, 7]) == 7


def test_sunssf_decodes_exponent_and_rejects_garbage() -> None:
    sf = point(type=DataType.SUNSSF, invalid=(0x8000,))
    assert decode(sf, [0xFFFE]) == -2
    assert decode(sf, [3]) == 3
    assert decode(sf, [0x8000]) is None
    assert decode(sf, [100]) is None


def test_nan_float_is_not_available() -> None:
    nan = words_of(struct.pack(">f", float("nan")))
    assert decode(point(type=DataType.F32), nan) is None
    inf = words_of(struct.pack(">d", float("inf")))
    assert decode(point(type=DataType.F64), inf) is None


def test_enum_bool_bitfield() -> None:
    status = point(kind="enum", options={1: "off", 4: "mppt"})
    assert decode(status, [4]) == "mppt"
    assert decode(status, [9]) is None  # unknown value: left out, never a made-up option
    switch = point(kind="bool", on_value=0xAA, off_value=0x55)
    assert decode(switch, [0xAA]) is True
    assert decode(switch, [0x55]) is False
    assert decode(switch, [0]) is None
    bits = point(kind="bitfield", type=DataType.BITFIELD32, bits={0: "a", 17: "b"})
    assert decode(bits, [0x0002, 0x0001]) == (1 << 17) | 1


def test_wrong_register_count_is_an_error() -> None:
    with pytest.raises(RegisterError, match="expected 2 registers"):
        decode(point(type=DataType.U32), [1])


def test_encode_scaled_number_with_sf_and_offset() -> None:
    limit = point(sf="wmaxlimpct_sf", writable=Writable(min=0, max=100, step=1))
    assert encode(limit, 75, -2) == [7500]
    assert decode(limit, encode(limit, 75, -2), -2) == 75
    temp = point(type=DataType.S16, scale=0.1, offset=-40)
    assert encode(temp, -45.5) == [(-55) & 0xFFFF]
    with pytest.raises(CommandError) as err:
        encode(limit, 75)
    assert err.value.code == "write_failed"


def test_encode_refuses_values_that_do_not_fit() -> None:
    with pytest.raises(CommandError) as err:
        encode(point(type=DataType.U16), 70000)
    assert err.value.code == "out_of_range"
    with pytest.raises(CommandError) as err:
        encode(point(type=DataType.U16), -1)
    assert err.value.code == "out_of_range"
    with pytest.raises(CommandError) as err:
        encode(point(), "fast")
    assert err.value.code == "invalid_value"


def test_encode_enum_bool_action() -> None:
    mode = point(kind="enum", options={0: "self_consumption", 2: "forced"})
    assert encode(mode, "forced") == [2]
    with pytest.raises(CommandError) as err:
        encode(mode, "turbo")
    assert err.value.code == "invalid_value"
    switch = point(kind="bool", on_value=0xAA, off_value=0x55)
    assert encode(switch, True) == [0xAA]
    assert encode(switch, False) == [0x55]
    with pytest.raises(CommandError):
        encode(switch, "maybe")
    button = point(kind="action", press_value=7)
    assert encode(button, None) == [7]
    assert decode(button, [7]) is None


def test_decode_block_uses_scale_factors_from_the_block_and_elsewhere() -> None:
    w = point(key="w", address=10, type=DataType.S16, sf="w_sf")
    w_sf = point(key="w_sf", address=11, type=DataType.SUNSSF, invalid=(0x8000,))
    v = point(key="v", address=12, sf="v_sf", precision=1)
    block = ReadBlock(Function.HOLDING, 10, 3, (w, w_sf, v))
    assert decode_block(block, [0xFFFF, 1, 2305], {"v_sf": -1}) == {"w": -10, "w_sf": 1, "v": 230.5}
    # a scale factor that is not implemented makes its points unavailable, not wrong
    assert decode_block(block, [5, 0x8000, 2305], {"v_sf": -1}) == {"v": 230.5}


def test_decode_reads_scales_by_another_block_only_when_read_around_it() -> None:
    """Issue 15 section 2: a scale factor from another request is used only when it was read right before
    and right after the value's block with the same value (a device may change it in between)."""
    v = point(key="v", address=0, sf="v_sf", precision=1)
    v_sf = point(key="v_sf", address=100, type=DataType.SUNSSF)
    value = (ReadBlock(Function.HOLDING, 0, 1, (v,)), [2305])

    def sf(raw: int) -> tuple[ReadBlock, list[int]]:
        return ReadBlock(Function.HOLDING, 100, 1, (v_sf,)), [raw]

    assert decode_reads([sf(0xFFFF), value, sf(0xFFFF)]) == {"v": 230.5, "v_sf": -1}
    assert decode_reads([sf(0xFFFF), value, sf(0)]) == {"v_sf": 0}  # changed in between: left out
    assert decode_reads([value, sf(0xFFFF)]) == {"v_sf": -1}  # read on one side only: left out
    both = ReadBlock(Function.HOLDING, 0, 101, (v, v_sf))
    assert decode_reads([(both, [2305, *([0] * 99), 0xFFFF])]) == {"v": 230.5, "v_sf": -1}


@pytest.mark.parametrize(
    ("value", "precision", "published"),
    [
        (12345.6, 2, 12345.6),  # issue 15: was 12345.5996
        (5344.86, 2, 5344.86),
        (0.1, None, 0.1),  # was 0.1 only by the 6-decimal rounding
        (230.1, 1, 230.1),
        (1e-7, None, 0.0),  # below the 6 decimals a point without precision keeps
        (16777217.0, 0, 16777216),  # float32 cannot hold it: the value the register holds
    ],
)
def test_float32_is_the_shortest_decimal_of_the_register(
    value: float, precision: int | None, published: float
) -> None:
    p = point(type=DataType.F32, precision=precision)
    assert decode(p, encode(p, value)) == published
    assert repr(decode(p, encode(p, value))) == repr(float(published))
