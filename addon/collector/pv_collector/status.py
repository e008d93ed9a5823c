"""A read-only view of a running collector, as plain data for its web page (`pv_collector.web`).

`StatusView(collector).overview()` describes the collector, its MQTT connection and queue, and each bus
with its devices; `device(id)` adds a device's live values, read plan, quarantined registers and recent
events. Everything is read from what the collector keeps anyway (pollers, buses, metrics, the publisher,
`Activity`); nothing is read from a device and nothing is changed.

Times are wall-clock seconds (the collector's clock), durations seconds, shares fractions (0.03 = 3 %).

- A bus's `utilisation` is the share of the last `LOAD_WINDOW` seconds it spent in requests (sending,
  waiting for the answer, timeouts included), measured; None until two samples are `MIN_SPAN` apart.
- A device's `bus_seconds_per_cycle` is its requests per cycle times its smoothed response time (the
  same figure the adaptive timeouts use), and `interval_share` that time over its poll interval: what one
  device costs its line.
- A device's `first_block` is the first request of its read plan (table, first address, registers): a range
  the device is known to answer, where the page's register explorer starts when the device is chosen. None
  while the plan is empty (a SunSpec device before its models were found).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pv_collector import __version__
from pv_collector.model import Point, ReadBlock

if TYPE_CHECKING:
    from pv_collector.app import Collector
    from pv_collector.poller import DevicePoller

LOAD_WINDOW = 60.0  # seconds of bus activity the utilisation covers
MIN_SPAN = 1.0  # seconds between the samples a utilisation is computed from, at least


class UnknownDevice(KeyError):
    """No device with this id in the collector."""


@dataclass(frozen=True, slots=True)
class BlockStatus:
    """One request of a read plan: its table (`holding`, `input`), first address and registers."""

    function: str
    address: int
    count: int


@dataclass(slots=True)
class DeviceStatus:
    """One device on the overview."""

    id: str
    name: str
    bus: str
    unit_id: int
    profile: str
    kind: str
    manufacturer: str | None
    model: str | None
    discovered: bool
    availability: str
    since: float
    reason: str | None
    detail: str | None
    last_poll: float | None
    poll_interval: float
    requests_per_cycle: int
    response_time: float | None
    bus_seconds_per_cycle: float | None
    interval_share: float | None
    rejected: int
    quarantined: int
    first_block: BlockStatus | None


@dataclass(slots=True)
class BusStatus:
    """One bus on the overview; `requests` counts requests by outcome since start."""

    name: str
    type: str
    endpoint: str
    connected: bool
    utilisation: float | None
    busy_seconds: float
    requests: dict[str, int]
    devices: list[DeviceStatus] = field(default_factory=list)


@dataclass(slots=True)
class MqttStatus:
    """The broker connection and the outbound queue."""

    connected: bool
    broker: str
    queue_length: int
    queue_dropped: int


@dataclass(slots=True)
class CollectorStatus:
    """The whole overview (`asdict` gives the JSON the page gets)."""

    id: str
    name: str
    version: str
    now: float
    started: float
    mqtt: MqttStatus
    errors: dict[str, int]
    buses: list[BusStatus]


@dataclass(slots=True)
class _LoadSamples:
    """(monotonic time, busy seconds) samples of one bus over the last LOAD_WINDOW seconds."""

    samples: deque[tuple[float, float]] = field(default_factory=deque)

    def utilisation(self, now: float, busy: float) -> float | None:
        self.samples.append((now, busy))
        while len(self.samples) > 2 and now - self.samples[1][0] >= LOAD_WINDOW:
            self.samples.popleft()
        then, was = self.samples[0]
        if now - then < MIN_SPAN:
            return None
        return max(0.0, min(1.0, (busy - was) / (now - then)))


def _block(block: ReadBlock) -> dict[str, Any]:
    return {
        "function": block.function.value,
        "address": block.address,
        "count": block.count,
        "points": [
            {"key": p.key, "address": p.address, "words": p.words, "type": p.type.value, "hidden": p.hidden}
            for p in sorted(block.points, key=lambda p: (p.address, p.key))
        ],
    }


def _first_block(plan: Sequence[ReadBlock]) -> BlockStatus | None:
    if not plan:
        return None
    block = plan[0]
    return BlockStatus(function=block.function.value, address=block.address, count=block.count)


def _point(point: Point) -> dict[str, Any]:
    entry: dict[str, Any] = {"key": point.key, "name": point.name, "kind": point.kind}
    for attribute in ("unit", "device_class", "state_class", "precision", "category"):
        value = getattr(point, attribute)
        if value is not None:
            entry[attribute] = value
    entry["writable"] = point.writable is not None or point.kind == "action"
    return entry


class StatusView:
    """Builds the overview and device details of one collector (see the module docstring)."""

    def __init__(self, collector: Collector, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.collector = collector
        self._monotonic = monotonic
        self._load: dict[str, _LoadSamples] = {}

    def overview(self) -> CollectorStatus:
        """The collector, MQTT and every bus with its devices."""
        collector = self.collector
        metrics = collector.metrics
        publisher = collector.publisher
        mqtt = collector.config.mqtt
        now = self._monotonic()
        buses: dict[str, BusStatus] = {}
        for name, bus in collector.buses.items():
            load = metrics.bus_load(name)
            samples = self._load.setdefault(name, _LoadSamples())
            buses[name] = BusStatus(
                name=name,
                type=bus.config.type,
                endpoint=bus.config.endpoint,
                connected=bus.connected,
                utilisation=samples.utilisation(now, load.busy_seconds),
                busy_seconds=round(load.busy_seconds, 6),
                requests=load.outcomes,
            )
        for poller in collector.pollers.values():
            buses[poller.bus.name].devices.append(self._device(poller))
        return CollectorStatus(
            id=collector.config.collector.id,
            name=collector.config.collector.name,
            version=__version__,
            now=collector.clock(),
            started=collector.activity.started,
            mqtt=MqttStatus(
                connected=publisher is not None and publisher.connected,
                broker=f"{mqtt.host}:{mqtt.port}",
                queue_length=metrics.queue_length,
                queue_dropped=metrics.queue_dropped,
            ),
            errors=metrics.errors,
            buses=list(buses.values()),
        )

    def _poller(self, device_id: str) -> DevicePoller:
        poller = self.collector.pollers.get(device_id)
        if poller is None:
            raise UnknownDevice(device_id)
        return poller

    def _device(self, poller: DevicePoller) -> DeviceStatus:
        metrics = self.collector.metrics
        availability = self.collector.activity.availability_of(poller.id)
        cycle = metrics.last_cycle(poller.id)
        requests = cycle.requests if cycle is not None else len(poller.plan)
        response = poller.bus.response_time(poller.device.unit_id)
        bus_seconds = None if response is None else requests * response
        interval = poller.device.poll_interval
        return DeviceStatus(
            id=poller.id,
            name=poller.device.name,
            bus=poller.bus.name,
            unit_id=poller.device.unit_id,
            profile=poller.profile.id,
            kind=poller.kind,
            manufacturer=poller.info.manufacturer,
            model=poller.info.model,
            discovered=poller.discovered,
            availability=availability.state,
            since=availability.since,
            reason=availability.reason,
            detail=availability.detail,
            last_poll=None if cycle is None else cycle.at,
            poll_interval=interval,
            requests_per_cycle=requests,
            response_time=None if response is None else round(response, 6),
            bus_seconds_per_cycle=None if bus_seconds is None else round(bus_seconds, 6),
            interval_share=None if bus_seconds is None else round(bus_seconds / interval, 6),
            rejected=sum(metrics.rejected_by(poller.id).values()),
            quarantined=len(poller.quarantined),
            first_block=_first_block(poller.plan),
        )

    def device(self, device_id: str) -> dict[str, Any]:
        """One device: its overview entry, points with their live values, read plan, quarantined
        registers (with the wall-clock time of their next try) and recent events, newest first.

        Raises `UnknownDevice`.
        """
        poller = self._poller(device_id)
        activity = self.collector.activity
        live = activity.values_of(device_id)
        points = []
        for point in poller.published_points:
            entry = _point(point)
            value = live.get(point.key)
            if value is not None:
                entry.update(value=value.value, ts=value.ts, inferred=value.inferred)
            points.append(entry)
        wall, mono = self.collector.clock(), poller.clock.monotonic()  # retry times are on the poller's clock
        quarantined = [
            {
                "key": key,
                "name": entry.point.name,
                "function": entry.point.function.value,
                "address": entry.point.address,
                "words": entry.point.words,
                "retry_at": wall + (entry.retry_at - mono),
            }
            for key, entry in sorted(poller.quarantined.items())
        ]
        return {
            "device": asdict(self._device(poller)),
            "rejected": self.collector.metrics.rejected_by(device_id),
            "points": points,
            "plan": [_block(block) for block in poller.plan],
            "info_plan": [_block(block) for block in poller.info_plan],
            "quarantined": quarantined,
            "events": activity.events_of(device_id),
        }

    def poller(self, device_id: str) -> DevicePoller:
        """The poller of a device (the explorer and the recorder read through its bus). Raises
        `UnknownDevice`."""
        return self._poller(device_id)
