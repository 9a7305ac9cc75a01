"""The outbox and the store's own settings in PostgreSQL: what the vector index still has to apply.

Many instances drain one outbox. A claim leases its items (``FOR UPDATE SKIP LOCKED``, then
``claimed_until``): another instance skips them until the lease runs out, so no item is worked on
twice at once, and the items of an instance that died are taken over once its lease expires.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

from ..interface import DIMENSION, EMBEDDER, VECTOR_SCHEME, OutboxItem
from .connection import PostgresConnection
from .records import _SET_META

RESET_PENDING = "reset_vectors"
"""Meta key set by a reindex until the vector index has been emptied (resumed on open)."""


class OutboxQueries(PostgresConnection):
    """The durable queue of vector-index changes, reindexing, and the ``meta`` table."""

    lease_seconds = 60.0
    """How long a claim keeps other instances off its items (an instance that dies frees them then)."""

    # -- meta -----------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as connection:
            connection.execute(_SET_META, (key, value))

    def secret(self, key: str) -> str:
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                (key, secrets.token_hex(32)),
            )
            return str(connection.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()[0])

    # -- outbox ---------------------------------------------------------------------------------
    def claim_outbox(self, limit: int, *, upto: int | None = None, op: str | None = None) -> list[OutboxItem]:
        now = time.time()
        with self.transaction() as connection:
            rows = connection.execute(
                "UPDATE outbox SET claimed_until = %s, claimed_by = %s WHERE seq IN ("
                "SELECT seq FROM outbox WHERE (%s::text IS NULL OR op = %s) AND (%s::bigint IS NULL OR seq <= %s) "
                "AND (claimed_until IS NULL OR claimed_until < %s OR claimed_by = %s) "
                "ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING seq, record_id, op, user_id",
                (now + self.lease_seconds, self.claimer, op, op, upto, upto, now, self.claimer, limit),
            ).fetchall()
        items = [OutboxItem(int(seq), str(record_id), str(kind), user) for seq, record_id, kind, user in rows]
        return sorted(items, key=lambda item: item.seq)

    def ack_outbox(self, seqs: Sequence[int]) -> None:
        if seqs:
            with self.transaction() as connection:
                connection.execute("DELETE FROM outbox WHERE seq = ANY(%s)", (list(seqs),))

    def outbox_position(self) -> int:
        return int(self._read("SELECT COALESCE(MAX(seq), 0) FROM outbox")[0][0])

    def outbox_size(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM outbox")[0][0])

    def claimed_elsewhere(self, upto: int) -> int:
        now = time.time()
        rows = self._read(
            "SELECT (SELECT COUNT(*) FROM outbox WHERE seq <= %s AND claimed_until >= %s AND claimed_by <> %s) + "
            "(SELECT COUNT(*) FROM context_queue WHERE claimed_until >= %s AND claimed_by <> %s)",
            (upto, now, self.claimer, now, self.claimer),
        )
        return int(rows[0][0])

    # -- reindexing -----------------------------------------------------------------------------
    def begin_reindex(self, embedder: str, scheme: str) -> int:
        with self.transaction() as connection:
            connection.execute("DELETE FROM outbox WHERE op = 'upsert'")
            cursor = connection.execute(
                "INSERT INTO outbox (record_id, op) SELECT id, 'upsert' FROM records ORDER BY seq"
            )
            queued = int(cursor.rowcount)
            with connection.cursor() as many:
                many.executemany(
                    _SET_META, [(EMBEDDER, embedder), (DIMENSION, ""), (VECTOR_SCHEME, scheme), (RESET_PENDING, "1")]
                )
            return queued

    def reset_pending(self) -> bool:
        return self.meta(RESET_PENDING) is not None

    def vectors_reset(self) -> None:
        with self.transaction() as connection:
            connection.execute("DELETE FROM meta WHERE key = %s", (RESET_PENDING,))
