"""Durable storage under the core: one record-store interface and its engines.

The core talks to storage only through :class:`RecordStore`; SQL text lives in the engines
(``sqlite/``, ``postgres/``). :func:`open_record_store` picks the engine from the settings.
"""

from __future__ import annotations

import os

from ...settings import Settings
from .interface import (
    Activity,
    ContextBatch,
    ExtractionState,
    Filters,
    Neighbourhood,
    OutboxItem,
    RecordStore,
    StoredRow,
)
from .sqlite import SQLiteRecordStore

__all__ = [
    "Activity",
    "ContextBatch",
    "ExtractionState",
    "Filters",
    "Neighbourhood",
    "OutboxItem",
    "RecordStore",
    "SQLiteRecordStore",
    "StoredRow",
    "open_record_store",
]

DATABASE_FILE = "memory.db"
"""The SQLite file's name inside a store's folder."""


def open_record_store(settings: Settings) -> RecordStore:
    """The record store the settings name: PostgreSQL at ``settings.database_url``, else SQLite
    under ``settings.path`` (in memory without one)."""
    if settings.database_url:
        from .postgres import PostgresRecordStore

        return PostgresRecordStore(
            settings.database_url, pool_size=settings.database_pool_size, lease_seconds=settings.claim_lease_seconds
        )
    folder = settings.path
    return SQLiteRecordStore(os.path.join(folder, DATABASE_FILE) if folder else None, settings.durability)
