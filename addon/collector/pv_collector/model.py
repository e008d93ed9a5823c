"""The collector's typed model of devices: points, profiles and read blocks.

A profile (a YAML data file, see docs/profiles.md) becomes a `Profile` holding `Point`s. The planner
turns points into `ReadBlock`s; the decoder turns the registers of a block into values. Everything here is
plain data: no I/O, no Home Assistant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol, get_args

type Value = float | int | str | bool


class Function(StrEnum):
    """Modbus register table a point lives in."""

    HOLDING = "holding"  # FC3 read, FC6/FC16 write
    INPUT = "input"  # FC4 read, never writable


class DataType(StrEnum):
    """Register encodings a point can have."""

    U16 = "u16"
    S16 = "s16"
    U32 = "u32"
    S32 = "s32"
    U64 = "u64"
    S64 = "s64"
    F32 = "f32"
    F64 = "f64"
    STRING = "string"
    BITFIELD16 = "bitfield16"
    BITFIELD32 = "bitfield32"
    SUNSSF = "sunssf"  # SunSpec scale factor: s16 exponent, 0x8000 = not implemented
    ACC32 = "acc32"  # SunSpec accumulator: u32, 0 = not implemented

    @property
    def words(self) -> int:
        """Registers taken by one value (strings use `Point.count`)."""
        return _WORDS[self]


_WORDS: dict[DataType, int] = {
    DataType.U16: 1,
    DataType.S16: 1,
    DataType.U32: 2,
    DataType.S32: 2,
    DataType.U64: 4,
    DataType.S64: 4,
    DataType.F32: 2,
    DataType.F64: 4,
    DataType.STRING: 1,
    DataType.BITFIELD16: 1,
    DataType.BITFIELD32: 2,
    DataType.SUNSSF: 1,
    DataType.ACC32: 2,
}

type Order = Literal["big", "little"]
type PointKind = Literal["number", "enum", "text", "bitfield", "bool", "action"]
type DeviceKind = Literal["inverter", "meter", "battery", "environment", "other"]
type Parity = Literal["N", "E", "O"]
PARITIES: tuple[Parity, ...] = get_args(Parity.__value__)


@dataclass(frozen=True, slots=True)
class Computation:
    """A computed point's value: the sum of other points of the same poll cycle, each taken + or -.

    `terms` are (point key, +1 or -1); the sum is then scaled like a register value (`Point.scale`,
    `Point.offset`). Example: grid power = import power - export power is `(("import", 1), ("export", -1))`.
    """

    terms: tuple[tuple[str, int], ...]

    @property
    def inputs(self) -> tuple[str, ...]:
        """Keys of the points the value is computed from."""
        return tuple(key for key, _sign in self.terms)


@dataclass(frozen=True, slots=True, kw_only=True)
class Writable:
    """What a profile allows to be written to a point."""

    min: float | None = None
    max: float | None = None
    step: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One value of a device: where it lives on the wire and what it means."""

    key: str
    name: str
    address: int
    function: Function = Function.HOLDING
    type: DataType = DataType.U16
    count: int = 1  # registers, for strings
    word_order: Order = "big"
    byte_order: Order = "big"
    scale: float = 1.0  # multiplier applied after decoding (and after a scale factor)
    offset: float = 0.0  # added after scaling
    sf: str | None = None  # key of the point holding this point's SunSpec scale factor
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    precision: int | None = None
    category: Literal["diagnostic", "config"] | None = None
    role: str | None = None
    options: dict[int, str] | None = None  # raw value -> option name (enum points)
    bits: dict[int, str] | None = None  # bit number -> condition name (bitfield points)
    kind: PointKind = "number"
    writable: Writable | None = None
    on_value: int = 1  # bool points: raw value meaning true
    off_value: int = 0
    press_value: int = 1  # action points: raw value written on press
    range: tuple[float, float] | None = None  # plausible physical range (decoded units)
    max_rate: float | None = None  # counters: largest plausible increase per hour (decoded units)
    resets: Literal["daily"] | None = None  # total_increasing: None = a lifetime counter, never back to 0
    invalid: tuple[int, ...] = ()  # raw values meaning "not available" (e.g. 0xFFFF)
    hidden: bool = False  # read (e.g. scale factors, device info) but not published
    # published, but most users do not need it (contract `advanced`: consumers create the entity disabled),
    # e.g. SunSpec points outside the key vocabulary
    advanced: bool = False
    info: Literal["manufacturer", "model", "serial", "firmware"] | None = None
    # Writing this point also writes: first the device's configured revert timeout (seconds) to the point
    # `revert_point`, then "on" to the bool point `enable_point` (SunSpec WMaxLimPct_RvrtTms, WMaxLim_Ena).
    revert_point: str | None = None
    enable_point: str | None = None
    # Computed points have no registers: `compute` sums other points of the same cycle (`address` is 0).
    compute: Computation | None = None
    # Writable points whose device takes writes at another register than it reads them back from (SolaX).
    write_address: int | None = None
    chars_per_register: Literal[1, 2] = 2  # strings: 1 = one character per register, in its low byte

    @property
    def computed(self) -> bool:
        """True for a computed point (no registers of its own)."""
        return self.compute is not None

    @property
    def words(self) -> int:
        """Registers this point occupies (0 for a computed point)."""
        if self.compute is not None:
            return 0
        return self.count if self.type is DataType.STRING else self.type.words

    @property
    def target(self) -> int:
        """Register a write to this point goes to: `write_address`, else its own `address`."""
        return self.address if self.write_address is None else self.write_address

    @property
    def end(self) -> int:
        """First register after this point."""
        return self.address + self.words


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterBase:
    """How the vendor's document numbers registers: document number - base = wire address, per table.

    A document numbering from 1 has base 1; Modicon-style "30001"/"40001" numbers have base 30001 for
    input and 40001 for holding registers. Profiles keep wire addresses; the base only lets tools print
    the document's numbers beside them.
    """

    holding: int = 0
    input: int = 0

    def document_number(self, function: Function, address: int) -> int:
        """The number the vendor's document gives the register at wire `address`."""
        return address + (self.holding if function is Function.HOLDING else self.input)

    @property
    def is_wire(self) -> bool:
        """True when the document's numbers are the wire addresses (base 0 in both tables)."""
        return self.holding == 0 and self.input == 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """How the vendor documents reaching the device: defaults for `identify` and configuration hints, and
    quirks the bus honours (`delay_after_connect`, `request_interval`, `write_function`)."""

    tcp_port: int | None = None
    unit_id: int | None = None
    baudrate: int | None = None
    parity: Parity | None = None
    stopbits: int | None = None
    delay_after_connect: float = 0.0  # seconds of silence after the connection is (re)opened
    request_interval: float = 0.0  # seconds of silence between two requests to this device
    write_function: Literal[6, 16] = 6  # 16: FC16 even for a single register (6: FC6 for one, FC16 more)


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentifyProbe:
    """One register read that tells a device type apart, and what its raw value must be.

    Exactly one test applies: `match` (a regular expression searched in the text of a `string` probe),
    `values` (the raw integer is one of them) or `range` (the raw number lies within, both ends included).
    """

    address: int
    function: Function = Function.HOLDING
    type: DataType = DataType.U16
    count: int = 1
    word_order: Order = "big"
    byte_order: Order = "big"
    chars_per_register: Literal[1, 2] = 2
    match: str | None = None
    values: tuple[int, ...] = ()
    range: tuple[float, float] | None = None

    def as_point(self) -> Point:
        """The probe's register layout as a (hidden) point, for the decoder."""
        return Point(
            key="identify",
            name="identify",
            address=self.address,
            function=self.function,
            type=self.type,
            count=self.count,
            word_order=self.word_order,
            byte_order=self.byte_order,
            chars_per_register=self.chars_per_register,
            hidden=True,
        )

    @property
    def words(self) -> int:
        """Registers the probe reads."""
        return self.count if self.type is DataType.STRING else self.type.words

    def describe(self) -> str:
        """`holding 0xFC02 u16 in [112]` for reports."""
        if self.match is not None:
            test = f"~ /{self.match}/"
        elif self.values:
            test = "in [" + ", ".join(str(v) for v in self.values) + "]"
        else:
            low, high = self.range or (0.0, 0.0)
            test = f"in {low:g}..{high:g}"
        return f"{self.function.value} {self.address} {self.type.value} {test}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A device type: its register map and its reading limits."""

    id: str
    name: str
    manufacturer: str | None = None
    model: str | None = None
    kind: DeviceKind = "other"
    points: tuple[Point, ...] = ()
    max_block: int = 125  # registers per read the device accepts (<= 125)
    max_gap: int = 10  # unused registers the planner may read to join two blocks
    # SunSpec profiles: where to look for "SunS" (their points are found by scanning)
    sunspec_base: int | None = None
    sunspec_models: tuple[int, ...] = ()  # SunSpec profiles: models to use when found
    sleeps_at_night: bool = False
    # Energy counters without max_rate are bounded by the device's power (plausibility.rate_bound): the
    # rated power the device reports in `rated_power_point` (W or kW), at most `max_power` (W).
    max_power: float | None = None
    rated_power_point: str | None = None
    source: str = ""  # file the profile came from
    register_base: RegisterBase = field(default_factory=RegisterBase)
    connection: Connection = field(default_factory=Connection)
    identify: tuple[IdentifyProbe, ...] = ()
    # Wire address ranges (first, last; both tables) a read may only touch one point at a time: points in
    # them are read alone, and no block reaches into them (devices that refuse multi-register reads there).
    single_registers: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One Modbus read request covering one or more points."""

    function: Function
    address: int
    count: int
    points: tuple[Point, ...] = field(default=())


class RegisterReader(Protocol):
    """Anything that can read registers of one device (a bus client bound to a unit id)."""

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        """Return `count` registers from `address`; raise `ModbusError` subclasses on failure."""
        ...
