"""Where each SunSpec point of the simulated inverter lives: the model chain placed from a base address.

Addresses are computed from `sunspec_table.MODELS` (generated from the official model JSON files), never
typed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from pv_collector.simulator.registers import (
    NOT_IMPLEMENTED_ACC32,
    NOT_IMPLEMENTED_S16,
    NOT_IMPLEMENTED_U16,
    NOT_IMPLEMENTED_U32,
    RegisterMap,
    s16,
    string,
    u16,
    u32,
)
from pv_collector.simulator.sunspec_model import ModelDef, PointDef
from pv_collector.simulator.sunspec_table import MODELS

SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
END_MARKER = (0xFFFF, 0)


def not_implemented(point: PointDef) -> list[int]:
    """SunSpec's "not implemented" value for a point of this type and size."""
    match point.type:
        case "int16" | "sunssf" | "pad":
            return [NOT_IMPLEMENTED_S16]
        case "acc32":
            return u32(NOT_IMPLEMENTED_ACC32)
        case "uint32" | "bitfield32":
            return [NOT_IMPLEMENTED_U32 >> 16, NOT_IMPLEMENTED_U32 & 0xFFFF]
        case "int32":
            return [0x8000, 0]
        case "string":
            return [0] * point.size
        case _:
            return [NOT_IMPLEMENTED_U16] * point.size


def encode(point: PointDef, value: float | str) -> list[int]:
    """Encode `value` (a raw integer, already scaled, or a string) for `point`."""
    if point.type == "string":
        return string(str(value), point.size)
    number = float(value)
    match point.type:
        case "int16" | "sunssf":
            return s16(number)
        case "acc32" | "uint32" | "bitfield32":
            return u32(number)
        case "uint16" | "enum16" | "bitfield16" | "count":
            return u16(number)
    raise ValueError(f"cannot encode SunSpec type {point.type} ({point.name})")


@dataclass(frozen=True, slots=True)
class PlacedModel:
    """A model in the chain: its definition, its ID register's address and its repetitions."""

    model: ModelDef
    address: int
    repeats: int


class SunSpecLayout:
    """The chain `SunS`, models..., end marker, placed from `base` into a holding `RegisterMap`."""

    def __init__(self, base: int, chain: tuple[tuple[int, int], ...], writable: dict[int, set[str]]) -> None:
        self.base = base
        self.models: dict[int, PlacedModel] = {}
        address = base + len(SUNS_MARKER)
        for model_id, repeats in chain:
            model = MODELS[model_id]
            self.models[model_id] = PlacedModel(model, address, repeats)
            address += 2 + model.length(repeats)
        self.end = address
        self.writable = writable

    def define(self, registers: RegisterMap) -> None:
        """Create every register of the chain, filled with IDs, lengths and "not implemented" values."""
        registers.define(self.base, SUNS_MARKER)
        for placed in self.models.values():
            model = placed.model
            allowed = self.writable.get(model.id, set())
            for point in model.points:
                registers.define(
                    placed.address + point.offset, not_implemented(point), writable=point.name in allowed
                )
            registers.set(placed.address, [model.id, model.length(placed.repeats)])
            if model.repeating is not None:
                for index in range(placed.repeats):
                    for point in model.repeating.points:
                        registers.define(self.group_address(model.id, index, point), not_implemented(point))
        registers.define(self.end, END_MARKER)

    def group_address(self, model_id: int, index: int, point: PointDef) -> int:
        """Address of `point` in repetition `index` of the model's repeating group."""
        placed = self.models[model_id]
        group = placed.model.repeating
        if group is None:
            raise KeyError(f"model {model_id} has no repeating group")
        return placed.address + placed.model.fixed_size + index * group.size + point.offset

    def address(self, model_id: int, name: str) -> int:
        """Address of the fixed point `name` of a model."""
        placed = self.models[model_id]
        return placed.address + placed.model.point(name).offset

    def point_at(self, address: int) -> tuple[int, PointDef] | None:
        """The fixed point starting at `address` (model id, definition), if any."""
        for model_id, placed in self.models.items():
            offset = address - placed.address
            if 0 <= offset < placed.model.fixed_size:
                for point in placed.model.points:
                    if point.offset == offset:
                        return model_id, point
        return None

    def set(self, registers: RegisterMap, model_id: int, name: str, value: float | str) -> None:
        """Write a fixed point's value."""
        point = self.models[model_id].model.point(name)
        registers.set(self.address(model_id, name), encode(point, value))

    def set_group(
        self, registers: RegisterMap, model_id: int, index: int, name: str, value: float | str
    ) -> None:
        """Write a point of repetition `index` of the model's repeating group."""
        group = self.models[model_id].model.repeating
        if group is None:
            raise KeyError(f"model {model_id} has no repeating group")
        point = next(p for p in group.points if p.name == name)
        registers.set(self.group_address(model_id, index, point), encode(point, value))
