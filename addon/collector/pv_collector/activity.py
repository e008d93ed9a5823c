"""What the collector did lately, kept for its web page: the tap on states, availability, events and logs.

The collector hands every state message, availability change and device event it publishes to
`Activity` as well (the same calls its `DeviceSink` gets), and a `LogTap` handler copies its log records
here. `Activity` keeps, bounded:

- per device, the latest published value of each point (with the time it was read and whether it was
  inferred rather than read), its availability with the time it changed and why, and its recent events
  (rejected readings, command results, availability changes): `EVENTS_PER_DEVICE` each;
- the recent log lines, `LOG_LINES` in all, each with the device it names (the `device` extra field).

Listeners (the page's server-sent event streams) get every change as it happens through a bounded queue;
a listener that falls `LISTENER_QUEUE` items behind is told to resync instead of slowing the collector.
Nothing here touches the bus or the broker. Runs on the collector's event loop; `LogTap` may be called
from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pv_collector.errors import (
    ModbusConnectionError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusTimeout,
    ProfileError,
)
from pv_collector.logs import extra_fields
from pv_collector.messages import EventMessage, StateMessage
from pv_collector.model import Value

EVENTS_PER_DEVICE = 50
LOG_LINES = 500
LISTENER_QUEUE = 1000
MESSAGE_MAX = 500  # characters of a log message or reason kept

type Entry = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Availability:
    """A device's availability (`unknown`, `online`, `offline`, `asleep`) since `since` (wall clock, s).

    `reason` says why a device is not online, as a code the page translates: `timeout` (no answer),
    `connection` (bus or gateway unreachable), `exception` (the device answered with a Modbus exception),
    `modbus` (a reply that does not fit the request), `profile` (discovery found no usable profile),
    `sun_down` (asleep), `error` (anything else). `detail` is the error's own one-line text.
    """

    state: str
    since: float
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class LiveValue:
    """The latest published value of a point and the time it was read (wall clock, s)."""

    value: Value
    ts: float
    inferred: bool = False


def failure_reason(error: BaseException | None) -> tuple[str, str | None]:
    """The reason code and one-line detail of an error that made a device offline."""
    detail = None if error is None else _one_line(str(error))
    match error:
        case ModbusTimeout():
            return "timeout", detail
        case ModbusConnectionError():
            return "connection", detail
        case ModbusExceptionResponse():
            return "exception", detail
        case ModbusError():
            return "modbus", detail
        case ProfileError():
            return "profile", detail
        case _:
            return "error", detail


def _one_line(text: str) -> str:
    return " ".join(text.split())[:MESSAGE_MAX]


@dataclass(slots=True, eq=False)
class Listener:
    """One subscriber: changes queue up here; `lagged` is set when it fell behind and lost some."""

    queue: asyncio.Queue[Entry] = field(default_factory=lambda: asyncio.Queue(LISTENER_QUEUE))
    lagged: bool = False


class Activity:
    """The recent activity of one collector (see the module docstring)."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        events_per_device: int = EVENTS_PER_DEVICE,
        log_lines: int = LOG_LINES,
    ) -> None:
        self.clock = clock
        self.started = clock()
        self._events_per_device = events_per_device
        self._availability: dict[str, Availability] = {}
        self._values: dict[str, dict[str, LiveValue]] = {}
        self._events: dict[str, deque[Entry]] = {}
        self._log: deque[Entry] = deque(maxlen=log_lines)
        self._listeners: set[Listener] = set()

    # ------------------------------------------------------------------ what the collector reports

    def state(self, device_id: str, message: StateMessage) -> None:
        """A state message went to the queue."""
        inferred = set(message.inferred)
        latest = self._values.setdefault(device_id, {})
        for key, value in message.values.items():
            latest[key] = LiveValue(value, message.ts, key in inferred)
        self._notify(
            {
                "type": "state",
                "device": device_id,
                "ts": message.ts,
                "v": dict(message.values),
                "inferred": sorted(inferred),
            }
        )

    def availability(self, device_id: str, state: str, error: BaseException | None = None) -> None:
        """A device's availability changed; `error` is what made it offline."""
        reason, detail = (None, None)
        if state == "offline":
            reason, detail = failure_reason(error)
        elif state == "asleep":
            reason = "sun_down"
        current = Availability(state, self.clock(), reason, detail)
        self._availability[device_id] = current
        entry: Entry = {"ts": current.since, "type": "availability", "availability": state}
        if reason is not None:
            entry["reason"] = reason
        if detail is not None:
            entry["message"] = detail
        self._remember(device_id, entry)
        self._notify({"type": "availability", "device": device_id, **entry})

    def event(self, device_id: str, event: EventMessage) -> None:
        """A device event (contract `event.schema.json`: rejected readings, command results)."""
        entry = event.to_payload()
        self._remember(device_id, entry)
        self._notify({"type": "event", "device": device_id, "event": entry})

    def log(self, entry: Entry) -> None:
        """A log line (see `LogTap`)."""
        self._log.append(entry)
        self._notify({"type": "log", "line": entry})

    # ------------------------------------------------------------------ what the page reads

    def availability_of(self, device_id: str) -> Availability:
        """The device's availability; `unknown` since the start before its first poll."""
        return self._availability.get(device_id) or Availability("unknown", self.started)

    def values_of(self, device_id: str) -> dict[str, LiveValue]:
        """The latest published value of each point of the device."""
        return dict(self._values.get(device_id, {}))

    def events_of(self, device_id: str) -> list[Entry]:
        """The device's recent events, newest first."""
        return list(reversed(self._events.get(device_id, ())))

    def log_lines(self, device_id: str | None = None) -> list[Entry]:
        """The recent log lines, oldest first; with `device_id` only those naming that device."""
        return [line for line in self._log if device_id is None or line.get("device") == device_id]

    # ------------------------------------------------------------------ listeners

    def subscribe(self) -> Listener:
        """A new listener that gets every change from now on (call `unsubscribe` when done)."""
        listener = Listener()
        self._listeners.add(listener)
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        """Stop sending changes to `listener`."""
        self._listeners.discard(listener)

    @property
    def listeners(self) -> int:
        """How many listeners are subscribed."""
        return len(self._listeners)

    def _remember(self, device_id: str, entry: Entry) -> None:
        events = self._events.get(device_id)
        if events is None:
            events = self._events[device_id] = deque(maxlen=self._events_per_device)
        events.append(entry)

    def _notify(self, change: Entry) -> None:
        for listener in self._listeners:
            if listener.lagged:
                continue
            try:
                listener.queue.put_nowait(change)
            except asyncio.QueueFull:
                listener.lagged = True  # the stream sends a resync and starts over


