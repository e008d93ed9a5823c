"""SunSpec discovery against register images built from the SunSpec Alliance's model definitions.

The images are built here from the JSON definitions pysunspec2 ships (read with its own `sunspec2.mdef`
functions), by a layout written for these tests, independently of the collector's `sunspec_models`, and
read through an in-memory `RegisterReader`.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import sunspec2.device
from sunspec2 import mdef

from pv_collector.decode import decode_reads
from pv_collector.errors import ModbusExceptionResponse, ModbusTimeout, ProfileError
from pv_collector.model import DataType, Function, Point, Profile
from pv_collector.planner import plan_reads
from pv_collector.plausibility import counter_rate_bound
from pv_collector.profile import counter_rate_problems, load_profile
from pv_collector.sunspec import discover, scan
from pv_collector.sunspec_models import list_sunspec_models, load_sunspec_model, overlay_entries

NOT_IMPLEMENTED = {"uint16": 0xFFFF, "enum16": 0xFFFF, "bitfield16": 0xFFFF, "count": 0xFFFF,
                   "int16": 0x8000, "sunssf": 0x8000, "uint32": 0xFFFFFFFF, "bitfield32": 0xFFFFFFFF,
                   "enum32": 0xFFFFFFFF, "int32": 0x80000000, "acc32": 0, "acc16": 0, "acc64": 0,
                   "pad": 0x8000}  # fmt: skip


def reference_group(model: int) -> dict[str, Any]:
    """The top-level group of a model as pysunspec2 ships it."""
    path = Path(sunspec2.device.models_dir) / "json" / mdef.to_json_filename(model)
    group: dict[str, Any] = mdef.from_json_file(str(path))["group"]
    return group


def reference_size(point: Mapping[str, Any]) -> int:
    return (
        int(point["size"]) if point["type"] == "string" else int(mdef.point_type_info[point["type"]]["len"])
    )


@dataclass(frozen=True)
class RefPoint:
    name: str
    offset: int  # from the model's ID register
    size: int
    type: str
    sf: str | int | None
    scope: str  # the group instance path ("" at the top level) where its scale factor is looked up first


def _walk(
    group: Mapping[str, Any], offset: int, prefix: str, modules: int, counts: Mapping[str, int]
) -> Iterator[tuple[str, RefPoint]]:
    for p in group["points"]:
        yield (
            f"{prefix}{p['name']}",
            RefPoint(p["name"], offset, reference_size(p), p["type"], p.get("sf"), prefix),
        )
        offset += reference_size(p)
    for sub in group.get("groups", []):
        count = sub.get("count")
        instances = 1 if count is None else modules if count == 0 else counts.get(count, 0)
        for number in range(1, instances + 1):
            label = sub["name"] if count is None else f"{sub['name']}@{number}"
            for name, point in _walk(sub, offset, f"{prefix}{label}.", modules, counts):
                yield name, point
                offset = max(offset, point.offset + point.size)


def reference_layout(
    model: int, modules: int = 0, counts: Mapping[str, int] | None = None
) -> tuple[dict[str, RefPoint], int]:
    """Points of a reference model by path (`W`, `module@2.DCV`, `Crv@1.Pt@3.V`) and its length L with
    `modules` instances of a group sized by the length and `counts` for groups counted by a point."""
    points = dict(_walk(reference_group(model), 0, "", modules, counts or {}))
    end = max(p.offset + p.size for p in points.values())
    return points, end - 2


def raw_words(point: RefPoint, value: Any) -> list[int]:
    if point.type == "string":
        data = str(value).encode().ljust(2 * point.size, b"\x00")
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if point.type in ("float32", "float64"):
        fmt = ">f" if point.type == "float32" else ">d"
        value = int.from_bytes(struct.pack(fmt, value), "big")
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
        self,
        model: int,
        values: Mapping[str, Any],
        modules: int = 0,
        length: int | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> dict[str, int]:
        """Append a model; unset points hold SunSpec "not implemented". Returns absolute addresses."""
        counts = dict(counts or {})
        layout, full_length = reference_layout(model, modules, counts)
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
            elif name in counts:
                value = counts[name]
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
          "module@1.DCA": 512, "module@1.DCV": 3804, "module@1.DCW": 1947, "module@1.DCWH": 5_100_000,
          "module@2.DCA": 118, "module@2.DCV": 3801, "module@2.DCW": 449, "module@2.DCWH": 1_200_000},
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
    assert by_key["pv2_voltage"].address == addresses[160]["module@2.DCV"]
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
    device.add_raw_model(64900, 7)  # a vendor model nobody describes
    device.add_model(103, INVERTER_VALUES[103])
    device.end()
    found = await scan(device, profile)
    assert [(m.id, m.known) for m in found.models] == [(1, True), (64900, False), (103, True)]
    assert {p.key for p in found.points} >= {"ac_power", "serial"}
    only_common = Profile(id="x", name="X", sunspec_base=40000, sunspec_models=(1,))
    found = await scan(device, only_common)
    assert {p.key for p in found.points} == {"manufacturer", "model", "firmware", "serial", "m1_opt", "m1_da"}


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


# ------------------------------------------------------------------------ every model pysunspec2 ships

COMPATIBLE = {
    "uint16": {DataType.U16},
    "count": {DataType.U16},
    "acc16": {DataType.U16},
    "enum16": {DataType.U16},
    "bitfield16": {DataType.BITFIELD16, DataType.U16},  # a bitfield without symbols is a plain number
    "int16": {DataType.S16},
    "sunssf": {DataType.SUNSSF},
    "uint32": {DataType.U32},
    "acc32": {DataType.ACC32},
    "enum32": {DataType.U32},
    "bitfield32": {DataType.BITFIELD32, DataType.U32},
    "int32": {DataType.S32},
    "uint64": {DataType.U64},
    "acc64": {DataType.U64},
    "int64": {DataType.S64},
    "float32": {DataType.F32},
    "float64": {DataType.F64},
    "string": {DataType.STRING},
}
NOT_DECODED = {"pad", "ipaddr", "ipv6addr", "eui48"}  # skipped registers (sunspec_models.layout docstring)
KEY = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def laid_out(model: int) -> tuple[tuple[Point, ...], dict[str, RefPoint]]:
    """Our points and the reference points of a model with two instances of every repeating group."""
    definition = load_sunspec_model(model)
    assert definition is not None
    counts = dict.fromkeys(definition.count_points, 2)
    layout, length = reference_layout(model, modules=2, counts=counts)
    assert definition.length_for(counts, modules=2) == length
    return definition.points(length, counts), layout


@pytest.mark.parametrize("model", list_sunspec_models())
def test_every_model_is_laid_out_where_the_sunspec_definition_puts_it(model: int) -> None:
    """Each of our points sits on a reference point of the same size, a type that decodes it and the same
    scale factor; every reference point we can read has one of our points; keys are valid and unique."""
    points, layout = laid_out(model)
    at_offset = {p.offset - 2: p for path, p in layout.items() if path not in ("ID", "L")}
    by_key = {point.key: point for point in points}
    assert len(by_key) == len(points), "a key is used twice"
    for point in points:
        assert KEY.match(point.key), point.key
        assert len(point.key) <= 44, point.key
        assert len(point.name) <= 100, point.key
        assert point.unit is None or len(point.unit) <= 20, point.key
        ref = at_offset[point.address]
        assert point.type in COMPATIBLE[ref.type], f"{point.key}: {point.type} vs {ref.type}"
        assert point.words == ref.size, point.key
        if isinstance(ref.sf, str):
            assert point.sf is not None, f"{point.key}: the definition scales it by {ref.sf}"
            sf_path = f"{ref.scope}{ref.sf}" if f"{ref.scope}{ref.sf}" in layout else ref.sf
            assert by_key[point.sf].address == layout[sf_path].offset - 2, point.key
        else:
            assert point.sf is None, point.key
        if isinstance(ref.sf, int):
            assert point.scale == pytest.approx(10.0**ref.sf), point.key
    placed = {point.address for point in points}
    readable = [
        path
        for path, ref in layout.items()
        if path not in ("ID", "L") and ref.type not in NOT_DECODED and ref.size <= 125
    ]
    assert [path for path in readable if layout[path].offset - 2 not in placed] == []


@pytest.mark.parametrize("model", list_sunspec_models())
def test_points_the_overlay_does_not_name_are_diagnostics_with_sunspec_labels(model: int) -> None:
    points, _layout = laid_out(model)
    overlaid = {p.key for p in points if not p.key.startswith(f"m{model}_")}
    for point in points:
        if point.key in overlaid:
            continue
        if point.type is DataType.SUNSSF:
            assert point.hidden, point.key
        else:
            assert (point.category, point.advanced) == ("diagnostic", True), point.key
        assert (point.device_class, point.state_class, point.role) == (None, None, None), point.key
        assert point.writable is None, point.key  # SunSpec RW points are written only where the overlay says
    assert bool(overlaid) == (model in overlay_entries())


def test_generated_keys_names_units_and_symbols() -> None:
    points = {p.key: p for p in laid_out(802)[0]}
    soc_max = points["m802_so_c_max"]  # unit as SunSpec writes it; its scale factor is the overlaid SoC's
    assert (soc_max.name, soc_max.unit, soc_max.sf) == ("Nameplate Max SoC", "%WHRtg", "m802_so_c_sf")
    assert points["soc"].sf == "m802_so_c_sf"
    assert points["m802_a_cha_max"].unit == "A"
    assert points["m802_state"].options == {
        1: "disconnected", 2: "initializing", 3: "connected", 4: "standby", 5: "soc_protection",
        6: "suspending", 99: "fault",
    }  # fmt: skip
    # the overlay names the key; the options are SunSpec's symbols
    assert points["storage_state"].options == {
        1: "off", 2: "empty", 3: "discharging", 4: "charging", 5: "full", 6: "holding", 7: "testing"
    }  # fmt: skip
    assert points["m802_evt1"].kind == "bitfield"
    assert points["m802_evt2"].type is DataType.U32  # a bitfield SunSpec gives no symbols: its raw value
    curves = {p.key: p for p in laid_out(705)[0]}
    assert curves["m705_crv2_pt1_v"].name == "Voltage Point (Crv 2 Pt 1)"
    assert curves["m705_rvrt_tms"].unit == "s"  # SunSpec "Secs"
    assert {p.key for p in laid_out(707)[0]} >= {"m707_crv2_must_trip_pt2_v", "m707_crv1_mom_cess_act_pt"}
    long = {p.key for p in laid_out(804)[0] if len(p.key) == 44}
    assert long
    assert all(re.fullmatch(r"m804_.+_[0-9a-f]{4}", key) for key in long)  # cut, with a digest
    assert "m11_mac" not in {p.key for p in laid_out(11)[0]}  # eui48: not decoded
    assert "m16_mac" not in {p.key for p in laid_out(16)[0]}  # eui48 again


def test_overlay_writes_only_what_sunspec_lets_a_client_write() -> None:
    for model in overlay_entries():
        definition = load_sunspec_model(model)
        assert definition is not None
        access = {p["name"]: p.get("access", "R") for p in reference_group(model)["points"]}
        for point in definition.points():
            if point.writable is not None:
                name = next(
                    name for name, entry in definition.overlay.items()
                    if (entry if isinstance(entry, str) else entry["key"]) == point.key
                )  # fmt: skip
                assert access[name] == "RW", f"model {model} {name}"


# ------------------------------------------------------------------------ repeating groups on the wire

DER_VOLT_VAR = {"V_SF": -2, "DeptRef_SF": 0, "Ena": 1, "Crv@2.Pt@3.V": 10650, "Crv@2.Pt@3.Var": -44}


async def test_a_curve_model_is_laid_out_from_the_counts_the_device_reports(profile: Profile) -> None:
    device = Device()
    device.add_model(1, INVERTER_VALUES[1])
    addresses = device.add_model(705, DER_VOLT_VAR, counts={"NCrv": 2, "NPt": 3})
    device.end()
    found = await scan(device, profile)
    assert found.kind == "inverter"  # a DER model
    by_key = {p.key: p for p in found.points}
    assert by_key["m705_crv2_pt3_v"].address == addresses["Crv@2.Pt@3.V"]
    assert by_key["m705_crv2_pt3_var"].address == addresses["Crv@2.Pt@3.Var"]
    assert "m705_crv3_pt1_v" not in by_key  # two curves
    assert "m705_crv1_pt4_v" not in by_key  # of three points
    values = await device.poll(found.points)
    assert (values["m705_crv2_pt3_v"], values["m705_crv2_pt3_var"]) == (106.5, -44)
    assert values["m705_ena"] == "enabled"
    assert (values["m705_n_crv"], values["m705_n_pt"]) == (2, 3)


async def test_a_count_the_device_does_not_implement_leaves_its_group_out(profile: Profile) -> None:
    device = Device()
    device.add_model(714, {"NPrt": 0xFFFF, "DCA": 12, "DCA_SF": 0}, length=reference_layout(714)[1])
    device.end()
    points = await discover(device, profile)
    assert not any(point.key.startswith(("m714_prt1_", "pv1_")) for point in points)
    values = await device.poll(points)
    assert values["dc_current"] == 12
    assert "m714_n_prt" not in values  # not implemented: no value, and no ports


async def test_a_kostal_style_chain_with_a_meter_and_a_battery(profile: Profile) -> None:
    """Kostal serves 103 and 113, the meter 203 and the battery 802 in one unit (evcc #15726 chain walk)."""
    device = Device()
    for model in (1, 103, 113, 120, 123):
        device.add_model(model, INVERTER_VALUES.get(model, {}))
    device.add_model(160, INVERTER_VALUES[160], modules=3)
    device.add_model(203, INVERTER_VALUES[203])
    addresses = device.add_model(802, {"SoC": 5630, "SoC_SF": -2, "W": -1200, "W_SF": 0, "ChaSt": 4})
    device.end()
    found = await scan(device, profile)
    assert [(m.id, m.length) for m in found.models] == [
        (1, 66), (103, 50), (113, 60), (120, 26), (123, 24), (160, 68), (203, 105), (802, 62)
    ]  # fmt: skip
    assert found.kind == "inverter"
    by_key = {p.key: p for p in found.points}
    assert by_key["ac_power_m113"].type is DataType.F32  # the float inverter model: a key of its own
    assert (by_key["energy_total_m113"].role, by_key["energy_total_m113"].advanced) == (None, True)
    assert by_key["pv3_power"].sf == "mppt_dcw_sf"
    assert by_key["soc"].address == addresses["SoC"]
    assert (by_key["soc"].role, by_key["battery_power"].role) == ("battery_soc", "battery_power")
    values = await device.poll(found.points)
    assert (values["soc"], values["battery_power"], values["storage_state"]) == (56.3, -1200, "charging")
    assert (values["ac_power"], values["power"]) == (2345, -1500)  # 103 keeps the vocabulary, 203 too


# ------------------------------------------------------------------------ definitions from a profile folder

VENDOR_MODEL = {
    "id": 64900,
    "group": {
        "name": "vendor_extension",
        "label": "Vendor extension",
        "type": "group",
        "points": [
            {"name": "ID", "type": "uint16", "value": 64900, "mandatory": "M", "static": "S"},
            {"name": "L", "type": "uint16", "mandatory": "M", "static": "S"},
            {"name": "Fan", "type": "uint16", "label": "Fan speed", "units": "rpm", "sf": "Fan_SF"},
            {"name": "Fan_SF", "type": "sunssf"},
        ],
    },
}


def write_definition(folder: Path, definition: Mapping[str, Any]) -> None:
    (folder / "sunspec").mkdir(exist_ok=True)
    (folder / "sunspec" / f"model_{definition['id']}.json").write_text(json.dumps(definition))


async def test_a_profile_folder_adds_a_vendor_model_in_sunspec_json(tmp_path: Path) -> None:
    write_definition(tmp_path, VENDOR_MODEL)
    assert 64900 in list_sunspec_models([tmp_path])
    assert load_sunspec_model(64900) is None
    definition = load_sunspec_model(64900, [tmp_path])
    assert definition is not None
    (fan, _sf) = definition.points()
    assert (fan.key, fan.name, fan.unit, fan.sf, fan.category) == (
        "m64900_fan", "Fan speed", "rpm", "m64900_fan_sf", "diagnostic"
    )  # fmt: skip
    device = Device()
    device.put(device.next, [64900, 2, 1234, 1])
    device.next += 4
    device.end()
    found = await scan(device, Profile(id="x", name="X", sunspec_base=40000), [tmp_path])
    assert await device.poll(found.points) == {"m64900_fan": 12340, "m64900_fan_sf": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "id": 64901,
                "group": {
                    **VENDOR_MODEL["group"],
                    "points": [
                        {"name": "ID", "type": "uint16", "value": 64901},
                        *VENDOR_MODEL["group"]["points"][1:],
                    ],
                },
            },
            "id 64901 does not match the file name",
        ),
        (
            {"group": {"name": "x", "type": "group", "points": [{"name": "ID", "type": "uint16"}]}},
            "at least two",
        ),
        ({"group": {**VENDOR_MODEL["group"], "points": [*VENDOR_MODEL["group"]["points"][:3]]}}, "Fan_SF"),
        (
            {
                "group": {
                    **VENDOR_MODEL["group"],
                    "points": [*VENDOR_MODEL["group"]["points"], {"name": "Nam", "type": "string"}],
                }
            },
            "string point Nam has no size",
        ),
    ],
)
def test_a_bad_definition_file_is_one_clear_error(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    write_definition(tmp_path, VENDOR_MODEL)
    path = tmp_path / "sunspec" / "model_64900.json"
    path.write_text(json.dumps({**VENDOR_MODEL, **change}))
    with pytest.raises(ProfileError, match=re.escape(str(path))) as caught:
        load_sunspec_model(64900, [tmp_path])
    assert message in str(caught.value)


def test_a_file_that_is_not_json_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "sunspec").mkdir()
    (tmp_path / "sunspec" / "model_64902.json").write_text("{not json")
    with pytest.raises(ProfileError, match=r"model_64902\.json: not a SunSpec JSON model definition"):
        load_sunspec_model(64902, [tmp_path])


