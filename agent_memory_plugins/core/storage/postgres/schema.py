"""The PostgreSQL schema as numbered migration steps; the table ``schema_migrations`` lists those applied.

Opening a store applies every step after the database's version, each in its own transaction,
under a transaction-level advisory lock: when several instances start at the same moment, one
applies each step and the others, waiting on the lock, find it applied. A database newer than this
release is refused, untouched. A later change is a new step appended to :data:`MIGRATIONS`.

The neighbour-context index (``context_rows``, ``context_keywords``, ``context_queue`` and the
delete trigger) is derived data rebuilt when the settings that shape it change (:mod:`.context`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ....errors import StoreVersionError

MIGRATION_LOCK = 0x616D70_01
"""Advisory lock key held while migrating (any constant no other application uses)."""

_FIRST_RELEASE = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE records (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        agent_id TEXT,
        session_id TEXT,
        kind TEXT NOT NULL,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        importance DOUBLE PRECISION NOT NULL,
        metadata JSONB NOT NULL,
        covers JSONB NOT NULL DEFAULT '[]',
        summarized BOOLEAN NOT NULL DEFAULT FALSE,
        tokens INTEGER NOT NULL,
        expires_at DOUBLE PRECISION,
        last_seen DOUBLE PRECISION,
        times_seen INTEGER NOT NULL DEFAULT 1,
        superseded_by TEXT,
        key TEXT,
        length INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX records_by_session ON records (user_id, session_id, kind, ts, seq)",
    "CREATE INDEX records_by_kind ON records (user_id, kind, ts)",
    "CREATE INDEX records_by_key ON records (user_id, kind, key)",
    "CREATE INDEX records_by_expiry ON records (expires_at) WHERE expires_at IS NOT NULL",
    "CREATE INDEX records_unfolded ON records (user_id, session_id) WHERE kind = 'message' AND NOT summarized",
    "CREATE INDEX summaries_by_session ON records (user_id, session_id, seq) WHERE kind = 'summary'",
    # the keyword index (see .keywords): one row per (record, term)
    """CREATE TABLE keywords (
        seq BIGINT NOT NULL REFERENCES records (seq) ON DELETE CASCADE,
        term TEXT NOT NULL,
        user_id TEXT NOT NULL,
        tf INTEGER NOT NULL,
        PRIMARY KEY (seq, term)
    )""",
    "CREATE INDEX keywords_by_term ON keywords (term, user_id, seq) INCLUDE (tf)",
    """CREATE TABLE outbox (
        seq BIGSERIAL PRIMARY KEY,
        record_id TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
        claimed_until DOUBLE PRECISION,
        claimed_by TEXT
    )""",
    "CREATE INDEX outbox_by_record ON outbox (record_id)",
    """CREATE TABLE links (
        user_id TEXT NOT NULL,
        src TEXT NOT NULL,
        dst TEXT NOT NULL,
        relation TEXT NOT NULL,
        strength DOUBLE PRECISION NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (src, dst, relation)
    )""",
    "CREATE INDEX links_by_dst ON links (dst)",
    """CREATE TABLE history (
        seq BIGSERIAL PRIMARY KEY,
        record_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        event TEXT NOT NULL,
        text TEXT NOT NULL DEFAULT '',
        other_id TEXT
    )""",
    "CREATE INDEX history_by_record ON history (record_id)",
    "CREATE INDEX history_by_other ON history (other_id) WHERE other_id IS NOT NULL",
    # working memory: every version of each block, and each session's extraction cursor
    """CREATE TABLE blocks (
        user_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        text TEXT NOT NULL,
        char_limit INTEGER NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (user_id, session_id, name, version)
    )""",
    """CREATE TABLE extraction (
        user_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        cursor BIGINT NOT NULL,
        pending TEXT,
        PRIMARY KEY (user_id, session_id)
    )""",
]


@dataclass(frozen=True)
class Migration:
    """One numbered change of the schema: its statements, run in one transaction."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS = (
    Migration(1, "records, keyword index, outbox, links, history, meta, blocks, extraction", tuple(_FIRST_RELEASE)),
    Migration(2, "the user of each queued vector deletion",
              ("ALTER TABLE outbox ADD COLUMN IF NOT EXISTS user_id TEXT",)),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
"""The version of a database this release writes."""


def current_version(query: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]) -> int:
    """The last step applied (0 for an empty database)."""
    exists = query("SELECT to_regclass('schema_migrations') IS NOT NULL", ())[0][0]
    if not exists:
        return 0
    return int(query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", ())[0][0])


def migrate(transaction: Callable[[], Any]) -> list[int]:
    """Apply the steps the database lacks; returns the versions applied. ``transaction()`` opens
    a write transaction (a context manager giving a connection)."""
    applied: list[int] = []
    with transaction() as connection:
        found = current_version(lambda sql, params: connection.execute(sql, params).fetchall())
    _refuse_newer(found)
    if found >= SCHEMA_VERSION:  # an up-to-date database takes no lock
        return applied
    for step in MIGRATIONS:
        with transaction() as connection:
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            found = current_version(lambda sql, params: connection.execute(sql, params).fetchall())
            _refuse_newer(found)
            if found >= step.version:
                continue
            for statement in step.statements:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)", (step.version, step.description)
            )
            applied.append(step.version)
    return applied


def _refuse_newer(found: int) -> None:
    if found > SCHEMA_VERSION:
        raise StoreVersionError(
            f"this database has schema version {found}, but this release of agent-memory-plugins knows up to "
            f"{SCHEMA_VERSION}: upgrade agent-memory-plugins to open it (nothing was changed)"
        )
