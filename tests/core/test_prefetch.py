"""Bulk imports are embedded ahead of the indexer, sorted by length, each text once; a text
forgotten while it is being embedded is not cached."""

from __future__ import annotations

from typing import Any

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.indexes import prefetch


class Recording:
    """A small deterministic embedder that records each call's texts."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.during: Any = None

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return [[float(len(text)), float(sum(map(ord, text)) % 97), 1.0] for text in texts]


def turns(count: int) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant",
             "content": f"Speaker {i % 2}: " + "word " * ((i * 7) % 13) + f"(note {i})"} for i in range(count)]


def test_an_import_is_embedded_in_length_order_once_before_the_indexer_runs(monkeypatch: Any) -> None:
    monkeypatch.setattr(prefetch, "CHUNK", 16)
    embedder = Recording()
    with MemoryCore(embedder=embedder, background=False, window_messages=None) as core:
        messages = turns(40)
        core.add_messages("s1", messages, user_id="ana")
        core.flush()
        texts = [m["content"] for m in messages]
        assert embedder.calls[:3] == [sorted(texts, key=len)[i:i + 16] for i in (0, 16, 32)]
        embedded = [text for call in embedder.calls for text in call]
        assert sorted(embedded) == sorted(texts)  # each once: the indexer found them all cached
        assert core.stats()["vectors"] == 40
        assert core.search("note 7", user_id="ana", k=40)


def test_a_text_forgotten_while_it_is_embedded_is_not_cached_nor_indexed() -> None:
    embedder = Recording()
    with MemoryCore(embedder=embedder, background=False, window_messages=None) as core:
        records = core.add_messages("s1", turns(6), user_id="ana")
        gone = records[2]
        embedder.during = lambda: core.forget(memory_id=gone.id, user_id="ana")
        core.flush()
        assert core.embedder.uncached([gone.text]) == [gone.text]
        assert core.embedder.uncached([r.text for r in records if r is not gone]) == []
        assert core.stats()["vectors"] == 5
        assert gone.id not in {hit.record.id for hit in core.search(gone.text, user_id="ana", k=10)}
