"""The record store: SQLite in WAL mode is the durable record of every memory.

Holds the records, an FTS5 keyword index kept in the same transaction as each write, the outbox
that feeds the vector index, and a little metadata (which embedding model built the store).
Everything else (Chroma) can be rebuilt from here.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
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
    text, content='', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete'))
);
"""

COLUMNS = (
    "seq, id, user_id, agent_id, session_id, kind, role, text, ts, created_at, importance, "
    "metadata, covers, summarized, tokens"
)


@dataclass(frozen=True)
class StoredRow:
    """A record as the store holds it, with the bookkeeping the core needs."""

    record: MemoryRecord
    seq: int
    summarized: bool
    tokens: int


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
    def outbox(self, limit: int, op: str | None = None) -> list[OutboxItem]: ...
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

    def sql(self, alias: str = "r") -> tuple[str, list[Any]]:
        """The WHERE clause for these filters over ``records`` as ``alias``."""
        clauses = [f"{alias}.user_id = ?"]
        params: list[Any] = [self.user_id]
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
        self._db.execute(f"PRAGMA synchronous = {'FULL' if durability == 'full' else 'NORMAL'}")
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.execute("PRAGMA foreign_keys = ON")
        with self.transaction() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    # -- plumbing ---------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``), committed on success, rolled back on error."""
        with self._lock:
            self._check_open()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only statement (for companion indexes such as the context index)."""
        return self._read(sql, params)

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
                if self.path is not None:
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
                "created_at, importance, metadata, covers, tokens) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id, record.user_id, record.agent_id, record.session_id, record.kind,
                    record.role, record.text, record.timestamp.timestamp(),
                    record.created_at.timestamp(), record.importance,
                    json.dumps(record.metadata, ensure_ascii=False, sort_keys=True),
                    json.dumps(list(record.covers)), tokens,
                ),
            )
            db.execute("INSERT INTO records_fts (rowid, text) VALUES (?, ?)", (cursor.lastrowid, record.text))
            db.execute("INSERT INTO outbox (record_id, op) VALUES (?, 'upsert')", (record.id,))

    def replace_summary(
        self, old_id: str | None, summary: tuple[MemoryRecord, int], covered: Sequence[str]
    ) -> list[str]:
        """Swap a session's summary for a new one and mark the covered messages summarized.

        Returns the ids removed (the old summary), already queued for deletion from vectors.
        """
        with self.transaction() as db:
            removed = self._delete(db, [old_id]) if old_id else []
            self._insert(db, [summary])
            self._set_summarized(db, covered, True)
            return removed

    def forget(self, ids: Sequence[str], unsummarize: Sequence[str]) -> list[str]:
        """In one transaction: delete records (with their keyword entries), queue their vector
        deletion, and let ``unsummarize`` messages be folded again. Returns the ids removed."""
        with self.transaction() as db:
            removed = self._delete(db, ids)
            self._set_summarized(db, unsummarize, False)
            return removed

    def _delete(self, db: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
        removed: list[str] = []
        for chunk in _chunks(list(ids), 500):
            marks = ", ".join("?" for _ in chunk)
            found = db.execute(f"SELECT seq, id, text FROM records WHERE id IN ({marks})", chunk).fetchall()
            for seq, record_id, text in found:
                db.execute(
                    "INSERT INTO records_fts (records_fts, rowid, text) VALUES ('delete', ?, ?)",
                    (seq, text),
                )
                removed.append(record_id)
            db.execute(f"DELETE FROM records WHERE id IN ({marks})", chunk)
            db.execute(f"DELETE FROM outbox WHERE op = 'upsert' AND record_id IN ({marks})", chunk)
        db.executemany("INSERT INTO outbox (record_id, op) VALUES (?, 'delete')", [(i,) for i in removed])
        return removed

    def mark_summarized(self, ids: Sequence[str]) -> None:
        """Mark messages as folded (their summary kept nothing of them)."""
        with self.transaction() as db:
            self._set_summarized(db, ids, True)

    def _set_summarized(self, db: sqlite3.Connection, ids: Sequence[str], value: bool) -> None:
        for chunk in _chunks(list(ids), 500):
            marks = ", ".join("?" for _ in chunk)
            db.execute(f"UPDATE records SET summarized = ? WHERE id IN ({marks})", [int(value), *chunk])

    def compact(self) -> None:
        """Merge the keyword index so deleted entries leave its pages, and checkpoint the WAL."""
        with self.transaction() as db:
            db.execute("INSERT INTO records_fts (records_fts) VALUES ('optimize')")
        with self._lock:
            if self.path is not None:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- reads --------------------------------------------------------------------------------
    def get(self, ids: Sequence[str], user_id: str | None) -> dict[str, StoredRow]:
        """Records by id, limited to ``user_id`` unless it is ``None`` (internal use only)."""
        found: dict[str, StoredRow] = {}
        for chunk in _chunks(list(ids), 500):
            sql = f"SELECT {COLUMNS} FROM records WHERE id IN ({', '.join('?' for _ in chunk)})"
            params: list[Any] = list(chunk)
            if user_id is not None:
                sql += " AND user_id = ?"
                params.append(user_id)
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
            "SELECT r.id, bm25(records_fts) AS rank FROM records_fts "
            "JOIN records r ON r.seq = records_fts.rowid "
            f"WHERE records_fts MATCH ? AND {where} ORDER BY rank LIMIT ?"
        )
        rows = self._read(sql, [match, *params, limit])
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
    def outbox(self, limit: int, op: str | None = None) -> list[OutboxItem]:
        """The oldest pending vector-index changes (of one ``op`` when given)."""
        if op is None:
            rows = self._read("SELECT seq, record_id, op FROM outbox ORDER BY seq LIMIT ?", (limit,))
        else:
            rows = self._read(
                "SELECT seq, record_id, op FROM outbox WHERE op = ? ORDER BY seq LIMIT ?", (op, limit)
            )
        return [OutboxItem(int(seq), str(record_id), str(op)) for seq, record_id, op in rows]

    def outbox_size(self) -> int:
        """How many changes wait for the vector index."""
        return int(self._read("SELECT COUNT(*) FROM outbox")[0][0])

    def ack(self, seqs: Sequence[int]) -> None:
        """Drop outbox entries that were applied."""
        with self.transaction() as db:
            for chunk in _chunks(list(seqs), 500):
                db.execute(f"DELETE FROM outbox WHERE seq IN ({', '.join('?' for _ in chunk)})", chunk)

    def enqueue_all(self) -> int:
        """Queue every record for (re)indexing; returns how many."""
        with self.transaction() as db:
            db.execute("DELETE FROM outbox WHERE op = 'upsert'")
            cursor = db.execute("INSERT INTO outbox (record_id, op) SELECT id, 'upsert' FROM records ORDER BY seq")
            return int(cursor.rowcount)


def _row(row: tuple[Any, ...]) -> StoredRow:
    (seq, record_id, user_id, agent_id, session_id, kind, role, text, ts, created_at, importance,
     metadata, covers, summarized, tokens) = row
    record = MemoryRecord(
        id=record_id, text=text, role=role, kind=kind, user_id=user_id, session_id=session_id,
        timestamp=from_epoch(ts), created_at=from_epoch(created_at), importance=importance,
        metadata=json.loads(metadata), covers=tuple(json.loads(covers)), agent_id=agent_id,
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
