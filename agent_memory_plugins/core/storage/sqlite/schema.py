"""The SQLite schema as numbered migration steps; ``PRAGMA user_version`` holds the last one applied.

Opening a store applies, in one write transaction each, every step after the store's version (a
new store runs them all). A store written before versioning existed has version 0 and may hold any
earlier layout, so steps 1-3 only add what is missing and each is safe to run on any of them.
A later change to the schema is a new step appended to :data:`MIGRATIONS`, never an edit of an
old one; ``tests/storage/test_migrations.py`` opens stores made by earlier layouts.

The neighbour-context index (``context_fts``, ``context_queue`` and their triggers) is not part of
the schema's history: it is derived data, rebuilt whenever the settings that shape it change (see
:mod:`.context`).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ....errors import StoreVersionError
from .. import terms
from .connection import SQLiteConnection, user_version

KEYWORD_INDEX = (
    "CREATE VIRTUAL TABLE records_fts USING fts5 ("
    "text, {scope}content='', tokenize='porter unicode61 remove_diacritics 2')"
)
"""The records' keyword index of steps 1 to 5: rowid = ``records.seq``; ``scope`` (from step 2)
holds the user's token."""
USER_TERMS_INDEX = "CREATE VIRTUAL TABLE records_fts USING fts5 (text, content='', tokenize='unicode61')"
"""The records' keyword index from step 6: rowid = ``records.seq``, ``text`` the record's
:func:`user_terms`."""
TERMS_STATE = "keyword_terms"
"""Meta key: the :data:`~..terms.IDENTITY` of the terms ``records_fts`` was built with."""


