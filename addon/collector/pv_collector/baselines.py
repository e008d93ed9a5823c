"""Counter baselines in the data folder, so that a restart does not forget them (`pv_collector.plausibility`).

One JSON file, `DATA_DIR/counters.json`: `{"<device id>": {"<point key>": [value, ts]}}`, the last value
published for every `total_increasing` point and when it was read. It is written atomically (a temporary
file renamed over it) when a baseline changed, at most every `SAVE_INTERVAL` seconds while the collector
runs and once more when it stops; a crash loses at most that much, which only makes the rate bound after the
restart a little wider. A file that cannot be read (missing, damaged) means no baselines: every counter
then waits for its first readings to agree (plausibility.FIRST_CONFIRM) before it is published.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from pv_collector.atomic import write_atomically
from pv_collector.plausibility import Baseline

_LOGGER = logging.getLogger(__name__)

FILE_NAME = "counters.json"
SAVE_INTERVAL = 60.0  # seconds between saves while running


class BaselineStore:
    """The baselines of every device, loaded from and saved to `directory/counters.json`."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE_NAME
        self._devices: dict[str, dict[str, Baseline]] = _read(self.path)
        self._saved = self._snapshot()

    def device(self, device_id: str) -> dict[str, Baseline]:
        """The baselines of one device (point key -> Baseline), to be updated in place."""
        return self._devices.setdefault(device_id, {})

    @property
    def changed(self) -> bool:
        """Whether a baseline changed since the last save."""
        return self._snapshot() != self._saved

    def save(self) -> None:
        """Write the file if a baseline changed. Raises `OSError` (disk full, read-only folder)."""
        snapshot = self._snapshot()
        if snapshot == self._saved:
            return
        text = json.dumps(snapshot, separators=(",", ":"), allow_nan=False)
        write_atomically(self.path, text)
        self._saved = snapshot

    def _snapshot(self) -> dict[str, dict[str, list[float]]]:
        return {
            device: {key: [base.value, base.ts] for key, base in sorted(points.items())}
            for device, points in sorted(self._devices.items())
            if points
        }


def _read(path: Path) -> dict[str, dict[str, Baseline]]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        _LOGGER.warning(
            "counter baselines unreadable: starting without", extra={"file": str(path), "error": str(err)}
        )
        return {}
    devices: dict[str, dict[str, Baseline]] = {}
    if not isinstance(data, dict):
        return devices
    for device, points in data.items():
        if not isinstance(device, str) or not isinstance(points, dict):
            continue
        for key, entry in points.items():
            usable = isinstance(entry, list) and len(entry) == 2 and all(map(_finite, entry))
            if isinstance(key, str) and usable:
                devices.setdefault(device, {})[key] = Baseline(float(entry[0]), float(entry[1]))
    return devices


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
