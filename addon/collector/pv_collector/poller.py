"""The poll loop of one device: discovery, read plan, drift-free schedule, decoding, plausibility.

Every device has its own task, so a device that stops answering delays nobody but itself (on a shared
serial line it holds the bus lock for at most one request's timeout per attempt). After a failed cycle
the device is probed with a single request at growing intervals (backoff) until it answers again; it is
logged once when lost and once when back, and its availability follows.

SunSpec devices are discovered at start (retried with backoff while unreachable); until then they are
announced with what the profile and configuration know, without points.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pv_collector import sunspec
from pv_collector.config import BusConfig, DeviceConfig, PublishConfig
from pv_collector.decode import decode_reads
from pv_collector.errors import (
    ModbusConnectionError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusTimeout,
    ProfileError,
)
from pv_collector.metrics import Metrics
from pv_collector.model import DataType, Point, Profile, ReadBlock, Value
from pv_collector.planner import plan_reads, requests_per_cycle
from pv_collector.plausibility import PlausibilityFilter
from pv_collector.transport import Bus, UnitReader

_LOGGER = logging.getLogger(__name__)

BACKOFF_MAX = 60.0  # seconds between probes of a device that is away (at least its poll interval)
DISCOVERY_RETRY_MIN = 1.0
UNREACHABLE = (ModbusTimeout, ModbusConnectionError)
ILLEGAL_ADDRESS = 2


class DeviceSink(Protocol):
    """Where a poller sends what it produces (implemented by the collector)."""

    def state(self, device_id: str, message: dict[str, Any]) -> None:
        """A state message without `seq` (the queue adds it)."""

    def availability(self, device_id: str, availability: str) -> None:
        """`online`, `offline` or `asleep`."""

    def event(self, device_id: str, event: dict[str, Any]) -> None:
        """A device event (contract event schema)."""

    def announcement_changed(self) -> None:
        """The device's description changed (discovery finished, device info read)."""


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
        self.kind = profile.kind
        self.info = DeviceInfo(manufacturer=profile.manufacturer, model=profile.model)
        self.discovered = profile.sunspec_base is None
        self.points: dict[str, Point] = {}  # every point, hidden ones included, by key
        self.plan: list[ReadBlock] = []
        self.info_plan: list[ReadBlock] = []
        self.availability = "unknown"
        self.values: dict[str, Value] = {}  # latest decoded values, hidden ones (scale factors) included
        self.failures = 0
        self.plausibility = PlausibilityFilter(device.id)
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
        return entry

    def _use_points(self, points: tuple[Point, ...]) -> None:
        self.points = {point.key: point for point in points}
        max_gap = self.bus_config.max_gap if self.bus_config.max_gap is not None else self.profile.max_gap
        polled = [point for point in points if point.info is None]
        info = [point for point in points if point.info is not None]
        self.plan = plan_reads(polled, max_block=self.profile.max_block, max_gap=max_gap, all_points=points)
        self.info_plan = plan_reads(info, max_block=self.profile.max_block, max_gap=max_gap) if info else []
        self.metrics.requests_gauge.labels(self.id).set(requests_per_cycle(self.plan))

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Poll until cancelled."""
        loop = asyncio.get_running_loop()
        interval = self.device.poll_interval
        while not self.discovered:
            if await self._discover():
                break
            await asyncio.sleep(self._backoff(max(interval, DISCOVERY_RETRY_MIN)))
        next_at = loop.time()
        while True:
            ok = await self.poll_once()
            now = loop.time()
            if ok:
                next_at += interval
                if next_at <= now:  # fell behind (slow bus): skip the missed slots, keep the grid
                    next_at += math.ceil((now - next_at) / interval + 1e-9) * interval
            else:
                next_at = now + self._backoff(interval)
            await asyncio.sleep(max(0.0, next_at - now))

    def _backoff(self, interval: float) -> float:
        return float(min(interval * 2 ** max(self.failures - 1, 0), max(BACKOFF_MAX, interval)))

    async def _discover(self) -> bool:
        try:
            found = await sunspec.scan(self.reader, self.profile, self.profile_dirs)
        except UNREACHABLE as err:
            self._failed(err)
            return False
        except (ModbusError, ProfileError) as err:
            self.failures += 1
            if self.failures == 1:
                _LOGGER.error("SunSpec discovery failed", extra={"device": self.id, "error": str(err)})
            self.sink.availability(self.id, "offline")
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
        if not self._info_read and self.info_plan:
            await self._read_info()
        reads: list[tuple[ReadBlock, list[int]]] = []
        self._requests = 0
        probe = self.failures > 0  # away: one request without retries tells whether it is back
        try:
            for block in list(self.plan):
                reads.extend(await self._read_block(block, probe=probe and not reads))
        except UNREACHABLE as err:
            self._failed(err)
            return False
        if self.plan and not reads:
            self._failed(ModbusError("no block could be read"))
            return False
        self._back()
        try:
            values = decode_reads(reads)
        except (ValueError, ArithmeticError) as err:
            self.metrics.error("decode")
            _LOGGER.warning("decoding failed", extra={"device": self.id, "error": str(err)})
            values = {}
        self.values.update(values)
        self._publish(values, ts)
        self.metrics.cycle(self.id, time.monotonic() - started, self._requests)
        return True

    async def _read_block(self, block: ReadBlock, *, probe: bool) -> list[tuple[ReadBlock, list[int]]]:
        """Read one block. A block the device refuses as an illegal address is split (gaps first, then
        point by point) and the plan keeps the split; a single point it refuses is quarantined."""
        self._requests += 1
        try:
            if probe:
                registers = await self.reader.read_once(block.function, block.address, block.count)
            else:
                registers = await self.reader.read(block.function, block.address, block.count)
        except UNREACHABLE:
            raise
        except ModbusExceptionResponse as err:
            if err.code != ILLEGAL_ADDRESS:
                self._block_failed(block, err)
                return []
            parts = self._split(block)
            index = self.plan.index(block) if block in self.plan else len(self.plan)
            if block in self.plan:
                self.plan.remove(block)
            if not parts:
                keys = ",".join(point.key for point in block.points)
                _LOGGER.warning(
                    "point refused by the device, not read any more",
                    extra={"device": self.id, "points": keys, "address": block.address},
                )
                self.metrics.error("quarantined")
                return []
            self.plan[index:index] = parts
            _LOGGER.info(
                "block split after an illegal address answer",
                extra={
                    "device": self.id,
                    "address": block.address,
                    "count": block.count,
                    "parts": len(parts),
                },
            )
            results: list[tuple[ReadBlock, list[int]]] = []
            for part in parts:
                results.extend(await self._read_block(part, probe=False))
            return results
        except ModbusError as err:
            self._block_failed(block, err)
            return []
        return [(block, registers)]

    def _block_failed(self, block: ReadBlock, err: Exception) -> None:
        self.metrics.error("block")
        _LOGGER.debug(
            "block read failed", extra={"device": self.id, "address": block.address, "error": str(err)}
        )

    def _split(self, block: ReadBlock) -> list[ReadBlock]:
        """Smaller blocks covering the points of `block`: without gaps, else one per point."""
        points = list(block.points)
        if len(points) <= 1:
            return []
        runs = plan_reads(
            points, max_block=self.profile.max_block, max_gap=0, all_points=self.points.values()
        )
        if len(runs) > 1:
            return runs
        return [ReadBlock(point.function, point.address, point.words, (point,)) for point in points]

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

    def _publish(self, values: dict[str, Value], ts: float) -> None:
        accepted: dict[str, Value] = {}
        for key, value in values.items():
            point = self.points.get(key)
            if point is None or point.hidden or point.info is not None:
                continue
            rejection = self.plausibility.check(point, value, ts)
            if rejection is None:
                accepted[key] = 0.0 if isinstance(value, float) and value == 0 else value  # no "-0.0"
                continue
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
        self.publish_values(accepted, ts)

    def publish_values(self, values: dict[str, Value], ts: float, *, force: bool = False) -> None:
        """Send a state message with `values` (all, or only the changed ones with publish-on-change)."""
        if self.publish.on_change and not force:
            if ts - self._last_full >= self.publish.max_interval:
                self._last_full = ts
            else:
                values = {key: value for key, value in values.items() if self._changed(key, value)}
        if not values:
            return
        self._published.update(values)
        self.sink.state(self.id, {"ts": round(ts, 3), "v": values})

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

    def _failed(self, err: Exception) -> None:
        self.failures += 1
        self.metrics.availability(self.id, False)
        if self.availability != "offline":
            self.availability = "offline"
            _LOGGER.warning("device lost", extra={"device": self.id, "bus": self.bus.name, "error": str(err)})
            self.sink.availability(self.id, "offline")

    def _back(self) -> None:
        self.metrics.availability(self.id, True)
        if self.availability != "online":
            if self.availability == "offline":
                _LOGGER.info("device back", extra={"device": self.id, "after_failures": self.failures})
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
