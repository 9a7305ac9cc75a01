"""The write path never waits for a model: while the embedding model is still to be loaded,
``remember`` stores at once and the worker checks for paraphrased repeats later."""

from __future__ import annotations

from collections.abc import Sequence

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.indexes.embeddings import SentenceTransformerEmbedder


class Loading:
    """The default model, reporting itself not loaded until the worker first embeds with it."""

    name = "sentence-transformers/all-MiniLM-L6-v2"

    def __init__(self) -> None:
        self.model = SentenceTransformerEmbedder()
        self.loaded = False
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        self.loaded = True
        return self.model.embed(texts)


def test_remember_does_not_embed_while_the_model_loads_and_the_worker_folds_paraphrases() -> None:
    embedder = Loading()
    with MemoryCore(embedder=embedder, background=False) as core:
        first = core.remember("I'm allergic to peanuts", user_id="ana")
        again = core.remember("I am allergic to peanuts", user_id="ana")
        assert embedder.calls == 0  # nothing waited for the model
        assert again.id != first.id  # the paraphrase check is deferred
        exact = core.remember("I'm allergic to peanuts", user_id="ana")
        assert exact.id == first.id  # exact repeats are still found on the write path
        core.flush()  # the worker: loads the model, indexes, then folds the paraphrase into the first
        facts = core.records(user_id="ana", kinds="fact")
        assert [r.id for r in facts] == [first.id] and facts[0].times_seen == 3
        other = core.remember("My sister is allergic to shellfish", user_id="ana")  # model ready now
        assert other.id != first.id and embedder.calls > 1


def test_default_embedder_reports_whether_its_model_is_loaded() -> None:
    with MemoryCore() as core:
        core.remember("warm", user_id="x")
        core.flush()
        assert core.embedder.ready()
