"""One SQLite connection shared by the engine's parts: transactions, reads, snapshots, closing.

WAL mode on disk (readers never wait for the writer), ``BEGIN IMMEDIATE`` for writes (a writer
waits for the lock up front instead of failing half-way with "database is locked"), a long busy
timeout, ``secure_delete`` (removed rows are zeroed). One lock serialises the threads of a process
on the connection; other processes are serialised by SQLite itself.

Checkpoints (copying the WAL into the database file) are off the write path: by default SQLite
runs one inside the commit that takes the WAL past 1,000 pages, and on a large store that commit
waits 20-40 ms for pages scattered over the file. Here the background worker checkpoints
(:meth:`SQLiteConnection.maintain`, passive, on a connection of its own, so writers go on
meanwhile); a commit checkpoints only past :data:`WAL_BACKSTOP_PAGES`, when no worker keeps up.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ....errors import StoreClosedError
from ..interface import RecordStore

Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
"""Runs a read statement: ``query(sql, params) -> rows``."""

BUSY_TIMEOUT_MS = 60_000
CHECKPOINT_BYTES = 4 * 1024 * 1024
"""WAL size from which the worker's checkpoint copies it into the database."""
WAL_BACKSTOP_PAGES = 16_384
"""WAL pages past which a commit checkpoints by itself (64 MiB of 4 KiB pages): a store that is
written without a worker (``background=False``), or faster than its worker checkpoints."""


class SQLiteConnection(RecordStore):
    """The connection and its plumbing. The engine's parts build on it, each implementing its
    share of :class:`RecordStore` (whose docstrings state each method's contract)."""

    def __init__(self, path: str | None, durability: str = "full") -> None:
        self.path = path
        target = path if path is not None else ":memory:"
        self._db = sqlite3.connect(target, timeout=60.0, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._closed = False
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()  # the checkpointer's connection (and closing it)
        self._checkpoints_closed = False
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if path is not None:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute(f"PRAGMA wal_autocheckpoint = {WAL_BACKSTOP_PAGES}")
        self._full = durability == "full"
        self._db.execute(f"PRAGMA synchronous = {'FULL' if self._full else 'NORMAL'}")
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``), committed on success, rolled back on error.

        ``durable=False`` (bookkeeping of derived data: outbox acks, summaries) skips the fsync of
        ``durability="full"``: the next durable commit syncs the WAL up to and including it, and if
        power is lost first the work is simply redone from the outbox.
        """
        with self._lock:
            self._check_open()
            relaxed = not durable and self._full
            if relaxed:
                self._db.execute("PRAGMA synchronous = NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if relaxed:
                    self._db.execute("PRAGMA synchronous = FULL")

    @contextmanager
    def snapshot(self) -> Iterator[Query]:
        """Several reads that see one state of the database (one read transaction)."""
        with self._lock:
            self._check_open()
            db = self._db

            def query(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
                return db.execute(sql, params).fetchall()

            db.execute("BEGIN")
            try:
                yield query
            finally:
                db.execute("COMMIT")

    def maintain(self) -> None:
        """A passive checkpoint once the WAL holds :data:`CHECKPOINT_BYTES`, on a connection of its
        own: writers (of this process too) go on while pages are copied, and readers are never
        waited for (what they still use is copied by a later checkpoint)."""
        self._check_open()
        if self.path is None:
            return
        try:
            if os.path.getsize(self.path + "-wal") < CHECKPOINT_BYTES:
                return
        except OSError:  # no WAL (yet, or any more)
            return
        with self._checkpoint_lock:
            self._check_open()
            if self._checkpoints_closed:
                return
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self.path, timeout=1.0, check_same_thread=False,
                                                     isolation_level=None)
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def schema_version(self) -> int:
        """The number of the last migration step applied to this store's schema."""
        with self._lock:
            self._check_open()
            return user_version(self._db)

    def location(self) -> str:
        self._check_open()
        return self.path or ":memory:"

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            self._check_open()
            return self._db.execute(sql, params).fetchall()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this MemoryCore is closed; create a new one")

    @contextmanager
    def _short_busy_wait(self, milliseconds: int = 2000) -> Iterator[sqlite3.Connection]:
        """The raw connection with a short busy timeout: maintenance that another process's long
        transaction must not stall (checkpoints, vacuum)."""
        with self._lock:
            self._check_open()
            self._db.execute(f"PRAGMA busy_timeout = {milliseconds}")
            try:
                yield self._db
            finally:
                self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def close(self) -> None:
        """Checkpoint the WAL into the database file and close (idempotent)."""
        with self._checkpoint_lock:
            self._checkpoints_closed = True
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        with self._lock:
            if self._closed:
                return
            try:
                if self.path is not None:  # best effort: another process's reader must not stall close
                    with self._short_busy_wait() as db:
                        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()
                self._closed = True


def user_version(db: sqlite3.Connection) -> int:
    """The schema version recorded in the database (``PRAGMA user_version``)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def reader(db: sqlite3.Connection) -> Query:
    """A :data:`Query` over a connection inside an open transaction."""
    return lambda sql, params: db.execute(sql, params).fetchall()


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size`` (SQLite limits the parameters of one statement)."""
    listed = list(items)
    for start in range(0, len(listed), size):
        yield listed[start:start + size]


def marks(items: Sequence[Any]) -> str:
    """``?, ?, ...``: one placeholder per item."""
    return ", ".join("?" for _ in items)
