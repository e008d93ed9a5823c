"""Back-fill of long-term statistics from readings the collector buffered during an outage.

While the broker is unreachable the collector queues its state messages and delivers them late, in
order, with `"buffered": true` and their original `ts` (docs/mqtt-contract.md). The coordinator applies
them as current values like any state (so the recorder's own compile counts the whole increase of a counter at
the time they arrive); this module additionally rewrites the *hourly* long-term statistics of the
`total_increasing` sensors for the complete hours of the gap, so the Energy dashboard shows the energy
in the hours it was produced instead of a hole followed by a spike. Why this does not double count is
explained in docs/history.md: in short, only hourly rows of hours the recorder has already compiled are
written (an update of an existing row or a new row for an hour the recorder left empty), the running
sum starts at the recorder's own 5-minute statistic before the gap and ends below the recorder's next
compiled sum, and the 5-minute table (from which the recorder continues its sums) is never touched.

Only the recorder's public statistics API is used: `get_metadata`, `statistics_during_period`,
`async_import_statistics`, and its `recorder_hourly_statistics_generated` event to know that the hours of
the gap have been compiled (the recorder inserts an hour's row itself when it compiles it; a row imported
earlier would make that insert fail).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.components.recorder.models import StatisticData, StatisticMetaData
from homeassistant.components.recorder.statistics import (
    UNIT_CLASS_TO_UNIT_CONVERTER,
    async_import_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.const import EVENT_RECORDER_HOURLY_STATISTICS_GENERATED, Platform
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

from .catalogue import point_platform, point_unique_id
from .const import DOMAIN
from .messages import DeviceDef, StateMessage

_LOGGER = logging.getLogger(__package__)

HOUR = timedelta(hours=1)
# Seconds without a further buffered message before a batch is imported.
QUIET_SECONDS = 10.0
# Seconds to wait for the recorder's hourly statistics of the gap's last hour before giving up: it
# compiles each hour a few seconds after it ends, so at most the rest of the hour and the next one.
MAX_WAIT_SECONDS = 75 * 60.0
# Home Assistant's rule for total_increasing sensors: a drop below 90 % of the last value is a meter reset.
RESET_RATIO = 0.9


@dataclass(frozen=True, slots=True)
class Baseline:
    """The recorder's statistic just before the gap: the last state and the running sum there."""

    state: float
    sum: float


