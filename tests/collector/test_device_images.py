"""Every shipped profile against register images: real devices as published, vendor and specification
examples, the simulated devices. The decoded values of each image are a snapshot (reviewed against the
image's source); where a source printed values for the same moment (the device, or an independent tool),
they are asserted explicitly, within the point's precision."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from pv_collector.profile import SHIPPED_DIR, list_profiles
from pv_collector.register_image import SourceKind, load_image
from tests.collector.device_images import (
    FIXTURES,
    Decoded,
    decode,
    from_device,
    image_name,
    image_paths,
    matches,
)
from tests.fixtures.devices import build

IMAGES = image_paths()


def shown(decoded: Decoded, expected: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The points whose decoded value is not the expected one (within its precision): key -> both."""
    points = {point.key: point for point in decoded.points}
    return {
        key: (decoded.values.get(key), value)
        for key, value in expected.items()
        if key not in points or not matches(points[key], decoded.values.get(key), value)
    }


def test_the_images_are_what_their_build_script_makes() -> None:
    """The JSON files are generated from their cited sources by tests/fixtures/devices/build.py."""
    assert build.main(["--check"]) == 0


def test_every_shipped_profile_has_images() -> None:
    shipped = set(list_profiles())
    assert shipped == {p.stem for p in SHIPPED_DIR.glob("*.yaml")}
    assert shipped <= {path.parent.name for path in IMAGES}, "a shipped profile has no register image"
    assert {path.parent.name for path in IMAGES} <= shipped, "an image folder names no shipped profile"


def test_at_least_five_images_come_from_real_devices_each_cited() -> None:
    real = [path for path in IMAGES if from_device(path)]
    assert len(real) >= 5
    for path in real:
        source = load_image(path).source
        assert source.citation.startswith("https://github.com/"), image_name(path)
        assert source.captured or "captured" not in source.citation, image_name(path)


@pytest.mark.parametrize("path", IMAGES, ids=image_name)
async def test_decoded_values(path: Path, snapshot: SnapshotAssertion) -> None:
    decoded = await decode(path)
    assert decoded.image.identity.profile == path.parent.name
    assert {"values": decoded.values, "not_available": decoded.not_available} == snapshot


@pytest.mark.parametrize("path", [p for p in IMAGES if load_image(p).shown], ids=image_name)
async def test_values_shown_by_the_source(path: Path) -> None:
    decoded = await decode(path)
    assert decoded.image.shown is not None
    assert shown(decoded, dict(decoded.image.shown.values)) == {}


# ------------------------------------------------------------------------------------------ real devices


async def test_solaredge_se5000h_and_its_meter() -> None:
    """evcc #15445: raw frames; no value shown for the moment, so the published frames' own sums."""
    decoded = await decode("sunspec/solaredge_se5000h_rws.json")
    values = decoded.values
    assert (values["manufacturer"], values["model"], values["firmware"]) == (
        "SolarEdge", "SE5000H-RWS00BNO4", "0004.0020.0036",
    )  # fmt: skip
    assert values["model_2"] == "SE-RGMTR-1D-240C-A"  # the meter, a second common model
    assert values["ac_frequency"] == 49.987  # Hz raw 49987 (above 32767) with Hz_SF -3
    assert values["ac_power"] == 1395.0
    assert values["power"] == values["power_l1"] + values["power_l2"] + values["power_l3"] == -58
    # a single-phase inverter: phases B and C and the unused temperatures are "not implemented"
    for absent in ("ac_current_l2", "ac_voltage_l3", "temperature_cabinet", "temperature_other"):
        assert absent not in values
    assert [m.id for m in decoded.sunspec.models] == [1, 101, 1, 203]  # type: ignore[union-attr]


async def test_fronius_symo_as_evcc_printed_it() -> None:
    """evcc #16924 printed: A 0.75, PhVphA 230.6, W 177, Hz 50, PF 100, WH 2.632e+07, DCW 193.84, St 4."""
    decoded = await decode("sunspec/fronius_symo_8_2_3_m.json")
    assert shown(
        decoded,
        {"ac_current": 0.75, "ac_voltage_l1": 230.6, "ac_power": 177, "ac_frequency": 50, "power_factor": 100,
         "energy_total": 26320, "dc_power": 193.84, "status": "mppt"},
    ) == {}  # fmt: skip
    assert "dc_current" not in decoded.values  # n/a: float32 NaN