def test_a_profile_folder_cannot_replace_a_sunspec_alliance_model(tmp_path: Path) -> None:
    """The published vocabulary stays: a folder's model_103.json is not used, pysunspec2's is."""
    write_definition(tmp_path, {**VENDOR_MODEL, "id": 103})
    definition = load_sunspec_model(103, [tmp_path])
    assert definition is not None
    assert "ac_power" in {p.key for p in definition.points()}
    assert definition.source.endswith("sunspec2/models/json/model_103.json")


# ------------------------------------------------------------------------ the 700-series and 802 vocabulary

DER_AC = {"W": 2256, "W_SF": 0, "TotWhInj": 10_234_518, "TotWh_SF": 0, "InvSt": 3, "A": 981, "A_SF": -2,
          "PF": 994, "PF_SF": -3, "Hz": 5001, "Hz_SF": -2}  # fmt: skip


@pytest.mark.parametrize("chain", [(103, 701), (701, 103)], ids=["103 first", "701 first"])
async def test_an_older_model_keeps_the_vocabulary_whatever_the_chain_order(
    profile: Profile, chain: tuple[int, int]
) -> None:
    """103 and 701 both give ac_power and energy_total: 103's are published with the plain keys and
    their roles; 701's get `_m701`, lose the role (energy is counted once) and are advanced."""
    device = Device()
    device.add_model(1, INVERTER_VALUES[1])
    addresses = {
        model: device.add_model(model, DER_AC if model == 701 else INVERTER_VALUES[103]) for model in chain
    }
    device.end()
    found = await scan(device, profile)
    by_key = {p.key: p for p in found.points}
    assert by_key["ac_power"].address == addresses[103]["W"]
    assert by_key["energy_total"].address == addresses[103]["WH"]
    assert (by_key["ac_power"].role, by_key["energy_total"].role) == ("pv_power", "pv_energy")
    assert not by_key["ac_power"].advanced
    for key, sunspec_point in (("ac_power_m701", "W"), ("energy_total_m701", "TotWhInj")):
        assert by_key[key].address == addresses[701][sunspec_point]
        assert (by_key[key].role, by_key[key].advanced) == (None, True)
    assert [p.key for p in found.points if p.role == "pv_energy"] == ["energy_total"]
    values = await device.poll(found.points)
    assert (values["ac_power"], values["ac_power_m701"]) == (2345, 2256)
    assert (values["energy_total"], values["energy_total_m701"]) == (10234.518, 10234.518)


