"""SunSpec discovery against register images built from the SunSpec reference JSON.

The images are built here from `sunspec_reference/model_<N>.json` (the SunSpec Alliance's definitions),
independently of the collector's own model files, and read through an in-memory `RegisterReader`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pv_collector.decode import decode_reads
from pv_collector.errors import ModbusExceptionResponse, ModbusTimeout, ProfileError
from pv_collector.model import DataType, Function, Point, Profile
from pv_collector.planner import plan_reads
from pv_collector.profile import load_profile, load_sunspec_model
from pv_collector.sunspec import discover, scan

REFERENCE = Path(__file__).parent / "sunspec_reference"
NOT_IMPLEMENTED = {"uint16": 0xFFFF, "enum16": 0xFFFF, "bitfield16": 0xFFFF, "count": 0xFFFF,
                   "int16": 0x8000, "sunssf": 0x8000, "uint32": 0xFFFFFFFF, "bitfield32": 0xFFFFFFFF,
                   "int32": 0x80000000, "acc32": 0, "pad": 0x8000}  # fmt: skip


@dataclass(frozen=True)
class RefPoint:
    name: str
    offset: int  # from the model's ID register
    size: int
    type: str
    sf: str | None


def reference_layout(model: int, modules: int = 0) -> tuple[dict[str, RefPoint], int]:
    """Points of a reference model (repeating-group points named `<name>@<module>`) and its L."""
    group = json.loads((REFERENCE / f"model_{model}.json").read_text())["group"]
    points: dict[str, RefPoint] = {}
    offset = 0
    for p in group["points"]:
        points[p["name"]] = RefPoint(p["name"], offset, p["size"], p["type"], p.get("sf"))
        offset += p["size"]
    for sub in group.get("groups", []):
        for module in range(1, modules + 1):
            for p in sub["points"]:
                points[f"{p['name']}@{module}"] = RefPoint(
                    p["name"], offset, p["size"], p["type"], p.get("sf")
                )
                offset += p["size"]
    return points, offset - 2


def raw_words(point: RefPoint, value: Any) -> list[int]:
    if point.type == "string":
        data = str(value).encode().ljust(2 * point.size, b"\x00")
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if point.type == "float32":
        value = int.from_bytes(struct.pack(">f", value), "big")
    value = int(value) & ((1 << (16 * point.size)) - 1)
    return [(value >> (16 * (point.size - 1 - i))) & 0xFFFF for i in range(point.size)]


class Device:
    """A SunSpec register image and an in-memory `RegisterReader` over it."""

    def __init__(self, base: int = 40000) -> None:
        self.registers: dict[int, int] = {}
        self.base = base
        self.next = base + 2
        self.reads: list[tuple[Function, int, int]] = []
        self.fail_with: Exception | None = None
        self.put(base, [0x5375, 0x6E53])

    def put(self, address: int, words: list[int]) -> None:
        for i, word in enumerate(words):
            self.registers[address + i] = word

    def add_model(
        self, model: int, values: Mapping[str, Any], modules: int = 0, length: int | None = None
    ) -> dict[str, int]:
        """Append a model; unset points hold SunSpec "not implemented". Returns absolute addresses."""
        layout, full_length = reference_layout(model, modules)
        length = full_length if length is None else length
        start = self.next
        for name, point in layout.items():
            if point.offset >= length + 2:
                continue
            if name == "ID":
                value: Any = model
            elif name == "L":
                value = length
            elif name in values:
                value = values[name]
            else:
                value = "" if point.type == "string" else NOT_IMPLEMENTED.get(point.type, 0xFFFF)
            self.put(start + point.offset, raw_words(point, value))
        self.next = start + 2 + length
        return {name: start + point.offset for name, point in layout.items()}

    def add_raw_model(self, model: int, length: int) -> None:
        self.put(self.next, [model, length, *([0] * length)])
        self.next += 2 + length

    def end(self) -> None:
        self.put(self.next, [0xFFFF, 0])

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        self.reads.append((function, address, count))
        if self.fail_with is not None:
            raise self.fail_with
        if function is not Function.HOLDING:
            raise ModbusExceptionResponse(1)
        try:
            return [self.registers[a] for a in range(address, address + count)]
        except KeyError:
            raise ModbusExceptionResponse(2) from None

    async def poll(self, points: tuple[Point, ...]) -> dict[str, Any]:
        plan = plan_reads(points)
        reads = [(block, await self.read(block.function, block.address, block.count)) for block in plan]
        return decode_reads(reads)


INVERTER_VALUES: dict[int, dict[str, Any]] = {
    1: {"Mn": "SunSpec Simulated", "Md": "PV-5000", "Vr": "1.2.3", "SN": "SIM0001"},
    103: {"A": 1075, "AphA": 358, "AphB": 358, "AphC": 359, "A_SF": -2, "PhVphA": 2305, "PhVphB": 2311,
          "PhVphC": 2298, "V_SF": -1, "W": 2345, "W_SF": 0, "Hz": 5001, "Hz_SF": -2, "WH": 10234518,
          "WH_SF": 0, "TmpCab": 412, "Tmp_SF": -1, "St": 4, "Evt1": 1 << 7, "PF": 99, "PF_SF": 0},
    120: {"DERTyp": 4, "WRtg": 5000, "WRtg_SF": 0},
    123: {"WMaxLimPct": 7500, "WMaxLimPct_SF": -2, "WMaxLim_Ena": 1, "WMaxLimPct_RvrtTms": 0},
    160: {"DCA_SF": -2, "DCV_SF": -1, "DCW_SF": 0, "DCWH_SF": 0, "N": 2,
          "DCA@1": 512, "DCV@1": 3804, "DCW@1": 1947, "DCWH@1": 5_100_000,
          "DCA@2": 118, "DCV@2": 3801, "DCW@2": 449, "DCWH@2": 1_200_000},
    203: {"A": 1200, "A_SF": -2, "PhVphA": 2301, "PhVphB": 2302, "PhVphC": 2303, "V_SF": -1, "Hz": 4999,
          "Hz_SF": -2, "W": -1500, "W_SF": 0, "TotWhImp": 5_000_000, "TotWhExp": 7_250_500, "TotWh_SF": 0,
          "PF": -97, "PF_SF": 0, "Evt": 0},
}  # fmt: skip


@pytest.fixture
def profile() -> Profile:
    return load_profile("sunspec")


def simulated_inverter() -> tuple[Device, dict[int, dict[str, int]]]:
    device = Device()
    addresses = {}
    for model, values in INVERTER_VALUES.items():
        addresses[model] = device.add_model(model, values, modules=2 if model == 160 else 0)
    device.end()
    return device, addresses


async def test_discovers_the_simulated_inverter_chain(profile: Profile) -> None:
    device, addresses = simulated_inverter()
    found = await scan(device, profile)
    assert found.base == 40000
    assert [m.id for m in found.models] == [1, 103, 120, 123, 160, 203]
    assert all(m.known for m in found.models)
    assert found.kind == "inverter"
    by_key = {p.key: p for p in found.points}
    # points sit where the reference layout puts them
    assert by_key["serial"].address == addresses[1]["SN"]
    assert by_key["ac_power"].address == addresses[103]["W"]
    assert by_key["power_limit"].address == addresses[123]["WMaxLimPct"]
    assert by_key["pv2_voltage"].address == addresses[160]["DCV@2"]
    assert by_key["power"].address == addresses[203]["W"]
    keys = [p.key for p in found.points]
    assert len(keys) == len(set(keys))
    # a key two models share stays unique: the meter's power factor gets the model number
    assert by_key["power_factor"].address == addresses[103]["PF"]
    assert by_key["power_factor_m203"].address == addresses[203]["PF"]
    assert by_key["w_sf_m203"].address == addresses[203]["W_SF"]
    assert by_key["power"].sf == "w_sf_m203"


async def test_values_of_the_simulated_inverter(profile: Profile) -> None:
    device, _ = simulated_inverter()
    values = await device.poll(await discover(device, profile))
    expected = {
        "manufacturer": "SunSpec Simulated",
        "model": "PV-5000",
        "firmware": "1.2.3",
        "serial": "SIM0001",
        "ac_current": 10.75,
        "ac_current_l3": 3.59,
        "ac_voltage_l1": 230.5,
        "ac_voltage_l3": 229.8,
        "ac_power": 2345,
        "ac_frequency": 50.01,
        "energy_total": 10234.518,
        "temperature_cabinet": 41.2,
        "status": "mppt",
        "events": 1 << 7,
        "power_factor": 99,
        "der_type": "pv",
        "rated_power": 5000,
        "power_limit": 75,
        "power_limit_enabled": True,
        "power_limit_revert_time": 0,
        "pv1_current": 5.12,
        "pv1_voltage": 380.4,
        "pv1_power": 1947,
        "pv1_energy": 5100,
        "pv2_current": 1.18,
        "pv2_voltage": 380.1,
        "power": -1500,
        "voltage_l2": 230.2,
        "frequency": 49.99,
        "energy_import": 5000,
        "energy_export": 7250.5,
        "power_factor_m203": -97,
        "meter_events": 0,
    }
    assert {key: values.get(key) for key in expected} == expected
    # points the device does not implement are absent, never null or a sentinel
    for missing in ("temperature_transformer", "ac_voltage_l1_l2", "dc_current", "ac_apparent_power"):
        assert missing not in values


async def test_meter_only_device_at_base_50000(profile: Profile) -> None:
    device = Device(base=50000)
    device.add_model(1, INVERTER_VALUES[1])
    device.add_model(203, INVERTER_VALUES[203])
    device.end()
    found = await scan(device, profile)
    assert found.base == 50000
    assert found.kind == "meter"
    values = await device.poll(found.points)
    assert values["power"] == -1500
    assert values["power_factor"] == -97  # no inverter model: the meter keeps the plain key
    assert (Function.HOLDING, 40000, 2) in device.reads  # looked at 40000 first


async def test_base_zero_and_profile_base_first() -> None:
    device = Device(base=0)
    device.add_model(1, INVERTER_VALUES[1])
    device.end()
    custom = Profile(id="x", name="X", sunspec_base=1000, sunspec_models=(1,))
    found = await scan(device, custom)
    assert found.base == 0
    assert [address for _, address, _ in device.reads[:4]] == [1000, 40000, 50000, 0]
    assert found.kind == "other"


async def test_repeated_models_get_a_suffix(profile: Profile) -> None:
    device = Device()
    device.add_model(1, INVERTER_VALUES[1])
    device.add_model(203, INVERTER_VALUES[203])
    second = dict(INVERTER_VALUES[203], W=800, W_SF=1)
    device.add_model(203, second)
    device.end()
    found = await scan(device, profile)
    assert [m.instance for m in found.models] == [1, 1, 2]
    by_key = {p.key: p for p in found.points}
    assert by_key["power_2"].sf == "w_sf_2"
    assert by_key["power_2"].name == "Power (2)"
    values = await device.poll(found.points)
    assert values["power"] == -1500
    assert values["power_2"] == 8000


async def test_points_beyond_the_reported_length_are_left_out(profile: Profile) -> None:
    device = Device()
    _, one_module_length = reference_layout(160, modules=1)
    device.add_model(160, {k: v for k, v in INVERTER_VALUES[160].items() if "@2" not in k}, modules=1)
    device.end()
    points = await discover(device, profile)
    keys = {p.key for p in points}
    assert {"pv1_current", "pv1_voltage", "pv1_power", "pv1_energy"} <= keys
    assert not any(k.startswith("pv2_") for k in keys)
    assert (await device.poll(points))["pv1_voltage"] == 380.4
    assert one_module_length == 28


async def test_unknown_and_unwanted_models_are_skipped(profile: Profile) -> None:
    device = Device()
    device.add_model(1, INVERTER_VALUES[1])
    device.add_raw_model(64001, 7)  # a vendor model nobody describes
    device.add_model(103, INVERTER_VALUES[103])
    device.end()
    found = await scan(device, profile)
    assert [(m.id, m.known) for m in found.models] == [(1, True), (64001, False), (103, True)]
    assert {p.key for p in found.points} >= {"ac_power", "serial"}
    only_common = Profile(id="x", name="X", sunspec_base=40000, sunspec_models=(1,))
    found = await scan(device, only_common)
    assert {p.key for p in found.points} == {"manufacturer", "model", "firmware", "serial"}


async def test_chain_without_end_marker_stops_at_the_last_register(profile: Profile) -> None:
    device = Device()
    device.add_model(1, INVERTER_VALUES[1])
    found = await scan(device, profile)  # no end(): the next read gets exception 2
    assert [m.id for m in found.models] == [1]


async def test_no_marker_is_a_clear_error(profile: Profile) -> None:
    device = Device()
    device.registers.clear()
    device.put(40000, [0x1234, 0x5678])
    with pytest.raises(ProfileError, match="no SunSpec marker 'SunS' at 40000, 50000, 0"):
        await discover(device, profile)


async def test_timeouts_propagate(profile: Profile) -> None:
    device, _ = simulated_inverter()
    device.fail_with = ModbusTimeout("no answer")
    with pytest.raises(ModbusTimeout):
        await discover(device, profile)


COMPATIBLE = {
    "uint16": {DataType.U16},
    "enum16": {DataType.U16},
    "count": {DataType.U16},
    "int16": {DataType.S16},
    "sunssf": {DataType.SUNSSF},
    "acc32": {DataType.ACC32},
    "uint32": {DataType.U32},
    "int32": {DataType.S32},
    "float32": {DataType.F32},
    "bitfield16": {DataType.BITFIELD16},
    "bitfield32": {DataType.BITFIELD32},
    "string": {DataType.STRING},
}


MODULES = {160: 8}  # models with a repeating group: modules our file maps


@pytest.mark.parametrize(
    "model", [1, 101, 102, 103, 111, 112, 113, 120, 121, 122, 123, 124, 160, 201, 202, 203, 204]
)
def test_model_files_agree_with_the_reference(model: int) -> None:
    """Every point of our model file sits on a reference point of the same size, type and scale factor."""
    definition = load_sunspec_model(model)
    assert definition is not None
    assert definition.length == reference_layout(model)[1]  # the fixed part
    layout, _length = reference_layout(model, modules=MODULES.get(model, 0))
    at_offset = {p.offset - 2: p for p in layout.values()}
    ours = {p.key: p for p in definition.points}
    for point in definition.points:
        ref = at_offset.get(point.address)
        assert ref is not None, f"{point.key}: no reference point at offset {point.address}"
        assert point.type in COMPATIBLE[ref.type], f"{point.key}: {point.type} vs {ref.type}"
        assert point.words == ref.size, point.key
        if ref.sf is None:
            assert point.sf is None, point.key
        else:
            assert point.sf is not None, f"{point.key}: reference scales it by {ref.sf}"
            sf_ref = at_offset[ours[point.sf].address]
            assert sf_ref.name == ref.sf, point.key