def scope_token(user_id: str) -> str:
    """A user's token in the ``scope`` column of steps 2 to 5: one alphanumeric word whatever the id holds."""
    return "u" + hashlib.blake2b(user_id.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


def term_prefix(user_id: str) -> str:
    """The prefix of a user's index terms: 8 hex digits of a digest of the id (every term and every
    context row carries it, so it is short). Two users whose prefixes collide (about one chance in
    ten thousand among a thousand users) share document frequencies, never hits: the SQL user
    filter decides whose records a search returns."""
    return hashlib.blake2b(user_id.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()


def user_terms(text: str, user_id: str) -> str:
    """``text`` as the keyword indexes hold it: each index term (:func:`~..terms.terms`) prefixed
    by the user's :func:`term_prefix`, so each user's terms are distinct words of the index.

    A term's postings and document frequency are then the user's own: a search reads only the
    user's postings (FTS5's BM25 counts every row holding a query term, which grew with the whole
    store) and other users' words do not move the user's scores. The SQL user filter stays the
    authority on scope."""
    prefix = term_prefix(user_id)
    return " ".join(prefix + term for term in terms.terms(text))


def user_match(words: Sequence[str], user_id: str) -> str:
    """An FTS5 expression that ORs the user's index terms of a query's ``words``."""
    prefix = term_prefix(user_id)
    return " OR ".join(prefix + term for term in terms.query_terms(words))


def rebuild_keyword_index(db: sqlite3.Connection) -> None:
    """(Re)build ``records_fts`` from the records with this release's terms."""
    db.execute("DROP TABLE IF EXISTS records_fts")
    db.execute(USER_TERMS_INDEX)
    cursor = db.execute("SELECT seq, text, user_id FROM records")
    while batch := cursor.fetchmany(1000):
        db.executemany("INSERT INTO records_fts (rowid, text) VALUES (?, ?)",
                       [(seq, user_terms(text, user_id)) for seq, text, user_id in batch])
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (TERMS_STATE, terms.IDENTITY))


def _first_release(db: sqlite3.Connection) -> None:
    """Records, their keyword index, the outbox and the store's settings."""
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        """CREATE TABLE IF NOT EXISTS records (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            agent_id TEXT,
            session_id TEXT,
            kind TEXT NOT NULL,
            role TEXT NOT NULL,
            text TEXT NOT NULL,
            ts REAL NOT NULL,
            created_at REAL NOT NULL,
            importance REAL NOT NULL,
            metadata TEXT NOT NULL,
            covers TEXT NOT NULL DEFAULT '[]',
            summarized INTEGER NOT NULL DEFAULT 0,
            tokens INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS records_by_session ON records (user_id, session_id, kind, ts, seq)")
    db.execute("CREATE INDEX IF NOT EXISTS records_by_kind ON records (user_id, kind, ts)")
    if not _exists(db, "records_fts"):
        db.execute(KEYWORD_INDEX.format(scope=""))
    db.execute(
        """CREATE TABLE IF NOT EXISTS outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            record_id TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('upsert', 'delete'))
        )"""
    )


def _scoped_keyword_index(db: sqlite3.Connection) -> None:
    """The keyword index gains the per-user ``scope`` column (rebuilt from the records)."""
    found = db.execute("SELECT sql FROM sqlite_master WHERE name = 'records_fts'").fetchone()
    if found is not None and "scope" in str(found[0]):
        return
    db.execute("DROP TABLE IF EXISTS records_fts")
    db.execute(KEYWORD_INDEX.format(scope="scope, "))
    db.create_function("amp_scope", 1, scope_token, deterministic=True)
    db.execute("INSERT INTO records_fts (rowid, text, scope) SELECT seq, text, amp_scope(user_id) FROM records")


LONG_TERM_COLUMNS = (
    ("expires_at", "REAL"),
    ("last_seen", "REAL"),
    ("times_seen", "INTEGER NOT NULL DEFAULT 1"),
    ("superseded_by", "TEXT"),
    ("key", "TEXT"),
)


def _long_term(db: sqlite3.Connection) -> None:
    """Long-term memories: expiry, repeats, supersession and keys; links and history tables."""
    present = {row[1] for row in db.execute("PRAGMA table_info(records)")}
    for name, declaration in LONG_TERM_COLUMNS:
        if name not in present:
            db.execute(f"ALTER TABLE records ADD COLUMN {name} {declaration}")
    db.execute(
        """CREATE TABLE IF NOT EXISTS links (
            user_id TEXT NOT NULL,
            src TEXT NOT NULL,
            dst TEXT NOT NULL,
            relation TEXT NOT NULL,
            strength REAL NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (src, dst, relation)
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS links_by_dst ON links (dst)")
    db.execute(
        """CREATE TABLE IF NOT EXISTS history (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            record_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            at REAL NOT NULL,
            event TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            other_id TEXT
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS history_by_record ON history (record_id)")
    db.execute("CREATE INDEX IF NOT EXISTS records_by_key ON records (user_id, kind, key)")
    # the worker's expiry sweep reads this every expiry_interval: no scan of every record
    db.execute("CREATE INDEX IF NOT EXISTS records_by_expiry ON records (expires_at) WHERE expires_at IS NOT NULL")


def _working_memory(db: sqlite3.Connection) -> None:
    """Working-memory blocks (every version kept) and the extraction cursor of each session."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS blocks (
            user_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            text TEXT NOT NULL,
            char_limit INTEGER NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (user_id, session_id, name, version)
        )"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS extraction (
            user_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            cursor INTEGER NOT NULL,
            pending TEXT,
            PRIMARY KEY (user_id, session_id)
        )"""
    )


def _outbox_user(db: sqlite3.Connection) -> None:
    """Queued vector deletions name their record's user (each user's vectors are apart)."""
    if not any(row[1] == "user_id" for row in db.execute("PRAGMA table_info(outbox)")):
        db.execute("ALTER TABLE outbox ADD COLUMN user_id TEXT")


def _user_terms(db: sqlite3.Connection) -> None:
    """The keyword index holds per-user terms (see :func:`user_terms`), rebuilt from the records."""
    rebuild_keyword_index(db)


@dataclass(frozen=True)
class Migration:
    """One numbered change of the schema."""

    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


MIGRATIONS = (
    Migration(1, "records, keyword index, outbox, meta", _first_release),
    Migration(2, "keyword index scoped by user", _scoped_keyword_index),
    Migration(3, "long-term memories: expiry, repeats, supersession, keys, links, history", _long_term),
    Migration(4, "working-memory blocks and extraction cursors", _working_memory),
    Migration(5, "the user of each queued vector deletion", _outbox_user),
    Migration(6, "keyword index of per-user terms", _user_terms),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
"""The version of a store this release writes."""


def migrate(connection: SQLiteConnection) -> list[int]:
    """Apply the steps the store lacks, each in its own write transaction; returns the versions
    applied. Two processes opening an old store at once apply each step once: the version is read
    again inside each transaction. A store newer than this release is refused, untouched. A keyword
    index built with other terms (another stemmer or Unicode version) is rebuilt."""
    found = connection.schema_version()
    if found > SCHEMA_VERSION:
        raise StoreVersionError(
            f"this store has schema version {found}, but this release of agent-memory-plugins knows up to "
            f"{SCHEMA_VERSION}: upgrade agent-memory-plugins to open it (nothing was changed)"
        )
    applied: list[int] = []
    for step in MIGRATIONS:
        if found >= step.version:  # an up-to-date store takes no write lock
            continue
        with connection.transaction() as db:
            if user_version(db) < step.version:
                step.apply(db)
                db.execute(f"PRAGMA user_version = {step.version}")
                applied.append(step.version)
    with connection.snapshot() as query:
        built_with = query("SELECT value FROM meta WHERE key = ?", (TERMS_STATE,))
    if built_with != [(terms.IDENTITY,)]:  # built with another stemmer or Unicode version
        with connection.transaction() as db:  # read again: another process may have rebuilt it
            if db.execute("SELECT value FROM meta WHERE key = ?", (TERMS_STATE,)).fetchall() != [(terms.IDENTITY,)]:
                rebuild_keyword_index(db)
    return applied


def _exists(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None
