"""Fixtures of the server tests: a seeded store served by a real uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi", reason="the server tests need the [server] extra (FastAPI, uvicorn)")

from agent_memory_plugins import MemoryCore  # noqa: E402

from .support import Running, running, seed  # noqa: E402


@pytest.fixture
def core() -> Iterator[MemoryCore]:
    """An in-memory core with a small window, so sessions fold into summaries."""
    memory = MemoryCore(window_messages=4, fold_batch=2)
    yield memory
    memory.close()


@pytest.fixture
def ids(core: MemoryCore) -> dict[str, str]:
    """The seeded store's ids by name (see ``support.seed``)."""
    return seed(core)


@pytest.fixture
def server(core: MemoryCore, ids: dict[str, str]) -> Iterator[Running]:
    """The seeded store behind a real server that needs the test key."""
    with running(core) as live:
        yield live
