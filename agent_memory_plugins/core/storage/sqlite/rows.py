"""Rows and the statements several parts of the engine share: record rows in and out, the WHERE
clause of a :class:`Filters`."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from ....records import MemoryRecord
from ...validation import from_epoch
from ..interface import Filters, StoredRow
from .connection import chunks, marks
from .schema import user_terms

COLUMNS = (
    "seq, id, user_id, agent_id, session_id, kind, role, text, ts, created_at, importance, "
    "metadata, covers, summarized, tokens, expires_at, last_seen, times_seen, superseded_by, key"
)
OPERATORS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
LIST_OPERATORS = {"$in": "IN", "$nin": "NOT IN"}


def to_row(row: tuple[Any, ...]) -> StoredRow:
    """A ``SELECT {COLUMNS}`` row as a :class:`StoredRow`."""
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


def filters_sql(filters: Filters, alias: str = "r", by_id: bool = False) -> tuple[str, list[Any]]:
    """The WHERE clause for ``filters`` over ``records`` as ``alias``, and its parameters.

    ``by_id``: the query also names the records' ids, so the clause keeps SQLite from choosing an
    index on the user (``+user_id``): without statistics the planner prefers it to the id list and
    reads every record of the user, 16x slower for 60 ids among 6,000 records of one user.
    """
    clauses = [f"{'+' if by_id else ''}{alias}.user_id = ?"]
    params: list[Any] = [filters.user_id]
    if not filters.include_expired:
        clauses.append(f"({alias}.expires_at IS NULL OR {alias}.expires_at > ?)")
        params.append(time.time())
    if filters.session_id is not None:
        clauses.append(f"{alias}.session_id = ?")
        params.append(filters.session_id)
    if filters.agent_id is not None:
        clauses.append(f"{alias}.agent_id = ?")
        params.append(filters.agent_id)
    if filters.kinds:
        clauses.append(f"{alias}.kind IN ({marks(filters.kinds)})")
        params.extend(filters.kinds)
    if filters.where:
        sql, where_params = where_sql(filters.where, f"{alias}.metadata")
        clauses.append(sql)
        params.extend(where_params)
    return " AND ".join(clauses), params


def where_sql(where: dict[str, Any], column: str = "metadata") -> tuple[str, list[Any]]:
    """A validated ``where`` metadata filter as a condition over a JSON column, with parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in where.items():
        if key in ("$and", "$or"):
            parts = [where_sql(part, column) for part in value]
            joiner = " AND " if key == "$and" else " OR "
            clauses.append("(" + joiner.join(sql for sql, _ in parts) + ")")
            for _, part_params in parts:
                params.extend(part_params)
            continue
        field, path = _metadata_field(key, column)
        operator, operand = next(iter(value.items())) if isinstance(value, dict) else ("$eq", value)
        if operator in LIST_OPERATORS:
            clauses.append(f"{field} {LIST_OPERATORS[operator]} ({marks(operand)})")
            params.append(path)
            params.extend(operand)
        else:
            clauses.append(f"{field} {OPERATORS[operator]} ?")
            params.extend([path, operand])
    return "(" + " AND ".join(clauses) + ")", params


def _metadata_field(key: str, column: str) -> tuple[str, str]:
    """An expression for the top-level field ``key`` of a JSON column, and its parameter.

    A JSON path names the field (fast); SQLite's paths cannot quote a key holding ``"`` or ``\\``
    and compare labels as stored, where JSON escapes control characters, so such a key is looked up
    among the object's members (``json_each``, which decodes them) instead.
    """
    if '"' in key or "\\" in key or any(ord(char) < 0x20 for char in key):
        return f"(SELECT value FROM json_each({column}) WHERE key = ?)", key
    return f"json_extract({column}, ?)", '$."' + key + '"'


def insert_records(db: sqlite3.Connection, rows: Sequence[tuple[MemoryRecord, int]]) -> None:
    """Insert records with their keyword entries and outbox upserts (in the caller's transaction)."""
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
            "INSERT INTO records_fts (rowid, text) VALUES (?, ?)",
            (cursor.lastrowid, user_terms(record.text, record.user_id)),
        )
        db.execute("INSERT INTO outbox (record_id, op) VALUES (?, 'upsert')", (record.id,))


def delete_records(db: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
    """Delete records with their keyword entries, links, history and queued upserts, and queue
    their vector deletion (in the caller's transaction; the context index's triggers clean up
    after it). Returns the ids that were removed."""
    removed: list[tuple[str, str]] = []
    for chunk in chunks(ids):
        places = marks(chunk)
        found = db.execute(f"SELECT seq, id, text, user_id FROM records WHERE id IN ({places})", chunk).fetchall()
        for seq, record_id, text, user_id in found:
            db.execute(
                "INSERT INTO records_fts (records_fts, rowid, text) VALUES ('delete', ?, ?)",
                (seq, user_terms(text, user_id)),
            )
            removed.append((record_id, user_id))
        db.execute(f"DELETE FROM records WHERE id IN ({places})", chunk)
        db.execute(f"DELETE FROM outbox WHERE op = 'upsert' AND record_id IN ({places})", chunk)
        db.execute(f"DELETE FROM links WHERE src IN ({places}) OR dst IN ({places})", chunk + chunk)
        db.execute(f"DELETE FROM history WHERE record_id IN ({places}) OR other_id IN ({places})", chunk + chunk)
        db.execute(f"UPDATE records SET superseded_by = NULL WHERE superseded_by IN ({places})", chunk)
    db.executemany("INSERT INTO outbox (record_id, op, user_id) VALUES (?, 'delete', ?)", removed)
    return [record_id for record_id, _ in removed]


def set_summarized(db: sqlite3.Connection, ids: Sequence[str], value: bool) -> None:
    """Mark messages folded (or not) in the caller's transaction."""
    for chunk in chunks(ids):
        db.execute(f"UPDATE records SET summarized = ? WHERE id IN ({marks(chunk)})", [int(value), *chunk])
