"""The record store: SQLite in WAL mode is the durable record of every memory.

Holds the records, an FTS5 keyword index kept in the same transaction as each write, the outbox
that feeds the vector index, and a little metadata (which embedding model built the store).
Everything else (Chroma) can be rebuilt from here.

The keyword index has a second column, ``scope``, holding one token per user (a hash of the user
id), so a search matches the user's scope token AND the query words: FTS5 then skips the other users'
postings instead of scoring every match in the store, which keeps keyword recall flat as the store
grows to millions of records of many users. The column has weight 0 in BM25, so scores are
unchanged; the user filter in SQL stays the authority on scope.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import StoreClosedError
from ..records import MemoryRecord
from .filters import to_sql
from .validation import from_epoch

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    agent_id TEXT,
    session_id TEXT,
    kind TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    ts REAL NOT NULL,
    created_at REAL NOT NULL,
    importance REAL NOT NULL,
    metadata TEXT NOT NULL,
    covers TEXT NOT NULL DEFAULT '[]',
    summarized INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_session ON records (user_id, session_id, kind, ts, seq);
CREATE INDEX IF NOT EXISTS records_by_kind ON records (user_id, kind, ts);
CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5 (
    text, scope, content='', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS links (
    user_id TEXT NOT NULL,
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    relation TEXT NOT NULL,
    strength REAL NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (src, dst, relation)
);
CREATE INDEX IF NOT EXISTS links_by_dst ON links (dst);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    other_id TEXT
);
CREATE INDEX IF NOT EXISTS history_by_record ON history (record_id);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete'))
);
"""

ADDED_COLUMNS = (
    ("expires_at", "REAL"),
    ("last_seen", "REAL"),
    ("times_seen", "INTEGER NOT NULL DEFAULT 1"),
    ("superseded_by", "TEXT"),
    ("key", "TEXT"),
)
"""Columns added after the first release; older stores gain them when opened."""

log = logging.getLogger("agent_memory_plugins")
PURGE_PENDING = "purge_pending"
"""Meta key set by a forget until its keyword index and WAL are compacted (resumed on open)."""
RESET_PENDING = "reset_vectors"
"""Meta key set by a reindex until the vector index has been emptied (resumed on open)."""
VECTOR_SCHEME = "vector_scheme"
"""Meta key naming how records are laid out in the vector index (a change triggers a reindex)."""

COLUMNS = (
    "seq, id, user_id, agent_id, session_id, kind, role, text, ts, created_at, importance, "
    "metadata, covers, summarized, tokens, expires_at, last_seen, times_seen, superseded_by, key"
)


@dataclass(frozen=True)
class StoredRow:
    """A record as the store holds it, with the bookkeeping the core needs."""

    record: MemoryRecord
    seq: int
    summarized: bool
    tokens: int


@dataclass(frozen=True)
class Activity:
    """How many records of one kind a (user, session) holds, how many are folded, and when."""

    user_id: str
    session_id: str | None
    kind: str
    count: int
    summarized: int
    first_ts: float
    last_ts: float


@dataclass(frozen=True)
class OutboxItem:
    """One pending change for the vector index."""

    seq: int
    record_id: str
    op: str


