"""Long-term memories in PostgreSQL: repeats, supersession, keys, links, history, expiry and cleanup."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from ....records import MemoryRecord
from ..interface import StoredRow
from .connection import PostgresConnection
from .rows import COLUMNS, insert_records, load_text, store_json, store_text, to_row


class MemoryQueries(PostgresConnection):
    """What typed long-term memories need beyond plain records."""

    def record_repeat(self, record_id: str, at: float, text: str, importance: float) -> None:
        with self.transaction() as connection:
            connection.execute(
                "UPDATE records SET times_seen = times_seen + 1, last_seen = %s, "
                "importance = GREATEST(importance, %s) WHERE id = %s",
                (at, importance, record_id),
            )
            connection.execute(
                "INSERT INTO history (record_id, user_id, at, event, text) "
                "SELECT id, user_id, %s, 'seen', %s FROM records WHERE id = %s",
                (at, store_text(text), record_id),
            )

    def add_superseding(self, new: tuple[MemoryRecord, int], old_ids: Sequence[str]) -> None:
        record = new[0]
        with self.transaction() as connection:
            insert_records(connection, [new])
            _mark_superseded(connection, record.id, record.user_id, old_ids, record.created_at.timestamp())

    def mark_superseded(self, new_id: str, user_id: str, old_ids: Sequence[str], at: float) -> None:
        with self.transaction() as connection:
            _mark_superseded(connection, new_id, user_id, old_ids, at)

    def active_by_key(self, user_id: str, kind: str, key: str) -> list[StoredRow]:
        sql = (
            f"SELECT {COLUMNS} FROM records WHERE user_id = %s AND kind = %s AND key = %s "
            "AND superseded_by IS NULL AND (expires_at IS NULL OR expires_at > %s) ORDER BY ts DESC, seq DESC"
        )
        return [to_row(row) for row in self._read(sql, (user_id, kind, key, time.time()))]

    def history(self, record_id: str) -> list[tuple[float, str, str, str | None]]:
        rows = self._read(
            "SELECT at, event, text, other_id FROM history WHERE record_id = %s ORDER BY at, seq", (record_id,)
        )
        return [(float(at), str(event), load_text(text), other) for at, event, text, other in rows]

    def update_metadata(self, record_id: str, metadata: dict[str, Any]) -> None:
        with self.transaction() as connection:
            connection.execute(
                "UPDATE records SET metadata = %s WHERE id = %s",
                (json.dumps(store_json(metadata), ensure_ascii=False, sort_keys=True), record_id),
            )
            connection.execute("INSERT INTO outbox (record_id, op) VALUES (%s, 'upsert')", (record_id,))

    def add_link(self, user_id: str, src: str, dst: str, relation: str, strength: float, at: float) -> None:
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO links (user_id, src, dst, relation, strength, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (src, dst, relation) DO UPDATE SET strength = excluded.strength",
                (user_id, src, dst, relation, strength, at),
            )

    def links(
        self, record_ids: Sequence[str], user_id: str, relation: str | None = None, min_strength: float = 0.0
    ) -> list[tuple[str, str, str, float]]:
        self._check_open()
        if not record_ids:
            return []
        wanted = list(record_ids)
        sql = "SELECT src, dst, relation, strength FROM links WHERE user_id = %s AND strength >= %s " \
              "AND (src = ANY(%s) OR dst = ANY(%s))"
        params: list[Any] = [user_id, min_strength, wanted, wanted]
        if relation is not None:
            sql += " AND relation = %s"
            params.append(relation)
        found = [(str(a), str(b), str(r), float(w)) for a, b, r, w in self._read(sql, params)]
        found.sort(key=lambda link: -link[3])
        return found

    def expired_ids(self, now: float, user_id: str | None = None) -> list[str]:
        sql = "SELECT id FROM records WHERE expires_at IS NOT NULL AND expires_at <= %s"
        params: list[Any] = [now]
        if user_id is not None:
            sql += " AND user_id = %s"
            params.append(user_id)
        return [str(row[0]) for row in self._read(sql + " ORDER BY seq", params)]

    def cleanup_ids(
        self, user_id: str | None, before: float | None, below_importance: float | None, kinds: Sequence[str]
    ) -> list[str]:
        clauses = ["kind = ANY(%s)"]
        params: list[Any] = [list(kinds)]
        if user_id is not None:
            clauses.append("user_id = %s")
            params.append(user_id)
        if before is not None:
            clauses.append("ts < %s")
            params.append(before)
        if below_importance is not None:
            clauses.append("importance < %s")
            params.append(below_importance)
        rows = self._read(f"SELECT id FROM records WHERE {' AND '.join(clauses)} ORDER BY seq", params)
        return [str(row[0]) for row in rows]


def _mark_superseded(connection: Any, new_id: str, user_id: str, old_ids: Sequence[str], at: float) -> None:
    for old_id in old_ids:
        if old_id == new_id:
            continue
        marked = connection.execute(
            "UPDATE records SET superseded_by = %s WHERE id = %s AND user_id = %s", (new_id, old_id, user_id)
        ).rowcount
        if not marked:  # another user's record, or none: nothing to tell in either history
            continue
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO history (record_id, user_id, at, event, other_id) VALUES (%s, %s, %s, %s, %s)",
                [(old_id, user_id, at, "superseded_by", new_id), (new_id, user_id, at, "supersedes", old_id)],
            )
