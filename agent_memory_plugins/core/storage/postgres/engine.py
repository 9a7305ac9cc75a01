"""The PostgreSQL record store: one database shared by any number of instances, processes and machines.

Holds what the SQLite engine holds (records, the keyword index kept in the same transaction as
each write, the neighbour-context index, the outbox, links, history, metadata) in tables, reached
through a connection pool. Its parts, one module each: :mod:`.records`, :mod:`.memories`,
:mod:`.outbox`, :mod:`.context`, :mod:`.keywords`, :mod:`.working`; the schema and its migrations are in :mod:`.schema`.

What the database keeps after a forget: the rows are deleted in the forget's transaction (no query
can return them), but PostgreSQL keeps their bytes as dead tuples until ``VACUUM`` reclaims the
space, and in its write-ahead log (and any archive or replica of it) until the log is recycled.
:meth:`PostgresRecordStore.compact` vacuums; ``compact(vacuum=True)`` rewrites the tables
(``VACUUM FULL``) so the text is in no table file.
"""

from __future__ import annotations

import logging

from .context import ContextQueries
from .memories import MemoryQueries
from .outbox import OutboxQueries
from .records import PURGE_PENDING, RecordQueries
from .schema import SCHEMA_VERSION, current_version, migrate
from .working import WorkingQueries

log = logging.getLogger("agent_memory_plugins")

TABLES = ("records", "keywords", "context_rows", "context_keywords", "context_queue", "outbox", "links", "history",
          "meta", "blocks", "extraction")
"""Every table that can hold a record's text or id (vacuumed by :meth:`PostgresRecordStore.compact`)."""
LOCK_TIMEOUT = "2s"
"""How long a full compaction waits for a table another instance is using before it gives up (and
leaves the purge mark for the next open)."""


class PostgresRecordStore(RecordQueries, MemoryQueries, OutboxQueries, ContextQueries, WorkingQueries):
    """PostgreSQL record store (psycopg 3 with a connection pool), safe to share between threads,
    processes and machines.

    ``url``: a libpq URL or connection string (``postgresql://user:password@host:5432/db?sslmode=require``;
    every option of the URL, TLS ones included, reaches libpq); ``pool_size``: most connections
    this instance opens; ``lease_seconds``: how long a claim of queued work keeps other instances
    off it (an instance that dies frees its claims then). Opening applies pending migrations.
    """

    def __init__(self, url: str, *, pool_size: int = 8, lease_seconds: float = 60.0) -> None:
        super().__init__(url, pool_size)
        self.lease_seconds = lease_seconds
        try:
            migrate(self.transaction)
        except BaseException:
            self.close()
            raise

    def schema_version(self) -> int:
        with self.snapshot() as query:
            return current_version(query)

    def purge_pending(self) -> bool:
        return self.meta(PURGE_PENDING) is not None

    def compact(self, vacuum: bool = False) -> None:
        """``VACUUM`` the tables (dead tuples of removed records become free space);
        ``vacuum=True``: ``VACUUM FULL`` rewrites them, so no table file holds a removed record.
        A table another instance keeps busy for longer than :data:`LOCK_TIMEOUT` postpones the
        rewrite to the next open (the purge mark stays)."""
        statement = "VACUUM (FULL, ANALYZE)" if vacuum else "VACUUM (ANALYZE)"
        with self._connection() as connection:  # autocommit: VACUUM runs outside a transaction
            present = {row[0] for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()}
            connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            try:
                for table in TABLES:
                    if table in present:
                        connection.execute(f"{statement} {table}")
            except self._psycopg.errors.LockNotAvailable as error:
                log.warning("agent-memory: compacting after forget postponed to the next open: %s", error)
                return
            finally:
                connection.execute("RESET lock_timeout")
        with self.transaction() as connection:
            connection.execute("DELETE FROM meta WHERE key = %s", (PURGE_PENDING,))


__all__ = ["SCHEMA_VERSION", "PostgresRecordStore"]
