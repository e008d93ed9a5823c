"""A device's entry of the announcement is resolved once and kept until its description changes: the
collector re-announces every device whenever one changes, so resolving every point each time made a start
with many devices quadratic (docs/benchmarks.md, "Start-up is quadratic")."""

from __future__ import annotations

import pytest

from pv_collector import messages
from pv_collector.model import Point
from pv_collector.simulator import Simulation
from tests.collector.conftest import INVERTER
from tests.collector.fake_clock import FakeClock
from tests.collector.test_timing import Sink, poller, tcp_bus


class CountingSink(Sink):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.changes = 0

    def announcement_changed(self) -> None:
        self.changes += 1


async def test_a_devices_entry_is_resolved_once_until_its_description_changes(
    simulation: tuple[Simulation, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, port = simulation
    resolved: list[str] = []
    of = messages.PointAnnouncement.of

    def counting(point: Point) -> messages.PointAnnouncement:
        resolved.append(point.key)
        return of(point)

    monkeypatch.setattr(messages.PointAnnouncement, "of", staticmethod(counting))
    clock = FakeClock()
    bus = tcp_bus(port, clock, timeout=1.0, retries=0)
    sink = CountingSink(clock)
    inverter = poller(bus, INVERTER, "sunspec", clock, sink)
    try:
        before = inverter.announcement()
        assert before.pending
        assert await inverter._discover()
    finally:
        await bus.close()
    assert sink.changes == 1  # the discovered points are announced
    entries = [inverter.announcement() for _ in range(5)]  # five re-announcements for other devices
    assert not entries[0].pending
    assert all(entry is entries[0] for entry in entries)
    assert len(resolved) == len(entries[0].points)  # each point resolved once, not five times
