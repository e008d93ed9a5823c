"""The simulated devices, checked over real Modbus TCP with a pymodbus client (and RTU over a pty pair)."""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import errno
import json
import logging
import os
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import ModbusPDU

from pv_collector.logs import KeyValueFormatter
from pv_collector.model import DataType, Function, Point
from pv_collector.profile import load_profile
from pv_collector.simulator import Simulation, run_simulator
from tests.collector.test_sunspec import RefPoint, reference_group, reference_layout
from tests.helpers import required_tool
from tests.mosquitto import free_port

JUNE_NOON_UTC = calendar.timegm((2025, 6, 21, 11, 0, 0))  # 12:54 local solar time in Berlin
JUNE_MIDNIGHT_UTC = calendar.timegm((2025, 6, 21, 0, 0, 0))
INVERTER, METER, BATTERY, ENVIRONMENT = 1, 2, 3, 4


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: float

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(JUNE_NOON_UTC)


@dataclass
class Served:
    simulation: Simulation
    port: int


@pytest.fixture
async def served(clock: FakeClock) -> AsyncIterator[Served]:
    sim = Simulation(clock=clock)
    port = await sim.start("127.0.0.1", 0)
    yield Served(sim, port)
    await sim.stop()


@pytest.fixture
def simulation(served: Served) -> Simulation:
    return served.simulation


@pytest.fixture
async def client(served: Served) -> AsyncIterator[AsyncModbusTcpClient]:
    modbus = AsyncModbusTcpClient("127.0.0.1", port=served.port, timeout=0.3, retries=0)
    assert await modbus.connect()
    yield modbus
    modbus.close()


async def holding(client: AsyncModbusTcpClient, unit: int, address: int, count: int) -> list[int]:
    response = await client.read_holding_registers(address, count=count, device_id=unit)
    assert not response.isError(), response
    return list(response.registers)


def exception_code(response: ModbusPDU) -> int | None:
    """The Modbus exception code of a response, None for a normal answer."""
    return int(response.exception_code) if response.isError() else None


def s16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


def reference_point(model: int, name: str) -> RefPoint:
    """A point of the SunSpec Alliance's model definition (`module@N.Name`: module N of model 160)."""
    layout, _length = reference_layout(model, modules=2 if model == 160 else 0)
    return layout[name]


class SunSpecReader:
    """Walks the SunSpec chain of unit 1 over Modbus and reads points by SunSpec name, placed from the
    SunSpec Alliance's model definitions (pysunspec2's JSON, laid out by the tests), not the collector's."""

    def __init__(self, client: AsyncModbusTcpClient) -> None:
        self.client = client
        self.starts: dict[int, int] = {}

    async def walk(self, base: int = 40000) -> list[int]:
        assert await holding(self.client, INVERTER, base, 2) == [0x5375, 0x6E53]  # "SunS"
        address, chain = base + 2, []
        for _ in range(50):
            model_id, length = await holding(self.client, INVERTER, address, 2)
            chain.append(model_id)
            if model_id == 0xFFFF:
                assert length == 0
                return chain
            self.starts[model_id] = address
            address += 2 + length
        raise AssertionError(f"no end marker after {chain}")

    def address(self, model: int, name: str) -> int:
        return self.starts[model] + reference_point(model, name).offset

    async def raw(self, model: int, name: str) -> list[int]:
        point = reference_point(model, name)
        return await holding(self.client, INVERTER, self.address(model, name), point.size)

    async def value(self, model: int, name: str) -> float:
        """A numeric point with its scale factor applied, decoded here with plain struct unpacking."""
        point = reference_point(model, name)
        words = await self.raw(model, name)
        data = struct.pack(f">{len(words)}H", *words)
        number = {
            "int16": ">h",
            "uint16": ">H",
            "acc32": ">I",
            "uint32": ">I",
            "enum16": ">H",
            "count": ">H",
            "bitfield32": ">I",
        }[point.type]
        value: float = struct.unpack(number, data)[0]
        if point.sf:
            (sf_word,) = await self.raw(model, point.sf)
            value *= 10.0 ** s16(sf_word)
        return value

    async def text(self, model: int, name: str) -> str:
        words = await self.raw(model, name)
        return struct.pack(f">{len(words)}H", *words).rstrip(b"\0").decode("ascii")

    async def write(self, model: int, name: str, value: int) -> ModbusPDU:
        return await self.client.write_register(self.address(model, name), value, device_id=INVERTER)


