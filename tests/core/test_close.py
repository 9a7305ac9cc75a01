"""close() is quick and bounded (queued work stays queued); close(flush=True) indexes everything."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.indexes.embeddings import SentenceTransformerEmbedder


class SlowToLoad:
    """The default model behind a load that blocks until the test lets it finish."""

    name = "sentence-transformers/all-MiniLM-L6-v2"

    def __init__(self) -> None:
        self.model = SentenceTransformerEmbedder()
        self.loaded = False
        self.loading = threading.Event()
        self.release = threading.Event()

    def load(self) -> None:
        self.loading.set()
        self.release.wait(60)
        self.loaded = True

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not self.loaded:
            self.load()
        return self.model.embed(texts)


def test_close_does_not_wait_for_a_model_to_load_and_leaves_the_rest_queued(tmp_path: Path) -> None:
    embedder = SlowToLoad()
    core = MemoryCore(tmp_path / "m", embedder=embedder, index_interval=0.0)
    for i in range(20):
        core.add_message("s", "user", f"message {i} about the garden", user_id="u")
    assert embedder.loading.wait(30)  # the worker is loading the model
    closer = threading.Thread(target=core.close)
    closer.start()
    closer.join(10)
    returned = not closer.is_alive()
    embedder.release.set()
    closer.join()
    assert returned, "close() waited for the model to load"
    with MemoryCore(tmp_path / "m", background=False) as again:
        assert again.stats()["pending_index"] > 0  # still queued, nothing lost
        assert len(again.messages("s", user_id="u")) == 20
        again.flush()
        assert again.stats()["pending_index"] == 0
        assert again.search("garden", user_id="u", k=1)


def test_close_flush_indexes_everything_first(tmp_path: Path) -> None:
    core = MemoryCore(tmp_path / "m", window_messages=4, fold_batch=2, background=False)
    for i in range(12):
        core.add_message("s", "user", f"message {i} about the garden", user_id="u")
    core.close(flush=True)
    core.close()  # a second call does nothing
    with MemoryCore(tmp_path / "m", window_messages=4, background=False) as again:
        assert again.stats()["pending_index"] == 0 and again.summary("s", user_id="u")
