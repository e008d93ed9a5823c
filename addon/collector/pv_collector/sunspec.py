"""SunSpec discovery: find "SunS", walk the model chain and place the points of every model it reports.

A SunSpec device starts its register map with the marker "SunS" (0x5375 0x6E53) at a base address
(40000, 50000 or 0), followed by models, each an ID register, a length register L and L registers of
data, until the end marker ID 0xFFFF. The points of model N come from its SunSpec definition with PV
Monitor's overlay (`sunspec_models`, offsets after ID and L) and are placed at `model start + 2 +
offset`. A repeating group whose count is a point of the model (705's NCrv curves of NPt points) is laid
out from that point's value, read at discovery; a group without one (160's MPPT modules) fills the
length the device reports. Points beyond that length (a shorter model version) are left out. Where the
overlay gives a meaning only for some values of another point of the group instance (`when`: 714's
ports are PV strings only where `PrtTyp` reads PV), that point is read at discovery as well.

Keys are unique across the device: the second instance of a model gets `_2` on every key (third `_3`,
...), and a key already used by another model gets `_m<model id>`. Which model keeps a key does not
depend on the chain order alone: the models of the first information-model generation (1-699: common,
inverters 1xx, meters 2xx, ...) come first, then the 700-series DER models, then the 800-series storage
models, then the rest (vendor models); within each, the chain order. So a device reporting 103 and 701
publishes 103's `ac_power`/`energy_total`, and 701's as `ac_power_m701`/`energy_total_m701`, whether a
firmware update put 701 before or after 103. A point that lost its key this way also loses its role (a
role names one point per device: energy wiring and alerts count it once) and is marked advanced.

`implemented` reads the placed points once and leaves out those the device answers SunSpec's "not
implemented" value for: a point that always reads it would never have a value (the poller's discovery).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .decode import holds_not_available
from .errors import ModbusExceptionResponse, ProfileError
from .model import DataType, DeviceKind, Function, Point, Profile, RegisterReader
from .planner import plan_reads
from .sunspec_models import Condition, SunSpecModelDef, load_sunspec_model

_LOGGER = logging.getLogger(__name__)

SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
END_MODEL_ID = 0xFFFF
BASE_ADDRESSES = (40000, 50000, 0)
MAX_MODELS = 100  # a guard against devices whose chain never ends
NOT_IMPLEMENTED_COUNT = 0xFFFF  # a count point that holds SunSpec's uint16 "not implemented"


@dataclass(frozen=True, slots=True, kw_only=True)
class SunSpecModel:
    """One model found on the device."""

    id: int
    address: int  # register of the model's ID
    length: int  # L as the device reports it
    instance: int  # 1 for the first model with this id, 2 for the second, ...
    known: bool  # a definition was found and its points placed
    counts: tuple[tuple[str, int], ...] = ()  # values of its count points (repeating-group counts) as read
    plain: tuple[str, ...] = ()  # point instances whose overlay condition failed (`Condition.governs`)


@dataclass(frozen=True, slots=True, kw_only=True)
class SunSpecDevice:
    """What discovery found: where, which models, the absolute points, and the device kind they imply."""

    base: int
    models: tuple[SunSpecModel, ...]
    points: tuple[Point, ...]
    kind: DeviceKind


def kind_of_models(model_ids: Sequence[int], default: DeviceKind = "other") -> DeviceKind:
    """Device kind from the models present: inverter (1xx, 7xx DER) > battery (8xx) > meter (2xx)."""
    if any(100 <= m < 200 or 700 <= m < 800 for m in model_ids):
        return "inverter"
    if any(800 <= m < 900 for m in model_ids):
        return "battery"
    if any(200 <= m < 300 for m in model_ids):
        return "meter"
    return default


def _bases(profile: Profile) -> list[int]:
    bases = [profile.sunspec_base] if profile.sunspec_base is not None else []
    return list(dict.fromkeys([*bases, *BASE_ADDRESSES]))


async def find_base(reader: RegisterReader, profile: Profile) -> int:
    """The base address holding "SunS"; exception responses mean "not here", timeouts propagate."""
    for base in _bases(profile):
        try:
            marker = await reader.read(Function.HOLDING, base, 2)
        except ModbusExceptionResponse:
            continue
        if tuple(marker) == SUNS_MARKER:
            return base
    tried = ", ".join(str(b) for b in _bases(profile))
    raise ProfileError(f"profile {profile.id}: no SunSpec marker 'SunS' at {tried}")


def model_rank(model_id: int) -> int:
    """Which model keeps a key two models give (lower first, then the chain order): the first
    information-model generation (1-699) 0, the 700-series DER models 1, the 800-series storage models 2,
    anything else (vendor models) 3."""
    if model_id < 700:
        return 0
    if model_id < 800:
        return 1
    if model_id < 900:
        return 2
    return 3


def place_model(
    definition: SunSpecModelDef,
    address: int,
    length: int,
    instance: int,
    taken: set[str],
    *,
    counts: Mapping[str, int] | None = None,
    plain: Sequence[str] = (),
) -> list[Point]:
    """Absolute points of one model instance whose ID register is at `address`, for the length L the
    device reports, the values of the model's count points (`counts`, point name -> value) and the point
    instances laid out without the overlay (`plain`, see `read_conditions`). A key in `taken` gets
    `_m<model>`, loses its role and becomes advanced; `taken` gains the keys placed."""
    inside = [p for p in definition.points(length, counts, plain) if p.end <= length]
    kept_keys = {p.key for p in inside}
    inside = [p for p in inside if p.sf is None or p.sf in kept_keys]
    renamed: dict[str, str] = {}
    lost: set[str] = set()  # keys another model keeps
    for point in inside:
        key = point.key if instance == 1 else f"{point.key}_{instance}"
        if key in taken:
            key = f"{key}_m{definition.model}"
            lost.add(point.key)
        renamed[point.key] = key
    placed: list[Point] = []
    for point in inside:
        name = point.name if instance == 1 else f"{point.name} ({instance})"
        demoted = point.key in lost and not point.hidden
        placed.append(
            replace(
                point,
                key=renamed[point.key],
                name=name,
                address=address + 2 + point.address,
                sf=renamed[point.sf] if point.sf is not None else None,
                revert_point=renamed.get(point.revert_point) if point.revert_point else None,
                enable_point=renamed.get(point.enable_point) if point.enable_point else None,
                role=None if demoted else point.role,
                advanced=point.advanced or demoted,
            )
        )
    taken.update(renamed.values())
    return placed


def place_models(models: Sequence[tuple[SunSpecModelDef, SunSpecModel]]) -> list[Point]:
    """The absolute points of a device's models (each with its definition), keys given out in
    `model_rank` order and then chain order (module docstring), sorted by address."""
    taken: set[str] = set()
    points: list[Point] = []
    for definition, model in sorted(models, key=lambda item: model_rank(item[1].id)):  # stable: chain order
        points.extend(
            place_model(
                definition,
                model.address,
                model.length,
                model.instance,
                taken,
                counts=dict(model.counts),
                plain=model.plain,
            )
        )
    points.sort(key=lambda p: (p.address, p.key))
    return points


async def read_counts(
    reader: RegisterReader, definition: SunSpecModelDef, address: int, length: int
) -> dict[str, int]:
    """The values of the model's count points (repeating-group counts) on the device; a count the device
    refuses or does not implement is 0 (the group is left out)."""
    counts: dict[str, int] = {}
    for name, offset in definition.count_points.items():
        if offset >= length:
            continue
        try:
            (value,) = await reader.read(Function.HOLDING, address + 2 + offset, 1)
        except ModbusExceptionResponse as err:
            _LOGGER.warning("SunSpec model %d: count %s not readable (%s)", definition.model, name, err)
            value = 0
        counts[name] = 0 if value == NOT_IMPLEMENTED_COUNT else value
    return counts


async def read_conditions(
    reader: RegisterReader,
    definition: SunSpecModelDef,
    address: int,
    length: int,
    counts: Mapping[str, int],
) -> tuple[str, ...]:
    """The point instances of the model whose overlay meaning does not hold on the device (`Condition`):
    the condition point reads another value, is refused or lies beyond the model's length."""
    plain: list[str] = []
    for condition in definition.conditions(length, counts):
        if not await _holds(reader, condition, address, length):
            plain.extend(condition.governs)
    return tuple(plain)


