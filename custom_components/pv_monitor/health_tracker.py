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
from .health import DAY_COUNTER_ROLES, DaySummary, InverterHealth, energy_kwh
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
        """The inverter's array size in kWp, None without an array."""
        array = self._options.arrays.get(device_id)
        return None if array is None else array.peak_power

    def unknown_reason(self, device_id: str, key: str) -> str:
        """Why an inverter's health figure is unknown: `no_array` when nothing describes its array (the
        specific yield needs the array's size, the others an expectation), else `waiting` (no reading or
        health tick yet)."""
        if key == "specific_yield_today":
            described = self.peak_power_kw(device_id) is not None
        else:
            described = self.expected_power(device_id) is not None
        return "waiting" if described else "no_array"

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
        for device_id, runtime in self._state.devices.items():
            for role in DAY_COUNTER_ROLES:
                for point in runtime.definition.points_with_role(role):
                    value = runtime.values.get(point.key)
                    if (
                        point.kind == "number"
                        and isinstance(value, int | float)
                        and not isinstance(value, bool)
                    ) and (kwh := energy_kwh(float(value), point.unit)) is not None:
                        self.summary.count(f"{device_id}/{point.key}", kwh, now)
        self.async_save_soon()

    def role_points(self, role: str) -> list[str]:
        """The counter points (`<device>/<key>`) announced with a role."""
        return [
            f"{device_id}/{point.key}"
            for device_id, runtime in self._state.devices.items()
            for point in runtime.definition.points_with_role(role)
            if point.kind == "number" and energy_kwh(0.0, point.unit) is not None
        ]

    def role_today(self, role: str) -> float | None:
        """Today's increase of the counters with a role (kWh), None while unknown or not announced."""
        value = self.summary.today(self.role_points(role))
        return None if value is None else round(value, 3)

    def production_today(self) -> float | None:
        """Energy the inverters produced today (kWh), None before the first health tick."""
        trackers = [self.trackers[did] for did in self._state.inverters() if did in self.trackers]
        return round(sum(t.actual_energy for t in trackers), 3) if trackers else None

    def consumption_today(self) -> float | None:
        """The house's consumption today (kWh): production + grid import - export + battery discharge -
        charge; None without a grid import counter or while a figure is unknown."""
        if not self.role_points("grid_import_energy"):
            return None
        figures = {
            role: (self.role_today(role) if self.role_points(role) else 0.0) for role in DAY_COUNTER_ROLES
        }
        produced = self.production_today() if self._state.inverters() else 0.0
        if produced is None or any(value is None for value in figures.values()):
            return None
        total = (
            produced
            + (figures["grid_import_energy"] or 0.0)
            - (figures["grid_export_energy"] or 0.0)
            + (figures["battery_discharge_energy"] or 0.0)
            - (figures["battery_charge_energy"] or 0.0)
        )
        return round(max(total, 0.0), 3)

    def house_power(self) -> float | None:
        """The house's power now (W): PV + grid (positive = import) + battery (positive = discharge);
        None without a grid power point or while a reading is unknown."""
        grid = [self._state.role_number(did, "grid_power") for did in self._state.devices]
        grid_w = [_watts(reading) for reading in grid if reading is not None]
        if not grid_w or None in grid_w:
            return None
        pv = [self._state.pv_power(did) for did in self._state.inverters()]
        if None in pv:
            return None
        battery = [self._state.role_number(did, "battery_power") for did in self._state.devices]
        battery_w = [_watts(reading) for reading in battery if reading is not None]
        if None in battery_w:
            return None
        total = sum(p for p in pv if p is not None) + sum(w for w in grid_w if w is not None)
        total += sum(w for w in battery_w if w is not None)
        return round(max(total, 0.0), 1)

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
        exported = self.role_today("grid_export_energy")
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


POWER_FACTORS = {"W": 1.0, "kW": 1000.0, "MW": 1_000_000.0}


def _watts(reading: tuple[float, str | None]) -> float | None:
    """A power reading in W, None for a unit that is not power."""
    factor = POWER_FACTORS.get((reading[1] or "").strip())
    return None if factor is None else reading[0] * factor