async def test_a_der_only_inverter_speaks_the_vocabulary(profile: Profile) -> None:
    """A device with 701 alone: the keys, roles and classes of the older models, 701's own signs."""
    device = Device()
    device.add_model(1, INVERTER_VALUES[1])
    device.add_model(701, DER_AC)
    device.end()
    found = await scan(device, profile)
    by_key = {p.key: p for p in found.points}
    power, energy, status = by_key["ac_power"], by_key["energy_total"], by_key["status"]
    assert (power.role, power.device_class, power.state_class, power.unit) == (
        "pv_power", "power", "measurement", "W"
    )  # fmt: skip
    assert (energy.role, energy.device_class, energy.state_class, energy.unit) == (
        "pv_energy", "energy", "total_increasing", "kWh"
    )  # fmt: skip
    assert (status.role, status.kind) == ("operating_state", "enum")
    assert by_key["events"].role == "fault"
    assert not any(p.advanced for p in found.points if not p.hidden and not p.key.startswith("m"))
    values = await device.poll(found.points)
    assert values["ac_power"] == 2256
    assert values["energy_total"] == 10234.518  # Wh -> kWh
    assert values["status"] == "mppt"  # InvSt RUNNING: 1xx's MPPT
    assert values["power_factor"] == pytest.approx(99.4)  # the cos(phi) 0.994 in %, as 1xx's
    assert values["ac_current"] == 9.81
    assert values["ac_frequency"] == 50.01