# -- SunSpec inverter ---------------------------------------------------------------------------------------


async def test_sunspec_chain_walk_reaches_end_marker(client: AsyncModbusTcpClient) -> None:
    reader = SunSpecReader(client)
    assert await reader.walk() == [1, 103, 120, 123, 160, 0xFFFF]
    assert await reader.text(1, "Mn") == "PV Monitor"
    assert await reader.text(1, "Md") == "SIM-5000"
    assert await reader.text(1, "SN") == "SIM0001"
    assert await reader.value(120, "WRtg") == 5000
    # The model lengths on the wire are the reference lengths (model 160 with two modules).
    lengths = {model: 0 for model in reader.starts}
    for model, start in reader.starts.items():
        (_, lengths[model]) = await holding(client, INVERTER, start, 2)
    assert lengths == {m: reference_layout(m, modules=2 if m == 160 else 0)[1] for m in lengths}


def test_the_inverter_is_laid_out_from_the_collectors_model_definitions() -> None:
    """No second table: the simulated inverter's points are the collector's own placed model points."""
    from pv_collector.sunspec_models import load_sunspec_model

    sim = Simulation(clock=lambda: JUNE_NOON_UTC)
    points = sim.image(INVERTER).points
    model_103 = load_sunspec_model(103)
    assert model_103 is not None
    start = 40000 + 2 + 2 + 66  # "SunS", then model 1 (ID, L and its 66 registers)
    assert points["ac_power"].address == start + 2 + next(
        p.address for p in model_103.points() if p.key == "ac_power"
    )
    # Independent of both: in the SunSpec Alliance's model 103, W follows the 14 registers ID..V_SF.
    points_103 = reference_group(103)["points"]
    names = [p["name"] for p in points_103]
    offset = sum(p["size"] for p in points_103[: names.index("W")])
    assert offset == 14
    assert points["ac_power"].address == start + offset


async def test_inverter_sleeps_at_night_and_produces_at_noon(
    simulation: Simulation, client: AsyncModbusTcpClient, clock: FakeClock
) -> None:
    reader = SunSpecReader(client)
    await reader.walk()
    assert await reader.value(103, "W") > 0
    assert await reader.value(103, "St") == 4  # MPPT
    assert await reader.value(103, "DCW") > await reader.value(103, "W")  # conversion losses
    module_power = [await reader.value(160, f"module@{module}.DCW") for module in (1, 2)]
    assert all(power > 0 for power in module_power)  # DCW of both MPPT modules

    clock.now = JUNE_MIDNIGHT_UTC + 86400  # the next midnight
    await simulation.step()
    assert await reader.value(103, "W") == 0
    assert await reader.value(103, "St") == 2  # sleeping
    assert simulation.sun_elevation < 0
    assert simulation.irradiance == 0


async def test_energy_never_decreases_over_a_simulated_day(
    simulation: Simulation, client: AsyncModbusTcpClient, clock: FakeClock
) -> None:
    reader = SunSpecReader(client)
    await reader.walk()
    start = previous = await reader.value(103, "WH")
    meter_previous = await meter_floats(client, 0x0048, 2)
    for _ in range(24 * 12):  # noon to noon, every 5 minutes
        clock.now += 300
        await simulation.step()
        energy = await reader.value(103, "WH")
        assert energy >= previous
        previous = energy
        meter = await meter_floats(client, 0x0048, 2)
        assert meter[0] >= meter_previous[0]  # import
        assert meter[1] >= meter_previous[1]  # export
        meter_previous = meter
    day_yield_kwh = (previous - start) / 1000
    assert 5 < day_yield_kwh < 45  # a 5 kWp array in Berlin in June
    assert previous == pytest.approx(simulation.inverter_energy_wh, abs=1)


