"""One poll cycle of a device: every block of its read plan, through the bus.

A block that fails is counted and the rest of the cycle goes on (issue 15); a cycle whose first block the
device does not answer raises (`UNREACHABLE`): the device is probably away, and the bus stays free.

Bad registers: a block the device refuses with "illegal data address" (exception 2) is bisected until the
refused points are found; they are quarantined (pv_collector.quarantine) while the rest of the block is
read as before, and readable neighbours are joined again. A block answered with "device failure"
(exception 4, which some devices answer for registers they do not have) is bisected at the end of the
cycle if something else was read.

RTU lines: a cycle is believed only if no stray frame showed the line out of step while it was read or
soon after its last reply (pv_collector.reply_watch); else it is read once more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pv_collector.cache import RegisterCache
from pv_collector.clock import Clock
from pv_collector.errors import ModbusConnectionError, ModbusError, ModbusExceptionResponse, ModbusTimeout
from pv_collector.metrics import Metrics
from pv_collector.model import Function, Point, Profile, ReadBlock
from pv_collector.planner import requests_per_cycle, reread_scale_factors, touches
from pv_collector.quarantine import Quarantine
from pv_collector.transport import Bus, UnitReader

_LOGGER = logging.getLogger(__name__)

UNREACHABLE = (ModbusTimeout, ModbusConnectionError)
ILLEGAL_ADDRESS = 2
DEVICE_FAILURE = 4  # some devices answer it for registers they do not have
REFUSED_CODES = frozenset({ILLEGAL_ADDRESS, DEVICE_FAILURE})

type Reads = list[tuple[ReadBlock, list[int]]]


@dataclass(slots=True)
class _Bisection:
    """What splitting a refused block found: blocks to keep (with registers when read) and refused points."""

    kept: list[ReadBlock] = field(default_factory=list)
    reads: Reads = field(default_factory=list)
    refused: list[Point] = field(default_factory=list)


class CycleReader:
    """Reads the plan of one device, a cycle at a time, and keeps the plan up to date as blocks are split
    and quarantined points come back."""

    def __init__(
        self,
        device_id: str,
        bus: Bus,
        reader: UnitReader,
        profile: Profile,
        *,
        max_gap: int,
        quarantine_retry: float,
        metrics: Metrics,
        clock: Clock,
        cache: RegisterCache | None = None,
    ) -> None:
        self.device_id = device_id
        self.bus = bus
        self.reader = reader
        self.profile = profile
        self.max_gap = max_gap
        self.metrics = metrics
        self.clock = clock
        self.cache = cache  # set when a gateway answers from this device's readings
        self.plan: list[ReadBlock] = []
        self.quarantine = Quarantine(device_id, retry=quarantine_retry, metrics=metrics, clock=clock)
        self.requests = 0  # requests of the current cycle
        self.block_error: Exception | None = None  # the last failed block of the current cycle
        self._failing: list[ReadBlock] = []  # blocks of this cycle answered with exception 04
        self._merged: set[tuple[Function, int, int]] = set()  # blocks joined after a bisection

    def use_plan(self, plan: list[ReadBlock]) -> None:
        """A new plan (the device's points are known or changed)."""
        self.plan = plan
        self.metrics.requests_gauge.labels(self.device_id).set(requests_per_cycle(self.plan))

    async def read(self, *, probe: bool) -> Reads:
        """One cycle: the registers of every block that could be read (see module doc). `probe`: the device
        is away, its first block is asked once without retries.

        Raises `UNREACHABLE` when the first block cannot be read.
        """
        self.requests = 0
        self.block_error = None
        mark = self.bus.out_of_step
        reads = await self._read_cycle(probe=probe)
        if reads and self.bus.config.rtu_framing:
            reads = await self._settled(reads, mark)
        return reads

    def _replanned(self) -> None:
        """The plan changed (a block split, a point back from quarantine): scale factors that are no longer
        read with their values are re-read around them (planner.reread_scale_factors)."""
        self.use_plan(
            reread_scale_factors(
                self.plan,
                max_block=self.profile.max_block,
                max_gap=self.max_gap,
                single_registers=self.profile.single_registers,
            )
        )

    async def _read_cycle(self, *, probe: bool) -> Reads:
        """Read every block of the plan (see the module doc for failing blocks); raises `UNREACHABLE` when the
        first block cannot be read."""
        reads: Reads = []
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
        if self.quarantine.points and reads:
            reads.extend(await self._retry_quarantined())
        return reads

    async def _settled(self, reads: Reads, mark: int) -> Reads:
        """RTU: a cycle is believed only if no stray frame showed the line out of step (`Bus.out_of_step`
        changed from `mark`) while it was read or soon after its last reply (a displaced answer arrives
        late); else it is read once more, and if the line is out of step again nothing of it is published
        (issue 15, pv_collector.reply_watch)."""
        unit_id = self.reader.unit_id
        await self.clock.sleep(self.bus.settle_time(unit_id))
        if self.bus.out_of_step == mark:
            return reads
        self.metrics.error("cycle_reread")
        _LOGGER.debug("line out of step during the cycle: read again", extra={"device": self.device_id})
        mark = self.bus.out_of_step
        reads = await self._read_cycle(probe=False)
        await self.clock.sleep(self.bus.settle_time(unit_id))
        if self.bus.out_of_step != mark:
            self.block_error = ModbusError("the line stays out of step (stray frames)")
            return []
        return reads

    async def _read_block(self, block: ReadBlock, *, probe: bool) -> Reads:
        """Read one block of the plan; a block refused as an illegal address is bisected, one answered with
        a device failure is bisected at the end of the cycle if something else was read (see module doc)."""
        self.requests += 1
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
            self.cache.store(block.function, block.address, registers, self.clock.monotonic())

    async def _bisect(self, block: ReadBlock) -> Reads:
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
            self.quarantine.add(point)
        _LOGGER.info(
            "block split after the device refused it",
            extra={
                "device": self.device_id,
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
            self.requests += 1
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

    async def _retry_quarantined(self) -> Reads:
        """Try quarantined points whose time has come; a point that reads again rejoins the plan."""
        reads: Reads = []
        for entry in self.quarantine.due():
            point = entry.point
            block = ReadBlock(point.function, point.address, point.words, (point,))
            self.requests += 1
            try:
                registers = await self.reader.read(block.function, block.address, block.count)
            except UNREACHABLE:
                raise
            except ModbusError:
                self.quarantine.refused_again(entry)
                continue
            self.quarantine.release(entry)
            self.plan.append(block)
            self._replanned()
            self._remember(block, registers)
            reads.append((block, registers))
        return reads

    def _block_failed(self, block: ReadBlock, err: Exception) -> None:
        self.metrics.error("block")
        self.block_error = err
        _LOGGER.debug(
            "block read failed", extra={"device": self.device_id, "address": block.address, "error": str(err)}
        )