async def test_a_dc_port_is_a_pv_string_only_where_its_port_type_says_pv(profile: Profile) -> None:
    """714's ports are typed: the PV port is pv1_*; the battery port (ESS) and a port whose type the
    device does not implement keep their generated keys and are advanced."""
    device = Device()
    addresses = device.add_model(
        714,
        {"DCA_SF": -2, "DCV_SF": -1, "DCW_SF": 0, "DCWH_SF": 0, "DCW": 2350,
         "Prt@1.PrtTyp": 0, "Prt@1.DCV": 3804, "Prt@1.DCW": 3850, "Prt@1.DCWhInj": 5_100_000,
         "Prt@2.PrtTyp": 1, "Prt@2.DCV": 3846, "Prt@2.DCW": -1500,
         "Prt@3.DCV": 3790, "Prt@3.DCW": 100},
        counts={"NPrt": 3},
    )  # fmt: skip
    device.end()
    found = await scan(device, profile)
    by_key = {p.key: p for p in found.points}
    assert by_key["pv1_power"].address == addresses["Prt@1.DCW"]
    assert not by_key["pv1_power"].advanced
    assert not any(key.startswith(("pv2_", "pv3_")) for key in by_key)
    assert by_key["m714_prt2_dcw"].address == addresses["Prt@2.DCW"]
    assert (by_key["m714_prt2_dcw"].advanced, by_key["m714_prt3_dcw"].advanced) == (True, True)
    assert found.models[0].plain == (
        "Prt[2].DCA", "Prt[2].DCV", "Prt[2].DCW", "Prt[2].DCWhInj", "Prt[2].Tmp", "Prt[2].DCAlrm",
        "Prt[3].DCA", "Prt[3].DCV", "Prt[3].DCW", "Prt[3].DCWhInj", "Prt[3].Tmp", "Prt[3].DCAlrm",
    )  # fmt: skip
    values = await device.poll(found.points)
    assert (values["pv1_voltage"], values["pv1_power"], values["pv1_energy"]) == (380.4, 3850, 5100)
    assert (values["m714_prt2_dcw"], values["m714_prt3_dcw"], values["dc_power"]) == (-1500, 100, 2350)


