"""The record-store engines the contract suite runs against, and helpers to build records.

Add an engine by adding an :class:`Engine` to :data:`ENGINES`: every test in ``test_record_store_*``
then runs against it. Tests use the :class:`RecordStore` methods only (no SQL, no private state).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent_memory_plugins.core.storage import Filters, RecordStore, SQLiteRecordStore
from agent_memory_plugins.core.storage.postgres.schema import SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION
from agent_memory_plugins.core.storage.sqlite.schema import SCHEMA_VERSION
from agent_memory_plugins.core.validation import from_epoch
from agent_memory_plugins.records import Block, MemoryRecord

TURNS = 2
"""Neighbours on each side that make a message's context in these tests."""
LAYOUT = "0.5"
"""The context layout the tests open stores with."""
BASE = 1_700_000_000.0
"""Epoch seconds the test records are said at (plus their offset): November 2023."""


@dataclass(frozen=True)
class Engine:
    """How to open one engine's store.

    ``open(folder)`` opens a connection to the test's store (``folder``: the test's own temporary
    folder); ``shared``: a second ``open`` reaches the same data (another process's connection), so
    the tests of several connections and of reopening apply; ``schema_version``: what a new store reports.
    """

    name: str
    open: Callable[[Path], RecordStore]
    shared: bool
    schema_version: int


_databases: dict[Path, str] = {}


def open_postgres(folder: Path) -> RecordStore:
    """A PostgreSQL store in the test cluster: one new database per test folder (skips the test
    when no cluster can be had, saying how to get one). Claims are leased for no time, so a claim
    not acknowledged is claimed again at once, as in the SQLite engine (leases: test_postgres_fleet)."""
    from agent_memory_plugins.core.storage.postgres import PostgresRecordStore
    from postgres_cluster import Unavailable, database_url

    if folder not in _databases:
        try:
            _databases[folder] = database_url()
        except Unavailable as error:
            pytest.skip(str(error))
    return PostgresRecordStore(_databases[folder], pool_size=4, lease_seconds=0.0)


ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (
        Engine("sqlite-memory", lambda folder: SQLiteRecordStore(None), False, SCHEMA_VERSION),
        Engine("sqlite-file", lambda folder: SQLiteRecordStore(str(folder / "memory.db")), True, SCHEMA_VERSION),
        Engine("postgres", open_postgres, True, POSTGRES_SCHEMA_VERSION),
    )
}


def record(
    record_id: str,
    text: str = "plain words",
    *,
    at: float = 0.0,
    user: str = "alice",
    session: str | None = "s1",
    kind: str = "message",
    role: str = "user",
    **fields: Any,
) -> MemoryRecord:
    """A record said (and written) ``at`` seconds after :data:`BASE`; ``fields``: any other field."""
    when = from_epoch(BASE + at)
    return MemoryRecord(
        id=record_id, text=text, role=role, kind=kind, user_id=user, session_id=session,
        timestamp=when, created_at=when, **fields,
    )


def fact(record_id: str, text: str = "a fact", *, at: float = 0.0, user: str = "alice", **fields: Any) -> MemoryRecord:
    """A long-term memory (kind ``fact``, outside any session)."""
    return record(record_id, text, at=at, user=user, session=None, kind="fact", role="system", **fields)


def add(store: RecordStore, *records: MemoryRecord, tokens: int = 3) -> None:
    """Store ``records`` in one :meth:`RecordStore.add_records` call."""
    store.add_records([(item, tokens) for item in records])


def chat(store: RecordStore, session: str, texts: list[str], *, user: str = "alice", prefix: str = "") -> list[str]:
    """Store a session's messages one second apart (one call); returns their ids ``<prefix><session>-<n>``."""
    records = [record(f"{prefix}{session}-{n}", text, at=n, user=user, session=session) for n, text in enumerate(texts)]
    add(store, *records)
    return [item.id for item in records]


def drain_outbox(store: RecordStore) -> None:
    """Apply every pending outbox item as the core's indexer does: queue the upserted records for
    their context rows, then acknowledge the items (the vector index has applied them)."""
    while items := store.claim_outbox(1000):
        store.queue_context([item.record_id for item in items if item.op == "upsert"])
        store.ack_outbox([item.seq for item in items])


def drain_context(store: RecordStore) -> None:
    """Build every queued context row and take it off the queue."""
    while (batch := store.claim_context(1000)) is not None:
        store.finish_context(batch)


def ids(rows: Any) -> list[str]:
    """The record ids of a list of :class:`StoredRow`."""
    return [row.record.id for row in rows]


def past() -> datetime:
    """An expiry an hour ago (a record with it is expired)."""
    return from_epoch(round(time.time()) - 3600)


def future() -> datetime:
    """An expiry an hour from now."""
    return from_epoch(round(time.time()) + 3600)


def outbox(store: RecordStore, **options: Any) -> list[tuple[str, str]]:
    """The pending outbox items as (record id, op), oldest first (claimed, not acknowledged)."""
    return [(item.record_id, item.op) for item in store.claim_outbox(1000, **options)]


def keyword_ids(store: RecordStore, words: list[str], user: str = "alice", weight: float = 0.0) -> list[str]:
    """Ids that keyword search finds for ``words`` among ``user``'s records, best first."""
    return [record_id for record_id, _ in store.keyword_candidates(words, Filters(user), 50, weight)]


def summary_of(record_id: str, covers: list[str], at: float = 10, session: str = "s1") -> tuple[MemoryRecord, int]:
    """A summary of ``covers`` in ``session`` with its token count, for :meth:`RecordStore.replace_summary`."""
    return record(record_id, f"summary {record_id}", at=at, session=session, kind="summary", role="system",
                  covers=tuple(covers)), 4


def block(
    name: str, text: str = "some notes", *, version: int = 1, user: str = "alice", session: str | None = None,
    limit: int = 100, at: float = 0.0,
) -> Block:
    """A version of a working-memory block (``session=None``: the user's own block)."""
    return Block(name=name, text=text, user_id=user, session_id=session, limit=limit, version=version,
                 updated_at=from_epoch(BASE + at))
