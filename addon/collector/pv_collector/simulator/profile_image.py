"""A simulated device's registers, laid out from its profile and written by point key.

The simulator states no register address of its own: a `ProfileImage` places the registers where the
device's profile says they are (a SunSpec device: the model chain, placed by the collector's own
`sunspec.place_model` from the collector's SunSpec definitions), and values go in and out by point key
through the collector's own encoder and decoder:

    image = ProfileImage.from_profile(load_profile("sdm630"))
    image.set("frequency", 50.01)        # into the f32 input registers the profile names
    image.get("frequency")               # 50.01 (within float32 precision)

A profile change therefore changes the simulator with it. Registers between points of a static profile
exist (they read as 0), as on most devices, so the collector's read plan can bridge gaps; registers of a
SunSpec model that no point of the collector's definition covers hold 0xFFFF (SunSpec's "not
implemented" for uint16, the most common type); points start at their "not available" value.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pv_collector import sunspec
from pv_collector.decode import computed_values, decode, encode, int_to_registers
from pv_collector.errors import CommandError
from pv_collector.model import DataType, Function, Point, Profile, Value
from pv_collector.register_image import Identity, RegisterImage, Source, SourceKind
from pv_collector.sunspec_models import SunSpecModelDef, load_sunspec_model

UNCOVERED = 0xFFFF  # SunSpec registers no point describes
END_MARKER = (sunspec.END_MODEL_ID, 0)
ILLEGAL_DATA_ADDRESS = 2
ILLEGAL_DATA_VALUE = 3
_SIGNED = frozenset({DataType.S16, DataType.S32, DataType.S64, DataType.SUNSSF})
_INTEGERS = frozenset(
    {DataType.U16, DataType.S16, DataType.U32, DataType.S32, DataType.U64, DataType.S64, DataType.ACC32}
)


class WriteRefused(Exception):
    """A client's write the device refuses: `code` 2 (not a writable register) or 3 (bad value)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One SunSpec model of a simulated device's chain: `modules` instances of a repeating group sized by
    the model's length (160's MPPT modules), `counts` the values of its count points (705's NCrv, NPt)."""

    model: int
    modules: int = 0
    counts: tuple[tuple[str, int], ...] = ()


def _unset_words(point: Point) -> list[int]:
    """The registers of a point that holds no value yet: its first "not available" raw value, else 0."""
    if point.invalid and point.type is not DataType.STRING:
        raw = point.invalid[0] & ((1 << (16 * point.words)) - 1)
        return int_to_registers(raw, point.words, point.word_order, point.byte_order)
    return [0] * point.words


def _answer_identify(profile: Profile, image: RegisterImage) -> None:
    """Registers for the profile's `identify` probes that no point covers: the first value a `values` probe
    names, the low end of a `range` (a `match` probe reads a point's text, set by the device)."""
    for probe in profile.identify:
        if image.has(probe.function, probe.address, probe.words) or probe.match is not None:
            continue
        raw = probe.values[0] if probe.values else int(probe.range[0] if probe.range else 0)
        if probe.type in (DataType.F32, DataType.F64):
            fmt = ">f" if probe.type is DataType.F32 else ">d"
            raw = int.from_bytes(struct.pack(fmt, float(probe.range[0] if probe.range else raw)), "big")
        bits = 16 * probe.words
        words = int_to_registers(raw & ((1 << bits) - 1), probe.words, probe.word_order, probe.byte_order)
        image.put(probe.function, probe.address, words)


class ProfileImage:
    """The register image of one simulated device and the profile points that describe it."""

    def __init__(self, profile: Profile, points: Sequence[Point], image: RegisterImage) -> None:
        self.profile = profile
        self.image = image
        self.points: dict[str, Point] = {point.key: point for point in points}
        self._writable: dict[int, Point] = {}  # by the register a client writes to (`Point.target`)
        for point in points:
            if point.writable is not None and point.function is Function.HOLDING:
                for register in range(point.target, point.target + point.words):
                    self._writable[register] = point

    @staticmethod
    def _empty(profile: Profile) -> RegisterImage:
        return RegisterImage(
            identity=Identity(profile=profile.id, vendor=profile.manufacturer, model=profile.model),
            source=Source(
                kind=SourceKind.SIMULATOR,
                citation=f"PV Monitor simulator, laid out from profile {profile.id}",
            ),
        )

    @classmethod
    def from_profile(cls, profile: Profile) -> ProfileImage:
        """A device with fixed addresses: every register from the first to the last point of each table."""
        image = cls._empty(profile)
        for function in Function:
            points = [p for p in profile.points if p.function is function and not p.computed]
            if not points:
                continue
            start = min(p.address for p in points)
            image.put(function, start, [0] * (max(p.end for p in points) - start))
            for point in points:
                image.put(function, point.address, _unset_words(point))
        for point in profile.points:  # registers a client writes to elsewhere than it reads (write_address)
            if point.write_address is not None and not image.has(Function.HOLDING, point.target, point.words):
                image.put(Function.HOLDING, point.target, _unset_words(point))
        _answer_identify(profile, image)
        layout = cls(profile, profile.points, image)
        for point in layout.points.values():  # it reports the manufacturer and model its profile names
            reported = {"manufacturer": profile.manufacturer, "model": profile.model}.get(point.info or "")
            if reported and point.type is DataType.STRING:
                layout.set(point.key, reported[: point.chars_per_register * point.count])
        return layout

    @classmethod
    def sunspec(
        cls, profile: Profile, chain: Sequence[ModelSpec], *, extra_dirs: Sequence[Path] = ()
    ) -> ProfileImage:
        """A SunSpec device: "SunS" at the profile's base, the models of `chain`, the end marker.

        Raises ValueError for a model without a definition or a count the model does not have.
        """
        image = cls._empty(profile)
        base = profile.sunspec_base if profile.sunspec_base is not None else sunspec.BASE_ADDRESSES[0]
        image.put(Function.HOLDING, base, list(sunspec.SUNS_MARKER))
        address = base + len(sunspec.SUNS_MARKER)
        models: list[tuple[SunSpecModelDef, sunspec.SunSpecModel]] = []
        count_words: list[tuple[int, int]] = []
        instances: dict[int, int] = {}
        for spec in chain:
            definition = load_sunspec_model(spec.model, extra_dirs)
            if definition is None:
                raise ValueError(f"SunSpec model {spec.model} has no definition")
            counts = dict(spec.counts)
            offsets = definition.count_points
            unknown = sorted(set(counts) - set(offsets))
            if unknown:
                raise ValueError(f"SunSpec model {spec.model} has no count point {', '.join(unknown)}")
            length = definition.length_for(counts, modules=spec.modules)
            instances[spec.model] = instances.get(spec.model, 0) + 1
            model = sunspec.SunSpecModel(
                id=spec.model,
                address=address,
                length=length,
                instance=instances[spec.model],
                known=True,
                counts=tuple(counts.items()),
            )
            models.append((definition, model))
            image.put(Function.HOLDING, address, [spec.model, length, *([UNCOVERED] * length)])
            count_words.extend((address + 2 + offsets[name], value) for name, value in counts.items())
            address += 2 + length
        image.put(Function.HOLDING, address, list(END_MARKER))
        points = sunspec.place_models(models)
        for point in points:
            image.put(Function.HOLDING, point.address, _unset_words(point))
        for register, value in count_words:  # the counts the layout was made for
            image.put(Function.HOLDING, register, [value])
        return cls(profile, points, image)

    # ------------------------------------------------------------------ values by point key

    def point(self, key: str) -> Point:
        """The point `key`; ValueError naming the profile if it has none."""
        try:
            return self.points[key]
        except KeyError:
            raise ValueError(f"profile {self.profile.id} has no point {key!r}") from None

    def _scale_factor(self, point: Point) -> int | None:
        if point.sf is None:
            return None
        value = self.get(point.sf)
        if not isinstance(value, int):
            raise ValueError(f"{point.key}: its scale factor {point.sf} is not set")
        return value

    def get(self, key: str) -> Value | None:
        """The decoded value of a point (None: not available; a computed point: from its inputs)."""
        point = self.point(key)
        if point.compute is not None:
            inputs = {name: value for name in point.compute.inputs if (value := self.get(name)) is not None}
            return computed_values([point], inputs).get(key)
        words = self.image.words(point.function, point.address, point.words)
        return decode(point, words, self._scale_factor(point) if point.sf else None)

    def set(self, key: str, value: Value) -> None:
        """Write a value in the point's decoded units (an option name for enums, a bool for bool points).

        Numbers beyond what the register can hold are clamped to its range, leaving out the raw values
        that mean "not available". Raises ValueError for an unknown key, an unset scale factor or a value
        the point cannot take (a wrong option name, text too long).
        """
        point = self.point(key)
        if point.compute is not None:
            raise ValueError(f"{key} is computed from {', '.join(point.compute.inputs)}: set those instead")
        sf = self._scale_factor(point)
        try:
            words = encode(point, value, sf)
        except CommandError as err:
            if err.code != "out_of_range" or not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(str(err)) from None
            words = encode(point, self._clamped(point, float(value), sf), sf)
        self.image.put(point.function, point.address, words)

    @staticmethod
    def _clamped(point: Point, value: float, sf: int | None) -> float:
        if point.type not in _INTEGERS:
            raise ValueError(f"{point.key}: {value} does not fit {point.type.value}")
        bits = 16 * point.words
        mask = (1 << bits) - 1
        low, high = (-(1 << (bits - 1)), mask >> 1) if point.type in _SIGNED else (0, mask)
        if (high & mask) in point.invalid:
            high -= 1
        if (low & mask) in point.invalid:
            low += 1
        factor = 10.0 ** (sf or 0) * point.scale
        bounds = sorted((low * factor + point.offset, high * factor + point.offset))
        return min(max(value, bounds[0]), bounds[1])

    # ------------------------------------------------------------------ client writes

    def write(self, address: int, words: Sequence[int]) -> dict[str, Value]:
        """A client's write of holding registers from `address`: the decoded values of the points written.

        Raises `WriteRefused` with code 2 when a register is not part of a writable point, 3 when a
        written point decodes to no value or one outside its writable range. Nothing is stored then.
        """
        touched: dict[str, Point] = {}
        for register in range(address, address + len(words)):
            point = self._writable.get(register)
            if point is None:
                raise WriteRefused(ILLEGAL_DATA_ADDRESS, f"register {register} is not writable")
            touched[point.key] = point
        # The point's current registers, placed where a client writes them, then the written words.
        merged = {
            point.target + offset: word
            for point in touched.values()
            for offset, word in enumerate(self.image.words(Function.HOLDING, point.address, point.words))
        }
        merged.update({address + index: word for index, word in enumerate(words)})
        changes: dict[str, Value] = {}
        for key, point in touched.items():
            registers = [merged[register] for register in range(point.target, point.target + point.words)]
            value = decode(point, registers, self._scale_factor(point) if point.sf else None)
            limits = point.writable
            out_of_range = (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and limits is not None
                and (
                    (limits.min is not None and value < limits.min)
                    or (limits.max is not None and value > limits.max)
                )
            )
            if value is None or out_of_range:
                raise WriteRefused(ILLEGAL_DATA_VALUE, f"{key}: {registers} is not a value it accepts")
            changes[key] = value
        for point in touched.values():  # read back where the point is read (its write_address may differ)
            written = [merged[register] for register in range(point.target, point.target + point.words)]
            self.image.put(Function.HOLDING, point.address, written)
            if point.target != point.address:
                self.image.put(Function.HOLDING, point.target, written)
        return changes
