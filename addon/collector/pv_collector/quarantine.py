"""Points whose registers a device refuses (found by bisecting a refused block, pv_collector.poll_cycle):
quarantined, logged once, counted and listed in the statistics, and tried again every `quarantine_retry`
seconds of the poller's clock while the rest of the device is read as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pv_collector.clock import Clock
from pv_collector.metrics import Metrics
from pv_collector.model import Point

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class Quarantined:
    """A point whose registers the device refused; tried again at `retry_at` (the poller's clock, s)."""

    point: Point
    retry_at: float


class Quarantine:
    """The quarantined points of one device, by key."""

    def __init__(self, device_id: str, *, retry: float, metrics: Metrics, clock: Clock) -> None:
        self.device_id = device_id
        self.retry = retry  # seconds between tries of a refused point
        self.points: dict[str, Quarantined] = {}
        self._metrics = metrics
        self._clock = clock
        self._logged: set[str] = set()  # warned about once, until the point reads again

    def add(self, point: Point) -> None:
        """The device refused `point`: try it again after `retry` seconds."""
        self.points[point.key] = Quarantined(point, self._clock.monotonic() + self.retry)
        self._metrics.quarantined(self.device_id, sorted(self.points))
        if point.key not in self._logged:
            self._logged.add(point.key)
            self._metrics.error("quarantined")
            _LOGGER.warning(
                "register refused by the device: point quarantined",
                extra={
                    "device": self.device_id,
                    "point": point.key,
                    "address": point.address,
                    "retry_s": self.retry,
                },
            )

    def due(self) -> list[Quarantined]:
        """The points whose time to be tried again has come."""
        now = self._clock.monotonic()
        return [entry for entry in self.points.values() if entry.retry_at <= now]

    def refused_again(self, entry: Quarantined) -> None:
        """A point was tried and is still refused: the next try after `retry` seconds."""
        entry.retry_at = self._clock.monotonic() + self.retry

    def release(self, entry: Quarantined) -> None:
        """A point reads again: out of quarantine."""
        key = entry.point.key
        del self.points[key]
        self._logged.discard(key)
        self._metrics.quarantined(self.device_id, sorted(self.points))
        _LOGGER.info("quarantined point readable again", extra={"device": self.device_id, "point": key})
