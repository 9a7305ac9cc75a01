"""Working memory in PostgreSQL: versioned blocks and the extraction state of each session.

A block's scope is ``(user_id, session_id, name)``; the user's own blocks are stored under the
session id ``''`` (no session id is empty: the core refuses blank ids).
"""

from __future__ import annotations

import time
from typing import Any

from ....records import Block
from ...validation import from_epoch
from ..interface import ExtractionState, StoredRow
from .connection import PostgresConnection
from .rows import COLUMNS, load_text, store_text, to_row

USER_SCOPE = ""
"""The ``session_id`` column of a user's own blocks."""
_BLOCK = "name, text, char_limit, version, at"


def _scope(session_id: str | None) -> str:
    return USER_SCOPE if session_id is None else session_id


def _block(user_id: str, session_id: str | None, row: tuple[Any, ...]) -> Block:
    name, text, limit, version, at = row
    return Block(name=str(name), text=load_text(str(text)), user_id=user_id, session_id=session_id,
                 limit=int(limit), version=int(version), updated_at=from_epoch(float(at)))


def _state(row: tuple[Any, ...] | None) -> ExtractionState:
    if row is None:
        return ExtractionState()
    return ExtractionState(int(row[0]), None if row[1] is None else load_text(str(row[1])))


class WorkingQueries(PostgresConnection):
    """Blocks (every version kept) and extraction cursors."""

    # -- blocks ------------------------------------------------------------------------------------
    def put_block(self, block: Block, expected_version: int) -> bool:
        if block.version != expected_version + 1:
            return False
        scope = _scope(block.session_id)
        with self.transaction() as connection:
            current = connection.execute(
                "SELECT MAX(version) FROM blocks WHERE user_id = %s AND session_id = %s AND name = %s",
                (block.user_id, scope, block.name),
            ).fetchone()[0]
            if (current or 0) != expected_version:
                return False
            written = connection.execute(  # a writer that got there first wins; this one writes nothing
                "INSERT INTO blocks (user_id, session_id, name, version, text, char_limit, at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (block.user_id, scope, block.name, block.version, store_text(block.text), block.limit,
                 block.updated_at.timestamp()),
            ).rowcount
            return bool(written)

    def get_block(self, user_id: str, session_id: str | None, name: str) -> Block | None:
        rows = self._read(
            f"SELECT {_BLOCK} FROM blocks WHERE user_id = %s AND session_id = %s AND name = %s "
            "ORDER BY version DESC LIMIT 1",
            (user_id, _scope(session_id), name),
        )
        return _block(user_id, session_id, rows[0]) if rows else None

    def list_blocks(self, user_id: str, session_id: str | None) -> list[Block]:
        rows = self._read(
            f"SELECT DISTINCT ON (name) {_BLOCK} FROM blocks WHERE user_id = %s AND session_id = %s "
            "ORDER BY name, version DESC",
            (user_id, _scope(session_id)),
        )
        return [_block(user_id, session_id, row) for row in rows]

    def block_history(self, user_id: str, session_id: str | None, name: str) -> list[Block]:
        rows = self._read(
            f"SELECT {_BLOCK} FROM blocks WHERE user_id = %s AND session_id = %s AND name = %s ORDER BY version",
            (user_id, _scope(session_id), name),
        )
        return [_block(user_id, session_id, row) for row in rows]

    def forget_scope(self, user_id: str, session_id: str | None) -> int:
        where, params = "user_id = %s", [user_id]
        if session_id is not None:
            where += " AND session_id = %s"
            params.append(session_id)
        with self.transaction() as connection:
            names = connection.execute(
                f"SELECT COUNT(*) FROM (SELECT DISTINCT session_id, name FROM blocks WHERE {where}) b", params
            ).fetchone()[0]
            connection.execute(f"DELETE FROM blocks WHERE {where}", params)
            connection.execute(f"DELETE FROM extraction WHERE {where}", params)
            return int(names)

    # -- extraction --------------------------------------------------------------------------------
    def messages_after(self, user_id: str, session_id: str, after_seq: int, limit: int) -> list[StoredRow]:
        sql = (
            f"SELECT {COLUMNS} FROM records WHERE user_id = %s AND session_id = %s AND kind = 'message' "
            "AND seq > %s AND (expires_at IS NULL OR expires_at > %s) ORDER BY seq LIMIT %s"
        )
        return [to_row(row) for row in self._read(sql, (user_id, session_id, after_seq, time.time(), limit))]

    def extraction_state(self, user_id: str, session_id: str) -> ExtractionState:
        rows = self._read(
            "SELECT cursor, pending FROM extraction WHERE user_id = %s AND session_id = %s", (user_id, session_id)
        )
        return _state(rows[0] if rows else None)

    def save_extraction(
        self, user_id: str, session_id: str, expected: ExtractionState, state: ExtractionState
    ) -> bool:
        with self.transaction() as connection:
            key = f"extract {len(user_id)}:{user_id}{session_id}"
            connection.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            row = connection.execute(
                "SELECT cursor, pending FROM extraction WHERE user_id = %s AND session_id = %s",
                (user_id, session_id),
            ).fetchone()
            if _state(row) != expected:
                return False
            connection.execute(
                "INSERT INTO extraction (user_id, session_id, cursor, pending) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (user_id, session_id) DO UPDATE SET cursor = excluded.cursor, pending = excluded.pending",
                (user_id, session_id, state.cursor, None if state.pending is None else store_text(state.pending)),
            )
            return True

    def sessions_to_extract(self, limit: int) -> list[tuple[str, str]]:
        sql = (
            "SELECT r.user_id, r.session_id, MIN(r.seq) AS waiting FROM records r "
            "LEFT JOIN extraction e ON e.user_id = r.user_id AND e.session_id = r.session_id "
            "WHERE r.kind = 'message' AND r.session_id IS NOT NULL AND r.seq > COALESCE(e.cursor, 0) "
            "GROUP BY r.user_id, r.session_id "
            "UNION SELECT user_id, session_id, cursor AS waiting FROM extraction WHERE pending IS NOT NULL "
            "ORDER BY waiting LIMIT %s"
        )
        found: dict[tuple[str, str], None] = {}
        for user, session, _ in self._read(sql, (limit * 2,)):
            found.setdefault((str(user), str(session)), None)
        return list(found)[:limit]
