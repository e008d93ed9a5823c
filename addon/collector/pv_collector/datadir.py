"""The data folder (`data_dir`): whether it can be used at all, and one voice for its write failures.

Everything the collector keeps between runs lives there: the queue of readings (`outbox.sqlite3`), the
counter baselines (`counters.json`), the instance token and the Home Assistant discovery topics published.

- `data_dir_problem` tells, without creating anything, why a folder cannot be the data folder (a file, a
  folder below a file, read-only); `pv-collector check` and `run` refuse such a configuration with one line.
- `DataFolder` is where every writer reports: a full disk is logged once per episode, naming the folder
  and what could not be written, and its end once ("data folder writable again"); the collector keeps
  polling and publishing meanwhile (issue 15).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

_LOGGER = logging.getLogger(__name__)


def data_dir_problem(path: Path) -> str | None:
    """Why `path` cannot be used as the data folder (it need not exist yet), None when it can."""
    try:
        existing = path
        while not existing.exists():
            if existing.parent == existing:
                return "cannot be created (no existing parent folder)"
            existing = existing.parent
        if not existing.is_dir():
            return "is a file, not a folder" if existing == path else f"is below the file {existing}"
        if not os.access(existing, os.W_OK | os.X_OK):
            return "is read-only" if existing == path else f"cannot be created in the read-only {existing}"
    except (OSError, ValueError) as err:
        return f"is not usable ({err})"
    return None


class DataFolder:
    """Write failures in the data folder, reported once per episode (see module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failing = False

    def failed(self, what: str, error: BaseException) -> None:
        """Writing `what` (e.g. "queued readings") failed with `error`."""
        if self.failing:
            _LOGGER.debug("data folder still not writable", extra={"what": what, "error": str(error)})
            return
        self.failing = True
        _LOGGER.error(
            "cannot write to the data folder",
            extra={
                "data_dir": str(self.path),
                "what": what,
                "error": str(error),
                "effect": "readings are published live but not queued; counted in errors.queue_write",
            },
        )

    def written(self) -> None:
        """A write succeeded: the end of an episode of failures, if there was one."""
        if self.failing:
            self.failing = False
            _LOGGER.info("data folder writable again", extra={"data_dir": str(self.path)})
