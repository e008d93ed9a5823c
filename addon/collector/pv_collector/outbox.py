"""A bounded, persisted queue of outgoing state messages, and the per-device sequence numbers.

Backed by one SQLite file under the data directory (`outbox.sqlite3`, WAL journal) so that readings taken
while the broker is away survive a collector restart and are delivered in order afterwards. A message is
deleted only when the publisher reports it acknowledged. When the queue is full the oldest messages are
dropped (and counted); messages older than `max_age` are dropped too. Sequence numbers are allocated in
the same transaction that stores the message, so they stay contiguous across restarts.

All methods are synchronous and fast (a few hundred microseconds); they are called from the event loop.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_NAME = "outbox.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sequences (
    device TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """One stored message. `payload` is the JSON text as first produced."""

    id: int
    device: str
    topic: str
    payload: str
    qos: int
    retain: bool
    created: float  # wall clock (time.time()) when it was queued


class Outbox:
    """The persisted queue. Not thread-safe: use it from one thread (the event loop)."""

    def __init__(self, directory: Path, *, max_messages: int, max_age: float) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        self.max_messages = max_messages
        self.max_age = max_age
        self.dropped = 0  # dropped since this process started
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._length = int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    def __len__(self) -> int:
        return self._length

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

    def last_seq(self, device: str) -> int:
        """The last sequence number given to `device` (0 if none)."""
        row = self._db.execute("SELECT seq FROM sequences WHERE device = ?", (device,)).fetchone()
        return int(row[0]) if row else 0

    def put(
        self,
        device: str,
        topic: str,
        message: dict[str, Any],
        *,
        qos: int,
        retain: bool = True,
        now: float | None = None,
    ) -> QueuedMessage:
        """Give `message` the device's next `seq`, store it, and return it. Drops the oldest when full."""
        created = time.time() if now is None else now
        with self._transaction():
            seq = self.last_seq(device) + 1
            self._db.execute(
                "INSERT INTO sequences (device, seq) VALUES (?, ?) "
                "ON CONFLICT(device) DO UPDATE SET seq = excluded.seq",
                (device, seq),
            )
            payload = json.dumps({**message, "seq": seq}, separators=(",", ":"), allow_nan=False)
            cursor = self._db.execute(
                "INSERT INTO messages (device, topic, payload, qos, retain, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (device, topic, payload, qos, int(retain), created),
            )
            self._length += 1
            if self._length > self.max_messages:
                self._drop_oldest(self._length - self.max_messages)
        row_id = cursor.lastrowid
        assert row_id is not None
        return QueuedMessage(row_id, device, topic, payload, qos, retain, created)

    def pending(self, after_id: int = 0, limit: int = 100) -> list[QueuedMessage]:
        """Up to `limit` messages with an id above `after_id`, oldest first."""
        rows = self._db.execute(
            "SELECT id, device, topic, payload, qos, retain, created FROM messages "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        ).fetchall()
        return [QueuedMessage(int(r[0]), r[1], r[2], r[3], int(r[4]), bool(r[5]), float(r[6])) for r in rows]

    def queued_devices(self) -> set[str]:
        """Devices with at least one message waiting."""
        return {row[0] for row in self._db.execute("SELECT DISTINCT device FROM messages")}

    def ack(self, message_id: int) -> None:
        """The broker has the message: forget it."""
        cursor = self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        self._length -= cursor.rowcount

    def expire(self, now: float | None = None) -> int:
        """Drop messages older than `max_age`; return how many."""
        cutoff = (time.time() if now is None else now) - self.max_age
        cursor = self._db.execute("DELETE FROM messages WHERE created < ?", (cutoff,))
        if cursor.rowcount:
            self._length -= cursor.rowcount
            self.dropped += cursor.rowcount
        return cursor.rowcount

    def _drop_oldest(self, count: int) -> None:
        cursor = self._db.execute(
            "DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT ?)", (count,)
        )
        self._length -= cursor.rowcount
        self.dropped += cursor.rowcount

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            self._length = int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
            raise
        self._db.execute("COMMIT")
