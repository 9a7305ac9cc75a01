"""Fixtures of the server tests: a seeded store served by a real uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi", reason="the server tests need the [server] extra (FastAPI, uvicorn)")

from agent_memory_plugins import MemoryCore

from .support import Running, running, seed


@pytest.fixture
def core(memory: MemoryCore) -> MemoryCore:
    """The suite's in-memory core (a window of 6 messages, folded 2 at a time)."""
    return memory


@pytest.fixture
def ids(core: MemoryCore) -> dict[str, str]:
    """The seeded store's ids by name (see ``support.seed``)."""
    return seed(core)


@pytest.fixture
def server(core: MemoryCore, ids: dict[str, str]) -> Iterator[Running]:
    """The seeded store behind a real server that needs the test key."""
    with running(core) as live:
        yield live
