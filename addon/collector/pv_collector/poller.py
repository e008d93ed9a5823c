"""The poll loop of one device: discovery, read plan, drift-free schedule, decoding, plausibility.

Every device has its own task, so a device that stops answering delays nobody but itself (on a shared
serial line it holds the bus lock for at most one request's timeout per attempt). After a failed cycle
the device is probed with a single request at growing intervals (backoff) until it answers again; it is
logged once when lost and once when back, and its availability follows.

SunSpec devices are discovered at start (retried with backoff while unreachable); until then they are
announced with what the profile and configuration know, without points.

Bad registers: a block the device refuses with "illegal data address" (exception 2) is bisected until the
refused points are found; they are quarantined (logged once, counted, listed in the statistics) and tried
again every `quarantine_retry` seconds, while the rest of the block is read as before.

Sleeping inverters: a device that sleeps at night (profile flag or device option) and stops answering while
the sun is below the horizon at the configured site is `asleep`, not `offline`: no warning is logged, it is
probed every `asleep_poll_interval` seconds, and its power points are published as 0 (listed in
`inferred`) with its energy counters at their last value. When it answers again it is `online`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pv_collector import sunspec
from pv_collector.cache import RegisterCache
from pv_collector.config import BusConfig, DeviceConfig, PublishConfig, SiteConfig
from pv_collector.decode import computed_values, decode_reads
from pv_collector.errors import (
    ModbusConnectionError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusTimeout,
    ProfileError,
    RegisterError,
)
from pv_collector.metrics import Metrics
from pv_collector.model import DataType, Function, Point, Profile, ReadBlock, Value
from pv_collector.planner import plan_reads, requests_per_cycle, reread_scale_factors, touches
from pv_collector.plausibility import RATED_POWER_HEADROOM, Baseline, PlausibilityFilter
from pv_collector.profile import RATED_POWER_UNITS
from pv_collector.solar import sun_elevation
from pv_collector.transport import Bus, UnitReader

_LOGGER = logging.getLogger(__name__)

BACKOFF_MAX = 60.0  # seconds between probes of a device that is away (at least its poll interval)
DISCOVERY_RETRY_MIN = 1.0
UNREACHABLE = (ModbusTimeout, ModbusConnectionError)
ILLEGAL_ADDRESS = 2
DEVICE_FAILURE = 4  # some devices answer it for registers they do not have
REFUSED_CODES = frozenset({ILLEGAL_ADDRESS, DEVICE_FAILURE})
NIGHT_ELEVATION = 0.0  # degrees: a sleeping device that stops answering with the sun below this is asleep
AWAKE_ELEVATION = 10.0  # degrees: a device still silent with the sun above this is offline, not asleep
INFERRED_ZERO_CLASSES = frozenset({"power", "apparent_power", "reactive_power"})
COUNTER_CLASSES = frozenset({"total", "total_increasing"})


class DeviceSink(Protocol):
    """Where a poller sends what it produces (implemented by the collector)."""

    def state(self, device_id: str, message: dict[str, Any]) -> None:
        """A state message without `seq` (the queue adds it)."""

    def availability(self, device_id: str, availability: str, error: Exception | None = None) -> None:
        """`online`, `offline` or `asleep`; `error` is what made the device offline."""

    def event(self, device_id: str, event: dict[str, Any]) -> None:
        """A device event (contract event schema)."""

    def announcement_changed(self) -> None:
        """The device's description changed (discovery finished, device info read)."""


@dataclass(slots=True)
class Quarantined:
    """A point whose registers the device refused; tried again at `retry_at` (monotonic seconds)."""

    point: Point
    retry_at: float


@dataclass(slots=True)
class _Bisection:
    """What splitting a refused block found: blocks to keep (with registers when read) and refused points."""

    kept: list[ReadBlock] = field(default_factory=list)
    reads: list[tuple[ReadBlock, list[int]]] = field(default_factory=list)
    refused: list[Point] = field(default_factory=list)


@dataclass(slots=True)
class DeviceInfo:
    """What the announcement says about the hardware."""

    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None


