"""Fixtures of the LangChain adapter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent_memory_plugins import MemoryCore
from engine_matrix import record_engine


@pytest.fixture
def window10() -> Iterator[MemoryCore]:
    """An in-memory core whose window keeps 10 messages."""
    core = MemoryCore(window_messages=10, fold_batch=2)
    yield core
    core.close()

__all__ = ["record_engine"]  # every test here runs on SQLite and on PostgreSQL
