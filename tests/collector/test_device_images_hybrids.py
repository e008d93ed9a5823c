"""The hybrid inverter profiles (Huawei, SolaX, GoodWe, Growatt, Sofar, Solis, Deye, Fox ESS) against their
register images: what the published dumps showed or imply, and the contract's signs (grid_power positive =
import, battery_power positive = discharge) from each vendor's own convention, including computed points.
The decoded values of every image are also a snapshot (test_device_images.py)."""

from __future__ import annotations

import pytest

from pv_collector.model import Function
from tests.collector.device_images import decode

# ------------------------------------------------------------------------------------------ real devices


async def test_huawei_sun2000_5ktl_l1_reply() -> None:
    """wlcrs/huawei_solar#507: one FC3 reply from 32064; no value shown, so the frame's own consistency."""
    decoded = await decode("huawei_sun2000/sun2000_5ktl_l1_huawei_solar_507.json")
    values = decoded.values
    assert (values["dc_power"], values["ac_power"]) == (381, 372)
    # AC / DC matches the efficiency register of the same reply (32086 = 9759, 97.59 %)
    assert decoded.image.words(Function.HOLDING, 32086, 1) == [9759]
    assert values["ac_power"] / values["dc_power"] == pytest.approx(0.9759, abs=0.005)
    assert values["ac_voltage_l1_l2"] == 235.4
    assert values["ac_current_l1"] == 1.642
    assert (values["power_factor"], values["ac_frequency"]) == (1.0, 49.99)
    assert (values["temperature_cabinet"], values["isolation_resistance"]) == (35.2, 3.0)
    assert values["status"] == "on_grid"
    assert values["energy_total"] == 4727.48
    assert (values["pv_energy_total"], values["energy_today"]) == (4895.1, 1.2)
    assert values["pv_energy_total"] > values["energy_total"]  # DC input counts the conversion losses too


async def test_huawei_meter_through_an_sdongle_is_flipped_to_the_contracts_sign() -> None:
    """evcc#15883: the meter's 37113 reads +5 W (Huawei: feed-in positive), so grid_power is -5 W."""
    decoded = await decode("huawei_sun2000/sun2000_luna2000_evcc_15883.json")
    assert decoded.image.words(Function.HOLDING, 37113, 2) == [0, 5]
    assert decoded.values["grid_power"] == -5
    assert decoded.values["energy_import"] == 4131.41
    assert (decoded.values["dc_power"], decoded.values["energy_total"]) == (892, 10675.43)
    assert "soc" not in decoded.values  # 37004 is battery unit 1's SOC; the profile reads the system's 37760


async def test_solax_x3_hybrid_g4_pv_power_is_the_sum_of_its_mppts() -> None:
    """homeassistant-solax-modbus#2253: 'PV Power Total' showed 0 while PV1 1818 W and PV2 3488 W ran."""
    values = (await decode("solax_hybrid_g4/x3_hybrid_g4_solax_modbus_2253.json")).values
    assert (values["pv1_power"], values["pv2_power"]) == (1818, 3488)
    assert values["dc_power"] == 5306
    assert values["ac_power"] == 4786
    assert (values["ac_voltage"], values["ac_frequency"]) == (211.0, 50.05)
    assert (values["soc"], values["battery_mode"], values["battery_power"]) == (99, "stop", 0)
    assert values["status"] == "normal"
    assert values["energy_discharged"] == 6400.8  # 0x001D LSB 0xFA08, 0x001E MSB 0


async def test_goodwe_gw10k_et_charging_is_negative_battery_power() -> None:
    """goodwe's GW10K-ET fixture: battery mode 3 (charge) with 35182 = -2512 W; PV is PV1 + ... + PV4."""
    values = (await decode("goodwe_et/gw10k_et_goodwe_running_data.json")).values
    assert (values["battery_power"], values["battery_mode"]) == (-2512, "charge")
    assert values["dc_power"] == 3456 == values["pv1_power"] + values["pv2_power"]
    assert (values["pv3_power"], values["pv4_power"]) == (0, 0)  # a two-MPPT model


