"""Records in PostgreSQL: writing, folding, forgetting and reading them (the conversation's share
of the :class:`~agent_memory_plugins.core.storage.interface.RecordStore` contract)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from ....records import MemoryRecord
from ..interface import Activity, Filters, StoredRow
from .connection import PostgresConnection
from .rows import COLUMNS, delete_records, filters_sql, insert_records, set_summarized, to_row

PURGE_PENDING = "purge_pending"
"""Meta key set by a forget until the tables are vacuumed (resumed on open)."""
_SET_META = "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value"


class RecordQueries(PostgresConnection):
    """Records: add, fold into summaries, forget, read."""

    # -- writes ---------------------------------------------------------------------------------
    def add_records(self, rows: Sequence[tuple[MemoryRecord, int]]) -> None:
        with self.transaction() as connection:
            insert_records(connection, rows)

    def replace_summary(
        self, old_id: str | None, summary: tuple[MemoryRecord, int], covered: Sequence[str]
    ) -> bool:
        record = summary[0]
        with self.transaction() as connection:
            # one folder of a session at a time, across every instance (released at commit)
            session = f"fold {len(record.user_id)}:{record.user_id}{record.session_id}"
            connection.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (session,))
            current = connection.execute(
                "SELECT id FROM records WHERE user_id = %s AND session_id = %s AND kind = 'summary' "
                "ORDER BY seq DESC LIMIT 1", (record.user_id, record.session_id),
            ).fetchone()
            if (current[0] if current else None) != old_id:
                return False
            wanted = list(set(covered))
            unfolded = connection.execute(
                "SELECT COUNT(*) FROM records WHERE NOT summarized AND id = ANY(%s)", (wanted,)
            ).fetchone()[0]
            if unfolded != len(wanted):
                return False
            if old_id:
                delete_records(connection, [old_id])
            insert_records(connection, [summary])
            set_summarized(connection, covered, True)
            return True

    def mark_summarized(self, ids: Sequence[str]) -> None:
        with self.transaction() as connection:
            set_summarized(connection, ids, True)

    def forget(self, ids: Sequence[str], unsummarize: Sequence[str]) -> list[str]:
        with self.transaction() as connection:
            removed = delete_records(connection, ids)
            set_summarized(connection, unsummarize, False)
            if removed:  # cleared by compact(); a crash before that resumes it on the next open
                connection.execute(_SET_META, (PURGE_PENDING, "1"))
            return removed

    # -- reads by id ----------------------------------------------------------------------------
    def get(self, ids: Sequence[str], user_id: str | None) -> dict[str, StoredRow]:
        self._check_open()
        sql = f"SELECT {COLUMNS} FROM records WHERE id = ANY(%s)"
        params: list[Any] = [list(ids)]
        if user_id is not None:
            sql += " AND user_id = %s AND (expires_at IS NULL OR expires_at > %s)"
            params.extend([user_id, time.time()])
        rows = self._read(sql, params) if ids else []
        return {stored.record.id: stored for stored in map(to_row, rows)}

    def get_matching(self, ids: Sequence[str], filters: Filters) -> dict[str, StoredRow]:
        self._check_open()
        where, params = filters_sql(filters)
        rows = self._read(f"SELECT {COLUMNS} FROM records r WHERE r.id = ANY(%s) AND {where}",
                          [list(ids), *params]) if ids else []
        return {stored.record.id: stored for stored in map(to_row, rows)}

    def existing(self, ids: Sequence[str]) -> set[str]:
        self._check_open()
        if not ids:
            return set()
        return {str(row[0]) for row in self._read("SELECT id FROM records WHERE id = ANY(%s)", (list(ids),))}

    def scoring_fields(self, ids: Sequence[str], filters: Filters) -> dict[str, tuple[float, float, bool]]:
        self._check_open()
        if not ids:
            return {}
        where, params = filters_sql(filters)
        sql = (
            "SELECT r.id, r.importance, r.ts, right(rtrim(r.text, E' \\t\\n\\r'), 1) = '?' FROM records r "
            f"WHERE r.id = ANY(%s) AND {where}"
        )
        return {str(record_id): (float(importance), float(ts), bool(asks))
                for record_id, importance, ts, asks in self._read(sql, [list(ids), *params])}

    # -- reads by filter ------------------------------------------------------------------------
    def select(
        self, filters: Filters, *, newest_first: bool = False, limit: int | None = None, offset: int = 0
    ) -> list[StoredRow]:
        where, params = filters_sql(filters)
        order = "ts DESC, seq DESC" if newest_first else "ts, seq"
        sql = f"SELECT {COLUMNS} FROM records r WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s"
        params.extend([limit, offset])  # LIMIT NULL: no limit
        return [to_row(row) for row in self._read(sql, params)]

    def ids_matching(self, filters: Filters, limit: int) -> list[str]:
        where, params = filters_sql(filters)
        rows = self._read(f"SELECT r.id FROM records r WHERE {where} LIMIT %s", [*params, limit])
        return [str(row[0]) for row in rows]

    def ids_of(self, user_id: str | None, session_id: str | None) -> list[str]:
        self._check_open()
        if user_id is None:
            return []
        if session_id is None:
            rows = self._read("SELECT id FROM records WHERE user_id = %s", (user_id,))
        else:
            rows = self._read("SELECT id FROM records WHERE user_id = %s AND session_id = %s", (user_id, session_id))
        return [str(row[0]) for row in rows]

    def newest_timestamp(self, user_id: str) -> float | None:
        rows = self._read("SELECT MAX(ts) FROM records WHERE user_id = %s", (user_id,))
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    # -- sessions -------------------------------------------------------------------------------
    def session_tail(self, user_id: str, session_id: str, limit: int | None) -> list[StoredRow]:
        rows = self.select(Filters(user_id, session_id, ("message",)), newest_first=True, limit=limit)
        rows.reverse()
        return rows

    def unsummarized(self, user_id: str, session_id: str) -> list[StoredRow]:
        sql = (
            f"SELECT {COLUMNS} FROM records WHERE user_id = %s AND session_id = %s "
            "AND kind = 'message' AND NOT summarized ORDER BY ts, seq"
        )
        return [to_row(row) for row in self._read(sql, (user_id, session_id))]

    def sessions_to_fold(self, min_unsummarized: int) -> list[tuple[str, str]]:
        sql = (
            "SELECT user_id, session_id FROM records WHERE kind = 'message' AND NOT summarized "
            "AND session_id IS NOT NULL GROUP BY user_id, session_id HAVING COUNT(*) >= %s"
        )
        return [(str(u), str(s)) for u, s in self._read(sql, (min_unsummarized,))]

    def summary(self, user_id: str, session_id: str) -> StoredRow | None:
        where, params = filters_sql(Filters(user_id, session_id, ("summary",)))
        rows = self._read(f"SELECT {COLUMNS} FROM records r WHERE {where} ORDER BY seq DESC LIMIT 1", params)
        return to_row(rows[0]) if rows else None

    def summaries_covering(self, ids: Iterable[str]) -> list[StoredRow]:
        self._check_open()
        wanted = sorted(set(ids))
        if not wanted:
            return []
        rows = self._read(f"SELECT {COLUMNS} FROM records WHERE kind = 'summary' AND covers ?| %s", (wanted,))
        return [to_row(row) for row in rows]

    def sessions(self, user_id: str | None) -> list[str]:
        rows = self._read(
            "SELECT session_id FROM records WHERE user_id = %s AND session_id IS NOT NULL "
            "GROUP BY session_id ORDER BY MAX(ts) DESC",
            (user_id,),
        )
        return [str(row[0]) for row in rows]

    def session_count(self) -> int:
        sql = "SELECT COUNT(*) FROM (SELECT DISTINCT user_id, session_id FROM records WHERE session_id IS NOT NULL) s"
        return int(self._read(sql)[0][0])

    # -- counts ---------------------------------------------------------------------------------
    def users(self) -> list[str]:
        return [str(row[0]) for row in self._read("SELECT DISTINCT user_id FROM records ORDER BY user_id")]

    def count(self, user_id: str | None = None) -> int:
        if user_id is None:
            return int(self._read("SELECT COUNT(*) FROM records")[0][0])
        return int(self._read("SELECT COUNT(*) FROM records WHERE user_id = %s", (user_id,))[0][0])

    def count_by_kind(self, user_id: str | None) -> dict[str, int]:
        if user_id is None:
            rows = self._read("SELECT kind, COUNT(*) FROM records GROUP BY kind")
        else:
            rows = self._read("SELECT kind, COUNT(*) FROM records WHERE user_id = %s GROUP BY kind", (user_id,))
        return {str(kind): int(n) for kind, n in rows}

    def activity(self, user_id: str | None = None) -> list[Activity]:
        rows = self._read(
            "SELECT user_id, session_id, kind, COUNT(*), SUM(summarized::int), MIN(ts), MAX(ts) "
            "FROM records WHERE %s::text IS NULL OR user_id = %s GROUP BY user_id, session_id, kind",
            (user_id, user_id),
        )
        return [Activity(str(u), None if s is None else str(s), str(k), int(n), int(f), float(lo), float(hi))
                for u, s, k, n, f, lo, hi in rows]