async def test_kostal_plenticore_as_evcc_printed_it() -> None:
    """evcc #31535 printed: A 4.29, PhVphA 228.60, W 940, Hz 49.99, VA 978, VAr 272, WH 56985670."""
    decoded = await decode("sunspec/kostal_plenticore_plus_8.json")
    assert shown(
        decoded,
        {"ac_current": 4.29, "ac_voltage_l1": 228.6, "ac_power": 940, "ac_frequency": 49.99,
         "ac_apparent_power": 978, "ac_reactive_power": 272, "energy_total": 56985.67},
    ) == {}  # fmt: skip
    assert decoded.image.identity.unit_id == 71
    assert "ac_voltage_l1_l2" not in decoded.values  # PPVphAB n/a


async def test_kaco_blueplanet_with_positive_scale_factors_as_evcc_printed_it() -> None:
    """evcc #31594 printed: W 2590 (W_SF +1), VA 2600, Hz 50.00 (Hz_SF -1), A 11.41, DCA 7.84."""
    decoded = await decode("sunspec/kaco_blueplanet_6_5_tl3.json")
    assert shown(
        decoded,
        {"ac_power": 2590, "ac_apparent_power": 2600, "ac_frequency": 50.0, "ac_current": 11.41,
         "dc_current": 7.84, "energy_total": 64385.003},
    ) == {}  # fmt: skip


async def test_sdm630_behind_a_gateway() -> None:
    """mbmd #63: raw reply, no value shown; phase 2 draws 277 W at 1.44 A (VA x PF of the frame)."""
    values = (await decode("sdm630/mbmd_63_usr410.json")).values
    assert values["voltage_l1"] == pytest.approx(228.73, abs=0.005)
    assert values["power_l2"] == pytest.approx(277.02, abs=0.005)
    assert values["power_l3"] == 0.0  # the meter's low-power cut-off on W, not on VA/var


async def test_sdm630_idle_as_sdm_modbus_printed_it() -> None:
    """sdm_modbus #15 printed: l1_voltage 229.43565, frequency 49.8907, import 804.89996, export 0.372."""
    decoded = await decode("sdm630/sdm_modbus_15_idle.json")
    assert shown(
        decoded,
        {"voltage_l1": 229.43565368652344, "frequency": 49.89070129394531, "energy_import": 804.8999633789062,
         "energy_export": 0.37199997901916504, "current_l1": 0.0},
    ) == {}  # fmt: skip


async def test_sdm120_as_sdm_modbus_printed_it() -> None:
    """sdm_modbus #27 printed: voltage 235.1, current 1.617, power 170.5, reactive -346.0, PF 0.44206."""
    decoded = await decode("sdm120/sdm_modbus_27.json")
    assert shown(
        decoded,
        {"voltage_l1": 235.10000610351562, "current_l1": 1.6169999837875366, "power": 170.5,
         "reactive_power": -346.0, "power_factor": 0.4420647919178009, "frequency": 50.0,
         "energy_import": 1138.6639404296875, "energy_total": 1138.6639404296875},
    ) == {}  # fmt: skip


async def test_sungrow_sh10rt_as_evcc_printed_it() -> None:
    """evcc #16696 printed in the same second: batterySoc 98.8, batteryEnergy 1177 (and 'soc: 99%')."""
    decoded = await decode("sungrow_sh_rt/sh10rt_evcc_16696.json")
    assert shown(decoded, {"soc": 98.8, "energy_discharged": 1177}) == {}
    assert shown(decoded, {"soc": 99}) == {}  # the rounded display


async def test_sungrow_charging_as_evcc_printed_it() -> None:
    """evcc #18473 printed 'Power: -7977W' (negative = charging): our magnitude plus the charging bit."""
    values = (await decode("sungrow_sh_rt/sh_charging_evcc_18473.json")).values
    assert values["battery_power"] == 7977
    assert isinstance(values["running_state"], int)
    assert values["running_state"] & 0b010  # bit 1: battery charging
    assert not values["running_state"] & 0b100  # bit 2: discharging
    assert values["battery_current"] == 29.4
    assert values["soc"] == 4.4


