"""What of a device's readings is published, as state messages to its sink.

Values pass the plausibility filter first (pv_collector.plausibility; the first rejection of a streak
becomes a `point_rejected` event). With publish-on-change only values that moved by more than their
deadband are sent, and everything again every `max_interval` seconds. A sleeping device's power points are
published as 0 (listed in `inferred`) with its energy counters at their last value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol

from pv_collector.config import DeviceConfig, PublishConfig
from pv_collector.entity_model import COUNTER_STATE_CLASSES, INFERRED_ZERO_CLASSES
from pv_collector.messages import EventMessage, StateMessage
from pv_collector.metrics import Metrics
from pv_collector.model import Point, Value
from pv_collector.plausibility import PlausibilityFilter


class DeviceSink(Protocol):
    """Where a poller sends what it produces (implemented by the collector)."""

    def state(self, device_id: str, message: StateMessage) -> None:
        """A state message (the queue gives it its `seq`)."""

    def availability(self, device_id: str, availability: str, error: Exception | None = None) -> None:
        """`online`, `offline` or `asleep`; `error` is what made the device offline."""

    def event(self, device_id: str, event: EventMessage) -> None:
        """A device event (contract event schema)."""

    def announcement_changed(self) -> None:
        """The device's description changed (discovery finished, device info read)."""


class StatePublisher:
    """The state messages of one device."""

    def __init__(
        self,
        device: DeviceConfig,
        publish: PublishConfig,
        *,
        sink: DeviceSink,
        metrics: Metrics,
        plausibility: PlausibilityFilter,
    ) -> None:
        self.device = device
        self.publish = publish
        self.sink = sink
        self.metrics = metrics
        self.plausibility = plausibility
        self.published: dict[str, Value] = {}  # the last value published of every point
        self._last_full = -math.inf

    def checked(
        self, points: dict[str, Point], values: dict[str, Value], ts: float, *, max_power: float | None
    ) -> None:
        """Publish the plausible ones of a cycle's `values` (hidden and info points are never published)."""
        accepted: dict[str, Value] = {}
        resets: list[str] = []
        device_id = self.device.id
        for key, value in values.items():
            point = points.get(key)
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
            self.metrics.rejected(device_id, rejection.error)
            if rejection.first_of_streak:
                self.sink.event(
                    device_id,
                    EventMessage.point_rejected(
                        round(ts, 3), key, error=rejection.error, message=rejection.message
                    ),
                )
        self.values(accepted, ts, resets=resets)

    def inferred(self, points: Iterable[Point], ts: float) -> None:
        """A sleeping device: power points 0 (inferred, not read), energy counters at their last value."""
        values: dict[str, Value] = {}
        inferred: list[str] = []
        for point in points:
            if point.kind != "number" or point.writable is not None:
                continue
            if point.device_class in INFERRED_ZERO_CLASSES and point.state_class == "measurement":
                values[point.key] = 0
                inferred.append(point.key)
            elif point.state_class in COUNTER_STATE_CLASSES and point.key in self.published:
                values[point.key] = self.published[point.key]
        self.values(values, ts, inferred=inferred)

    def values(
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
        self.published.update(values)
        guessed = tuple(key for key in inferred or () if key in values)
        restarted = tuple(key for key in resets or () if key in values)
        message = StateMessage(ts=round(ts, 3), values=values, inferred=guessed, reset=restarted)
        self.sink.state(self.device.id, message)

    def _changed(self, key: str, value: Value) -> bool:
        if key not in self.published:
            return True
        last = self.published[key]
        if (
            isinstance(value, bool)
            or isinstance(last, bool)
            or not isinstance(value, int | float)
            or not isinstance(last, int | float)
        ):
            return value != last
        difference = abs(value - last)
        return difference > 0 and difference >= self.device.deadband.get(key, 0.0)
