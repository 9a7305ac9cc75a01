"""Fixtures of the record-store contract suite: one store per engine of :data:`.engines.ENGINES`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent_memory_plugins.core.storage import RecordStore

from .engines import ENGINES, LAYOUT, TURNS, Engine

Connect = Callable[[], RecordStore]


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each engine in turn."""
    return ENGINES[request.param]


@pytest.fixture
def opener(engine: Engine, tmp_path: Path) -> Iterator[Connect]:
    """Opens a connection to the test's store (context index opened); all are closed after the test."""
    opened: list[RecordStore] = []

    def open_store() -> RecordStore:
        store = engine.open(tmp_path)
        opened.append(store)
        store.open_context_index(TURNS, LAYOUT)
        return store

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Connect) -> RecordStore:
    """A new, empty store."""
    return opener()


@pytest.fixture
def connect(engine: Engine, opener: Connect, store: RecordStore) -> Connect:
    """Opens another connection to ``store`` (another process's view of it, or the store reopened
    after ``store.close()``). Tests that need it are skipped for engines without one."""
    if not engine.shared:
        pytest.skip(f"{engine.name} lives in one connection: there is no second connection or reopening")
    return opener