class RecordStore(Protocol):
    """What the core needs from a record store (SQLite now; a server database later)."""

    def insert(self, rows: Sequence[tuple[MemoryRecord, int]]) -> None: ...
    def get(self, ids: Sequence[str], user_id: str | None) -> dict[str, StoredRow]: ...
    def session_tail(self, user_id: str, session_id: str, limit: int | None) -> list[StoredRow]: ...
    def unsummarized(self, user_id: str, session_id: str) -> list[StoredRow]: ...
    def keyword_search(self, match: str, filters: Filters, limit: int) -> list[tuple[str, float]]: ...
    def outbox(self, limit: int, op: str | None = None, upto: int | None = None) -> list[OutboxItem]: ...
    def ack(self, seqs: Sequence[int]) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Filters:
    """Scope and filters of a read. ``user_id`` is never optional."""

    user_id: str
    session_id: str | None = None
    kinds: tuple[str, ...] | None = None
    agent_id: str | None = None
    where: dict[str, Any] | None = None
    include_expired: bool = False

    def sql(self, alias: str = "r") -> tuple[str, list[Any]]:
        """The WHERE clause for these filters over ``records`` as ``alias``."""
        clauses = [f"{alias}.user_id = ?"]
        params: list[Any] = [self.user_id]
        if not self.include_expired:
            clauses.append(f"({alias}.expires_at IS NULL OR {alias}.expires_at > ?)")
            params.append(time.time())
        if self.session_id is not None:
            clauses.append(f"{alias}.session_id = ?")
            params.append(self.session_id)
        if self.agent_id is not None:
            clauses.append(f"{alias}.agent_id = ?")
            params.append(self.agent_id)
        if self.kinds:
            clauses.append(f"{alias}.kind IN ({', '.join('?' for _ in self.kinds)})")
            params.extend(self.kinds)
        if self.where:
            sql, where_params = to_sql(self.where, f"{alias}.metadata")
            clauses.append(sql)
            params.extend(where_params)
        return " AND ".join(clauses), params


