"""PV health of one collector (docs/pv-health.md): expected power, today's figures, the daily summary.

Feeds the pure bookkeeping of `health` from the collector's state on every health tick and on new
readings, and keeps it in a `Store` so a restart in the middle of the day loses nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .clearsky import solar_position
from .const import DOMAIN
from .expected import expected_power
from .health import DaySummary, InverterHealth, energy_kwh
from .models import CollectorState
from .options import EntryOptions

STORE_VERSION = 1
STORE_SAVE_DELAY = 60.0  # seconds


class HealthTracker:
    """Today's health figures of every inverter of one collector, and the collector's day."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, state: CollectorState, options: EntryOptions
    ) -> None:
        """Nothing loaded yet (`async_load`)."""
        self.hass = hass
        self._state = state
        self._options = options
        self.trackers: dict[str, InverterHealth] = {}
        self.summary = DaySummary()
        self._store: Store[dict[str, Any]] = Store(hass, STORE_VERSION, f"{DOMAIN}.health.{entry_id}")

    async def async_load(self) -> None:
        """Restore today's figures stored before a restart."""
        data = await self._store.async_load()
        if not data:
            return
        self.trackers = {
            did: InverterHealth.from_dict(item) for did, item in data.get("inverters", {}).items()
        }
        self.summary = DaySummary.from_dict(data.get("summary", {}))

    def async_save_soon(self, delay: float = STORE_SAVE_DELAY) -> None:
        """Store the figures after `delay` seconds (0: now, at unload)."""
        self._store.async_delay_save(self._data, delay)

    def _data(self) -> dict[str, Any]:
        return {
            "inverters": {did: tracker.to_dict() for did, tracker in self.trackers.items()},
            "summary": self.summary.to_dict(),
        }

    def peak_power_kw(self, device_id: str) -> float | None:
        """The inverter's array size in kWp: its array, else the option `array_peak_power`."""
        if (array := self._options.arrays.get(device_id)) is not None:
            return array.peak_power
        peak = self._options.thresholds.array_peak_power
        return peak / 1000.0 if peak > 0 else None

    def sun_elevation(self, now: datetime) -> float:
        """The sun's elevation at Home Assistant's home location, degrees."""
        return solar_position(now, self.hass.config.latitude, self.hass.config.longitude).elevation

    def expected_power(self, device_id: str, now: datetime | None = None) -> float | None:
        """Expected AC power of an inverter (W): measured irradiance, else the clear-sky model; None
        when nothing describes the array."""
        return expected_power(
            moment=now or dt_util.utcnow(),
            latitude=self.hass.config.latitude,
            longitude=self.hass.config.longitude,
            array=self._options.arrays.get(device_id),
            irradiance=self._state.irradiance(),
            peak_power=self._options.thresholds.array_peak_power,
        )

    def _counter_kwh(self, device_id: str, role: str) -> float | None:
        reading = self._state.role_number(device_id, role)
        return energy_kwh(*reading) if reading else None

    def observe_peak(self, device_id: str) -> None:
        """A new reading of an inverter: keep its peak power and the collector's total peak."""
        if device_id not in self.trackers:
            return
        today = dt_util.as_local(dt_util.utcnow()).date()
        tracker = self.trackers[device_id]
        tracker.roll(today)
        tracker.observe_power(self._state.pv_power(device_id))
        self._observe_total_peak(today)

    def _observe_total_peak(self, today: date) -> None:
        powers = [p for did in self._state.inverters() if (p := self._state.pv_power(did)) is not None]
        self.summary.roll(today)
        if powers:
            self.summary.peak_power = max(self.summary.peak_power, sum(powers))

    def tick(self, now: datetime) -> None:
        """Integrate expected and actual energy since the last tick, roll over at local midnight."""
        today = dt_util.as_local(now).date()
        for device_id in self._state.inverters():
            tracker = self.trackers.setdefault(device_id, InverterHealth())
            tracker.roll(today)
            tracker.step(
                now,
                expected=self.expected_power(device_id, now),
                power=self._state.pv_power(device_id),
                counter=self._counter_kwh(device_id, "pv_energy"),
            )
        self._observe_total_peak(today)
        for device_id in self._state.devices:
            if (export := self._counter_kwh(device_id, "grid_export_energy")) is not None:
                self.summary.export.update(export)
                break
        self.async_save_soon()

    def record_alert(self, entry: dict[str, Any], now: datetime) -> None:
        """An alert went on: today's summary lists it."""
        self.summary.roll(dt_util.as_local(now).date())
        self.summary.alerts.append(entry)
        self.async_save_soon()

    def daily_summary(self) -> dict[str, Any]:
        """Today's figures of the collector: what the sunset summary reports (kWh, W, %)."""
        trackers = [self.trackers[did] for did in self._state.inverters() if did in self.trackers]
        produced = sum(t.actual_energy for t in trackers)
        expected = sum(t.expected_energy for t in trackers)
        exported = self.summary.export.today
        self_consumption = (
            round(100.0 * max(produced - exported, 0.0) / produced, 1)
            if exported is not None and produced > 0
            else None
        )
        return {
            "energy_today": round(produced, 3) if trackers else None,
            "expected_energy_today": round(expected, 3) if trackers else None,
            "performance_ratio": round(100.0 * produced / expected, 1) if expected >= 0.01 else None,
            "peak_power": self.summary.peak_power,
            "grid_export_today": None if exported is None else round(exported, 3),
            "self_consumption": self_consumption,
            "alerts_today": list(self.summary.alerts),
        }