class LogTap(logging.Handler):
    """A logging handler that copies records into `Activity` (thread-safe; installed while it runs)."""

    def __init__(self, activity: Activity, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.activity = activity
        self.loop = loop
        self._loop_thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        """Turn the record into a log line and hand it to the loop's thread."""
        try:
            entry = log_entry(record)
        except Exception:  # a broken record must never break logging
            self.handleError(record)
            return
        if threading.get_ident() == self._loop_thread:
            self.activity.log(entry)
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self.loop.call_soon_threadsafe(self.activity.log, entry)

    @contextlib.contextmanager
    def installed(self, logger: logging.Logger | None = None) -> Iterator[LogTap]:
        """Attach to `logger` (default: the root logger) for the duration of the block."""
        target = logger or logging.getLogger()
        target.addHandler(self)
        try:
            yield self
        finally:
            target.removeHandler(self)


def log_entry(record: logging.LogRecord) -> Entry:
    """A log record as the page shows it: time, level, logger, message, device, other fields."""
    fields = {key: _one_line(str(value)) for key, value in extra_fields(record)}
    entry: Entry = {
        "ts": record.created,
        "level": record.levelname.lower(),
        "logger": record.name,
        "message": _one_line(record.getMessage()),
        "fields": fields,
    }
    device = fields.pop("device", None)
    if device is not None:
        entry["device"] = device
    return entry
