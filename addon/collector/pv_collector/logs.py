"""The collector's log format: structured `key=value` lines on stderr, one format for the command line and
the add-on (whose Log tab shows stderr).

`ts=2026-06-21T11:00:00.123 level=warning logger=pv_collector.poller msg="device lost" device=meter
error="..."`: the fields given with `extra=` follow the message, in the order given.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

# LogRecord attributes that are not `extra=` fields.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)


def extra_fields(record: logging.LogRecord) -> list[tuple[str, object]]:
    """The `extra=` fields of a log record (`device`, `bus`, `error`, ...), in the order given."""
    return [(key, value) for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES]


class KeyValueFormatter(logging.Formatter):
    """`ts=... level=info logger=pv_collector.poller msg="device lost" device=meter error="..."`."""

    def format(self, record: logging.LogRecord) -> str:
        """One line per record (a traceback, for a bug, follows on the next lines)."""
        fields: list[tuple[str, object]] = [
            (
                "ts",
                time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
                + f".{int(record.msecs):03d}",
            ),
            ("level", record.levelname.lower()),
            ("logger", record.name),
            ("msg", record.getMessage()),
        ]
        fields.extend(extra_fields(record))
        line = " ".join(f"{key}={_quote(value)}" for key, value in fields)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(char in text for char in ' "=\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Structured key=value logs on `stream` (stderr) at `level` (`debug`, `info`, `warning`, `error`);
    pymodbus' own per-request noise only at debug level."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if level == "debug" else logging.CRITICAL)
