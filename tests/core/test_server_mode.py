"""The same contract through chromadb.HttpClient against a real `chroma run` on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_memory_plugins import MemoryCore

from .chroma_server import chroma_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with chroma_server(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url


def test_server_mode_contract(server_url: str, tmp_path: Path) -> None:
    with MemoryCore(tmp_path / "store", chroma_url=server_url, window_messages=4, fold_batch=2) as memory:
        assert memory.index.mode == "server"
        memory.add_message("s1", "user", "My daughter Lena plays the cello.", user_id="ana")
        for i in range(6):
            memory.add_message("s1", "assistant" if i % 2 else "user", f"chatting {i}", user_id="ana")
        memory.remember("Ben's car is a green Volvo.", user_id="ben")
        memory.flush()
        hits = memory.search("which instrument does my child play?", user_id="ana", k=3)
        assert "Lena" in hits[0].record.text and hits[0].explain["dense_rank"] >= 1
        assert all(h.record.user_id == "ana" for h in memory.search("Volvo car", user_id="ana"))
        assert "Lena" in memory.summary("s1", user_id="ana")
        assert memory.stats()["vectors"] == memory.stats()["records"]
        assert memory.forget(user_id="ben") == 1
        assert memory.stats()["vectors"] == memory.stats()["records"]
    with MemoryCore(tmp_path / "store", chroma_url=server_url) as memory:  # restart
        assert "Lena" in memory.search("cello", user_id="ana")[0].record.text


WRITER = """
import sys
from agent_memory_plugins import MemoryCore
url, folder, name = sys.argv[1:4]
with MemoryCore(folder, chroma_url=url, chroma_collection="shared") as memory:
    for i in range(30):
        memory.add_message(name, "user", f"process {name} says number {i}", user_id="shared-user")
    memory.flush()
"""


def test_several_processes_share_one_store_through_the_server(server_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    processes = [
        subprocess.Popen([sys.executable, "-c", WRITER, server_url, str(folder), f"p{n}"]) for n in range(3)
    ]
    assert [p.wait(timeout=300) for p in processes] == [0, 0, 0]
    with MemoryCore(folder, chroma_url=server_url, chroma_collection="shared") as memory:
        memory.flush()
        for n in range(3):
            assert len(memory.messages(f"p{n}", user_id="shared-user")) == 30
        assert memory.index.count() == memory.stats()["records"]
        assert memory.search("process p2 says number 17", user_id="shared-user")[0].record.session_id == "p2"
        # every process of the store used one collection, named from the store's identity
        assert memory.index.name == f"shared-{memory.store.secret('store_id')[:12]}"
        mine = memory.store.secret("store_id")  # (the server also holds other tests' stores)
        owned = sorted(c.name for c in memory.index.client.list_collections()
                       if (c.metadata or {}).get("agent_memory_store") == mine)
        user_digest = memory.index.scope("shared-user")[:16]  # and one collection for its one user
        assert owned == [memory.index.name, f"{memory.index.name}-{user_digest}"]
