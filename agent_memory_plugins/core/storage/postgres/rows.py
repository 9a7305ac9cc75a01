"""Rows and the statements several parts of the PostgreSQL engine share: record rows in and out,
the WHERE clause of a :class:`Filters`, and deleting records."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

from ....records import MemoryRecord
from ...validation import from_epoch
from ..interface import Filters, StoredRow
from ..terms import term_counts

COLUMNS = (
    "seq, id, user_id, agent_id, session_id, kind, role, text, ts, created_at, importance, "
    "metadata, covers, summarized, tokens, expires_at, last_seen, times_seen, superseded_by, key"
)
OPERATORS = {"$eq": "=", "$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_ESCAPED = re.compile("\x01[\x01\x02]")


def store_text(text: str) -> str:
    """``text`` as PostgreSQL can hold it: a text value cannot contain NUL, so NUL is stored as
    ``\\x01\\x02`` and ``\\x01`` as ``\\x01\\x01`` (both control characters: no word changes)."""
    if "\x00" not in text and "\x01" not in text:
        return text
    return text.replace("\x01", "\x01\x01").replace("\x00", "\x01\x02")


def load_text(text: str) -> str:
    """The text :func:`store_text` stored."""
    if "\x01" not in text:
        return text
    return _ESCAPED.sub(lambda found: "\x01" if found.group(0) == "\x01\x01" else "\x00", text)


def store_json(value: Any) -> Any:
    """A JSON value with every string (keys too) passed through :func:`store_text`."""
    if isinstance(value, str):
        return store_text(value)
    if isinstance(value, dict):
        return {store_text(key): store_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [store_json(item) for item in value]
    return value


def load_json(value: Any) -> Any:
    """The JSON value :func:`store_json` stored."""
    if isinstance(value, str):
        return load_text(value)
    if isinstance(value, dict):
        return {load_text(key): load_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [load_json(item) for item in value]
    return value


def to_row(row: tuple[Any, ...]) -> StoredRow:
    """A ``SELECT {COLUMNS}`` row as a :class:`StoredRow`."""
    (seq, record_id, user_id, agent_id, session_id, kind, role, text, ts, created_at, importance,
     metadata, covers, summarized, tokens, expires_at, last_seen, times_seen, superseded_by, key) = row
    record = MemoryRecord(
        id=record_id, text=load_text(text), role=role, kind=kind, user_id=user_id, session_id=session_id,
        timestamp=from_epoch(ts), created_at=from_epoch(created_at), importance=importance,
        metadata=load_json(metadata), covers=tuple(covers), agent_id=agent_id,
        expires_at=from_epoch(expires_at) if expires_at is not None else None,
        last_seen=from_epoch(last_seen) if last_seen is not None else None,
        times_seen=int(times_seen), superseded_by=superseded_by, key=key,
    )
    return StoredRow(record, int(seq), bool(summarized), int(tokens))


def filters_sql(filters: Filters, alias: str = "r") -> tuple[str, list[Any]]:
    """The WHERE clause for ``filters`` over ``records`` as ``alias``, and its parameters."""
    clauses = [f"{alias}.user_id = %s"]
    params: list[Any] = [filters.user_id]
    if not filters.include_expired:
        clauses.append(f"({alias}.expires_at IS NULL OR {alias}.expires_at > %s)")
        params.append(time.time())
    if filters.session_id is not None:
        clauses.append(f"{alias}.session_id = %s")
        params.append(filters.session_id)
    if filters.agent_id is not None:
        clauses.append(f"{alias}.agent_id = %s")
        params.append(filters.agent_id)
    if filters.kinds:
        clauses.append(f"{alias}.kind = ANY(%s)")
        params.append(list(filters.kinds))
    if filters.where:
        sql, where_params = where_sql(filters.where, f"{alias}.metadata")
        clauses.append(sql)
        params.extend(where_params)
    return " AND ".join(clauses), params


def _json(value: Any) -> str:
    return json.dumps(store_json(value), ensure_ascii=False)


def where_sql(where: dict[str, Any], column: str = "metadata") -> tuple[str, list[Any]]:
    """A validated ``where`` metadata filter as a condition over a JSONB column, with parameters.

    Values compare as JSON values (numbers as numbers, ``1`` equal to ``1.0``); a record without
    the key matches no condition on it, ``$ne`` and ``$nin`` included (as in the SQLite engine)."""
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
        field = f"({column} -> %s)"
        key = store_text(key)
        operator, operand = next(iter(value.items())) if isinstance(value, dict) else ("$eq", value)
        if operator == "$in":
            clauses.append(f"{field} = ANY(%s::jsonb[])")
            params.extend([key, [_json(item) for item in operand]])
        elif operator == "$nin":
            clauses.append(f"NOT ({field} = ANY(%s::jsonb[]))")
            params.extend([key, [_json(item) for item in operand]])
        else:
            clauses.append(f"{field} {OPERATORS[operator]} %s::jsonb")
            params.extend([key, _json(operand)])
    return "(" + " AND ".join(clauses) + ")", params


def insert_records(connection: Any, rows: Sequence[tuple[MemoryRecord, int]]) -> None:
    """Insert records with their keyword entries and outbox upserts (in the caller's transaction)."""
    if not rows:
        return
    counted = [term_counts(record.text) for record, _ in rows]
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO records (id, user_id, agent_id, session_id, kind, role, text, ts, created_at, importance, "
            "metadata, covers, tokens, expires_at, last_seen, times_seen, superseded_by, key, length) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq",
            [
                (
                    record.id, record.user_id, record.agent_id, record.session_id, record.kind,
                    record.role, store_text(record.text), record.timestamp.timestamp(), record.created_at.timestamp(),
                    record.importance, _json(record.metadata), _json(list(record.covers)), tokens,
                    record.expires_at.timestamp() if record.expires_at else None,
                    record.last_seen.timestamp() if record.last_seen else None,
                    record.times_seen, record.superseded_by, record.key, length,
                )
                for (record, tokens), (_, length) in zip(rows, counted, strict=True)
            ],
            returning=True,
        )
        seqs = []
        while True:
            seqs.append(int(cursor.fetchone()[0]))
            if not cursor.nextset():
                break
        cursor.executemany(
            "INSERT INTO keywords (seq, term, user_id, tf) VALUES (%s, %s, %s, %s)",
            [(seq, term, record.user_id, tf)
             for seq, (record, _), (counts, _) in zip(seqs, rows, counted, strict=True)
             for term, tf in counts.items()],
        )
        cursor.executemany("INSERT INTO outbox (record_id, op) VALUES (%s, 'upsert')", [(r.id,) for r, _ in rows])


def delete_records(connection: Any, ids: Sequence[str]) -> list[str]:
    """Delete records (their keyword and context rows go with them), their links, history and
    queued upserts, and queue their vector deletion (in the caller's transaction). Returns the
    ids that were removed."""
    if not ids:
        return []
    wanted = list(ids)
    removed = [(str(row[0]), str(row[1])) for row in connection.execute(
        "DELETE FROM records WHERE id = ANY(%s) RETURNING id, user_id", (wanted,)
    ).fetchall()]
    connection.execute("DELETE FROM outbox WHERE op = 'upsert' AND record_id = ANY(%s)", (wanted,))
    connection.execute("DELETE FROM links WHERE src = ANY(%s) OR dst = ANY(%s)", (wanted, wanted))
    connection.execute("DELETE FROM history WHERE record_id = ANY(%s) OR other_id = ANY(%s)", (wanted, wanted))
    connection.execute("UPDATE records SET superseded_by = NULL WHERE superseded_by = ANY(%s)", (wanted,))
    if removed:
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO outbox (record_id, op, user_id) VALUES (%s, 'delete', %s)", removed)
    return [record_id for record_id, _ in removed]


def set_summarized(connection: Any, ids: Sequence[str], value: bool) -> None:
    """Mark messages folded (or not) in the caller's transaction."""
    if ids:
        connection.execute("UPDATE records SET summarized = %s WHERE id = ANY(%s)", (value, list(ids)))