async def test_a_port_whose_type_the_device_refuses_is_not_a_pv_string(profile: Profile) -> None:
    device = Device()
    addresses = device.add_model(
        714, {"DCW_SF": 0, "Prt@1.PrtTyp": 0, "Prt@1.DCW": 3850}, counts={"NPrt": 1}
    )  # fmt: skip
    device.end()
    del device.registers[addresses["Prt@1.PrtTyp"]]  # the device answers exception 2 there
    found = await scan(device, profile)
    keys = {p.key for p in found.points}
    assert "m714_prt1_dcw" in keys
    assert not any(key.startswith("pv1_") for key in keys)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({"Nope": ["PV"]}, "model 714 Prt.DCW.when: Nope is not an enum point of the same group"),
        ({"DCV": ["PV"]}, "model 714 Prt.DCW.when: DCV is not an enum point of the same group"),
        ({"PrtTyp": ["SOLAR"]}, "model 714 Prt.DCW.when: PrtTyp has no symbol SOLAR"),
        (
            {"PrtTyp": "PV"},
            "model 714 Prt.DCW.when: expected {point of the same group: [SunSpec symbols]} (one point)",
        ),
    ],
)
def test_an_overlay_condition_that_does_not_fit_the_definition_is_one_clear_error(
    when: dict[str, Any], message: str
) -> None:
    definition = load_sunspec_model(714)
    assert definition is not None
    wrong = replace(
        definition, overlay={"Prt.DCW": {"key": "pv{n}_power", "name": "PV{n} power", "when": when}}
    )
    counts = {"NPrt": 1}
    with pytest.raises(ProfileError) as caught:
        wrong.points(wrong.length_for(counts), counts)
    assert str(caught.value) == f"overlay.yaml: {message}"


def test_every_counter_of_the_der_and_storage_models_has_a_rate_bound() -> None:
    """The 700- and 800-series counters have no max_rate of their own: the one rule bounds them by the
    sunspec profile's max_power (the device's rated power, 702 WMaxRtg published as rated_power, tightens
    it once read)."""
    profile = load_profile("sunspec")
    counters = [
        (model, point)
        for model in overlay_entries()
        if model >= 700
        for point in load_sunspec_model(model).example_points()  # type: ignore[union-attr]
        if point.state_class == "total_increasing"
    ]
    assert {point.key for _, point in counters} == {"energy_total", "pv1_energy"}
    for model, point in counters:
        assert point.max_rate is None, f"model {model} {point.key}"
        assert counter_rate_bound(profile, point) == profile.max_power / 1000, f"model {model} {point.key}"
    assert counter_rate_problems(profile) == []
    rated = next(p for p in load_sunspec_model(702).points() if p.key == "rated_power")  # type: ignore[union-attr]
    assert (rated.unit, rated.state_class, rated.category) == ("W", None, "diagnostic")
