"""The simulated devices' lifetime counters, kept in a JSON file between runs (`simulate --state FILE`).

A real inverter, meter or battery never forgets its lifetime energy counters. Without a state file every
start draws them anew from the seed, so a restarted simulator would read lower than what the collector
already published. With one, `Simulation` reads the counters at start and writes them every
`SAVE_INTERVAL` seconds of simulated time and at a clean stop:

    {"version": 1, "devices": {"inverter": {"energy_wh": 4652203.5, ...}, "meter": {...}, ...}}

Devices are named by their `kind`, counters by the device's own names (`SimulatedDevice.counters`). A
missing file, or a device or counter the file does not name, starts from the seeded value as before; a file
that cannot be used is logged as one warning naming it, and everything starts from the seed. The file is
replaced atomically (a temporary file renamed over it), so a crash leaves the last complete one.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pv_collector.atomic import write_atomically

_LOGGER = logging.getLogger(__name__)

STATE_VERSION = 1
SAVE_INTERVAL = 5.0  # seconds of simulated time between writes

type Counters = dict[str, dict[str, float]]  # device kind -> counter name -> value


class CounterState:
    """Reads and writes the lifetime counters of the simulated devices in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._write_failing = False

    def load(self) -> Counters:
        """The kept counters; none for a missing file, and none (with one warning) for an unusable one."""
        try:
            return _parse(json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {}
        except OSError as err:
            problem = err.strerror or str(err)
        except ValueError as err:  # not JSON, not UTF-8, or not a state file
            problem = str(err)
        _LOGGER.warning(
            "simulator state unusable: the counters start from the seed",
            extra={"file": str(self.path), "error": problem},
        )
        return {}

    def save(self, counters: Mapping[str, Mapping[str, float]]) -> None:
        """Replace the file with `counters`; a failed write is logged once until a write succeeds again."""
        document = {"version": STATE_VERSION, "devices": counters}
        text = json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n"
        try:
            write_atomically(self.path, text)
        except OSError as err:
            if not self._write_failing:
                _LOGGER.warning(
                    "simulator state not written",
                    extra={"file": str(self.path), "error": err.strerror or str(err)},
                )
            self._write_failing = True
            return
        if self._write_failing:
            _LOGGER.info("simulator state written again", extra={"file": str(self.path)})
        self._write_failing = False


def _parse(data: Any) -> Counters:
    """The counters of a decoded state file; ValueError naming the first thing that is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("devices"), dict):
        raise ValueError('not a simulator state file (no "devices" object)')
    if data.get("version") != STATE_VERSION:
        raise ValueError(f"version {data.get('version')!r} is not {STATE_VERSION}")
    counters: Counters = {}
    for device, values in data["devices"].items():
        if not isinstance(values, dict):
            raise ValueError(f"devices.{device}: not an object of counters")
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"devices.{device}.{name}: {value!r} is not a number")
            if value < 0:
                raise ValueError(f"devices.{device}.{name}: {value!r} is negative")
            counters.setdefault(device, {})[name] = float(value)
    return counters