class SQLiteRecordStore:
    """SQLite (WAL) record store, safe to share between threads and processes."""

    def __init__(self, path: str | None, durability: str = "full") -> None:
        self.path = path
        target = path if path is not None else ":memory:"
        self._db = sqlite3.connect(target, timeout=60.0, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._closed = False
        self._db.execute("PRAGMA busy_timeout = 60000")
        if path is not None:
            self._db.execute("PRAGMA journal_mode = WAL")
        self._full = durability == "full"
        self._db.execute(f"PRAGMA synchronous = {'FULL' if self._full else 'NORMAL'}")
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.create_function("amp_scope", 1, scope_token, deterministic=True)
        with self.transaction() as db:
            _upgrade_keyword_index(db)
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            present = {row[1] for row in db.execute("PRAGMA table_info(records)")}
            for name, declaration in ADDED_COLUMNS:
                if name not in present:
                    db.execute(f"ALTER TABLE records ADD COLUMN {name} {declaration}")
            db.execute("CREATE INDEX IF NOT EXISTS records_by_key ON records (user_id, kind, key)")
            # the worker's expiry sweep reads this every expiry_interval: no scan of every record
            db.execute(
                "CREATE INDEX IF NOT EXISTS records_by_expiry ON records (expires_at) WHERE expires_at IS NOT NULL"
            )

    # -- plumbing ---------------------------------------------------------------------------
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

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only statement (for companion indexes such as the context index)."""
        return self._read(sql, params)

    @contextmanager
    def snapshot(self) -> Iterator[Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]]:
        """Several reads that see one state of the database (one read transaction): yields
        ``query(sql, params) -> rows``."""
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

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            self._check_open()
            return self._db.execute(sql, params).fetchall()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this MemoryCore is closed; create a new one")

    def close(self) -> None:
        """Checkpoint the WAL into the database file and close."""
        with self._lock:
            if self._closed:
                return
            try:
                if self.path is not None:  # best effort: another process's reader must not stall close
                    self._db.execute("PRAGMA busy_timeout = 2000")
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()
                self._closed = True

    # -- meta ---------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        """A stored setting of the store itself."""
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting of the store itself."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- writes -------------------------------------------------------------------------------
    def insert(self, rows: Sequence[tuple[MemoryRecord, int]]) -> None:
        """Commit records (with their token counts), their keyword index and outbox entries."""
        with self.transaction() as db:
            self._insert(db, rows)

    def _insert(self, db: sqlite3.Connection, rows: Sequence[tuple[MemoryRecord, int]]) -> None:
        for record, tokens in rows:
            cursor = db.execute(
                "INSERT INTO records (id, user_id, agent_id, session_id, kind, role, text, ts, "
                "created_at, importance, metadata, covers, tokens, expires_at, last_seen, times_seen, "
                "superseded_by, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id, record.user_id, record.agent_id, record.session_id, record.kind,
                    record.role, record.text, record.timestamp.timestamp(),
                    record.created_at.timestamp(), record.importance,
                    json.dumps(record.metadata, ensure_ascii=False, sort_keys=True),
                    json.dumps(list(record.covers)), tokens,
                    record.expires_at.timestamp() if record.expires_at else None,
                    record.last_seen.timestamp() if record.last_seen else None,
                    record.times_seen, record.superseded_by, record.key,
                ),
            )
            db.execute(
                "INSERT INTO records_fts (rowid, text, scope) VALUES (?, ?, ?)",
                (cursor.lastrowid, record.text, scope_token(record.user_id)),
            )
            db.execute("INSERT INTO outbox (record_id, op) VALUES (?, 'upsert')", (record.id,))

    def replace_summary(
        self, old_id: str | None, summary: tuple[MemoryRecord, int], covered: Sequence[str]
    ) -> bool:
        """Swap a session's summary for a new one and mark the covered messages summarized.

        Checked inside the transaction: when another process (or a forget) changed the session's
        summary or folded or removed one of ``covered`` since the caller read them, nothing is
        written and ``False`` comes back (fold again from fresh data). This keeps one summary per
        session when several processes share a store.
        """
        record = summary[0]
        with self.transaction(durable=False) as db:
            current = db.execute(
                "SELECT id FROM records WHERE user_id = ? AND session_id = ? AND kind = 'summary' "
                "ORDER BY seq DESC LIMIT 1", (record.user_id, record.session_id),
            ).fetchone()
            if (current[0] if current else None) != old_id:
                return False
            unfolded = 0
            for chunk in _chunks(list(covered), 500):
                unfolded += db.execute(
                    f"SELECT COUNT(*) FROM records WHERE summarized = 0 AND id IN ({', '.join('?' for _ in chunk)})",
                    chunk,
                ).fetchone()[0]
            if unfolded != len(set(covered)):
                return False
            if old_id:
                self._delete(db, [old_id])
            self._insert(db, [summary])
            self._set_summarized(db, covered, True)
            return True

    def forget(self, ids: Sequence[str], unsummarize: Sequence[str]) -> list[str]:
        """In one transaction: delete records (with their keyword entries), queue their vector
        deletion, and let ``unsummarize`` messages be folded again. Returns the ids removed."""
        with self.transaction() as db:
            removed = self._delete(db, ids)
            self._set_summarized(db, unsummarize, False)
            if removed:  # cleared by compact(); a crash before that resumes it on the next open
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')", (PURGE_PENDING,))
            return removed

    def _delete(self, db: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
        removed: list[str] = []
        for chunk in _chunks(list(ids), 500):
            marks = ", ".join("?" for _ in chunk)
            found = db.execute(f"SELECT seq, id, text, user_id FROM records WHERE id IN ({marks})", chunk).fetchall()
            for seq, record_id, text, user_id in found:
                db.execute(
                    "INSERT INTO records_fts (records_fts, rowid, text, scope) VALUES ('delete', ?, ?, ?)",
                    (seq, text, scope_token(user_id)),
                )
                removed.append(record_id)
            db.execute(f"DELETE FROM records WHERE id IN ({marks})", chunk)
            db.execute(f"DELETE FROM outbox WHERE op = 'upsert' AND record_id IN ({marks})", chunk)
            db.execute(f"DELETE FROM links WHERE src IN ({marks}) OR dst IN ({marks})", chunk + chunk)
            db.execute(f"DELETE FROM history WHERE record_id IN ({marks}) OR other_id IN ({marks})", chunk + chunk)
            db.execute(f"UPDATE records SET superseded_by = NULL WHERE superseded_by IN ({marks})", chunk)
        db.executemany("INSERT INTO outbox (record_id, op) VALUES (?, 'delete')", [(i,) for i in removed])
        return removed

    def refresh(self, record_id: str, at: float, text: str, importance: float) -> None:
        """A memory was stated again: count it, note when, keep the wording in its history."""
        with self.transaction() as db:
            db.execute(
                "UPDATE records SET times_seen = times_seen + 1, last_seen = ?, "
                "importance = MAX(importance, ?) WHERE id = ?",
                (at, importance, record_id),
            )
            db.execute(
                "INSERT INTO history (record_id, user_id, at, event, text) "
                "SELECT id, user_id, ?, 'seen', ? FROM records WHERE id = ?",
                (at, text, record_id),
            )

    def supersede(self, new: tuple[MemoryRecord, int], old_ids: Sequence[str]) -> None:
        """Store ``new`` and mark ``old_ids`` as superseded by it, in one transaction."""
        record = new[0]
        with self.transaction() as db:
            self._insert(db, [new])
            self._mark_superseded(db, record.id, record.user_id, old_ids, record.created_at.timestamp())

    def mark_superseded(self, new_id: str, user_id: str, old_ids: Sequence[str], at: float) -> None:
        """Mark stored records of ``user_id`` as superseded by the stored record ``new_id``."""
        with self.transaction() as db:
            self._mark_superseded(db, new_id, user_id, old_ids, at)

    def _mark_superseded(
        self, db: sqlite3.Connection, new_id: str, user_id: str, old_ids: Sequence[str], at: float
    ) -> None:
        for old_id in old_ids:
            if old_id == new_id:
                continue
            db.execute(
                "UPDATE records SET superseded_by = ? WHERE id = ? AND user_id = ?", (new_id, old_id, user_id)
            )
            db.executemany(
                "INSERT INTO history (record_id, user_id, at, event, other_id) VALUES (?, ?, ?, ?, ?)",
                [(old_id, user_id, at, "superseded_by", new_id), (new_id, user_id, at, "supersedes", old_id)],
            )

    def history(self, record_id: str) -> list[tuple[float, str, str, str | None]]:
        """(when, event, text, other record id) for a record, oldest first."""
        rows = self._read(
            "SELECT at, event, text, other_id FROM history WHERE record_id = ? ORDER BY at, seq", (record_id,)
        )
        return [(float(at), str(event), str(text), other) for at, event, text, other in rows]

    def active_by_key(self, user_id: str, kind: str, key: str) -> list[StoredRow]:
        """Records of a user and kind with this key that nothing superseded, newest first."""
        sql = (
            f"SELECT {COLUMNS} FROM records WHERE user_id = ? AND kind = ? AND key = ? "
            "AND superseded_by IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY ts DESC, seq DESC"
        )
        return [_row(row) for row in self._read(sql, (user_id, kind, key, time.time()))]

    def update_metadata(self, record_id: str, metadata: dict[str, Any]) -> None:
        """Replace a record's metadata and queue its vector entry for a refresh."""
        with self.transaction() as db:
            db.execute(
                "UPDATE records SET metadata = ? WHERE id = ?",
                (json.dumps(metadata, ensure_ascii=False, sort_keys=True), record_id),
            )
            db.execute("INSERT INTO outbox (record_id, op) VALUES (?, 'upsert')", (record_id,))

    def add_link(self, user_id: str, src: str, dst: str, relation: str, strength: float, at: float) -> None:
        """Link two records (replacing the strength of an existing link of that relation)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO links (user_id, src, dst, relation, strength, created_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (src, dst, relation) DO UPDATE SET strength = excluded.strength",
                (user_id, src, dst, relation, strength, at),
            )

    def links(
        self, record_ids: Sequence[str], user_id: str, relation: str | None = None, min_strength: float = 0.0
    ) -> list[tuple[str, str, str, float]]:
        """Links touching ``record_ids`` as (from id, to id, relation, strength), strongest first."""
        found: list[tuple[str, str, str, float]] = []
        for chunk in _chunks(list(record_ids), 400):
            marks = ", ".join("?" for _ in chunk)
            sql = (
                f"SELECT src, dst, relation, strength FROM links WHERE user_id = ? AND strength >= ? "
                f"AND (src IN ({marks}) OR dst IN ({marks}))"
            )
            params: list[Any] = [user_id, min_strength, *chunk, *chunk]
            if relation is not None:
                sql += " AND relation = ?"
                params.append(relation)
            found.extend((str(a), str(b), str(r), float(w)) for a, b, r, w in self._read(sql, params))
        found.sort(key=lambda link: -link[3])
        return found

    def expired_ids(self, now: float, user_id: str | None = None) -> list[str]:
        """Ids of every record (of one user, or all) whose time-to-live has run out."""
        sql = "SELECT id FROM records WHERE expires_at IS NOT NULL AND expires_at <= ?"
        params: list[Any] = [now]
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        return [str(row[0]) for row in self._read(sql + " ORDER BY seq", params)]

    def cleanup_ids(
        self, user_id: str | None, before: float | None, below_importance: float | None, kinds: Sequence[str]
    ) -> list[str]:
        """Ids of records of ``kinds`` (of one user or all) older than ``before`` and less important
        than ``below_importance`` (each criterion only when given)."""
        clauses = [f"kind IN ({', '.join('?' for _ in kinds)})"]
        params: list[Any] = list(kinds)
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if before is not None:
            clauses.append("ts < ?")
            params.append(before)
        if below_importance is not None:
            clauses.append("importance < ?")
            params.append(below_importance)
        rows = self._read(f"SELECT id FROM records WHERE {' AND '.join(clauses)} ORDER BY seq", params)
        return [str(row[0]) for row in rows]

    def mark_summarized(self, ids: Sequence[str]) -> None:
        """Mark messages as folded (their summary kept nothing of them)."""
        with self.transaction(durable=False) as db:
            self._set_summarized(db, ids, True)

    def _set_summarized(self, db: sqlite3.Connection, ids: Sequence[str], value: bool) -> None:
        for chunk in _chunks(list(ids), 500):
            marks = ", ".join("?" for _ in chunk)
            db.execute(f"UPDATE records SET summarized = ? WHERE id IN ({marks})", [int(value), *chunk])

    def compact(self, vacuum: bool = False) -> None:
        """Make deleted records leave the files: merge the keyword index, optionally rebuild the
        whole database, and checkpoint the WAL. Clears the purge mark that :meth:`forget` sets.

        ``secure_delete`` zeroes deleted rows and freed pages, but B-tree rebalancing can leave
        fragments of deleted rows in the unused space of live pages; ``vacuum=True`` rewrites every
        page so none remain (the core does it when forgetting a user or a session). When another
        process keeps the database busy, the rest is left to the next open instead of waiting.
        """
        with self.transaction() as db:
            db.execute("INSERT INTO records_fts (records_fts) VALUES ('optimize')")
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'context_fts'").fetchone():
                db.execute("INSERT INTO context_fts (context_fts) VALUES ('optimize')")  # the neighbour index
        with self._lock:
            self._check_open()
            if self.path is not None:
                try:  # wait briefly: another process's long transaction must not stall a forget
                    self._db.execute("PRAGMA busy_timeout = 2000")
                    if vacuum:
                        self._db.execute("VACUUM")
                    busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                except sqlite3.OperationalError as error:  # busy: another process is using it
                    busy, reason = 1, str(error)
                else:
                    reason = "another process is reading"
                finally:
                    self._db.execute("PRAGMA busy_timeout = 60000")
                if busy:  # keep the purge mark: the next open finishes the job
                    log.warning("agent-memory: compacting after forget postponed to the next open: %s", reason)
                    return
        with self.transaction() as db:
            db.execute("DELETE FROM meta WHERE key = ?", (PURGE_PENDING,))

    # -- reads --------------------------------------------------------------------------------
    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored (any user; internal use only)."""
        found: set[str] = set()
        for chunk in _chunks(list(ids), 500):
            sql = f"SELECT id FROM records WHERE id IN ({', '.join('?' for _ in chunk)})"
            found.update(str(record_id) for (record_id,) in self._read(sql, chunk))
        return found

    def get(self, ids: Sequence[str], user_id: str | None) -> dict[str, StoredRow]:
        """Records by id, limited to ``user_id`` unless it is ``None`` (internal use only)."""
        found: dict[str, StoredRow] = {}
        for chunk in _chunks(list(ids), 500):
            sql = f"SELECT {COLUMNS} FROM records WHERE id IN ({', '.join('?' for _ in chunk)})"
            params: list[Any] = list(chunk)
            if user_id is not None:
                sql += " AND user_id = ? AND (expires_at IS NULL OR expires_at > ?)"
                params.extend([user_id, time.time()])
            for row in self._read(sql, params):
                stored = _row(row)
                found[stored.record.id] = stored
        return found

    def get_filtered(self, ids: Sequence[str], filters: Filters) -> dict[str, StoredRow]:
        """Records by id that also match ``filters`` (scope, kinds, metadata)."""
        where, params = filters.sql()
        found: dict[str, StoredRow] = {}
        for chunk in _chunks(list(ids), 500):
            sql = (
                f"SELECT {COLUMNS} FROM records r WHERE r.id IN ({', '.join('?' for _ in chunk)}) "
                f"AND {where}"
            )
            for row in self._read(sql, [*chunk, *params]):
                stored = _row(row)
                found[stored.record.id] = stored
        return found

    def scoring_fields(self, ids: Sequence[str], filters: Filters) -> dict[str, tuple[float, float, bool]]:
        """``(importance, timestamp, asks)`` of the records among ``ids`` that match ``filters``
        (``asks``: the text ends with a question mark): what ranking needs, without whole records."""
        where, params = filters.sql()
        found: dict[str, tuple[float, float, bool]] = {}
        for chunk in _chunks(list(ids), 500):
            sql = (
                f"SELECT r.id, r.importance, r.ts, rtrim(r.text, ' ' || char(9, 10, 13)) LIKE '%?' FROM records r "
                f"WHERE r.id IN ({', '.join('?' for _ in chunk)}) AND {where}"
            )
            for record_id, importance, ts, asks in self._read(sql, [*chunk, *params]):
                found[str(record_id)] = (float(importance), float(ts), bool(asks))
        return found

    def select(self, filters: Filters, order: str = "ts, seq", limit: int | None = None) -> list[StoredRow]:
        """Records matching ``filters`` in ``order``."""
        where, params = filters.sql()
        sql = f"SELECT {COLUMNS} FROM records r WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_row(row) for row in self._read(sql, params)]

    def session_tail(self, user_id: str, session_id: str, limit: int | None) -> list[StoredRow]:
        """The newest ``limit`` messages of a session, oldest first."""
        rows = self.select(
            Filters(user_id, session_id, ("message",)), order="ts DESC, seq DESC", limit=limit
        )
        rows.reverse()
        return rows

    def unsummarized(self, user_id: str, session_id: str) -> list[StoredRow]:
        """Messages of a session not yet folded into its summary, oldest first."""
        sql = (
            f"SELECT {COLUMNS} FROM records WHERE user_id = ? AND session_id = ? "
            "AND kind = 'message' AND summarized = 0 ORDER BY ts, seq"
        )
        return [_row(row) for row in self._read(sql, (user_id, session_id))]

    def sessions_to_fold(self, min_unsummarized: int) -> list[tuple[str, str]]:
        """(user, session) pairs with at least ``min_unsummarized`` messages not yet folded."""
        sql = (
            "SELECT user_id, session_id FROM records WHERE kind = 'message' AND summarized = 0 "
            "AND session_id IS NOT NULL GROUP BY user_id, session_id HAVING COUNT(*) >= ?"
        )
        return [(str(u), str(s)) for u, s in self._read(sql, (min_unsummarized,))]

    def summary(self, user_id: str, session_id: str) -> StoredRow | None:
        """The session's running summary record, if any."""
        rows = self.select(Filters(user_id, session_id, ("summary",)), order="seq DESC", limit=1)
        return rows[0] if rows else None

    def summaries_covering(self, ids: Iterable[str]) -> list[StoredRow]:
        """Summaries whose ``covers`` names any of ``ids``."""
        wanted = set(ids)
        if not wanted:
            return []
        rows = self._read(f"SELECT {COLUMNS} FROM records WHERE kind = 'summary'")
        return [s for s in map(_row, rows) if wanted.intersection(s.record.covers)]

    def keyword_search(self, match: str, filters: Filters, limit: int) -> list[tuple[str, float]]:
        """Ids ranked by BM25 for an FTS5 ``match`` expression, best first, within ``filters``."""
        where, params = filters.sql()
        sql = (
            "SELECT r.id, bm25(records_fts, 1.0, 0.0) AS rank FROM records_fts "
            "JOIN records r ON r.seq = records_fts.rowid "
            f"WHERE records_fts MATCH ? AND {where} ORDER BY rank LIMIT ?"
        )
        scoped = f'scope : "{scope_token(filters.user_id)}" AND text : ({match})'
        rows = self._read(sql, [scoped, *params, limit])
        return [(str(record_id), -float(rank)) for record_id, rank in rows]

    def sessions(self, user_id: str | None) -> list[str]:
        """Session ids of a user, most recently active first."""
        rows = self._read(
            "SELECT session_id FROM records WHERE user_id = ? AND session_id IS NOT NULL "
            "GROUP BY session_id ORDER BY MAX(ts) DESC",
            (user_id,),
        )
        return [str(row[0]) for row in rows]

    def session_count(self) -> int:
        """Distinct (user, session) pairs."""
        sql = (
            "SELECT COUNT(*) FROM (SELECT DISTINCT user_id, session_id FROM records "
            "WHERE session_id IS NOT NULL)"
        )
        return int(self._read(sql)[0][0])

    def users(self) -> list[str]:
        """Every user id with records."""
        return [str(row[0]) for row in self._read("SELECT DISTINCT user_id FROM records ORDER BY user_id")]

    def count_by_kind(self, user_id: str | None) -> dict[str, int]:
        """Record counts per kind (of one user, or all)."""
        if user_id is None:
            rows = self._read("SELECT kind, COUNT(*) FROM records GROUP BY kind")
        else:
            rows = self._read("SELECT kind, COUNT(*) FROM records WHERE user_id = ? GROUP BY kind", (user_id,))
        return {str(kind): int(n) for kind, n in rows}

    def count(self, user_id: str | None = None) -> int:
        """How many records (of one user, or all)."""
        if user_id is None:
            return int(self._read("SELECT COUNT(*) FROM records")[0][0])
        return int(self._read("SELECT COUNT(*) FROM records WHERE user_id = ?", (user_id,))[0][0])

    def ids_matching(self, filters: Filters, limit: int) -> list[str]:
        """Ids of records matching ``filters``, at most ``limit`` of them."""
        where, params = filters.sql()
        rows = self._read(f"SELECT r.id FROM records r WHERE {where} LIMIT ?", [*params, limit])
        return [str(row[0]) for row in rows]

    def activity(self) -> list[Activity]:
        """Counts and time span of every (user, session, kind), for the inspector (not scoped)."""
        rows = self._read(
            "SELECT user_id, session_id, kind, COUNT(*), SUM(summarized), MIN(ts), MAX(ts) "
            "FROM records GROUP BY user_id, session_id, kind"
        )
        return [Activity(str(u), None if s is None else str(s), str(k), int(n), int(f), float(lo), float(hi))
                for u, s, k, n, f, lo, hi in rows]

    def ids_of(self, user_id: str | None, session_id: str | None) -> list[str]:
        """Ids of every record of a user, or of one session of a user."""
        if user_id is None:
            return []
        if session_id is None:
            rows = self._read("SELECT id FROM records WHERE user_id = ?", (user_id,))
        else:
            rows = self._read(
                "SELECT id FROM records WHERE user_id = ? AND session_id = ?", (user_id, session_id)
            )
        return [str(row[0]) for row in rows]

    def all_ids(self, after_seq: int, limit: int) -> list[tuple[int, str]]:
        """(seq, id) pages over every record, for reindexing."""
        rows = self._read("SELECT seq, id FROM records WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit))
        return [(int(seq), str(record_id)) for seq, record_id in rows]

    # -- outbox -------------------------------------------------------------------------------
    def outbox(self, limit: int, op: str | None = None, upto: int | None = None) -> list[OutboxItem]:
        """The oldest pending vector-index changes (of one ``op``, up to position ``upto``)."""
        sql = "SELECT seq, record_id, op FROM outbox WHERE (? IS NULL OR op = ?) AND (? IS NULL OR seq <= ?)"
        rows = self._read(sql + " ORDER BY seq LIMIT ?", (op, op, upto, upto, limit))
        return [OutboxItem(int(seq), str(record_id), str(op)) for seq, record_id, op in rows]

    def outbox_last(self) -> int:
        """The position of the newest pending change (0 when none)."""
        return int(self._read("SELECT COALESCE(MAX(seq), 0) FROM outbox")[0][0])

    def outbox_size(self) -> int:
        """How many changes wait for the vector index."""
        return int(self._read("SELECT COUNT(*) FROM outbox")[0][0])

    def ack(self, seqs: Sequence[int]) -> None:
        """Drop outbox entries that were applied."""
        with self.transaction(durable=False) as db:
            for chunk in _chunks(list(seqs), 500):
                db.execute(f"DELETE FROM outbox WHERE seq IN ({', '.join('?' for _ in chunk)})", chunk)

    def begin_reindex(self, embedder: str, scheme: str) -> int:
        """In one transaction: queue every record for indexing, record the new embedder and
        vector scheme, and mark the vector index for a reset (see :meth:`vectors_reset`).

        A crash anywhere in a reindex leaves the mark, so the next open resets the vector index
        and the queued records rebuild it. Returns how many records were queued.
        """
        with self.transaction() as db:
            db.execute("DELETE FROM outbox WHERE op = 'upsert'")
            cursor = db.execute("INSERT INTO outbox (record_id, op) SELECT id, 'upsert' FROM records ORDER BY seq")
            db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("embedder", embedder), ("dimension", ""), (VECTOR_SCHEME, scheme), (RESET_PENDING, "1")],
            )
            return int(cursor.rowcount)

    def vectors_reset(self) -> None:
        """The vector index was emptied: clear the reset mark of :meth:`begin_reindex`."""
        with self.transaction() as db:
            db.execute("DELETE FROM meta WHERE key = ?", (RESET_PENDING,))

    def secret(self, key: str) -> str:
        """A random per-store secret kept under ``key`` in meta, created on first use."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, secrets.token_hex(32)))
            return str(db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])


def scope_token(user_id: str) -> str:
    """The keyword index's token for a user: one alphanumeric word whatever the id holds."""
    return "u" + hashlib.blake2b(user_id.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


def _upgrade_keyword_index(db: sqlite3.Connection) -> None:
    """Rebuild a keyword index made before the ``scope`` column (in the open transaction)."""
    found = db.execute("SELECT sql FROM sqlite_master WHERE name = 'records_fts'").fetchone()
    if found is None or "scope" in str(found[0]):
        return
    db.execute("DROP TABLE records_fts")
    db.execute(SCHEMA[SCHEMA.index("CREATE VIRTUAL TABLE"):].split(";")[0])
    db.execute("INSERT INTO records_fts (rowid, text, scope) SELECT seq, text, amp_scope(user_id) FROM records")


def _row(row: tuple[Any, ...]) -> StoredRow:
    (seq, record_id, user_id, agent_id, session_id, kind, role, text, ts, created_at, importance,
     metadata, covers, summarized, tokens, expires_at, last_seen, times_seen, superseded_by, key) = row
    record = MemoryRecord(
        id=record_id, text=text, role=role, kind=kind, user_id=user_id, session_id=session_id,
        timestamp=from_epoch(ts), created_at=from_epoch(created_at), importance=importance,
        metadata=json.loads(metadata), covers=tuple(json.loads(covers)), agent_id=agent_id,
        expires_at=from_epoch(expires_at) if expires_at is not None else None,
        last_seen=from_epoch(last_seen) if last_seen is not None else None,
        times_seen=int(times_seen), superseded_by=superseded_by, key=key,
    )
    return StoredRow(record, int(seq), bool(summarized), int(tokens))


def _chunks(items: list[str] | list[int], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


_WORD = re.compile(r"\w+", re.UNICODE)
STOP_WORDS = frozenset(
    "a an and are as at be but by did do does for from had has have how i if in into is it its "
    "me my of on or our she he her his so than that the their them then there these they this "
    "to was we were what when where which who whom why will with you your yours".split()
)


def match_expression(query: str) -> str | None:
    """An FTS5 expression that ORs the query's words (quoted, so nothing is an operator).

    Stop words are dropped unless nothing else is left. ``None`` when the query has no words.
    """
    words = [w.lower() for w in _WORD.findall(query)]
    kept = [w for w in words if w not in STOP_WORDS] or words
    unique = list(dict.fromkeys(kept))
    if not unique:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in unique)
