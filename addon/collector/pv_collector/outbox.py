"""A bounded, persisted queue of outgoing state messages, and the per-device sequence numbers.

Backed by one SQLite file under the data directory (`outbox.sqlite3`, WAL journal) so that readings taken
while the broker is away survive a collector restart and are delivered in order afterwards. A message is
deleted only when the publisher reports it acknowledged. When the queue is full the oldest messages are
dropped (and counted); messages older than `max_age` are dropped too. Sequence numbers are allocated in
the same transaction that stores the message, so they stay contiguous across restarts.

All methods are synchronous and fast (a few hundred microseconds); they are called from the event loop.

A full or failing disk never stops the collector (issue 15): `put` raises `QueueWriteError` carrying the
message with its sequence number (taken from memory, so numbers stay contiguous), which the publisher then
sends live and counts; reads and deletions that fail are skipped and tried again later. A queue file that
cannot be created at all (a full disk at start) is replaced by one in memory until the next start
(`persistent` is False). The files stay small while the queue is empty: the write-ahead log is
checkpointed every `WAL_PAGES` pages and truncated to `WAL_LIMIT` bytes, and the space of a drained
outage is given back (incremental vacuum) once the queue is empty.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_NAME = "outbox.sqlite3"
WAL_PAGES = 32  # pages in the write-ahead log before it is checkpointed (SQLite's default: 1000, 4 MB)
WAL_LIMIT = 65536  # bytes the write-ahead log is truncated to after a checkpoint
VACUUM_PAGES = 16  # free pages worth giving back once the queue is empty

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


class QueueWriteError(Exception):
    """A message could not be stored (disk full, I/O error); `payload` is it with its `seq`, `cause` why."""

    def __init__(self, cause: sqlite3.Error, payload: str, seq: int) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.payload = payload
        self.seq = seq


class Outbox:
    """The persisted queue. Not thread-safe: use it from one thread (the event loop)."""

    def __init__(self, directory: Path, *, max_messages: int, max_age: float) -> None:
        """Raises `OSError` when the folder cannot be created (see datadir.data_dir_problem)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        self.max_messages = max_messages
        self.max_age = max_age
        self.dropped = 0  # dropped since this process started
        self.open_error: sqlite3.Error | None = None  # why the file could not be used (then in memory)
        self._seqs: dict[str, int] = {}  # last sequence number per device, also of messages not stored
        try:
            self._db = self._open(str(self.path))
        except sqlite3.Error as err:
            self.open_error = err
            self._db = self._open(":memory:")
        self._length = int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    @staticmethod
    def _open(where: str) -> sqlite3.Connection:
        db = sqlite3.connect(where, isolation_level=None)
        try:
            if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:  # 2 = INCREMENTAL
                db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect now (new file) or at VACUUM
                has_messages = (
                    db.execute("SELECT 1 FROM sqlite_master WHERE name = 'messages'").fetchone()
                    and db.execute("SELECT 1 FROM messages LIMIT 1").fetchone()
                )
                if not has_messages:
                    db.execute("VACUUM")  # an existing, empty queue file: switch it to incremental vacuum
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
            db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            db.executescript(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return db

    @property
    def persistent(self) -> bool:
        """Whether the queue is in its file (else in memory, see `open_error`)."""
        return self.open_error is None

    def __len__(self) -> int:
        return self._length

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

    def last_seq(self, device: str) -> int:
        """The last sequence number given to `device` (0 if none)."""
        try:
            row = self._db.execute("SELECT seq FROM sequences WHERE device = ?", (device,)).fetchone()
        except sqlite3.Error:
            row = None
        return max(int(row[0]) if row else 0, self._seqs.get(device, 0))

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
        """Give `message` the device's next `seq`, store it, and return it. Drops the oldest when full.

        Raises `QueueWriteError` (with the message and its `seq`) when it cannot be stored."""
        created = time.time() if now is None else now
        seq = self.last_seq(device) + 1
        self._seqs[device] = seq
        payload = json.dumps({**message, "seq": seq}, separators=(",", ":"), allow_nan=False)
        try:
            with self._transaction():
                self._db.execute(
                    "INSERT INTO sequences (device, seq) VALUES (?, ?) "
                    "ON CONFLICT(device) DO UPDATE SET seq = excluded.seq",
                    (device, seq),
                )
                cursor = self._db.execute(
                    "INSERT INTO messages (device, topic, payload, qos, retain, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (device, topic, payload, qos, int(retain), created),
                )
                self._length += 1
                if self._length > self.max_messages:
                    self._drop_oldest(self._length - self.max_messages)
        except sqlite3.Error as err:
            raise QueueWriteError(err, payload, seq) from err
        row_id = cursor.lastrowid
        assert row_id is not None
        return QueuedMessage(row_id, device, topic, payload, qos, retain, created)

    def pending(self, after_id: int = 0, limit: int = 100) -> list[QueuedMessage]:
        """Up to `limit` messages with an id above `after_id`, oldest first (none when unreadable)."""
        try:
            rows = self._db.execute(
                "SELECT id, device, topic, payload, qos, retain, created FROM messages "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        except sqlite3.Error:
            return []
        return [QueuedMessage(int(r[0]), r[1], r[2], r[3], int(r[4]), bool(r[5]), float(r[6])) for r in rows]

    def queued_devices(self) -> set[str]:
        """Devices with at least one message waiting."""
        try:
            return {row[0] for row in self._db.execute("SELECT DISTINCT device FROM messages")}
        except sqlite3.Error:
            return set()

    def ack(self, message_id: int) -> None:
        """The broker has the message: forget it (if that cannot be written now, it is sent again later:
        consumers drop a `seq` they have seen)."""
        try:
            cursor = self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        except sqlite3.Error:
            return
        self._length -= cursor.rowcount
        if self._length == 0:
            self._compact()

    def expire(self, now: float | None = None) -> int:
        """Drop messages older than `max_age`; return how many."""
        cutoff = (time.time() if now is None else now) - self.max_age
        try:
            cursor = self._db.execute("DELETE FROM messages WHERE created < ?", (cutoff,))
        except sqlite3.Error:
            return 0
        if cursor.rowcount:
            self._length -= cursor.rowcount
            self.dropped += cursor.rowcount
        return cursor.rowcount

    def _compact(self) -> None:
        """The queue is empty: give the space of a drained outage back to the file system."""
        try:
            if int(self._db.execute("PRAGMA freelist_count").fetchone()[0]) >= VACUUM_PAGES:
                self._db.execute("PRAGMA incremental_vacuum").fetchall()  # runs one page per row
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            return  # tried again the next time the queue drains

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
            self._db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                self._length = int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
            raise