async def test_goodwe_meter_exporting_is_negative_grid_power() -> None:
    """goodwe's GW10K-ET meter fixture: 36025 reads -110 W (GoodWe: export positive), so the house imports."""
    decoded = await decode("goodwe_et/gw10k_et_goodwe_info_meter_battery.json")
    assert decoded.values["grid_power"] == 110
    assert decoded.values["model"] == "GW10K-ET"
    assert decoded.values["serial"] == "SN00000000000000"  # replaced
    assert decoded.values["ac_output_type"] == 254  # outside the protocol's list: published raw


async def test_solis_battery_power_is_a_magnitude_with_a_direction() -> None:
    """pysolarmanv5#10: discharging, the unit answered 10 W and 0.2 A, direction 1: not negative numbers."""
    values = (await decode("solis_hybrid/battery_pysolarmanv5_10.json")).values
    assert values == {"battery_current": 0.2, "battery_mode": "discharging", "battery_power_magnitude": 10}


async def test_deye_single_phase_grid_import_joins_two_registers_apart() -> None:
    """kellerza/sunsynk#650: 'GridBuyTotalLower 78 | 4943' and 'GridBuyTotalHigher 80 | 0' are one counter
    (0.1 kWh, low word at 78, high word at 80, the grid frequency between them)."""
    values = (await decode("deye_hybrid_1p/sunsynk_8k_kellerza_650.json")).values
    assert values["energy_import"] == 494.3
    assert values["ac_frequency"] == 49.9  # register 79
    assert (values["temperature_transformer"], values["temperature_heatsink"]) == (50.3, 44.6)  # offset 1000


# ------------------------------------------------------------------------------------------ documents


async def test_deye_single_phase_import_counter_beyond_one_register() -> None:
    """The document layout's counter needs both words: 1 x 6553.6 + 45678 x 0.1 kWh."""
    values = (await decode("deye_hybrid_1p/protocol_register_layout.json")).values
    assert values["energy_import"] == pytest.approx(11121.4, abs=0.05)
    assert values["dc_power"] == 4200


@pytest.mark.parametrize(
    ("image", "grid_power", "battery_power", "dc_power"),
    [
        ("huawei_sun2000/interface_definition_layout.json", -2100, -1500, 9832),  # export +, charging +
        ("solax_hybrid_g4/protocol_register_tables.json", -2300, -1200, 5399),  # feed-in +, charge +
        ("goodwe_et/protocol_register_layout.json", -6150, 1200, 7230),  # meter export +; PV1 + ... + PV4
        ("growatt_sph/protocol_register_tables.json", -1912, -1500, 4215),  # import - export, disch. - charge
        ("growatt_min/protocol_register_tables.json", 401, 631, 3912),
        ("sofar_hyd/protocol_register_layout.json", -3100, -2000, 7800),  # 10 W counts, export/charge +
        ("deye_hybrid_1p/protocol_register_layout.json", -1100, -1500, 4200),  # import +, discharge +
        ("deye_hybrid_3p/protocol_register_tables.json", -3010, -2000, 7300),
        ("foxess_h3/h3_register_map.json", -3203, -2000, 7149),  # sum of three CT phases, feed-in +
        ("foxess_h1/h1_register_map.json", -1800, -1500, 4396),
    ],
)
async def test_vendor_signs_become_the_contracts_signs(
    image: str, grid_power: int, battery_power: int, dc_power: int
) -> None:
    """Each document image exports and charges its battery: grid_power and battery_power are negative."""
    values = (await decode(image)).values
    assert (values["grid_power"], values["battery_power"], values["dc_power"]) == (
        grid_power,
        battery_power,
        dc_power,
    )


async def test_solis_layout_has_no_signed_battery_power() -> None:
    """Solis: the magnitude and its direction; no point claims the battery_power role."""
    decoded = await decode("solis_hybrid/esinv_register_layout.json")
    assert "battery_power" not in decoded.values
    assert not [p.key for p in decoded.points if p.role == "battery_power"]
    assert (decoded.values["battery_power_magnitude"], decoded.values["battery_mode"]) == (1800, "charging")
    assert decoded.values["grid_power"] == -1600
