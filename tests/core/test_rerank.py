"""A reranker plugged in with ``reranker=`` orders the best fused candidates; its latency is in
``explain``; LangChain compressors and LlamaIndex postprocessors work as rerankers; a reranker
that fails or answers wrongly gives a clear error and changes nothing stored.

No cross-encoder model can be downloaded here: the plumbing is driven by callables and by real
LangChain / LlamaIndex classes (small subclasses of their public base classes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from agent_memory_plugins import ConfigurationError, MemoryCore, RerankerError

FRUIT = ["I like apples", "I like apple pie", "Bananas are yellow", "Cherries are red", "I grow apple trees"]


def filled(**settings: Any) -> MemoryCore:
    memory = MemoryCore(**settings)
    memory.add_messages("s", [{"role": "user", "content": text} for text in FRUIT])
    memory.flush()
    return memory


def by_length(query: str, texts: list[str]) -> list[float]:
    """Longest text first: an order the fused ranking would never give."""
    return [float(len(text)) for text in texts]


def test_without_a_reranker_nothing_is_reranked() -> None:
    with filled() as memory:
        hits = memory.search("apple", k=3)
        assert all("rerank" not in hit.explain for hit in hits)


def test_a_callable_reranker_orders_the_best_candidates_and_reports_its_latency() -> None:
    seen: list[list[str]] = []

    def reranker(query: str, texts: list[str]) -> list[float]:
        seen.append(list(texts))
        return by_length(query, texts)

    with filled(reranker=reranker, rerank_candidates=4) as memory:
        hits = memory.search("apple", k=2)
        assert len(seen[-1]) == 4  # rerank_candidates of the fused best, not only k
        best_four = sorted(map(len, seen[-1]), reverse=True)
        assert [len(h.record.text) for h in hits] == best_four[:2]
        assert all(h.explain["rerank"] == len(h.record.text) and h.explain["rerank_ms"] >= 0 for h in hits)
        wide = memory.search("apple", k=5)
        assert len(seen[-1]) == 5  # never fewer than k
        assert [len(h.record.text) for h in wide] == sorted(map(len, FRUIT), reverse=True)
        assert [h.score for h in wide] == sorted((h.score for h in wide), reverse=True)


class KeepWordMatches(BaseDocumentCompressor):
    """A LangChain compressor: keeps documents sharing a word with the query, most shared first."""

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        words = set(query.lower().split())
        shared = [(len(words & set(d.page_content.lower().split())), i, d) for i, d in enumerate(documents)]
        return [d for n, _, d in sorted(shared, key=lambda t: (-t[0], -t[1])) if n > 0]


class ShortestFirst(BaseNodePostprocessor):
    """A LlamaIndex postprocessor: the shortest node first, only the three shortest kept."""

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        return sorted(nodes, key=lambda n: len(n.node.get_content()))[:3]


def test_a_langchain_compressor_orders_and_what_it_drops_comes_after() -> None:
    with filled(reranker=KeepWordMatches()) as memory:
        hits = memory.search("i grow apple trees", k=5)
        texts = [h.record.text for h in hits]
        assert texts[0] == "I grow apple trees"  # four words shared
        kept = [t for t in texts if {"i", "grow", "apple", "trees"} & set(t.lower().split())]
        assert texts[: len(kept)] == kept  # documents it dropped rank after those it kept
        assert set(texts) == set(FRUIT)  # nothing is lost


def test_a_llama_index_postprocessor_orders_the_candidates() -> None:
    with filled(reranker=ShortestFirst()) as memory:
        texts = [h.record.text for h in memory.search("fruit", k=5)]
        assert [len(t) for t in texts[:3]] == sorted(map(len, FRUIT))[:3]
        assert set(texts) == set(FRUIT)


@pytest.mark.parametrize(("reranker", "message"), [
    (lambda query, texts: [1.0], "returned 1 scores for"),
    (lambda query, texts: ["high"] * len(texts), "finite numbers"),
    (lambda query, texts: [float("nan")] * len(texts), "finite numbers"),
    (lambda query, texts: 1 / 0, "ZeroDivisionError"),
])
def test_a_reranker_that_answers_wrongly_gives_a_clear_error_and_changes_nothing(reranker: Any, message: str) -> None:
    with filled(reranker=reranker) as memory:
        before = [(r.id, r.text) for r in memory.export()]
        with pytest.raises(RerankerError, match=message):
            memory.search("apple", k=3)
        assert [(r.id, r.text) for r in memory.export()] == before


def test_a_reranker_of_another_type_is_refused_at_construction() -> None:
    for bad in (42, "", object()):
        with pytest.raises(ConfigurationError, match="reranker"):
            MemoryCore(reranker=bad)
    with pytest.raises(ConfigurationError, match="rerank_candidates"):
        MemoryCore(rerank_candidates=0)


def test_a_cross_encoder_that_cannot_be_loaded_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with filled(reranker="no-such-org/no-such-cross-encoder") as memory:
        with pytest.raises(RerankerError, match="no-such-cross-encoder"):
            memory.search("apple", k=2)
        assert len(memory.export()) == len(FRUIT)
