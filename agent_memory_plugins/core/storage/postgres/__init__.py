"""The PostgreSQL record store (extra ``[postgres]``): one memory for many processes and machines."""

from .engine import PostgresRecordStore

__all__ = ["PostgresRecordStore"]
