"""The SQLite engine of the record store (the embedded default)."""

from .engine import SQLiteRecordStore

__all__ = ["SQLiteRecordStore"]
