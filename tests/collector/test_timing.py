"""Time on the Modbus side, on a fake clock (tests/collector/fake_clock.py): the bus's backoff after a
failed connection and between retries, the quiet time of an RTU line after a timeout, and a poller's
quarantine retries, `offline_after`, backoff and cycle schedule.

The devices are the simulated ones over real Modbus (TCP, RTU over TCP); the bus and the poller wait on the
fake clock, so nothing here waits for time to pass (beyond a real timeout where a device stays silent)
and no duration is measured: the waits are read from the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest

from pv_collector.bus_link import ModbusClient, make_client
from pv_collector.config import BusConfig, DeviceConfig, PublishConfig
from pv_collector.errors import ModbusConnectionError, ModbusExceptionResponse, ModbusTimeout
from pv_collector.messages import EventMessage, StateMessage
from pv_collector.metrics import Metrics
from pv_collector.model import Function
from pv_collector.poller import DevicePoller
from pv_collector.profile import load_profile
from pv_collector.simulator import Simulation
from pv_collector.transport import Bus
from tests.collector.conftest import ENVIRONMENT, FIXED_TIME, METER
from tests.collector.fake_clock import START, FakeClock
from tests.helpers import eventually
from tests.mosquitto import free_port

REFUSED_POINT = 0x0008  # current_l2 of the meter (sdm630)
BUSY = 6  # Modbus exception: server device busy


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def tcp_bus(port: int, clock: FakeClock, **options: Any) -> Bus:
    return Bus(
        BusConfig(**{"name": "sim", "type": "tcp", "host": "127.0.0.1", "port": port, **options}), clock=clock
    )


class Sink:
    """What a poller hands on: state messages, and availabilities with the fake clock's time.

    `cycle_seconds`: each state message makes its cycle last that much longer on the clock (a slow bus).
    """

    def __init__(self, clock: FakeClock, cycle_seconds: tuple[float, ...] = ()) -> None:
        self.clock = clock
        self.states: list[dict[str, Any]] = []
        self.availabilities: list[tuple[float, str]] = []
        self._cycle_seconds = list(cycle_seconds)

    def state(self, device_id: str, message: StateMessage) -> None:
        self.states.append(message.to_payload())
        if self._cycle_seconds:
            self.clock.advance(self._cycle_seconds.pop(0))

    def availability(self, device_id: str, availability: str, error: Exception | None = None) -> None:
        self.availabilities.append((self.clock.now - START, availability))

    def event(self, device_id: str, event: EventMessage) -> None:
        pass

    def announcement_changed(self) -> None:
        pass


def poller(bus: Bus, unit_id: int, profile: str, clock: FakeClock, sink: Sink, **device: Any) -> DevicePoller:
    """A poller on the fake clock; its readings are stamped with the same clock (seconds since START)."""
    config = DeviceConfig(id="device", name="Device", unit_id=unit_id, profile=profile, **device)
    return DevicePoller(
        config,
        bus.config,
        bus,
        load_profile(profile),
        sink=sink,
        metrics=Metrics(lambda: FIXED_TIME),
        publish=PublishConfig(),
        clock=clock,
        wall_clock=lambda: clock.now - START,
    )


@contextlib.asynccontextmanager
async def polling(run: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    """Run a poller's loop while the block runs; cancel it after."""
    task = asyncio.create_task(run)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# ---------------------------------------------------------------------------------------------- the bus


async def test_a_failed_connection_is_tried_again_after_a_doubling_backoff(clock: FakeClock) -> None:
    """Nobody listens: the first request tries to connect; requests before the backoff has passed fail at
    once without trying (retries do not help either); the backoff doubles, 0.5 s, 1 s, 2 s. Without the
    backoff every request would try, without the doubling the third try would come at 1.0 s."""
    tries: list[float] = []

    def counted(config: BusConfig) -> ModbusClient:
        tries.append(clock.now - START)
        return make_client(config)

    config = BusConfig(name="lan", type="tcp", host="127.0.0.1", port=free_port(), timeout=0.5, retries=2)
    bus = Bus(config, client_factory=counted, clock=clock)
    try:
        for wait in (0.0, 0.49, 0.01, 0.99, 0.01, 1.99, 0.01):
            clock.advance(wait)
            with pytest.raises(ModbusConnectionError):
                await bus.read(1, Function.INPUT, 0, 1)
    finally:
        await bus.close()
    assert tries == pytest.approx([0.0, 0.5, 1.5, 3.5])
    assert clock.slept == []  # no retry waited for a connection that cannot come yet


async def test_a_busy_device_is_asked_again_after_a_doubling_backoff(
    simulation: tuple[Simulation, int], clock: FakeClock
) -> None:
    """Exception 6 (busy) is worth a retry: 3 retries after 0.05, 0.1 and 0.2 s, then the error."""
    sim, port = simulation
    sim.set_exception(METER, BUSY)
    bus = tcp_bus(port, clock, retries=3)
    try:
        with pytest.raises(ModbusExceptionResponse) as busy:
            await bus.read(METER, Function.INPUT, 0, 2)
    finally:
        await bus.close()
    assert busy.value.code == BUSY
    assert sim.requests[METER] == 4
    assert clock.slept == pytest.approx([0.05, 0.1, 0.2])