async def test_power_limit_caps_output(
    simulation: Simulation, client: AsyncModbusTcpClient, clock: FakeClock
) -> None:
    reader = SunSpecReader(client)
    await reader.walk()
    unlimited = await reader.value(103, "W")
    assert unlimited > 600  # the limit below must bite

    assert not (await reader.write(123, "WMaxLimPct", 10)).isError()
    assert not (await reader.write(123, "WMaxLim_Ena", 1)).isError()
    assert await reader.value(123, "WMaxLimPct") == 10  # read back at once
    await simulation.step()
    assert await reader.value(103, "W") <= 500
    assert await reader.value(103, "W") > 0
    assert await reader.value(103, "St") == 5  # throttled
    assert simulation.power_limit_pct == 10

    assert not (await reader.write(123, "WMaxLim_Ena", 0)).isError()
    await simulation.step()
    assert await reader.value(103, "W") == pytest.approx(unlimited, abs=1)


async def test_power_limit_reverts_after_timeout(
    simulation: Simulation, client: AsyncModbusTcpClient, clock: FakeClock
) -> None:
    reader = SunSpecReader(client)
    await reader.walk()
    await reader.write(123, "WMaxLimPct_RvrtTms", 60)
    await reader.write(123, "WMaxLimPct", 20)
    await reader.write(123, "WMaxLim_Ena", 1)
    clock.now += 30
    await simulation.step()
    assert await reader.value(123, "WMaxLim_Ena") == 1
    clock.now += 31
    await simulation.step()
    assert await reader.value(123, "WMaxLim_Ena") == 0
    assert await reader.value(103, "St") == 4


async def test_inverter_refuses_bad_writes(simulation: Simulation, client: AsyncModbusTcpClient) -> None:
    reader = SunSpecReader(client)
    await reader.walk()
    read_only = await reader.write(103, "W", 1)
    assert exception_code(read_only) == 2
    too_high = await reader.write(123, "WMaxLimPct", 150)
    assert exception_code(too_high) == 3
    bad_enum = await reader.write(123, "WMaxLim_Ena", 7)
    assert exception_code(bad_enum) == 3
    assert simulation.power_limit_pct == 100
    assert not simulation.power_limit_enabled
    gap = await client.read_holding_registers(39990, count=2, device_id=INVERTER)
    assert exception_code(gap) == 2


class TcpUnitReader:
    """The collector's `RegisterReader` protocol over the test's pymodbus client."""

    def __init__(self, client: AsyncModbusTcpClient, unit: int) -> None:
        self.client, self.unit = client, unit

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        from pv_collector.errors import ModbusExceptionResponse

        if function is Function.HOLDING:
            response = await self.client.read_holding_registers(address, count=count, device_id=self.unit)
        else:
            response = await self.client.read_input_registers(address, count=count, device_id=self.unit)
        if response.isError():
            raise ModbusExceptionResponse(int(response.exception_code))
        return list(response.registers)


async def test_collector_sunspec_scan_and_decoder_agree_with_the_simulation(
    simulation: Simulation, client: AsyncModbusTcpClient
) -> None:
    """The collector's scanner and decoder (another implementation) read what the simulator means."""
    from pv_collector.decode import decode as collector_decode
    from pv_collector.sunspec import scan

    reader = TcpUnitReader(client, INVERTER)
    device = await scan(reader, load_profile("sunspec"))
    assert [m.id for m in device.models] == [1, 103, 120, 123, 160]
    assert device.kind == "inverter"
    points = {p.key: p for p in device.points}
    values: dict[str, object] = {}
    for key in ("ac_power", "energy_total", "status", "power_limit", "power_limit_enabled"):
        point = points[key]
        words = await reader.read(Function.HOLDING, point.address, point.words)
        sf = None
        if point.sf is not None:
            (sf,) = [s16(w) for w in await reader.read(Function.HOLDING, points[point.sf].address, 1)]
        values[key] = collector_decode(point, words, sf)
    assert values["ac_power"] == pytest.approx(simulation.inverter_power_w, abs=0.5)
    energy_scale = 1000 if points["energy_total"].unit == "kWh" else 1
    assert values["energy_total"] == pytest.approx(simulation.inverter_energy_wh / energy_scale, abs=1)
    assert values["status"] == "mppt"
    assert values["power_limit"] == 100
    assert values["power_limit_enabled"] is not None  # decodable: 0 is a defined value


