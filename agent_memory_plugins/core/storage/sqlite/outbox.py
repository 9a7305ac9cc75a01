"""The outbox and the store's own settings in SQLite: what the vector index still has to apply."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from ..interface import DIMENSION, EMBEDDER, VECTOR_SCHEME, OutboxItem
from .connection import SQLiteConnection, chunks, marks

RESET_PENDING = "reset_vectors"
"""Meta key set by a reindex until the vector index has been emptied (resumed on open)."""


class OutboxQueries(SQLiteConnection):
    """The durable queue of vector-index changes, reindexing, and the ``meta`` table."""

    # -- meta -----------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def secret(self, key: str) -> str:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, secrets.token_hex(32)))
            return str(db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    # -- outbox ---------------------------------------------------------------------------------
    def claim_outbox(self, limit: int, *, upto: int | None = None, op: str | None = None) -> list[OutboxItem]:
        sql = "SELECT seq, record_id, op, user_id FROM outbox WHERE (? IS NULL OR op = ?) AND (? IS NULL OR seq <= ?)"
        rows = self._read(sql + " ORDER BY seq LIMIT ?", (op, op, upto, upto, limit))
        return [OutboxItem(int(seq), str(record_id), str(kind), user) for seq, record_id, kind, user in rows]

    def ack_outbox(self, seqs: Sequence[int]) -> None:
        with self.transaction(durable=False) as db:
            for chunk in chunks(seqs):
                db.execute(f"DELETE FROM outbox WHERE seq IN ({marks(chunk)})", chunk)

    def outbox_position(self) -> int:
        return int(self._read("SELECT COALESCE(MAX(seq), 0) FROM outbox")[0][0])

    def outbox_size(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM outbox")[0][0])

    def claimed_elsewhere(self, upto: int) -> int:
        self._check_open()
        return 0  # no leases: every claim sees every pending item

    # -- reindexing -----------------------------------------------------------------------------
    def begin_reindex(self, embedder: str, scheme: str) -> int:
        with self.transaction() as db:
            db.execute("DELETE FROM outbox WHERE op = 'upsert'")
            cursor = db.execute("INSERT INTO outbox (record_id, op) SELECT id, 'upsert' FROM records ORDER BY seq")
            db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(EMBEDDER, embedder), (DIMENSION, ""), (VECTOR_SCHEME, scheme), (RESET_PENDING, "1")],
            )
            return int(cursor.rowcount)

    def reset_pending(self) -> bool:
        return self.meta(RESET_PENDING) is not None

    def vectors_reset(self) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM meta WHERE key = ?", (RESET_PENDING,))
