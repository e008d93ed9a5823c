"""PV health figures of one day: expected and actual energy, performance ratio, peak power, summary.

Pure bookkeeping, no Home Assistant: the health tracker feeds it on every health tick (`HEALTH_INTERVAL`)
and on new readings, rolls it over at local midnight and stores it (`to_dict` / `from_dict`) so a restart in
the middle of the day loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

# Longest gap integrated as one step: after a longer outage (Home Assistant stopped) nothing is guessed.
MAX_STEP_SECONDS: Final = 600.0
# Below this expected energy (kWh) a performance ratio would be noise (dawn).
MIN_EXPECTED_ENERGY: Final = 0.01
ROLLING_DAYS: Final = 7

ENERGY_FACTORS: Final = {"Wh": 0.001, "kWh": 1.0, "MWh": 1000.0}


def energy_kwh(value: float, unit: str | None) -> float | None:
    """A counter reading in kWh, None for a unit that is not energy."""
    factor = ENERGY_FACTORS.get((unit or "").strip())
    return None if factor is None else value * factor


def ratio_percent(actual: float, expected: float) -> float | None:
    """Actual / expected in %, None while too little is expected to judge."""
    if expected < MIN_EXPECTED_ENERGY:
        return None
    return round(100.0 * actual / expected, 1)


@dataclass(slots=True)
class DayFigures:
    """Energy of a completed day (kWh)."""

    day: date
    actual: float
    expected: float


@dataclass(slots=True)
class Counter:
    """Today's increase of an energy counter (kWh), from the first reading of the day."""

    start: float | None = None
    last: float | None = None

    def update(self, reading: float) -> None:
        """A new reading; a counter that went backwards (replaced meter) starts again from it."""
        if self.start is None or (self.last is not None and reading < self.last):
            self.start = reading
        self.last = reading

    @property
    def today(self) -> float | None:
        """Increase since the first reading of the day."""
        if self.start is None or self.last is None:
            return None
        return max(self.last - self.start, 0.0)

    def new_day(self) -> None:
        """Midnight: today's increase starts at the last reading."""
        self.start = self.last


