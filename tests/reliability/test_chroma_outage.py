"""The Chroma server goes down and comes back (same port, same data folder) under a running core:
writes go on, search answers from keywords and says so, one warning, and indexing catches up."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_memory_plugins import MemoryCore, VectorIndexUnavailableError
from core.chroma_server import ChromaServer

from .support import HashEmbedder

pytestmark = pytest.mark.server
OPTIONS: dict[str, Any] = {"embedder": HashEmbedder(), "window_messages": 4, "fold_batch": 2, "index_interval": 0.0}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    """A Chroma server of this test alone (the test stops and restarts it)."""
    folder = tmp_path / "chroma-data"
    folder.mkdir()
    chroma = ChromaServer(folder)
    chroma.start()
    yield chroma
    chroma.stop()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def assert_every_record_has_one_vector(memory: MemoryCore, users: list[str]) -> None:
    records = {record.id for user in users for record in memory.export(user_id=user)}
    stored = list(memory.index.stored(None))
    assert len(stored) == len(set(stored)) == memory.index.count() == memory.stats()["records"]
    assert set(stored) == records


def test_writes_go_on_and_search_uses_keywords_while_the_server_is_down(
    server: ChromaServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent_memory_plugins")
    memory = MemoryCore(tmp_path / "store", chroma_url=server.url, **OPTIONS)
    try:
        for i in range(12):
            memory.add_message("before", "user", f"before the outage line {i} early{i}", user_id="u")
        doomed = memory.remember("the spare key is under the blue pot", user_id="u")
        memory.flush()
        assert memory.search("early3", user_id="u", k=1)[0].explain["dense_rank"] >= 1
        caplog.clear()

        server.stop()
        acked = [memory.add_message("during", "user", f"said in the outage line {i} dark{i}", user_id="u")
                 for i in range(10)]
        acked += memory.add_messages("batch", [{"role": "user", "content": f"imported dim{i}"} for i in range(5)],
                                     user_id="u")
        acked.append(memory.remember("my locker code is darkcode 4711", user_id="v"))  # consolidation too
        assert memory.forget(memory_id=doomed.id, user_id="u") == 1  # its vector deletion waits
        for _ in range(3):
            hits = memory.search("dark7 said in the outage", user_id="u", k=3)
            assert hits[0].record.id == acked[7].id
            assert all(hit.explain["dense"] == "unavailable" and "dense_rank" not in hit.explain for hit in hits)
        assert memory.search("early5", user_id="u", k=1)[0].record.text.endswith("early5")
        assert "darkcode" in memory.context("during", "what is my locker code?", user_id="v").render()
        time.sleep(2.5)  # the worker tries, fails and backs off meanwhile
        with pytest.raises(VectorIndexUnavailableError, match="cannot be reached"):
            memory.flush()
        assert memory.indexer.pending() > 0
        assert len(warnings(caplog)) == 1, warnings(caplog)
        assert "cannot be reached" in warnings(caplog)[0] and "keywords alone" in warnings(caplog)[0]

        server.start()  # same port, same data
        memory.flush()
        assert memory.indexer.pending() == 0
        assert_every_record_has_one_vector(memory, ["u", "v"])
        assert doomed.id not in set(list(memory.index.stored(None)))
        hit = memory.search("dark7 said in the outage", user_id="u", k=1)[0]
        assert hit.record.id == acked[7].id and hit.explain["dense_rank"] >= 1 and "dense" not in hit.explain
        assert len(warnings(caplog)) == 1
        assert any("reachable again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    finally:
        memory.close()


def test_store_opened_while_the_server_is_down_catches_up_when_it_is_back(
    server: ChromaServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "store"
    with MemoryCore(folder, chroma_url=server.url, **OPTIONS) as memory:
        for i in range(6):
            memory.add_message("s", "user", f"first run line {i} one{i}", user_id="u")
        memory.flush()
        name = memory.index.name
    server.stop()
    caplog.set_level(logging.WARNING, logger="agent_memory_plugins")
    with MemoryCore(folder, chroma_url=server.url, **OPTIONS) as memory:  # opens; the collection waits
        assert memory.index.collection is None
        for i in range(6):
            memory.add_message("s", "user", f"second run line {i} two{i}", user_id="u")
        assert memory.search("two4", user_id="u", k=1)[0].explain["dense"] == "unavailable"
        assert len(warnings(caplog)) == 1
        server.start()
        memory.flush()
        assert memory.index.name == name  # the same collection: checked when first reached
        assert_every_record_has_one_vector(memory, ["u"])
        assert memory.search("two4", user_id="u", k=1)[0].explain["dense_rank"] >= 1
