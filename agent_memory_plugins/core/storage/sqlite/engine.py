"""The SQLite record store: the embedded default, one file in WAL mode under the store's folder.

Holds the records, an FTS5 keyword index kept in the same transaction as each write, the
neighbour-context index, the outbox that feeds the vector index, links, history and a little
metadata (which embedding model built the store). Everything else (Chroma) can be rebuilt from
here. Its parts, one module each: :mod:`.records`, :mod:`.memories`, :mod:`.outbox`,
:mod:`.context`, :mod:`.working`; the schema and its migrations are in :mod:`.schema`.
"""

from __future__ import annotations

import logging
import sqlite3

from .context import ContextQueries
from .memories import MemoryQueries
from .outbox import OutboxQueries
from .records import PURGE_PENDING, RecordQueries
from .schema import migrate
from .working import WorkingQueries

log = logging.getLogger("agent_memory_plugins")


class SQLiteRecordStore(RecordQueries, MemoryQueries, OutboxQueries, ContextQueries, WorkingQueries):
    """SQLite (WAL) record store, safe to share between threads and processes.

    ``path``: the database file (``None``: in memory, gone when closed); ``durability``: ``"full"``
    syncs every commit to disk, ``"normal"`` may lose the last commits on power loss (never on a
    crash of the process). Opening applies the schema's pending migration steps.
    """

    def __init__(self, path: str | None, durability: str = "full") -> None:
        super().__init__(path, durability)
        try:
            migrate(self)
        except BaseException:
            self.close()
            raise

    def purge_pending(self) -> bool:
        return self.meta(PURGE_PENDING) is not None

    def compact(self, vacuum: bool = False) -> None:
        """Merge the keyword indexes, optionally rebuild the whole database, checkpoint the WAL.

        ``secure_delete`` zeroes deleted rows and freed pages, but B-tree rebalancing can leave
        fragments of deleted rows in the unused space of live pages; ``vacuum=True`` rewrites every
        page so none remain (the core does it when forgetting a user or a session).
        """
        with self.transaction() as db:
            db.execute("INSERT INTO records_fts (records_fts) VALUES ('optimize')")
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'context_fts'").fetchone():
                db.execute("INSERT INTO context_fts (context_fts) VALUES ('optimize')")
        if self.path is not None:
            with self._short_busy_wait() as db:  # another process's long transaction must not stall a forget
                try:
                    if vacuum:
                        db.execute("VACUUM")
                    busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                except sqlite3.OperationalError as error:  # busy: another process is using it
                    busy, reason = 1, str(error)
                else:
                    reason = "another process is reading"
            if busy:  # keep the purge mark: the next open finishes the job
                log.warning("agent-memory: compacting after forget postponed to the next open: %s", reason)
                return
        with self.transaction() as db:
            db.execute("DELETE FROM meta WHERE key = ?", (PURGE_PENDING,))