async def test_sungrow_sh15t_as_evcc_printed_it() -> None:
    """evcc #16704 printed: pv Power 493 W, Energy 436.7 kWh (32-bit values low word first)."""
    decoded = await decode("sungrow_sh_rt/sh15t_evcc_16704.json")
    assert shown(decoded, {"dc_power": 493, "energy_total": 436.7}) == {}
    assert decoded.values["energy_import"] == 519.4
    assert decoded.values["grid_power"] == 0


async def test_sungrow_sh5rt_and_the_read_it_never_answers() -> None:
    """mkaiser #673: raw single-register frames; a 15-register read at 13264 was never answered."""
    decoded = await decode("sungrow_sh_rt/sh5rt_mkaiser_673.json")
    assert decoded.values["soc"] == 38.8
    assert decoded.values["battery_temperature"] == 17.0
    assert decoded.values["load_power"] == 577  # S32 low word first: 02 41 00 00
    assert decoded.values["export_limit_enabled"] is True  # holding 13086 = 0xAA
    refusal = decoded.image.refusal(decoded.image.refused[0].function, 13264, 1)
    assert refusal is not None
    assert refusal.exception is None


# ------------------------------------------------------------------------------------------ documents


async def test_the_der_chain_speaks_the_vocabulary_with_the_contracts_signs() -> None:
    """The 700-series DER inverter charging its battery (build.py: PV 3850 W in, 1500 W into the battery,
    2256 W out on the AC side): 701 gives ac_power and energy_total, 713 the soc, 802 battery_power
    negative while it charges (the contract: positive = discharge), 714's PV port a PV string and its
    battery port not."""
    decoded = await decode("sunspec/specification_der.json")
    values = decoded.values
    points = {point.key: point for point in decoded.points}
    assert values["ac_power"] == 2256  # SunSpec 701: positive = generation
    assert values["energy_total"] == 10234.518  # TotWhInj, Wh -> kWh
    assert values["status"] == "mppt"  # InvSt RUNNING
    assert values["soc"] == 64.5
    assert values["storage_state"] == "charging"
    assert values["battery_power"] == -1500  # charging: negative, as SunSpec 802 reports it
    assert values["battery_current"] == -3.9
    assert values["pv1_power"] == 3850
    assert not any(key.startswith("pv2_") for key in values)  # port 2 is the battery (PrtTyp ESS)
    assert values["m714_prt2_dcw"] == -1500
    assert values["dc_power"] == values["pv1_power"] + values["m714_prt2_dcw"]
    assert values["rated_power"] == 5000  # 702 WMaxRtg
    roles = {point.role: key for key, point in points.items() if point.role is not None}
    assert roles == {
        "pv_power": "ac_power",
        "pv_energy": "energy_total",
        "operating_state": "status",
        "fault": "events",
        "battery_soc": "soc",
        "battery_power": "battery_power",
    }
    # 713 and 802 both give soc: the DER model keeps the key, the battery's copy is advanced
    assert (points["soc_m802"].role, points["soc_m802"].advanced, values["soc_m802"]) == (None, True, 64.5)
    # advanced: the points outside the vocabulary (generated keys) and the losers of a shared key
    generated_or_lost = re.compile(r"m[0-9]+_.+|.+_m[0-9]+")
    for point in decoded.points:
        if not point.hidden:
            assert point.advanced == bool(generated_or_lost.fullmatch(point.key)), point.key


async def test_eastron_worked_example() -> None:
    """The manual: 240.5 is sent as 43 70 80 00."""
    decoded = await decode("sdm630/eastron_manual_float_example.json")
    assert decoded.values == {"voltage_l1": 240.5}
    assert decoded.image.source.kind is SourceKind.DOCUMENT


def test_fixtures_folder_is_documented() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    for path in IMAGES:
        assert image_name(path) in readme, f"{image_name(path)} is not listed in {FIXTURES / 'README.md'}"
