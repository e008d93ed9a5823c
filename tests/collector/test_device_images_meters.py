"""The meter profiles (Eastron SDM72D-M-2 and SDM230, Carlo Gavazzi EM24 and EM340, Chint DTSU666, ABB
B23/B24, Shelly Pro 3EM) and the inverter profiles of Sungrow SG-RT, SMA (native map), KOSTAL PLENTICORE
(native map), Victron GX and SolarEdge StorEdge against their register images: where a source showed values
for the same moment (the device itself, or an independent decoder), they are asserted within the point's
precision; the document images check the signs and scales each profile header states."""

from __future__ import annotations

from typing import Any

import pytest

from pv_collector.model import DataType, Function
from pv_collector.profile import load_profile
from pv_collector.recording import read_plan
from tests.collector.device_images import Decoded, decode, matches


def differing(decoded: Decoded, expected: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The points whose decoded value is not the expected one (within the point's precision): key -> both."""
    points = {point.key: point for point in decoded.points}
    return {
        key: (decoded.values.get(key), value)
        for key, value in expected.items()
        if key not in points or not matches(points[key], decoded.values.get(key), value)
    }


# ------------------------------------------------------------------------------------------ real devices


async def test_sdm72_exporting_as_posted() -> None:
    """node-modbus-serial #509: an SDM72 read from wire address 1; no value shown, so the frame's own sums:
    the phase powers (-377.607, -278.053, +67.183 W) add up to the total -588.477 W (exporting)."""
    decoded = await decode("sdm72d_m/node_modbus_serial_509.json")
    values = decoded.values
    assert differing(
        decoded,
        {"power_l1": -377.607, "power_l2": -278.053, "power_l3": 67.183, "power": -588.477,
         "energy_import": 7670.316, "energy_export": 5197.065},
    ) == {}  # fmt: skip
    phases = values["power_l1"] + values["power_l2"] + values["power_l3"]
    assert phases == pytest.approx(values["power"], abs=0.01)
    assert "voltage_l1" not in values  # its high word, wire address 0, was not read
    assert values["power"] < 0  # Eastron: negative = export, as grid_power wants


async def test_shelly_pro_3em_status_as_the_device_printed_it() -> None:
    """ioBroker.shelly #787: the Pro 3EM's em:0 status, total_act_power 2987.256 W = the sum of its phases."""
    decoded = await decode("shelly_pro_3em/iobroker_787_em_status.json")
    values = decoded.values
    assert differing(
        decoded,
        {"power": 2987.256, "power_l1": 2352.3, "power_l2": 406.2, "power_l3": 228.7, "voltage_l1": 233.7,
         "current_l1": 10.39, "power_factor_l2": -0.93, "current_total": 13.358, "apparent_power": 3129.794},
    ) == {}  # fmt: skip
    phases = values["power_l1"] + values["power_l2"] + values["power_l3"]
    assert phases == pytest.approx(values["power"], abs=0.1)
    assert "current_neutral" not in values  # null in the status: no neutral clamp


async def test_sungrow_sg10rt_as_sungather_printed_it() -> None:
    """SunGather #6 printed: total 3675.5 kWh (doc 5144, 0.1 kWh), 50.01 Hz (doc 5148, 0.01 Hz), 2162 W."""
    decoded = await decode("sungrow_sg_rt/sungather_6_sg10rt.json")
    assert differing(
        decoded,
        {"energy_total": 3675.5, "ac_frequency": 50.01, "ac_power": 2162, "dc_power": 2290,
         "pv1_voltage": 393.7, "ac_voltage_l3": 244.3, "power_factor": 0.96, "status": "run",
         "device_type": "sg10rt"},
    ) == {}  # fmt: skip
    points = {point.key: point for point in decoded.points}
    assert points["ac_power"].role == "pv_power"
    assert points["energy_total"].role == "pv_energy"


async def test_sma_stp_se_pv_power_as_evcc_printed_it() -> None:
    """evcc #16972 printed 'pv power: 71W' from the same frames: DC input A 0 W + DC input B 71 W."""
    decoded = await decode("sma_native/evcc_16972_stp_se.json")
    values = decoded.values
    assert differing(decoded, {"dc_power": 71, "pv1_power": 0, "pv2_power": 71}) == {}
    assert values["energy_total"] == pytest.approx(12515.833)  # U64 0x0000_0000_00be_f9f9 Wh


async def test_sma_stp_se_battery_as_evcc_printed_it() -> None:
    """evcc #17115 printed 'battery soc: 9%' and 'battery power: 0W'; 30773 was not in the excerpt, so no
    dc_power (a computed point needs all its inputs)."""
    decoded = await decode("sma_native/evcc_17115_stp_se_byd.json")
    values = decoded.values
    assert differing(decoded, {"soc": 9, "battery_power": 0}) == {}
    assert values["energy_discharged"] == pytest.approx(1344.367)  # 0x0014836f Wh
    assert "dc_power" not in values


async def test_victron_soc_limit_register_is_tenths_of_a_percent() -> None:
    """dbus_modbustcp #13: 2903 read 500, i.e. 50.0 % (list scale 10); the 60 % on the GX's screen is the
    minimum SoC (2901), as the maintainer answered."""
    decoded = await decode("victron_gx_system/dbus_modbustcp_13_soc_limit.json")
    assert decoded.values == {"ess_active_soc_limit": 50.0}


# ------------------------------------------------------------------------------------------ documents


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # Victron: the list counts charging positive; the profiles publish positive = discharging.
        ("victron_gx_system/register_list_layout.json", {"battery_power": -1502, "battery_current": -28.4}),
        ("victron_gx_battery/register_list_layout.json", {"battery_power": 1302, "battery_current": 24.6}),
        # SolarEdge: 0xE174 is positive while charging (2401 W in the image).
        ("solaredge_storage/power_control_note_tables.json", {"battery_power": -2401}),
        # SMA: discharge power minus charge power; KOSTAL: 582 is negative while charging.
        ("sma_native/modbus_list_layout.json", {"battery_power": -2100, "grid_power": -3105}),
        ("sma_storage/modbus_list_layout.json", {"battery_power": 1250, "grid_power": 150}),
        ("kostal_plenticore/interface_description_tables.json", {"battery_power": -2103}),
    ],
)
async def test_battery_and_grid_signs_follow_the_contract(path: str, expected: dict[str, Any]) -> None:
    """battery_power is positive while discharging, grid_power while importing (docs/mqtt-contract.md)."""
    decoded = await decode(path)
    assert differing(decoded, expected) == {}