async def test_an_rtu_line_stays_quiet_for_a_timeout_after_a_late_answer(clock: FakeClock) -> None:
    """RTU frames carry no transaction id: after a request timed out the bus says nothing for one full
    timeout (the late answer would be taken for the next one's), then opens the line again. Without the
    quiet time the second request would go out at once (nothing slept)."""
    sim = Simulation(clock=lambda: FIXED_TIME)
    port = free_port()
    await sim.start_rtu(f"socket://127.0.0.1:{port}")  # RTU frames on a TCP socket
    config = BusConfig(name="rtu", type="rtu_over_tcp", host="127.0.0.1", port=port, timeout=0.3, retries=0)
    bus = Bus(config, clock=clock)
    try:
        sim.set_delay(METER, 0.6)  # answers after the bus gave up (a real wait of one timeout)
        with pytest.raises(ModbusTimeout):
            await bus.read(METER, Function.INPUT, 0, 2)
        timed_out = clock.now
        sim.set_delay(METER, 0)
        registers = await bus.read(METER, Function.INPUT, 0, 2)
    finally:
        await bus.close()
        await sim.stop()
    assert registers == sim.registers(METER, "input", 0, 2)
    assert clock.slept == [0.3]
    assert clock.now - timed_out == pytest.approx(0.3)


# ---------------------------------------------------------------------------------------------- the poller


async def test_a_refused_point_is_tried_again_after_quarantine_retry(
    simulation: tuple[Simulation, int], clock: FakeClock
) -> None:
    """A point the device refuses is quarantined for `quarantine_retry` seconds: a cycle one second before
    does not ask for it (though the device would answer now), the first cycle after does, and it is back.
    Retried every cycle, it would be back one second early; never retried, not at all."""
    sim, port = simulation
    sim.refuse_register(METER, "input", REFUSED_POINT)
    bus = tcp_bus(port, clock, timeout=1.0, retries=0, quarantine_retry=600.0)
    sink = Sink(clock)
    meter = poller(bus, METER, "sdm630", clock, sink)
    quarantined: list[list[str]] = []
    try:
        assert await meter.poll_once()
        quarantined.append(list(meter.quarantined))
        sim.refuse_register(METER, "input", REFUSED_POINT, refuse=False)  # the device accepts it again
        clock.advance(599.0)
        assert await meter.poll_once()
        quarantined.append(list(meter.quarantined))
        clock.advance(1.0)
        assert await meter.poll_once()
        quarantined.append(list(meter.quarantined))
    finally:
        await bus.close()
    assert quarantined == [["current_l2"], ["current_l2"], []]
    assert ["current_l2" in state["v"] for state in sink.states] == [False, False, True]


async def test_a_silent_device_is_offline_after_offline_after_cycles_then_probed_with_backoff(
    simulation: tuple[Simulation, int], clock: FakeClock
) -> None:
    """Poll interval 5 s, offline_after 3: tried again every 5 s until the third silent cycle (10 s), then
    reported offline once and probed after 20, 40, 60, 60 s (doubling, at most BACKOFF_MAX). Offline after
    the first silence, the sleeps would be 5, 10, 20, ...; without backoff, 5 s each."""
    sim, port = simulation
    sim.set_offline(ENVIRONMENT, True)
    bus = tcp_bus(port, clock, timeout=0.2, retries=0)
    sink = Sink(clock)
    weather = poller(bus, ENVIRONMENT, "pv_sim_environment", clock, sink, poll_interval=5.0, offline_after=3)
    try:
        async with polling(weather.run()):
            await eventually(lambda: len(clock.slept) >= 6, what="six silent cycles")
    finally:
        await bus.close()
    assert clock.slept[:6] == [5.0, 5.0, 20.0, 40.0, 60.0, 60.0]
    assert sink.availabilities == [(10.0, "offline")]
    assert sink.states == []


async def test_cycles_keep_their_grid_and_skip_the_slots_a_slow_cycle_missed(
    simulation: tuple[Simulation, int], clock: FakeClock
) -> None:
    """Poll interval 5 s; cycles that take 1, 7, 1, 1, 12 s. A cycle starts on the grid 0, 5, 10, ... of the
    first one; after a cycle that ran past the next slots it starts on the first slot still ahead (15, 40),
    never at once and never off the grid. Scheduled from the end of each cycle instead, the starts would
    drift (0, 6, 18, ...)."""
    _sim, port = simulation
    bus = tcp_bus(port, clock, timeout=1.0, retries=0)
    sink = Sink(clock, cycle_seconds=(1.0, 7.0, 1.0, 1.0, 12.0, 1.0))
    weather = poller(bus, ENVIRONMENT, "pv_sim_environment", clock, sink, poll_interval=5.0)
    try:
        async with polling(weather.run()):
            await eventually(lambda: len(sink.states) >= 6, what="six cycles")
    finally:
        await bus.close()
    assert [state["ts"] for state in sink.states[:6]] == [0.0, 5.0, 15.0, 20.0, 25.0, 40.0]
    assert clock.slept[:5] == [4.0, 3.0, 4.0, 4.0, 3.0]
    # The cycles' durations are measured on the same clock (later cycles cost nothing).
    cycle_seconds = weather.metrics.registry.get_sample_value(
        "pv_collector_cycle_seconds_sum", {"device": "device"}
    )
    assert cycle_seconds == pytest.approx(23.0)