async def _holds(reader: RegisterReader, condition: Condition, address: int, length: int) -> bool:
    if condition.offset >= length:
        return False
    try:
        (value,) = await reader.read(Function.HOLDING, address + 2 + condition.offset, 1)
    except ModbusExceptionResponse:
        return False
    return value in condition.allowed


async def scan(reader: RegisterReader, profile: Profile, extra_dirs: Sequence[Path] = ()) -> SunSpecDevice:
    """Find the SunSpec map of a device and place the points of every model it reports that has a
    definition (only those the profile lists, if it lists any)."""
    base = await find_base(reader, profile)
    wanted = set(profile.sunspec_models)
    models: list[SunSpecModel] = []
    defined: list[tuple[SunSpecModelDef, SunSpecModel]] = []
    instances: dict[int, int] = {}
    address = base + 2
    for _ in range(MAX_MODELS):
        if address + 2 > 0x10000:
            break
        try:
            model_id, length = await reader.read(Function.HOLDING, address, 2)
        except ModbusExceptionResponse as err:
            _LOGGER.warning("SunSpec chain ends at %d without end marker (%s)", address, err)
            break
        if model_id == END_MODEL_ID:
            break
        instance = instances.get(model_id, 0) + 1
        instances[model_id] = instance
        definition = load_sunspec_model(model_id, extra_dirs) if not wanted or model_id in wanted else None
        counts: dict[str, int] = {}
        plain: tuple[str, ...] = ()
        if definition is not None:
            counts = await read_counts(reader, definition, address, length)
            plain = await read_conditions(reader, definition, address, length, counts)
        else:
            _LOGGER.debug("SunSpec model %d at %d (length %d) is not used", model_id, address, length)
        model = SunSpecModel(
            id=model_id,
            address=address,
            length=length,
            instance=instance,
            known=definition is not None,
            counts=tuple(counts.items()),
            plain=plain,
        )
        models.append(model)
        if definition is not None:
            defined.append((definition, model))
        address += 2 + length
    else:
        _LOGGER.warning("SunSpec chain longer than %d models; stopped at %d", MAX_MODELS, address)
    points = place_models(defined)
    kind = kind_of_models([m.id for m in models if m.known], profile.kind)
    return SunSpecDevice(base=base, models=tuple(models), points=tuple(points), kind=kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class Implemented:
    """The points of a SunSpec device without those it does not implement (`left_out`, their keys)."""

    points: tuple[Point, ...]
    left_out: tuple[str, ...]


def reads_not_implemented(point: Point, registers: Sequence[int]) -> bool:
    """Whether the registers hold SunSpec's "not implemented" value for the point, a value that says the
    device does not have it (not that it has nothing to say now): 0xFFFF, 0x8000, 0xFFFFFFFF, 0x80000000,
    NaN, a string of NULs (`holds_not_available`). An accumulator's (0) says nothing: a counter that has
    not counted yet reads the same."""
    if 0 in point.invalid or point.kind == "action":
        return False
    if point.type is DataType.STRING:
        return not any(registers)
    return holds_not_available(point, registers)


async def implemented(
    reader: RegisterReader, points: Sequence[Point], profile: Profile, *, max_gap: int | None = None
) -> Implemented:
    """Read the device's points once (the read plan's blocks) and leave out those it does not implement
    (`reads_not_implemented`), with the points scaled by a scale factor left out (they can never be
    scaled). Kept are the points with a role (the device's power, energy, state, faults: a device that
    starts or sleeps may hold markers there for a while) and every point a kept point names (scale factor,
    revert or enable point). A refused block leaves its points in (nothing is known of them); a read not
    answered (`ModbusTimeout`, `ModbusConnectionError`) raises: a device that does not answer has said
    nothing."""
    gap = profile.max_gap if max_gap is None else max_gap
    blocks = plan_reads(
        points,
        max_block=profile.max_block,
        max_gap=gap,
        all_points=points,
        single_registers=profile.single_registers,
    )
    marked: set[str] = set()
    for block in blocks:
        try:
            words = await reader.read(block.function, block.address, block.count)
        except ModbusExceptionResponse:  # a register between two points, or a point, refused: one by one
            marked.update(await _marked_alone(reader, block.points))
            continue
        for point in block.points:
            start = point.address - block.address
            if reads_not_implemented(point, words[start : start + point.words]):
                marked.add(point.key)
    out = {point.key for point in points if point.key in marked and point.role is None}
    out |= {point.key for point in points if point.sf in out and point.role is None}
    named = {
        key
        for point in points
        if point.key not in out
        for key in (point.sf, point.revert_point, point.enable_point)
        if key is not None
    }
    out -= named
    return Implemented(
        points=tuple(point for point in points if point.key not in out),
        left_out=tuple(point.key for point in points if point.key in out),
    )


async def _marked_alone(reader: RegisterReader, points: Sequence[Point]) -> list[str]:
    """The keys of the points that read "not implemented", each read on its own (refused: not known)."""
    marked: list[str] = []
    for point in points:
        try:
            words = await reader.read(point.function, point.address, point.words)
        except ModbusExceptionResponse:
            continue
        if reads_not_implemented(point, words):
            marked.append(point.key)
    return marked


async def discover(
    reader: RegisterReader, profile: Profile, extra_dirs: Sequence[Path] = ()
) -> tuple[Point, ...]:
    """The absolute points of a SunSpec device (see `scan` for the models and kind as well)."""
    return (await scan(reader, profile, extra_dirs)).points
