"""The poll loop of one device: discovery, read plan, drift-free schedule, decoding, plausibility.

Every device has its own task, so a device that stops answering delays nobody but itself (on a shared
serial line it holds the bus lock for at most one request's timeout per attempt). After failed cycles the
device is probed with a single request at growing intervals (backoff) until it answers again; its
availability (online, offline, asleep at night) follows (pv_collector.device_availability).

SunSpec devices are discovered at start (retried with backoff while unreachable); until then they are
announced with what the profile and configuration know, without points. Discovery reads the points once
and leaves out those the device answers SunSpec's "not implemented" value for (`sunspec.implemented`,
logged in one line): they would never have a value. A point that reads a value later (a firmware update)
is announced from the next discovery on, that is the collector's next start.

One cycle reads the plan (pv_collector.poll_cycle: refused blocks are split and their refused points
quarantined, RTU cycles settled) and publishes what passes (pv_collector.device_states). Cycles keep a
grid of `poll_interval` seconds on the poller's `clock` (pv_collector.clock; tests move it): a slow cycle
skips the slots it missed instead of shifting every later one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from pv_collector import sunspec
from pv_collector.cache import RegisterCache
from pv_collector.clock import Clock
from pv_collector.config import BusConfig, DeviceConfig, PublishConfig, SiteConfig
from pv_collector.decode import computed_values, decode_reads
from pv_collector.device_availability import AvailabilityTracker
from pv_collector.device_states import DeviceSink, StatePublisher
from pv_collector.errors import ModbusError, ProfileError, RegisterError
from pv_collector.messages import DeviceAnnouncement, PointAnnouncement
from pv_collector.metrics import Metrics
from pv_collector.model import DataType, Point, Profile, ReadBlock, Value
from pv_collector.planner import plan_reads
from pv_collector.plausibility import RATED_POWER_HEADROOM, Baseline, PlausibilityFilter
from pv_collector.poll_cycle import UNREACHABLE, CycleReader
from pv_collector.profile import RATED_POWER_UNITS
from pv_collector.quarantine import Quarantined
from pv_collector.transport import Bus, UnitReader

_LOGGER = logging.getLogger(__name__)

DISCOVERY_RETRY_MIN = 1.0


@dataclass(slots=True)
class DeviceInfo:
    """What the announcement says about the hardware."""

    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None


class DevicePoller:
    """Polls one device and hands states, availability and events to its sink."""

    def __init__(
        self,
        device: DeviceConfig,
        bus_config: BusConfig,
        bus: Bus,
        profile: Profile,
        *,
        sink: DeviceSink,
        metrics: Metrics,
        publish: PublishConfig,
        profile_dirs: tuple[Path, ...] = (),
        clock: Clock | None = None,
        wall_clock: Callable[[], float] = time.time,
        site: SiteConfig | None = None,
        cache: RegisterCache | None = None,
        baselines: MutableMapping[str, Baseline] | None = None,
    ) -> None:
        self.device = device
        self.id = device.id
        self.bus_config = bus_config
        self.bus = bus
        self.profile = profile
        self.reader: UnitReader = bus.reader(device.unit_id)
        self.sink = sink
        self.metrics = metrics
        self.publish = publish
        self.profile_dirs = profile_dirs
        self.clock = clock or bus.clock  # schedule, backoff, durations (monotonic; tests move it)
        self.wall_clock = wall_clock  # timestamps of readings and the sun (Unix seconds)
        self.site = site
        self.cache = cache  # set when a gateway answers from this device's readings
        self.cycle = CycleReader(
            device.id,
            bus,
            self.reader,
            profile,
            max_gap=self.max_gap,
            quarantine_retry=bus_config.quarantine_retry,
            metrics=metrics,
            clock=self.clock,
            cache=cache,
        )
        self.kind = profile.kind
        self.info = DeviceInfo(manufacturer=profile.manufacturer, model=profile.model)
        self.discovered = profile.sunspec_base is None
        self._announced: DeviceAnnouncement | None = None
        self.points: dict[str, Point] = {}  # every point, hidden ones included, by key
        self.info_plan: list[ReadBlock] = []
        self.computed: list[Point] = []  # points computed from others of the same cycle
        self.values: dict[str, Value] = {}  # latest decoded values, hidden ones (scale factors) included
        self.presence = AvailabilityTracker(device, bus_name=bus.name, sink=sink, metrics=metrics, site=site)
        self.plausibility = PlausibilityFilter(device.id, baselines)
        self.states = StatePublisher(
            device, publish, sink=sink, metrics=metrics, plausibility=self.plausibility
        )
        self._info_read = False
        if self.discovered:
            self._use_points(profile.points)

    # ------------------------------------------------------------------ description

    @property
    def plan(self) -> list[ReadBlock]:
        """The blocks one cycle reads (pv_collector.poll_cycle keeps it up to date)."""
        return self.cycle.plan

    @property
    def quarantined(self) -> dict[str, Quarantined]:
        """The points the device refuses, by key (tried again on the bus's `quarantine_retry`)."""
        return self.cycle.quarantine.points

    @property
    def availability(self) -> str:
        """`unknown` before the first cycle, then `online`, `offline` or `asleep`."""
        return self.presence.state

    @property
    def failures(self) -> int:
        """Cycles in a row that read nothing."""
        return self.presence.failures

    @property
    def published_points(self) -> list[Point]:
        """Points consumers see (not hidden)."""
        return [point for point in self.points.values() if not point.hidden]

    def announcement(self) -> DeviceAnnouncement:
        """The device's entry of the announcement (contract `$defs/device`); `pending` until the points
        are known (consumers then keep what they know). Built once and kept until the device's description
        changes (`_described`): the collector re-announces whenever any device changes, and resolving
        every point of every device each time made a start with many devices quadratic
        (docs/benchmarks.md, "Start-up is quadratic")."""
        if self._announced is None:
            self._announced = self._describe()
        return self._announced

    def _described(self) -> None:
        """The device's description changed (points discovered, device info read): announce it anew."""
        self._announced = None
        self.sink.announcement_changed()

    def _describe(self) -> DeviceAnnouncement:
        return DeviceAnnouncement(
            id=self.id,
            name=self.device.name,
            kind=self.kind,
            profile=self.profile.id,
            poll_interval=self.device.poll_interval,
            manufacturer=self.info.manufacturer,
            model=self.info.model,
            serial=self.info.serial,
            firmware=self.info.firmware,
            points=tuple(PointAnnouncement.of(point) for point in self.published_points),
            pending=not self.discovered,
        )

    @property
    def max_gap(self) -> int:
        """Unused registers the planner may read to join two blocks (the bus's option, else the profile's)."""
        return self.bus_config.max_gap if self.bus_config.max_gap is not None else self.profile.max_gap

    def _use_points(self, points: tuple[Point, ...]) -> None:
        self.points = {point.key: point for point in points}
        max_gap = self.max_gap
        polled = [point for point in points if point.info is None]
        info = [point for point in points if point.info is not None]
        single = self.profile.single_registers
        self.cycle.use_plan(
            plan_reads(
                polled,
                max_block=self.profile.max_block,
                max_gap=max_gap,
                all_points=points,
                single_registers=single,
            )
        )
        self.info_plan = (
            plan_reads(info, max_block=self.profile.max_block, max_gap=max_gap, single_registers=single)
            if info
            else []
        )
        self.computed = [point for point in points if point.compute is not None]

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Poll until cancelled."""
        clock = self.clock
        interval = self.device.poll_interval
        while not self.discovered:
            if await self._discover():
                break
            await clock.sleep(self.presence.retry_delay(max(interval, DISCOVERY_RETRY_MIN)))
        next_at = clock.monotonic()
        while True:
            ok = await self.poll_once()
            now = clock.monotonic()
            if ok:
                next_at += interval
                if next_at <= now:  # fell behind (slow bus): skip the missed slots, keep the grid
                    next_at += math.ceil((now - next_at) / interval + 1e-9) * interval
            else:
                next_at = now + self.presence.retry_delay(interval)
            await clock.sleep(max(0.0, next_at - now))

    # ------------------------------------------------------------------ availability

    @property
    def sleeps_at_night(self) -> bool:
        """Whether silence at night means asleep: the device option, else the profile's flag (SunSpec
        profiles only for devices discovered as inverters)."""
        if self.device.sleeps_at_night is not None:
            return self.device.sleeps_at_night
        return self.profile.sleeps_at_night and (self.profile.sunspec_base is None or self.kind == "inverter")

    def _failed(self, err: Exception, ts: float) -> None:
        """A cycle read nothing: asleep at night (power published as 0), else offline after a while."""
        if self.presence.failed(err, ts, sleeps_at_night=self.sleeps_at_night):
            self.states.inferred(self.published_points, ts)

    async def _discover(self) -> bool:
        try:
            found = await sunspec.scan(self.reader, self.profile, self.profile_dirs)
            kept = await sunspec.implemented(self.reader, found.points, self.profile, max_gap=self.max_gap)
        except UNREACHABLE as err:
            self._failed(err, self.wall_clock())
            return False
        except (ModbusError, ProfileError) as err:
            self.presence.unusable(err)
            return False
        self.kind = found.kind
        self._use_points(kept.points)
        self.discovered = True
        _LOGGER.info(
            "SunSpec device discovered",
            extra={
                "device": self.id,
                "models": ",".join(str(m.id) for m in found.models if m.known),
                "points": len(kept.points),
                "requests_per_cycle": len(self.plan),
            },
        )
        if kept.left_out:
            _LOGGER.info(
                "SunSpec points not implemented by the device, not announced",
                extra={"device": self.id, "points": ",".join(kept.left_out)},
            )
        self._described()
        return True

    async def poll_once(self) -> bool:
        """One cycle: read, decode, filter, publish. False when the device did not answer."""
        started = self.clock.monotonic()
        ts = self.wall_clock()
        if not self._info_read and self.info_plan and self.failures == 0:  # not while away or asleep
            await self._read_info()
        probe = self.failures > 0  # away: one request without retries tells whether it is back
        try:
            reads = await self.cycle.read(probe=probe)
        except UNREACHABLE as err:
            self._failed(err, ts)
            return False
        if self.plan and not reads:
            self._failed(self.cycle.block_error or ModbusError("no block could be read"), ts)
            return False
        self.presence.back()
        try:
            values = decode_reads(reads)
            values.update(computed_values(self.computed, values))
        except (RegisterError, ArithmeticError) as err:
            self.metrics.error("decode")
            _LOGGER.warning("decoding failed", extra={"device": self.id, "error": str(err)})
            values = {}
        self.values.update(values)
        self.states.checked(self.points, values, ts, max_power=self.max_power())
        self.metrics.cycle(self.id, self.clock.monotonic() - started, self.cycle.requests)
        return True

    async def _read_info(self) -> None:
        reads: list[tuple[ReadBlock, list[int]]] = []
        for block in self.info_plan:
            try:
                reads.append((block, await self.reader.read(block.function, block.address, block.count)))
            except ModbusError:
                return  # tried again next cycle
        values = decode_reads(reads)
        self._info_read = True
        changed = False
        for point in (p for block in self.info_plan for p in block.points):
            value = values.get(point.key)
            if point.info is None or value in (None, ""):
                continue
            if getattr(self.info, point.info) != str(value):
                setattr(self.info, point.info, str(value))
                changed = True
        if changed:
            self._described()

    # ------------------------------------------------------------------ publishing

    def max_power(self) -> float | None:
        """The device's power limit in W that bounds its energy counters without `max_rate`: twice the
        rated power it reports (profile `rated_power_point`), at most the profile's `max_power`."""
        limit = self.profile.max_power
        key = self.profile.rated_power_point
        point = self.points.get(key) if key is not None else None
        rated = self.values.get(key) if key is not None else None
        if (
            point is not None
            and point.unit in RATED_POWER_UNITS
            and isinstance(rated, int | float)
            and not isinstance(rated, bool)
            and rated > 0
        ):
            watts = float(rated) * RATED_POWER_UNITS[point.unit] * RATED_POWER_HEADROOM
            limit = watts if limit is None else min(limit, watts)
        return limit

    # ------------------------------------------------------------------ helpers for commands

    def scale_factor(self, point: Point) -> int | None:
        """The latest value of the point's SunSpec scale factor, if it has one."""
        if point.sf is None:
            return None
        value = self.values.get(point.sf)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def sf_point(self, point: Point) -> Point | None:
        """The scale-factor point of `point`."""
        sf = self.points.get(point.sf) if point.sf else None
        return sf if sf is not None and sf.type is DataType.SUNSSF else None