def hour_floor(moment: datetime) -> datetime:
    """The start of the UTC hour a moment falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hourly_statistics(
    baseline: Baseline, readings: Iterable[tuple[float, float]], until: datetime
) -> list[StatisticData]:
    """Hourly rows (start, state, sum) for the complete hours before `until` that the readings cover.

    `readings` are (unix time, counter value). Sums follow Home Assistant's total_increasing rules
    (homeassistant/components/sensor/recorder.py): a value below 90 % of the previous one starts a new
    meter cycle from 0, smaller dips count as they are, negative values are ignored. Every hour from the
    first reading's hour up to `until` gets a row (hours without a reading carry the last state and sum),
    so no compiled row of the gap is left with the old, lower sum.
    """
    cycle_sum = baseline.sum
    cycle_start = baseline.state
    last = baseline.state
    per_hour: dict[datetime, tuple[float, float]] = {}
    for ts, value in sorted(readings):
        moment = datetime.fromtimestamp(ts, UTC)
        if moment >= until or value < 0:
            continue
        if value < RESET_RATIO * last:
            cycle_sum += last - cycle_start
            cycle_start = 0.0
        last = value
        per_hour[hour_floor(moment)] = (last, cycle_sum + last - cycle_start)
    if not per_hour:
        return []
    rows: list[StatisticData] = []
    hour = min(per_hour)
    state, total = per_hour[hour]
    while hour < until:
        state, total = per_hour.get(hour, (state, total))
        rows.append(StatisticData(start=hour, state=state, sum=total))
        hour += HOUR
    return rows


@dataclass(slots=True)
class _PendingCounter:
    """Buffered readings of one counter point."""

    unit: str | None
    readings: dict[float, float] = field(default_factory=dict)


class StatisticsBackfill:
    """Collects buffered readings of one collector's counters and imports them as hourly statistics."""

    def __init__(self, hass: HomeAssistant, collector_id: str) -> None:
        """Nothing pending."""
        self.hass = hass
        self.collector_id = collector_id
        self._pending: dict[tuple[str, str], _PendingCounter] = {}
        self._seen: dict[str, set[int]] = {}
        self._cancel_flush: CALLBACK_TYPE | None = None
        self._cancel_listen: CALLBACK_TYPE | None = None
        # The end of the newest hour the recorder has compiled (from its hourly statistics event).
        self._compiled_until: datetime | None = None
        self._waiting_since: datetime | None = None

    @callback
    def async_start(self) -> None:
        """Follow the recorder's hourly statistics runs."""
        self._cancel_listen = self.hass.bus.async_listen(
            EVENT_RECORDER_HOURLY_STATISTICS_GENERATED, self._on_hour_compiled
        )

    @callback
    def _on_hour_compiled(self, _event: Event) -> None:
        """The recorder compiled the hour that ended last; a waiting import may go ahead."""
        self._compiled_until = hour_floor(dt_util.utcnow())
        if self._pending and self._waiting_since is not None:
            self._schedule(0)

    @callback
    def add(self, device: DeviceDef, state: StateMessage) -> None:
        """Keep the counter readings of a buffered state message and (re)start the quiet timer."""
        seen = self._seen.setdefault(device.id, set())
        if state.seq in seen:
            return
        seen.add(state.seq)
        for key, value in state.values.items():
            point = device.point(key)
            if (
                point is None
                or point.kind != "number"
                or point.state_class != "total_increasing"
                or point_platform(point) is not Platform.SENSOR
                or isinstance(value, bool)
                or not isinstance(value, int | float)
            ):
                continue
            pending = self._pending.setdefault((device.id, key), _PendingCounter(unit=point.unit))
            earlier = [ts for ts in pending.readings if ts < state.ts]
            if key not in state.reset and earlier and float(value) < pending.readings[max(earlier)]:
                continue  # lower and not marked as a reset: a glitch, as for live readings (models.py)
            pending.readings[state.ts] = float(value)
        self._schedule(QUIET_SECONDS)

    @callback
    def live_state(self) -> None:
        """A live (not buffered) state arrived: the collector's queue has drained; import now."""
        if self._pending and self._waiting_since is None:
            self._schedule(0)

    @callback
    def async_stop(self) -> None:
        """Stop following the recorder and cancel a scheduled import (the entry is unloading)."""
        self._cancel_scheduled()
        if self._cancel_listen is not None:
            self._cancel_listen()
            self._cancel_listen = None

    @callback
    def _cancel_scheduled(self) -> None:
        if self._cancel_flush is not None:
            self._cancel_flush()
            self._cancel_flush = None

    @callback
    def _schedule(self, delay: float) -> None:
        self._cancel_scheduled()
        self._cancel_flush = async_call_later(self.hass, delay, self._async_flush)

    async def _async_flush(self, _now: Any) -> None:
        self._cancel_flush = None
        if not self._pending:
            return
        if "recorder" not in self.hass.config.components:
            _LOGGER.debug("No recorder: buffered readings of %s are not back-filled", self.collector_id)
            self._reset()
            return
        now = dt_util.utcnow()
        until = hour_floor(now)
        if self._compiled_until is None or self._compiled_until < until:
            # The recorder inserts the hourly row itself when it compiles an hour; a row imported before
            # would make that insert fail. Wait for its hourly statistics run of the gap's last hour.
            self._waiting_since = self._waiting_since or now
            waited = (now - self._waiting_since).total_seconds()
            if waited < MAX_WAIT_SECONDS:
                self._schedule(MAX_WAIT_SECONDS - waited)  # or earlier, when the recorder's event comes
                return
            _LOGGER.warning("The recorder has not compiled statistics; buffered readings not back-filled")
            self._reset()
            return
        pending, self._pending = self._pending, {}
        self._reset()
        registry = er.async_get(self.hass)
        for (device_id, key), counter in pending.items():
            entity_id = registry.async_get_entity_id(
                Platform.SENSOR, DOMAIN, point_unique_id(self.collector_id, device_id, key)
            )
            if entity_id is None:
                continue
            await self._async_import(entity_id, counter, until)

    def _reset(self) -> None:
        self._waiting_since = None
        self._pending = {}
        self._seen.clear()

    async def _async_import(self, entity_id: str, counter: _PendingCounter, until: datetime) -> None:
        first = datetime.fromtimestamp(min(counter.readings), UTC)
        if first >= until:
            return  # the whole gap lies in the current hour, which the recorder compiles itself
        instance = get_instance(self.hass)
        found = await instance.async_add_executor_job(_baseline, self.hass, entity_id, first)
        if found is None:
            _LOGGER.debug("No statistics of %s before %s: nothing to continue from", entity_id, first)
            return
        metadata, baseline = found
        readings = _converted(counter, metadata)
        if readings is None:
            _LOGGER.warning(
                "Cannot back-fill %s: its statistics are in %s, the readings in %s",
                entity_id,
                metadata["unit_of_measurement"],
                counter.unit,
            )
            return
        rows = hourly_statistics(baseline, readings.items(), until)
        if not rows:
            return
        _LOGGER.info(
            "Back-filling %d hours of %s from %d buffered readings", len(rows), entity_id, len(readings)
        )
        async_import_statistics(self.hass, metadata, rows)


def _converted(counter: _PendingCounter, metadata: StatisticMetaData) -> dict[float, float] | None:
    """The readings in the unit of the entity's statistics (None if they cannot be converted)."""
    unit = metadata["unit_of_measurement"]
    if unit == counter.unit:
        return dict(counter.readings)
    converter = UNIT_CLASS_TO_UNIT_CONVERTER.get(metadata["unit_class"] or "")
    if converter is None or counter.unit not in converter.VALID_UNITS or unit not in converter.VALID_UNITS:
        return None
    convert = converter.converter_factory(counter.unit, unit)
    return {ts: convert(value) for ts, value in counter.readings.items()}


def _baseline(
    hass: HomeAssistant, entity_id: str, first: datetime
) -> tuple[StatisticMetaData, Baseline] | None:
    """The entity's statistics metadata and its last statistic that started before `first`."""
    metadata = get_metadata(hass, statistic_ids={entity_id}).get(entity_id)
    if metadata is None or not metadata[1]["has_sum"] or metadata[1]["source"] != "recorder":
        return None
    lookups: Sequence[tuple[timedelta, Any]] = ((timedelta(days=1), "5minute"), (timedelta(days=30), "hour"))
    for span, period in lookups:
        end = first if period == "5minute" else hour_floor(first)
        rows = statistics_during_period(
            hass, first - span, end, {entity_id}, period, None, {"state", "sum"}
        ).get(entity_id)
        last = rows[-1] if rows else {}
        if (state := last.get("state")) is not None and (total := last.get("sum")) is not None:
            return metadata[1], Baseline(state=state, sum=total)
    return None