@dataclass(slots=True)
class InverterHealth:
    """Today's figures of one inverter."""

    day: date | None = None
    expected_energy: float = 0.0  # kWh, integral of the expected power
    integrated_energy: float = 0.0  # kWh, integral of the measured power (no energy counter)
    counter: Counter = field(default_factory=Counter)
    peak_power: float = 0.0  # W
    history: list[DayFigures] = field(default_factory=list)  # completed days, oldest first
    last_time: datetime | None = None
    last_expected: float | None = None
    last_power: float | None = None

    @property
    def actual_energy(self) -> float:
        """Energy produced today (kWh): the counter's increase, else the integral of the power."""
        counted = self.counter.today
        return counted if counted is not None else self.integrated_energy

    @property
    def performance_ratio(self) -> float | None:
        """Today's actual / expected energy, %."""
        return ratio_percent(self.actual_energy, self.expected_energy)

    @property
    def performance_ratio_rolling(self) -> float | None:
        """Actual / expected energy of the last 7 days including today, %."""
        days = self.history[-(ROLLING_DAYS - 1) :]
        actual = self.actual_energy + sum(d.actual for d in days)
        expected = self.expected_energy + sum(d.expected for d in days)
        return ratio_percent(actual, expected)

    def roll(self, today: date) -> None:
        """Start a new day when the local date changed."""
        if self.day == today:
            return
        if self.day is not None:
            self.history.append(DayFigures(self.day, self.actual_energy, self.expected_energy))
            del self.history[: -(ROLLING_DAYS - 1)]
        self.day = today
        self.expected_energy = 0.0
        self.integrated_energy = 0.0
        self.peak_power = 0.0
        self.counter.new_day()

    def observe_power(self, power: float | None) -> None:
        """A measured power reading (W): keeps the peak."""
        if power is not None:
            self.peak_power = max(self.peak_power, power)

    def step(
        self, now: datetime, *, expected: float | None, power: float | None, counter: float | None
    ) -> None:
        """Integrate expected (and, without a counter, measured) power since the last step (trapezoid)."""
        if counter is not None:
            self.counter.update(counter)
        self.observe_power(power)
        if self.last_time is not None:
            seconds = (now - self.last_time).total_seconds()
            if 0 < seconds <= MAX_STEP_SECONDS:
                hours = seconds / 3600.0
                if expected is not None and self.last_expected is not None:
                    self.expected_energy += (expected + self.last_expected) / 2 * hours / 1000.0
                if power is not None and self.last_power is not None:
                    self.integrated_energy += max((power + self.last_power) / 2, 0.0) * hours / 1000.0
        self.last_time = now
        self.last_expected = expected
        self.last_power = power

    def to_dict(self) -> dict[str, Any]:
        """For the store."""
        return {
            "day": self.day.isoformat() if self.day else None,
            "expected_energy": self.expected_energy,
            "integrated_energy": self.integrated_energy,
            "counter_start": self.counter.start,
            "counter_last": self.counter.last,
            "peak_power": self.peak_power,
            "history": [[d.day.isoformat(), d.actual, d.expected] for d in self.history],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InverterHealth:
        """From the store (written by `to_dict`)."""
        return cls(
            day=date.fromisoformat(data["day"]) if data.get("day") else None,
            expected_energy=float(data.get("expected_energy", 0.0)),
            integrated_energy=float(data.get("integrated_energy", 0.0)),
            counter=Counter(start=data.get("counter_start"), last=data.get("counter_last")),
            peak_power=float(data.get("peak_power", 0.0)),
            history=[
                DayFigures(date.fromisoformat(d), float(a), float(e)) for d, a, e in data.get("history", [])
            ],
        )


# Counter roles whose increase today the collector's day reports (kWh), besides the inverters' production.
DAY_COUNTER_ROLES: Final = (
    "grid_import_energy",
    "grid_export_energy",
    "battery_charge_energy",
    "battery_discharge_energy",
)


@dataclass(slots=True)
class DaySummary:
    """The collector's day: total peak power, the counters' increase per point (`<device>/<key>`), when
    they were first read today, and the alerts that went on."""

    day: date | None = None
    peak_power: float = 0.0
    counters: dict[str, Counter] = field(default_factory=dict)
    since: datetime | None = None  # first counter reading of the day (midnight, or when set up)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def roll(self, today: date) -> None:
        """Start a new day when the local date changed."""
        if self.day == today:
            return
        self.day = today
        self.peak_power = 0.0
        self.alerts = []
        self.since = None
        for counter in self.counters.values():
            counter.new_day()

    def count(self, point: str, reading: float, now: datetime) -> None:
        """A counter reading (kWh) of a point (`<device>/<key>`)."""
        self.counters.setdefault(point, Counter()).update(reading)
        if self.since is None:
            self.since = now

    def today(self, points: list[str]) -> float | None:
        """The increase today of these points together (kWh); None while one of them is unread."""
        increases = [self.counters[point].today if point in self.counters else None for point in points]
        if not increases or any(value is None for value in increases):
            return None
        return sum(value for value in increases if value is not None)

    def to_dict(self) -> dict[str, Any]:
        """For the store."""
        return {
            "day": self.day.isoformat() if self.day else None,
            "peak_power": self.peak_power,
            "counters": {point: [c.start, c.last] for point, c in self.counters.items()},
            "since": self.since.isoformat() if self.since else None,
            "alerts": self.alerts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DaySummary:
        """From the store (written by `to_dict`)."""
        return cls(
            day=date.fromisoformat(data["day"]) if data.get("day") else None,
            peak_power=float(data.get("peak_power", 0.0)),
            counters={
                point: Counter(start=start, last=last)
                for point, (start, last) in (data.get("counters") or {}).items()
            },
            since=datetime.fromisoformat(data["since"]) if data.get("since") else None,
            alerts=list(data.get("alerts", [])),
        )