# -- SDM630 grid meter --------------------------------------------------------------------------------------


async def meter_floats(client: AsyncModbusTcpClient, address: int, count: int) -> list[float]:
    response = await client.read_input_registers(address, count=count * 2, device_id=METER)
    assert not response.isError(), response
    decoded = client.convert_from_registers(response.registers, client.DATATYPE.FLOAT32, word_order="big")
    return [float(v) for v in (decoded if isinstance(decoded, list) else [decoded])]


async def test_sdm630_registers_decode_to_plausible_values(
    simulation: Simulation, client: AsyncModbusTcpClient
) -> None:
    first = await meter_floats(client, 0x0000, 38)  # 0x0000..0x004B in one read
    volts, amps, watts = first[0:3], first[3:6], first[6:9]
    total_w, pf, hz = first[0x34 // 2], first[0x3E // 2], first[0x46 // 2]
    import_kwh, export_kwh = first[0x48 // 2], first[0x4A // 2]
    assert all(200 < v < 260 for v in volts)
    assert all(0 <= a < 100 for a in amps)
    assert -1 <= pf <= 1
    assert 49.5 < hz < 50.5
    assert total_w == pytest.approx(sum(watts), abs=1)
    assert total_w == pytest.approx(simulation.meter_power_w, abs=0.5)
    expected = simulation.load_power_w - simulation.inverter_power_w - simulation.battery_power_w
    assert total_w == pytest.approx(expected, abs=0.5)
    assert import_kwh > 0
    assert export_kwh > 0
    (total_kwh,) = await meter_floats(client, 0x0156, 1)
    assert total_kwh == pytest.approx(import_kwh + export_kwh, rel=1e-6)
    holding_read = await client.read_holding_registers(0x0000, count=2, device_id=METER)
    assert exception_code(holding_read) == 2


# -- battery and environment sensor, through their shipped profiles ------------------------------------------


def decode(point: Point, words: list[int]) -> float:
    data = struct.pack(f">{len(words)}H", *words)
    fmt = {DataType.U16: ">H", DataType.S16: ">h", DataType.U32: ">I", DataType.S32: ">i"}[point.type]
    return float(struct.unpack(fmt, data)[0]) * point.scale + point.offset


async def read_profile(client: AsyncModbusTcpClient, profile_id: str, unit: int) -> dict[str, float]:
    values: dict[str, float] = {}
    for point in load_profile(profile_id).points:
        if point.type is DataType.STRING:
            continue  # the model name: test_simulated_devices_report_their_profiles_model
        if point.function is Function.HOLDING:
            response = await client.read_holding_registers(point.address, count=point.words, device_id=unit)
        else:
            response = await client.read_input_registers(point.address, count=point.words, device_id=unit)
        assert not response.isError(), (point.key, response)
        values[point.key] = decode(point, list(response.registers))
    return values


async def test_simulated_devices_report_their_profiles_model(client: AsyncModbusTcpClient) -> None:
    battery = await client.read_holding_registers(0x0020, count=5, device_id=BATTERY)
    environment = await client.read_input_registers(0x0010, count=5, device_id=ENVIRONMENT)
    for response, expected in ((battery, b"SIM-BAT-10"), (environment, b"SIM-ENV-1\0")):
        assert struct.pack(">5H", *response.registers) == expected


async def test_battery_profile_matches_the_simulation(
    simulation: Simulation, client: AsyncModbusTcpClient
) -> None:
    values = await read_profile(client, "pv_sim_battery", BATTERY)
    assert values["soc"] == pytest.approx(simulation.battery_soc, abs=0.05)
    assert values["battery_power"] == pytest.approx(simulation.battery_power_w, abs=0.5)
    assert values["battery_power"] * values["battery_current"] >= 0  # same sign convention
    assert 40 < values["battery_voltage"] < 60
    assert values["energy_charged"] > 0
    assert values["energy_discharged"] > 0
    assert values["capacity"] == 10.0
    assert values["battery_mode"] == 0  # auto
    assert values["charge_power_limit"] == 3000


async def test_battery_auto_mode_absorbs_surplus(simulation: Simulation) -> None:
    surplus = simulation.inverter_power_w - simulation.load_power_w
    assert surplus > 0  # sunny June noon
    # Charging at most at the default limit of 3000 W; the controller misses the surplus by < 30 W.
    assert simulation.battery_power_w == pytest.approx(-min(surplus, 3000), abs=30)
    assert simulation.meter_power_w == pytest.approx(-max(0, surplus - 3000), abs=30)


async def test_battery_mode_and_limit_are_writable(
    simulation: Simulation, client: AsyncModbusTcpClient, clock: FakeClock
) -> None:
    assert not (await client.write_register(0x0011, 1000, device_id=BATTERY)).isError()
    assert not (await client.write_register(0x0010, 1, device_id=BATTERY)).isError()  # charge
    await simulation.step()
    assert simulation.battery_mode == "charge"
    assert simulation.battery_power_w == pytest.approx(-1000)
    soc = simulation.battery_soc
    clock.now += 600
    await simulation.step()
    assert simulation.battery_soc > soc

    assert not (await client.write_register(0x0010, 3, device_id=BATTERY)).isError()  # idle
    await simulation.step()
    assert simulation.battery_power_w == 0
    values = await read_profile(client, "pv_sim_battery", BATTERY)
    assert values["battery_mode"] == 3
    assert values["charge_power_limit"] == 1000

    bad_mode = await client.write_register(0x0010, 9, device_id=BATTERY)
    assert exception_code(bad_mode) == 3
    too_much = await client.write_register(0x0011, 9000, device_id=BATTERY)
    assert exception_code(too_much) == 3
    read_only = await client.write_register(0x0000, 500, device_id=BATTERY)
    assert exception_code(read_only) == 2


async def test_environment_sensor_reports_the_weather(
    simulation: Simulation, client: AsyncModbusTcpClient
) -> None:
    values = await read_profile(client, "pv_sim_environment", ENVIRONMENT)
    assert values["irradiance"] == round(simulation.irradiance)
    assert 100 < values["irradiance"] < 1400
    assert values["module_temperature"] == pytest.approx(simulation.module_temperature, abs=0.05)
    assert values["module_temperature"] > values["ambient_temperature"]  # the sun heats the modules
    assert values["ambient_temperature"] == pytest.approx(simulation.ambient_temperature, abs=0.05)
    assert values["wind_speed"] == pytest.approx(simulation.wind_speed, abs=0.05)
    assert simulation.registers(ENVIRONMENT, "input", 0, 1) == [round(simulation.irradiance)]


# -- bus behaviour ------------------------------------------------------------------------------------------


async def test_unknown_unit_gets_a_modbus_exception(client: AsyncModbusTcpClient) -> None:
    response = await client.read_holding_registers(40000, count=2, device_id=17)
    assert exception_code(response) == 0x0B  # gateway target device failed to respond


async def test_offline_unit_times_out_and_comes_back(
    simulation: Simulation, client: AsyncModbusTcpClient
) -> None:
    simulation.set_offline(METER, True)
    with pytest.raises(ModbusIOException):
        await client.read_input_registers(0, count=2, device_id=METER)
    # The other units on the same server keep answering.
    assert await holding(client, INVERTER, 40000, 2) == [0x5375, 0x6E53]
    simulation.set_offline(METER, False)
    response = await client.read_input_registers(0, count=2, device_id=METER)
    assert not response.isError()
    assert response.registers == simulation.registers(METER, Function.INPUT, 0, 2)


async def test_run_simulator_serves_until_cancelled(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "simulator.json"
    task = asyncio.create_task(
        run_simulator("127.0.0.1", port, latitude=48.1, longitude=11.6, seed=7, state_file=state)
    )
    modbus = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.3, retries=0)
    try:
        deadline = time.monotonic() + 5
        while not await modbus.connect():
            assert time.monotonic() < deadline, "run_simulator did not start listening"
            assert not task.done(), task
        assert await holding(modbus, INVERTER, 40000, 2) == [0x5375, 0x6E53]
    finally:
        modbus.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.cancelled()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    assert json.loads(state.read_text())["devices"].keys() == {"inverter", "meter", "battery"}


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ValueError, match="latitude: 95"):
        Simulation(latitude=95)
    sim = Simulation()
    with pytest.raises(ValueError, match="unit 9"):
        sim.set_offline(9, True)
    with pytest.raises(ValueError, match="function 'coils'"):
        sim.registers(1, "coils", 0, 1)
    with pytest.raises(ValueError, match="unit 4 has no holding registers"):
        sim.registers(4, 3, 0, 1)


# -- lifetime counters kept between runs (--state) -----------------------------------------------------------


def lifetime_counters(sim: Simulation) -> dict[tuple[int, str], float]:
    """Every total_increasing point of every simulated device, decoded from its registers."""
    counters: dict[tuple[int, str], float] = {}
    for unit in (INVERTER, METER, BATTERY, ENVIRONMENT):
        image = sim.image(unit)
        for key, point in image.points.items():
            if point.state_class == "total_increasing":
                value = image.get(key)
                assert isinstance(value, int | float), (unit, key, value)
                counters[unit, key] = float(value)
    return counters


def state_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The simulator's warnings as the collector's log lines."""
    formatter = KeyValueFormatter()
    return [
        formatter.format(record)
        for record in caplog.records
        if record.name.startswith("pv_collector.simulator") and record.levelno >= logging.WARNING
    ]


@pytest.mark.parametrize("clean_stop", [True, False], ids=["stopped", "killed"])
async def test_counters_continue_after_a_restart_with_the_same_state_file(
    tmp_path: Path, clock: FakeClock, clean_stop: bool
) -> None:
    state = tmp_path / "simulator.json"
    first = Simulation(clock=clock, state_file=state)
    clock.now += 3600  # an hour around noon: the inverter, the meter and the battery all count
    await first.step()
    before = lifetime_counters(first)
    fresh = lifetime_counters(Simulation(clock=clock))
    assert {(INVERTER, "energy_total"), (METER, "energy_import"), (METER, "energy_export")} <= before.keys()
    assert {(BATTERY, "energy_charged"), (BATTERY, "energy_discharged")} <= before.keys()
    assert any(before[key] > fresh[key] for key in before)  # the hour moved them past the seeded start
    if clean_stop:
        await first.stop()

    clock.now += 30
    second = Simulation(clock=clock, state_file=state)

    after = lifetime_counters(second)
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert after[key] >= value, key


async def test_a_device_the_state_file_does_not_name_starts_from_the_seed(
    tmp_path: Path, clock: FakeClock
) -> None:
    state = tmp_path / "simulator.json"
    state.write_text(json.dumps({"version": 1, "devices": {"meter": {"import_kwh": 23456.5}}}))

    sim = Simulation(clock=clock, state_file=state)

    fresh = Simulation(clock=clock)
    assert sim.image(METER).get("energy_import") == pytest.approx(23456.5)
    assert sim.image(METER).get("energy_export") == fresh.image(METER).get("energy_export")
    assert sim.inverter_energy_wh == fresh.inverter_energy_wh
    assert sim.image(BATTERY).get("energy_charged") == fresh.image(BATTERY).get("energy_charged")


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"version": 1, "devices": {"meter": {"import_kwh": "many"}}}',
        b'{"version": 1, "devices": {"inverter": {"energy_wh": -5}}}',
        b'{"version": 7, "devices": {}}',
    ],
    ids=["not-json", "not-utf8", "no-devices", "not-a-number", "negative", "other-version"],
)
async def test_a_broken_state_file_is_one_warning_and_a_fresh_start(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    caplog.set_level(logging.INFO, logger="pv_collector")
    state = tmp_path / "simulator.json"
    state.write_bytes(content)

    sim = Simulation(clock=clock, state_file=state)

    [line] = state_warnings(caplog)
    assert "\n" not in line
    assert f"file={state}" in line
    assert lifetime_counters(sim) == lifetime_counters(Simulation(clock=clock))
    assert json.loads(state.read_text())["devices"]["inverter"]["energy_wh"] == sim.inverter_energy_wh


async def test_the_state_file_is_replaced_whole(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "simulator.json"
    sim = Simulation(clock=clock, state_file=state)
    previous = state.read_text()
    renamed: list[dict[str, Any]] = []
    real_replace = Path.replace

    def replace(source: Path, target: Path) -> Path:
        # At the rename the new file is complete beside the old one, which is still whole.
        assert Path(target) == state
        assert source.parent == state.parent
        assert source != state
        assert state.read_text() == previous
        renamed.append(json.loads(source.read_text()))
        return real_replace(source, target)

    monkeypatch.setattr(Path, "replace", replace)
    clock.now += 600
    await sim.step()

    assert len(renamed) == 1
    assert renamed[0]["devices"]["inverter"]["energy_wh"] == sim.inverter_energy_wh
    assert json.loads(state.read_text()) == renamed[0]
    assert os.listdir(tmp_path) == [state.name]  # no temporary file left behind


async def test_a_failed_write_keeps_the_last_state_file(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pv_collector")
    state = tmp_path / "simulator.json"
    sim = Simulation(clock=clock, state_file=state)
    previous = state.read_text()

    def disk_full(source: Path, target: Path) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "replace", disk_full)
    for _ in range(3):
        clock.now += 60
        await sim.step()

    assert state.read_text() == previous
    assert os.listdir(tmp_path) == [state.name]
    [line] = state_warnings(caplog)
    assert "No space left on device" in line
    assert f"file={state}" in line


# -- RTU over a pseudo-terminal pair ------------------------------------------------------------------------


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    socat = required_tool("socat")
    server_end, client_end = tmp_path / "server", tmp_path / "client"
    process = subprocess.Popen(
        [socat, f"pty,raw,echo=0,link={server_end}", f"pty,raw,echo=0,link={client_end}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while not (server_end.exists() and client_end.exists()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("socat did not create the pty pair")
            time.sleep(0.01)
        yield str(server_end), str(client_end)
    finally:
        process.terminate()
        process.wait(5)


async def test_rtu_over_pseudo_terminal(clock: FakeClock, pty_pair: tuple[str, str]) -> None:
    sim = Simulation(clock=clock)
    await sim.start_rtu(pty_pair[0])
    modbus = AsyncModbusSerialClient(pty_pair[1], baudrate=9600, timeout=0.5, retries=1)
    try:
        assert await modbus.connect()
        response = await modbus.read_holding_registers(40000, count=2, device_id=INVERTER)
        assert response.registers == [0x5375, 0x6E53]
        watts = await modbus.read_input_registers(0x0034, count=2, device_id=METER)
        total = modbus.convert_from_registers(watts.registers, modbus.DATATYPE.FLOAT32)
        assert total == pytest.approx(sim.meter_power_w, abs=0.01)
        with pytest.raises(ModbusIOException):  # RS-485: nobody answers for an unknown unit
            await modbus.read_holding_registers(0, count=1, device_id=42)
    finally:
        modbus.close()
        await sim.stop()
        await asyncio.sleep(0)