def point_announcement(point: Point) -> dict[str, Any]:
    """One point of the announcement (contract `$defs/point`)."""
    entry: dict[str, Any] = {"key": point.key, "name": point.name, "kind": point.kind}
    for attribute in ("unit", "device_class", "state_class", "precision", "category", "role"):
        value = getattr(point, attribute)
        if value is not None:
            entry[attribute] = value
    if point.kind == "enum" and point.options:
        entry["options"] = list(dict.fromkeys(point.options.values()))
    if point.kind == "bitfield":
        entry["bits"] = {str(bit): name for bit, name in sorted((point.bits or {}).items())}
    if point.advanced:
        entry["advanced"] = True  # optional contract field: consumers create the entity disabled
    if point.kind == "action":
        entry["writable"] = {}
    elif point.writable is not None:
        if point.kind == "number":
            limits = {"min": point.writable.min, "max": point.writable.max, "step": point.writable.step}
            entry["writable"] = {key: value for key, value in limits.items() if value is not None}
        else:
            entry["writable"] = {}
    return entry


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
        clock: Callable[[], float] = time.time,
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
        self.clock = clock
        self.site = site
        self.cache = cache  # set when a gateway answers from this device's readings
        self.quarantined: dict[str, Quarantined] = {}
        self._quarantine_logged: set[str] = set()
        self._merged: set[tuple[Function, int, int]] = set()  # blocks joined after a bisection
        self.kind = profile.kind
        self.info = DeviceInfo(manufacturer=profile.manufacturer, model=profile.model)
        self.discovered = profile.sunspec_base is None
        self.points: dict[str, Point] = {}  # every point, hidden ones included, by key
        self.plan: list[ReadBlock] = []
        self.info_plan: list[ReadBlock] = []
        self.computed: list[Point] = []  # points computed from others of the same cycle
        self.availability = "unknown"
        self.values: dict[str, Value] = {}  # latest decoded values, hidden ones (scale factors) included
        self.failures = 0
        self._answered_failure = False  # the last failure was an exception response, not silence
        self._block_error: Exception | None = None  # the last failed block of this cycle
        self._failing: list[ReadBlock] = []  # blocks of this cycle answered with exception 04
        self.plausibility = PlausibilityFilter(device.id, baselines)
        self._published: dict[str, Value] = {}
        self._last_full = -math.inf
        self._info_read = False
        self._requests = 0
        if self.discovered:
            self._use_points(profile.points)

    # ------------------------------------------------------------------ description

    @property
    def published_points(self) -> list[Point]:
        """Points consumers see (not hidden)."""
        return [point for point in self.points.values() if not point.hidden]

    def announcement(self) -> dict[str, Any]:
        """The device's entry of the announcement (contract `$defs/device`)."""
        entry: dict[str, Any] = {
            "id": self.id,
            "name": self.device.name,
            "kind": self.kind,
            "profile": self.profile.id,
            "poll_interval": self.device.poll_interval,
        }
        for attribute in ("manufacturer", "model", "serial", "firmware"):
            value = getattr(self.info, attribute)
            if value:
                entry[attribute] = str(value)[:100]
        entry["points"] = [point_announcement(point) for point in self.published_points]
        if not self.discovered:
            entry["pending"] = True  # points not known yet: consumers must keep what they know
        return entry

    @property
    def max_gap(self) -> int:
        """Unused registers the planner may read to join two blocks (the bus's option, else the profile's)."""
        return self.bus_config.max_gap if self.bus_config.max_gap is not None else self.profile.max_gap

    def _replanned(self) -> None:
        """The plan changed (a block split, a point back from quarantine): scale factors that are no longer
        read with their values are re-read around them (planner.reread_scale_factors)."""
        self.plan = reread_scale_factors(
            self.plan,
            max_block=self.profile.max_block,
            max_gap=self.max_gap,
            single_registers=self.profile.single_registers,
        )
        self.metrics.requests_gauge.labels(self.id).set(requests_per_cycle(self.plan))

    def _use_points(self, points: tuple[Point, ...]) -> None:
        self.points = {point.key: point for point in points}
        max_gap = self.max_gap
        polled = [point for point in points if point.info is None]
        info = [point for point in points if point.info is not None]
        single = self.profile.single_registers
        self.plan = plan_reads(
            polled,
            max_block=self.profile.max_block,
            max_gap=max_gap,
            all_points=points,
            single_registers=single,
        )
        self.info_plan = (
            plan_reads(info, max_block=self.profile.max_block, max_gap=max_gap, single_registers=single)
            if info
            else []
        )
        self.computed = [point for point in points if point.compute is not None]
        self.metrics.requests_gauge.labels(self.id).set(requests_per_cycle(self.plan))

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Poll until cancelled."""
        loop = asyncio.get_running_loop()
        interval = self.device.poll_interval
        while not self.discovered:
            if await self._discover():
                break
            await asyncio.sleep(self._retry_delay(max(interval, DISCOVERY_RETRY_MIN)))
        next_at = loop.time()
        while True:
            ok = await self.poll_once()
            now = loop.time()
            if ok:
                next_at += interval
                if next_at <= now:  # fell behind (slow bus): skip the missed slots, keep the grid
                    next_at += math.ceil((now - next_at) / interval + 1e-9) * interval
            else:
                next_at = now + self._retry_delay(interval)
            await asyncio.sleep(max(0.0, next_at - now))

    def _backoff(self, interval: float) -> float:
        return float(min(interval * 2 ** max(self.failures - 1, 0), max(BACKOFF_MAX, interval)))

    def _retry_delay(self, interval: float) -> float:
        """Seconds until the next attempt after a failure: rare while asleep, else the backoff."""
        if self.availability == "asleep":
            return self.device.asleep_poll_interval
        if self._answered_failure or self.availability != "offline":  # answers, or not offline yet
            return interval
        return self._backoff(interval)

    # ------------------------------------------------------------------ sleeping at night

    @property
    def sleeps_at_night(self) -> bool:
        """Whether silence at night means asleep: the device option, else the profile's flag (SunSpec
        profiles only for devices discovered as inverters)."""
        if self.device.sleeps_at_night is not None:
            return self.device.sleeps_at_night
        return self.profile.sleeps_at_night and (self.profile.sunspec_base is None or self.kind == "inverter")

    def sun_elevation(self, ts: float) -> float | None:
        """Sun elevation at the site at `ts`, None without a configured site."""
        if self.site is None:
            return None
        return sun_elevation(ts, self.site.latitude, self.site.longitude)

    def _sleeping(self, ts: float) -> bool:
        """Whether a silent device is asleep rather than failing at `ts`."""
        if not self.sleeps_at_night:
            return False
        elevation = self.sun_elevation(ts)
        if elevation is None:
            return False
        limit = AWAKE_ELEVATION if self.availability == "asleep" else NIGHT_ELEVATION
        return elevation < limit

    def _fall_asleep(self, ts: float) -> None:
        self.failures += 1
        self.metrics.availability(self.id, False)
        if self.availability != "asleep":
            _LOGGER.info(
                "device asleep: no answer with the sun down",
                extra={"device": self.id, "next_probe_s": self.device.asleep_poll_interval},
            )
            self.availability = "asleep"
            self.sink.availability(self.id, "asleep")
        self._publish_inferred(ts)

    def _publish_inferred(self, ts: float) -> None:
        """Power points 0 (inferred, not read), energy counters at their last value."""
        values: dict[str, Value] = {}
        inferred: list[str] = []
        for point in self.published_points:
            if point.kind != "number" or point.writable is not None:
                continue
            if point.device_class in INFERRED_ZERO_CLASSES and point.state_class == "measurement":
                values[point.key] = 0
                inferred.append(point.key)
            elif point.state_class in COUNTER_CLASSES and point.key in self._published:
                values[point.key] = self._published[point.key]
        self.publish_values(values, ts, inferred=inferred)

    async def _discover(self) -> bool:
        try:
            found = await sunspec.scan(self.reader, self.profile, self.profile_dirs)
        except UNREACHABLE as err:
            self._failed(err, self.clock())
            return False
        except (ModbusError, ProfileError) as err:
            self.failures += 1
            if self.failures == 1:
                _LOGGER.error("SunSpec discovery failed", extra={"device": self.id, "error": str(err)})
            self.sink.availability(self.id, "offline", err)
            self.availability = "offline"
            return False
        self.kind = found.kind
        self._use_points(found.points)
        self.discovered = True
        _LOGGER.info(
            "SunSpec device discovered",
            extra={
                "device": self.id,
                "models": ",".join(str(m.id) for m in found.models if m.known),
                "points": len(found.points),
                "requests_per_cycle": len(self.plan),
            },
        )
        self.sink.announcement_changed()
        return True

    async def poll_once(self) -> bool:
        """One cycle: read, decode, filter, publish. False when the device did not answer."""
        started = time.monotonic()
        ts = self.clock()
        if not self._info_read and self.info_plan and self.failures == 0:  # not while away or asleep
            await self._read_info()
        self._requests = 0
        self._block_error = None
        probe = self.failures > 0  # away: one request without retries tells whether it is back
        try:
            mark = self.bus.out_of_step
            reads = await self._read_cycle(probe=probe)
            if reads and self.bus.config.rtu_framing:
                reads = await self._settled(reads, mark)
        except UNREACHABLE as err:
            self._failed(err, ts)
            return False
        if self.plan and not reads:
            self._failed(self._block_error or ModbusError("no block could be read"), ts)
            return False
        self._back()
        try:
            values = decode_reads(reads)
            values.update(computed_values(self.computed, values))
        except (RegisterError, ArithmeticError) as err:
            self.metrics.error("decode")
            _LOGGER.warning("decoding failed", extra={"device": self.id, "error": str(err)})
            values = {}
        self.values.update(values)
        self._publish(values, ts)
        self.metrics.cycle(self.id, time.monotonic() - started, self._requests)
        return True

    async def _read_cycle(self, *, probe: bool) -> list[tuple[ReadBlock, list[int]]]:
        """Read every block of the plan (see the module doc for failing blocks); raises `UNREACHABLE` when the
        first block cannot be read."""
        reads: list[tuple[ReadBlock, list[int]]] = []
        self._failing.clear()
        for block in list(self.plan):
            try:
                reads.extend(await self._read_block(block, probe=probe and not reads))
            except UNREACHABLE as err:
                if not reads or isinstance(err, ModbusConnectionError):
                    raise  # nothing read yet: the device is probably away, keep the bus free
                self._block_failed(block, err)  # the rest of the cycle goes on (issue 15)
        if reads:
            for block in self._failing:  # exception 04 for part of the map: find the registers
                reads.extend(await self._bisect(block))
        if self.quarantined and reads:
            reads.extend(await self._retry_quarantined())
        return reads

    async def _settled(
        self, reads: list[tuple[ReadBlock, list[int]]], mark: int
    ) -> list[tuple[ReadBlock, list[int]]]:
        """RTU: a cycle is believed only if no stray frame showed the line out of step (`Bus.out_of_step`
        changed from `mark`) while it was read or soon after its last reply (a displaced answer arrives
        late); else it is read once more, and if the line is out of step again nothing of it is published
        (issue 15, transport.py)."""
        await asyncio.sleep(self.bus.settle_time(self.device.unit_id))
        if self.bus.out_of_step == mark:
            return reads
        self.metrics.error("cycle_reread")
        _LOGGER.debug("line out of step during the cycle: read again", extra={"device": self.id})
        mark = self.bus.out_of_step
        reads = await self._read_cycle(probe=False)
        await asyncio.sleep(self.bus.settle_time(self.device.unit_id))
        if self.bus.out_of_step != mark:
            self._block_error = ModbusError("the line stays out of step (stray frames)")
            return []
        return reads

    async def _read_block(self, block: ReadBlock, *, probe: bool) -> list[tuple[ReadBlock, list[int]]]:
        """Read one block of the plan; a block refused as an illegal address is bisected, one answered with
        a device failure is bisected at the end of the cycle if something else was read (see module doc)."""
        self._requests += 1
        try:
            if probe:
                registers = await self.reader.read_once(block.function, block.address, block.count)
            else:
                registers = await self.reader.read(block.function, block.address, block.count)
        except UNREACHABLE:
            raise
        except ModbusExceptionResponse as err:
            if err.code == DEVICE_FAILURE:
                self._failing.append(block)
            if err.code != ILLEGAL_ADDRESS:
                self._block_failed(block, err)
                return []
            return await self._bisect(block)
        except ModbusError as err:
            self._block_failed(block, err)
            return []
        self._remember(block, registers)
        return [(block, registers)]

    def _remember(self, block: ReadBlock, registers: list[int]) -> None:
        if self.cache is not None:
            self.cache.store(block.function, block.address, registers, time.monotonic())

    async def _bisect(self, block: ReadBlock) -> list[tuple[ReadBlock, list[int]]]:
        """Find the points of `block` the device refuses; replace `block` in the plan by what is readable."""
        found = _Bisection()
        await self._search(block, found)
        key = (block.function, block.address, block.count)
        # Readable neighbours are joined again, unless the block refused was such a join already.
        kept = found.kept if key in self._merged else self._join(found.kept)
        if block in self.plan:
            index = self.plan.index(block)
            self.plan[index : index + 1] = kept
        self._merged.discard(key)
        for part in kept:
            if len(part.points) > 1 and part not in found.kept:
                self._merged.add((part.function, part.address, part.count))
        for point in found.refused:
            self._quarantine(point)
        _LOGGER.info(
            "block split after the device refused it",
            extra={
                "device": self.id,
                "address": block.address,
                "count": block.count,
                "parts": len(kept),
                "refused": ",".join(point.key for point in found.refused),
            },
        )
        self._replanned()
        return found.reads

    async def _search(self, block: ReadBlock, found: _Bisection) -> None:
        """Bisect a refused block: halves that read are kept, a refused single point is recorded."""
        points = sorted(block.points, key=lambda p: (p.address, p.end))
        if len(points) <= 1 or all(p.address == points[0].address and p.end == points[0].end for p in points):
            found.refused.extend(points)
            return
        middle = len(points) // 2
        for half in (points[:middle], points[middle:]):
            start = min(p.address for p in half)
            part = ReadBlock(block.function, start, max(p.end for p in half) - start, tuple(half))
            self._requests += 1
            try:
                registers = await self.reader.read(part.function, part.address, part.count)
            except UNREACHABLE:
                raise
            except ModbusExceptionResponse as err:
                if err.code in REFUSED_CODES:
                    await self._search(part, found)
                    continue
                self._block_failed(part, err)
                found.kept.append(part)
                continue
            except ModbusError as err:
                self._block_failed(part, err)
                found.kept.append(part)
                continue
            self._remember(part, registers)
            found.kept.append(part)
            found.reads.append((part, registers))

    def _join(self, blocks: list[ReadBlock]) -> list[ReadBlock]:
        """Join blocks that touch or overlap (no unread register between them) within max_block."""
        joined: list[ReadBlock] = []
        for block in sorted(blocks, key=lambda b: (b.function.value, b.address)):
            last = joined[-1] if joined else None
            if (
                last is not None
                and last.function is block.function
                and block.address <= last.address + last.count
                and max(last.address + last.count, block.address + block.count) - last.address
                <= self.profile.max_block
                and not touches(
                    self.profile.single_registers,
                    last.address,
                    max(last.address + last.count, block.address + block.count),
                )
            ):
                end = max(last.address + last.count, block.address + block.count)
                joined[-1] = ReadBlock(
                    last.function, last.address, end - last.address, last.points + block.points
                )
            else:
                joined.append(block)
        return joined

    def _quarantine(self, point: Point) -> None:
        self.quarantined[point.key] = Quarantined(point, time.monotonic() + self.bus_config.quarantine_retry)
        self.metrics.quarantined(self.id, sorted(self.quarantined))
        if point.key not in self._quarantine_logged:
            self._quarantine_logged.add(point.key)
            self.metrics.error("quarantined")
            _LOGGER.warning(
                "register refused by the device: point quarantined",
                extra={
                    "device": self.id,
                    "point": point.key,
                    "address": point.address,
                    "retry_s": self.bus_config.quarantine_retry,
                },
            )

    async def _retry_quarantined(self) -> list[tuple[ReadBlock, list[int]]]:
        """Try quarantined points whose time has come; a point that reads again rejoins the plan."""
        now = time.monotonic()
        reads: list[tuple[ReadBlock, list[int]]] = []
        for key, entry in list(self.quarantined.items()):
            if entry.retry_at > now:
                continue
            point = entry.point
            block = ReadBlock(point.function, point.address, point.words, (point,))
            self._requests += 1
            try:
                registers = await self.reader.read(block.function, block.address, block.count)
            except UNREACHABLE:
                raise
            except ModbusError:
                entry.retry_at = now + self.bus_config.quarantine_retry
                continue
            del self.quarantined[key]
            self._quarantine_logged.discard(key)
            self.plan.append(block)
            self._replanned()
            self._remember(block, registers)
            reads.append((block, registers))
            self.metrics.quarantined(self.id, sorted(self.quarantined))
            _LOGGER.info("quarantined point readable again", extra={"device": self.id, "point": key})
        return reads

    def _block_failed(self, block: ReadBlock, err: Exception) -> None:
        self.metrics.error("block")
        self._block_error = err
        _LOGGER.debug(
            "block read failed", extra={"device": self.id, "address": block.address, "error": str(err)}
        )

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
            self.sink.announcement_changed()

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

    def _publish(self, values: dict[str, Value], ts: float) -> None:
        accepted: dict[str, Value] = {}
        resets: list[str] = []
        max_power = self.max_power()
        for key, value in values.items():
            point = self.points.get(key)
            if point is None or point.hidden or point.info is not None:
                continue
            verdict = self.plausibility.check(point, value, ts, max_power=max_power)
            if verdict.publish:
                accepted[key] = 0.0 if isinstance(value, float) and value == 0 else value  # no "-0.0"
                if verdict.reset:
                    resets.append(key)
                continue
            rejection = verdict.rejection
            if rejection is None:
                continue  # held back until later readings confirm it
            self.metrics.rejected(self.id, rejection.error)
            if rejection.first_of_streak:
                self.sink.event(
                    self.id,
                    {
                        "ts": round(ts, 3),
                        "type": "point_rejected",
                        "point": key,
                        "error": rejection.error,
                        "message": rejection.message,
                    },
                )
        self.publish_values(accepted, ts, resets=resets)

    def publish_values(
        self,
        values: dict[str, Value],
        ts: float,
        *,
        force: bool = False,
        inferred: list[str] | None = None,
        resets: list[str] | None = None,
    ) -> None:
        """Send a state message with `values` (all, or only the changed ones with publish-on-change);
        `inferred` lists keys whose values were not read (contract field `inferred`), `resets` counters
        that really started again (contract field `reset`)."""
        if self.publish.on_change and not force:
            if ts - self._last_full >= self.publish.max_interval:
                self._last_full = ts
            else:
                values = {
                    key: value
                    for key, value in values.items()
                    if key in (resets or ()) or self._changed(key, value)
                }
        if not values:
            return
        self._published.update(values)
        message: dict[str, Any] = {"ts": round(ts, 3), "v": values}
        guessed = [key for key in inferred or () if key in values]
        if guessed:
            message["inferred"] = guessed
        restarted = [key for key in resets or () if key in values]
        if restarted:
            message["reset"] = restarted
        self.sink.state(self.id, message)

    def _changed(self, key: str, value: Value) -> bool:
        if key not in self._published:
            return True
        last = self._published[key]
        if (
            isinstance(value, bool)
            or isinstance(last, bool)
            or not isinstance(value, int | float)
            or not isinstance(last, int | float)
        ):
            return value != last
        difference = abs(value - last)
        return difference > 0 and difference >= self.device.deadband.get(key, 0.0)

    # ------------------------------------------------------------------ availability

    def _failed(self, err: Exception, ts: float) -> None:
        """A cycle read nothing: asleep at night, offline after `offline_after` such cycles in a row."""
        if self._sleeping(ts):
            self._fall_asleep(ts)
            return
        self.failures += 1
        self._answered_failure = isinstance(err, ModbusExceptionResponse)
        if self.availability != "offline" and self.failures < self.device.offline_after:
            _LOGGER.debug(
                "poll cycle read nothing",
                extra={"device": self.id, "failures": self.failures, "error": str(err)},
            )
            return
        self.metrics.availability(self.id, False)
        if self.availability != "offline":
            self.availability = "offline"
            _LOGGER.warning("device lost", extra={"device": self.id, "bus": self.bus.name, "error": str(err)})
            self.sink.availability(self.id, "offline", err)

    def _back(self) -> None:
        self.metrics.availability(self.id, True)
        if self.availability != "online":
            if self.availability == "offline":
                _LOGGER.info("device back", extra={"device": self.id, "after_failures": self.failures})
            elif self.availability == "asleep":
                _LOGGER.info("device awake", extra={"device": self.id})
            self.availability = "online"
            self.sink.availability(self.id, "online")
        self.failures = 0

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
