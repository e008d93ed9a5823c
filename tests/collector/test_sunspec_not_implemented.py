"""SunSpec points a device does not implement are not announced.

SunSpec's rule: a point the device does not implement always reads its type's "not implemented" value
(0xFFFF, 0x8000, 0xFFFFFFFF, 0x80000000, NaN, a string of NULs). Such a point would be an entity that
is always "Unknown" and a row of "- / never" on the collector's page, so discovery reads the device's
points once and leaves these out, logged in one line. A device that does not answer tells nothing: only
a read answered with the marker counts.

The devices: register images of real devices replayed over Modbus (tests/fixtures/devices/sunspec) and
the demo's simulated inverter, each polled by a `DevicePoller` on a fake clock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from pv_collector.errors import ModbusExceptionResponse, ModbusTimeout
from pv_collector.model import Function, Point
from pv_collector.poller import DevicePoller
from pv_collector.profile import load_profile
from pv_collector.recording import ImageReader
from pv_collector.register_image import Refusal, load_image
from pv_collector.simulator import Simulation
from pv_collector.simulator.replay import ImageArgument
from pv_collector.sunspec import implemented, scan
from tests.collector.conftest import FIXED_TIME, INVERTER
from tests.collector.device_images import FIXTURES
from tests.collector.fake_clock import FakeClock
from tests.collector.test_register_images import replaying
from tests.collector.test_timing import Sink, poller, polling, tcp_bus
from tests.helpers import eventually

KACO = FIXTURES / "sunspec" / "kaco_blueplanet_6_5_tl3.json"
SOLAREDGE = FIXTURES / "sunspec" / "solaredge_se5000h_rws.json"
# The KACO blueplanet answers 0xFFFF for the line-to-line voltages and the common model's device address.
KACO_NOT_IMPLEMENTED = ("ac_voltage_l1_l2", "ac_voltage_l2_l3", "ac_voltage_l3_l1", "m1_da")
KACO_MODEL_103 = 40070  # its ID register; the data follow the ID and length registers
# The demo inverter's sensors that were always "Unknown" (the simulator does not implement them).
DEMO_NOT_IMPLEMENTED = (
    "temperature_other",
    "temperature_transformer",
    "status_vendor",
    "rated_energy",
    "rated_charge_power",
    "rated_discharge_power",
)


def announced(device: DevicePoller) -> set[str]:
    return {point.key for point in device.announcement().points}


async def discovered(device: DevicePoller) -> set[str]:
    await eventually(lambda: device.discovered, what="SunSpec discovery")
    return announced(device)


def valued(sink: Sink) -> set[str]:
    """The keys that had a value in any state message so far."""
    return {key for state in sink.states for key in state["v"]}


def left_out_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("SunSpec points not implemented")]


async def test_a_real_devices_not_implemented_points_are_not_announced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pv_collector")
    clock = FakeClock()
    async with replaying([ImageArgument(KACO, 1)]) as port:
        bus = tcp_bus(port, clock, timeout=0.5, retries=0)
        device = poller(bus, 1, "sunspec", clock, Sink(clock))
        async with polling(device.run()):
            keys = await discovered(device)
        await bus.close()
    assert keys.isdisjoint(KACO_NOT_IMPLEMENTED)
    assert {"ac_power", "energy_total", "ac_voltage_l1", "ac_voltage_l2", "ac_voltage_l3", "status"} <= keys
    (line,) = left_out_lines(caplog)  # once, at info level, naming every key left out
    assert line.levelno == logging.INFO
    assert line.__dict__["device"] == "device"
    assert sorted(line.__dict__["points"].split(",")) == sorted(KACO_NOT_IMPLEMENTED)


async def test_the_demo_inverter_announces_no_sensor_that_is_always_unknown() -> None:
    clock = FakeClock()
    sim = Simulation(clock=lambda: FIXED_TIME)
    port = await sim.start("127.0.0.1", 0)
    sink = Sink(clock)
    try:
        bus = tcp_bus(port, clock, timeout=0.5, retries=0)
        device = poller(bus, INVERTER, "sunspec", clock, sink)
        async with polling(device.run()):
            keys = await discovered(device)
            sensors = {p.key for p in device.announcement().points if p.kind != "action"}
            await eventually(lambda: sensors <= valued(sink), what="a value of every announced sensor")
        await bus.close()
    finally:
        await sim.stop()
    assert keys.isdisjoint(DEMO_NOT_IMPLEMENTED)
    assert {"ac_power", "energy_total", "power_limit", "power_limit_enabled", "rated_power"} <= keys


async def test_a_device_that_does_not_answer_its_points_is_discovered_once_it_does(tmp_path: Path) -> None:
    """A read that goes unanswered (an inverter asleep, a busy gateway) is no "not implemented": the
    discovery waits for an answer instead of leaving the points out."""
    image = load_image(KACO)
    silent = Refusal(Function.HOLDING, KACO_MODEL_103 + 2, 50, exception=None)
    image.refused.append(silent)
    path = tmp_path / "kaco.json"
    image.save(path)
    clock = FakeClock()
    async with replaying([ImageArgument(path, 1)]) as port:
        bus = tcp_bus(port, clock, timeout=0.2, retries=0)
        device = poller(bus, 1, "sunspec", clock, Sink(clock))
        async with polling(device.run()):
            await eventually(lambda: len(clock.slept) >= 2, what="discovery retried")
            assert not device.discovered
            assert device.announcement().pending
            image.refused.remove(silent)
            image.save(path)  # the inverter wakes up
            keys = await discovered(device)
        await bus.close()
    assert keys.isdisjoint(KACO_NOT_IMPLEMENTED)
    assert {"ac_power", "energy_total", "ac_current", "ac_frequency"} <= keys


# ---------------------------------------------------------------------------------------- the rules


async def solaredge() -> tuple[ImageReader, tuple[Point, ...]]:
    reader = ImageReader(load_image(SOLAREDGE))
    found = await scan(reader, load_profile("sunspec"))
    return reader, found.points


async def test_a_point_with_a_role_is_kept_and_a_scale_factor_takes_its_points_along() -> None:
    reader, points = await solaredge()
    result = await implemented(reader, points, load_profile("sunspec"))
    left_out = set(result.left_out)
    assert {"ac_current_l2", "ac_voltage_l2", "temperature_other", "m101_evt2"} <= left_out
    # SolarEdge's Evt1 reads 0xFFFFFFFF, but alerts use the device's `fault` point: kept
    assert "events" not in left_out
    # 203's VAh scale factor reads 0x8000: its counters can never be scaled and go with it
    assert {"m203_tot_v_ah_sf", "m203_tot_v_ah_exp", "m203_tot_v_arh_imp_q1_ph_c"} <= left_out
    # an accumulator at 0 may be a counter that has not counted yet (a phase that never exported): kept
    assert "m203_tot_wh_exp_ph_b" not in left_out
    assert {"energy_total", "energy_export", "energy_import", "ac_power"}.isdisjoint(left_out)
    assert [p.key for p in result.points] == [p.key for p in points if p.key not in left_out]


class Refusing:
    """Answers from `reader`, except for reads that touch `address`: refused, or never answered."""

    def __init__(self, reader: ImageReader, address: int, *, silent: bool) -> None:
        self.reader, self.address, self.silent = reader, address, silent

    async def read(self, function: Function, address: int, count: int) -> Sequence[int]:
        if address <= self.address < address + count:
            if self.silent:
                raise ModbusTimeout("no answer")
            raise ModbusExceptionResponse(4)
        return await self.reader.read(function, address, count)


async def test_refused_registers_leave_nothing_out_and_silence_is_no_answer() -> None:
    reader, points = await solaredge()
    voltage_l2 = next(p for p in points if p.key == "ac_voltage_l2")
    profile = load_profile("sunspec")
    result = await implemented(Refusing(reader, voltage_l2.address, silent=False), points, profile)
    assert "ac_voltage_l2" not in result.left_out  # refused: nothing known about it
    assert "temperature_other" in result.left_out
    with pytest.raises(ModbusTimeout):
        await implemented(Refusing(reader, voltage_l2.address, silent=True), points, profile)
