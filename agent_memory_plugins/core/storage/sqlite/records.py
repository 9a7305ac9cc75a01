"""Records in SQLite: writing, folding, forgetting and reading them (the conversation's share of
the :class:`~agent_memory_plugins.core.storage.interface.RecordStore` contract)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from ....records import MemoryRecord
from ..interface import Activity, Filters, StoredRow
from .connection import SQLiteConnection, chunks, marks
from .rows import COLUMNS, delete_records, filters_sql, insert_records, set_summarized, to_row

PURGE_PENDING = "purge_pending"
"""Meta key set by a forget until its keyword index and WAL are compacted (resumed on open)."""


class RecordQueries(SQLiteConnection):
    """Records: add, fold into summaries, forget, read."""

    # -- writes ---------------------------------------------------------------------------------
    def add_records(self, rows: Sequence[tuple[MemoryRecord, int]]) -> None:
        with self.transaction() as db:
            insert_records(db, rows)

    def replace_summary(
        self, old_id: str | None, summary: tuple[MemoryRecord, int], covered: Sequence[str]
    ) -> bool:
        record = summary[0]
        with self.transaction(durable=False) as db:
            current = db.execute(
                "SELECT id FROM records WHERE user_id = ? AND session_id = ? AND kind = 'summary' "
                "ORDER BY seq DESC LIMIT 1", (record.user_id, record.session_id),
            ).fetchone()
            if (current[0] if current else None) != old_id:
                return False
            unfolded = 0
            for chunk in chunks(covered):
                unfolded += db.execute(
                    f"SELECT COUNT(*) FROM records WHERE summarized = 0 AND id IN ({marks(chunk)})", chunk
                ).fetchone()[0]
            if unfolded != len(set(covered)):
                return False
            if old_id:
                delete_records(db, [old_id])
            insert_records(db, [summary])
            set_summarized(db, covered, True)
            return True

    def mark_summarized(self, ids: Sequence[str]) -> None:
        with self.transaction(durable=False) as db:
            set_summarized(db, ids, True)

    def forget(self, ids: Sequence[str], unsummarize: Sequence[str]) -> list[str]:
        with self.transaction() as db:
            removed = delete_records(db, ids)
            set_summarized(db, unsummarize, False)
            if removed:  # cleared by compact(); a crash before that resumes it on the next open
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')", (PURGE_PENDING,))
            return removed

    # -- reads by id ----------------------------------------------------------------------------
    def get(self, ids: Sequence[str], user_id: str | None) -> dict[str, StoredRow]:
        self._check_open()  # also when there is nothing to read
        found: dict[str, StoredRow] = {}
        for chunk in chunks(ids):
            sql = f"SELECT {COLUMNS} FROM records WHERE id IN ({marks(chunk)})"
            params: list[Any] = list(chunk)
            if user_id is not None:
                sql += " AND +user_id = ? AND (expires_at IS NULL OR expires_at > ?)"  # the ids' index
                params.extend([user_id, time.time()])
            for row in self._read(sql, params):
                stored = to_row(row)
                found[stored.record.id] = stored
        return found

    def get_matching(self, ids: Sequence[str], filters: Filters) -> dict[str, StoredRow]:
        self._check_open()  # also when there is nothing to read
        where, params = filters_sql(filters, by_id=True)
        found: dict[str, StoredRow] = {}
        for chunk in chunks(ids):
            sql = f"SELECT {COLUMNS} FROM records r WHERE r.id IN ({marks(chunk)}) AND {where}"
            for row in self._read(sql, [*chunk, *params]):
                stored = to_row(row)
                found[stored.record.id] = stored
        return found

    def existing(self, ids: Sequence[str]) -> set[str]:
        self._check_open()  # also when there is nothing to read
        found: set[str] = set()
        for chunk in chunks(ids):
            rows = self._read(f"SELECT id FROM records WHERE id IN ({marks(chunk)})", chunk)
            found.update(str(record_id) for (record_id,) in rows)
        return found

    def scoring_fields(self, ids: Sequence[str], filters: Filters) -> dict[str, tuple[float, float, bool]]:
        self._check_open()  # also when there is nothing to read
        where, params = filters_sql(filters, by_id=True)
        found: dict[str, tuple[float, float, bool]] = {}
        for chunk in chunks(ids):
            sql = (
                "SELECT r.id, r.importance, r.ts, rtrim(r.text, ' ' || char(9, 10, 13)) LIKE '%?' FROM records r "
                f"WHERE r.id IN ({marks(chunk)}) AND {where}"
            )
            for record_id, importance, ts, asks in self._read(sql, [*chunk, *params]):
                found[str(record_id)] = (float(importance), float(ts), bool(asks))
        return found

    # -- reads by filter ------------------------------------------------------------------------
    def select(
        self, filters: Filters, *, newest_first: bool = False, limit: int | None = None, offset: int = 0
    ) -> list[StoredRow]:
        where, params = filters_sql(filters)
        order = "ts DESC, seq DESC" if newest_first else "ts, seq"
        sql = f"SELECT {COLUMNS} FROM records r WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
        params.extend([-1 if limit is None else limit, offset])
        return [to_row(row) for row in self._read(sql, params)]

    def ids_matching(self, filters: Filters, limit: int) -> list[str]:
        where, params = filters_sql(filters)
        rows = self._read(f"SELECT r.id FROM records r WHERE {where} LIMIT ?", [*params, limit])
        return [str(row[0]) for row in rows]

    def ids_of(self, user_id: str | None, session_id: str | None) -> list[str]:
        self._check_open()  # also when there is nothing to read
        if user_id is None:
            return []
        if session_id is None:
            rows = self._read("SELECT id FROM records WHERE user_id = ?", (user_id,))
        else:
            rows = self._read("SELECT id FROM records WHERE user_id = ? AND session_id = ?", (user_id, session_id))
        return [str(row[0]) for row in rows]

    def newest_timestamp(self, user_id: str) -> float | None:
        rows = self._read("SELECT MAX(ts) FROM records WHERE user_id = ?", (user_id,))
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    # -- sessions -------------------------------------------------------------------------------
    def session_tail(self, user_id: str, session_id: str, limit: int | None) -> list[StoredRow]:
        rows = self.select(Filters(user_id, session_id, ("message",)), newest_first=True, limit=limit)
        rows.reverse()
        return rows

    def unsummarized(self, user_id: str, session_id: str) -> list[StoredRow]:
        sql = (
            f"SELECT {COLUMNS} FROM records WHERE user_id = ? AND session_id = ? "
            "AND kind = 'message' AND summarized = 0 ORDER BY ts, seq"
        )
        return [to_row(row) for row in self._read(sql, (user_id, session_id))]

    def sessions_to_fold(self, min_unsummarized: int) -> list[tuple[str, str]]:
        sql = (
            "SELECT user_id, session_id FROM records WHERE kind = 'message' AND summarized = 0 "
            "AND session_id IS NOT NULL GROUP BY user_id, session_id HAVING COUNT(*) >= ?"
        )
        return [(str(u), str(s)) for u, s in self._read(sql, (min_unsummarized,))]

    def summary(self, user_id: str, session_id: str) -> StoredRow | None:
        where, params = filters_sql(Filters(user_id, session_id, ("summary",)))
        rows = self._read(f"SELECT {COLUMNS} FROM records r WHERE {where} ORDER BY seq DESC LIMIT 1", params)
        return to_row(rows[0]) if rows else None

    def summaries_covering(self, ids: Iterable[str]) -> list[StoredRow]:
        self._check_open()  # also when there is nothing to read
        wanted = set(ids)
        if not wanted:
            return []
        rows = self._read(f"SELECT {COLUMNS} FROM records WHERE kind = 'summary'")
        return [s for s in map(to_row, rows) if wanted.intersection(s.record.covers)]

    def sessions(self, user_id: str | None) -> list[str]:
        rows = self._read(
            "SELECT session_id FROM records WHERE user_id = ? AND session_id IS NOT NULL "
            "GROUP BY session_id ORDER BY MAX(ts) DESC",
            (user_id,),
        )
        return [str(row[0]) for row in rows]

    def session_count(self) -> int:
        sql = "SELECT COUNT(*) FROM (SELECT DISTINCT user_id, session_id FROM records WHERE session_id IS NOT NULL)"
        return int(self._read(sql)[0][0])

    # -- counts ---------------------------------------------------------------------------------
    def users(self) -> list[str]:
        return [str(row[0]) for row in self._read("SELECT DISTINCT user_id FROM records ORDER BY user_id")]

    def count(self, user_id: str | None = None) -> int:
        if user_id is None:
            return int(self._read("SELECT COUNT(*) FROM records")[0][0])
        return int(self._read("SELECT COUNT(*) FROM records WHERE user_id = ?", (user_id,))[0][0])

    def count_by_kind(self, user_id: str | None) -> dict[str, int]:
        if user_id is None:
            rows = self._read("SELECT kind, COUNT(*) FROM records GROUP BY kind")
        else:
            rows = self._read("SELECT kind, COUNT(*) FROM records WHERE user_id = ? GROUP BY kind", (user_id,))
        return {str(kind): int(n) for kind, n in rows}

    def activity(self, user_id: str | None = None) -> list[Activity]:
        scope, params = ("WHERE user_id = ? ", (user_id,)) if user_id is not None else ("", ())
        rows = self._read(
            "SELECT user_id, session_id, kind, COUNT(*), SUM(summarized), MIN(ts), MAX(ts) "
            f"FROM records {scope}GROUP BY user_id, session_id, kind", params
        )
        return [Activity(str(u), None if s is None else str(s), str(k), int(n), int(f), float(lo), float(hi))
                for u, s, k, n, f, lo, hi in rows]