async def test_computed_totals_are_the_sums_of_their_phases() -> None:
    """The GX has no total grid or PV power register: the profiles sum the phases and the PV sources."""
    system = (await decode("victron_gx_system/register_list_layout.json")).values
    assert system["grid_power"] == -310 - 335 - 305
    assert system["pv_power_total"] == 810 + 795 + 805 + 1105  # AC PV on the output, solar chargers
    grid = (await decode("victron_gx_grid/register_list_layout.json")).values
    assert grid["power"] == 612 + 455 + 378


async def test_document_scales() -> None:
    """Scales the documents state: DTSU666 floats in 0.1 V / 0.001 A / 0.1 W / 0.01 Hz, Carlo Gavazzi INT32
    low word first in V x 10 and W x 10, Sungrow's frequency in 0.01 Hz at doc 5148."""
    dtsu = (await decode("dtsu666/manual_address_table.json")).values
    assert (dtsu["voltage_l1"], dtsu["current_l1"], dtsu["power"]) == (230.5, 6.12, 3312)
    assert dtsu["frequency"] == 49.98
    em24 = (await decode("em24/protocol_register_table.json")).values
    assert (em24["voltage_l1"], em24["power"], em24["application"]) == (231.5, -3101, "h")
    em340 = (await decode("em340/protocol_register_table.json")).values
    assert (em340["power"], em340["measurement_mode"]) == (2585, "b_bidirectional")
    assert em340["wiring_errors"] == 0b10  # phase 1 inverted
    sungrow = (await decode("sungrow_sg_rt/protocol_register_table.json")).values
    assert sungrow["ac_frequency"] == 49.98
    assert (sungrow["power_limit"], sungrow["power_limit_enabled"]) == (70, True)


@pytest.mark.parametrize("profile_id", ["em24", "em340"])
def test_carlo_gavazzi_identification_code_is_read_alone(profile_id: str) -> None:
    """The EM24 and EM340 tables give 0x000B twice: alone it reads the identification code, in a longer read
    the high word of V L3-L1. The profiles leave V L3-L1 out, so no point starts there or covers it."""
    profile = load_profile(profile_id)
    covering = [p.key for p in profile.points if p.function is Function.INPUT and p.address <= 0x000B < p.end]
    assert covering == []
    assert [probe.address for probe in profile.identify] == [0x000B]


def test_victron_system_reads_never_reach_the_unregistered_date_registers() -> None:
    """830-835 (type INTERNAL in the register list) are not registered by the GX: a read that reaches them
    fails whole, so no planned block of the system profile covers them."""
    profile = load_profile("victron_gx_system")
    registers = [p for p in profile.points if p.compute is None]
    for block in read_plan(registers, profile):
        assert block.address + block.count <= 830 or block.address >= 836, block


def test_the_sma_profiles_tell_pv_and_battery_inverters_apart() -> None:
    """Both read SMA's vendor code 461 at 30055; the device class at 30051 is 8001 (solar inverter) for
    sma_native and 8007 (battery inverter) for sma_storage, so `identify` proposes one of them."""
    probes = {
        pid: {probe.address: probe.values for probe in load_profile(pid).identify}
        for pid in ("sma_native", "sma_storage")
    }
    assert probes["sma_native"] == {30055: (461,), 30051: (8001,)}
    assert probes["sma_storage"] == {30055: (461,), 30051: (8007,)}
    storage = load_profile("sma_storage")
    assert not any(point.role in ("pv_power", "pv_energy") for point in storage.points)
    assert all(p.type is not DataType.F32 for p in storage.points if p.compute is None)
