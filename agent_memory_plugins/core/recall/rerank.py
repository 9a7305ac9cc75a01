"""An optional reranking stage: a model the user plugs in re-orders the best fused candidates.

``MemoryCore(reranker=...)`` accepts:

- a sentence-transformers ``CrossEncoder`` model name (``str``), loaded on first use; its
  ``predict`` scores each (query, text) pair;
- a ``CrossEncoder`` (or any object with ``predict(pairs) -> scores``);
- a LangChain ``BaseDocumentCompressor`` (``compress_documents(documents, query)``, e.g.
  ``CrossEncoderReranker``, ``CohereRerank``, ``LLMChainFilter``): the order it returns is the new
  order; documents it drops rank after those it keeps, in their fused order;
- a LlamaIndex ``BaseNodePostprocessor`` (``postprocess_nodes(nodes, query_str=...)``, e.g.
  ``SentenceTransformerRerank``, ``LLMRerank``): likewise;
- a callable ``(query, texts) -> scores`` (one number per text, higher is better).

:func:`resolve_reranker` turns any of them into a :class:`Reranker`; bad input (another type, a
callable that returns the wrong number of scores or something that is not a number) raises
:class:`~agent_memory_plugins.errors.ConfigurationError` or
:class:`~agent_memory_plugins.errors.RerankerError` naming the problem. Nothing stored changes.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ...errors import ConfigurationError, RerankerError

__all__ = ["Reranker", "rerank", "resolve_reranker"]

Scorer = Callable[[str, list[str]], Sequence[Any]]


class Reranker:
    """Scores texts for a query with a plugged-in model; higher is better."""

    def __init__(self, name: str, scorer: Scorer) -> None:
        self.name = name
        self._scorer = scorer

    def scores(self, query: str, texts: list[str]) -> list[float]:
        """One finite number per text, checked."""
        if not texts:
            return []
        try:
            found = list(self._scorer(query, texts))
        except (RerankerError, ConfigurationError):
            raise
        except Exception as error:
            raise RerankerError(f"reranker {self.name} failed: {type(error).__name__}: {error}") from error
        if len(found) != len(texts):
            raise RerankerError(
                f"reranker {self.name} returned {len(found)} scores for {len(texts)} texts; it must "
                "return one number per text, in the order given"
            )
        out = []
        for position, value in enumerate(found):
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if isinstance(value, (bool, str)) or not math.isfinite(number):
                raise RerankerError(f"reranker {self.name} returned {value!r} for text {position}; "
                                    "scores must be finite numbers")
            out.append(number)
        return out


def resolve_reranker(reranker: Any) -> Reranker | None:
    """Turn what the user passed as ``reranker=`` into a :class:`Reranker` (``None``: no reranking)."""
    if reranker is None:
        return None
    if isinstance(reranker, str):
        if not reranker.strip():
            raise ConfigurationError("reranker must name a CrossEncoder model, got an empty string")
        return Reranker(f"cross-encoder/{reranker}", _CrossEncoderByName(reranker))
    if hasattr(reranker, "compress_documents"):
        return Reranker(f"langchain/{type(reranker).__name__}", _langchain(reranker))
    if hasattr(reranker, "postprocess_nodes"):
        return Reranker(f"llama-index/{type(reranker).__name__}", _llama_index(reranker))
    if hasattr(reranker, "predict") and callable(reranker.predict):
        return Reranker(f"cross-encoder/{type(reranker).__name__}", _cross_encoder(reranker))
    if callable(reranker):
        name = getattr(reranker, "__qualname__", type(reranker).__name__)
        return Reranker(f"callable/{name}", reranker)
    raise ConfigurationError(
        "reranker must be a CrossEncoder model name, a CrossEncoder, a LangChain BaseDocumentCompressor, "
        f"a LlamaIndex BaseNodePostprocessor or a callable (query, texts) -> scores; got {type(reranker).__name__}"
    )


def _cross_encoder(model: Any) -> Scorer:
    def score(query: str, texts: list[str]) -> Sequence[Any]:
        return list(model.predict([(query, text) for text in texts]))

    return score


class _CrossEncoderByName:
    """A sentence-transformers ``CrossEncoder`` loaded on first use."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._model: Any = None
        self._lock = threading.Lock()

    def __call__(self, query: str, texts: list[str]) -> Sequence[Any]:
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import CrossEncoder
                except ImportError as error:  # pragma: no cover - a core dependency
                    raise ConfigurationError("reranker by name needs sentence-transformers") from error
                try:
                    self._model = CrossEncoder(self.name)
                except OSError as error:
                    raise RerankerError(f"the CrossEncoder model {self.name!r} cannot be loaded: {error}") from error
        return _cross_encoder(self._model)(query, texts)


def _by_order(kept: Sequence[Any], count: int) -> list[float]:
    """Scores that put ``kept`` (indices, best first) first and the other indices after, in order."""
    scores = [0.0] * count
    seen = set()
    for position, index in enumerate(kept):
        if not isinstance(index, int) or not 0 <= index < count or index in seen:
            raise RerankerError(f"the reranker returned an item that was not among those given ({index!r})")
        seen.add(index)
        scores[index] = float(2 * count - position)
    rest = [i for i in range(count) if i not in seen]
    for position, index in enumerate(rest):
        scores[index] = float(count - position)
    return scores


_INDEX = "agent_memory_plugins_rank"


def _langchain(compressor: Any) -> Scorer:
    def score(query: str, texts: list[str]) -> list[float]:
        from langchain_core.documents import Document

        documents = [Document(page_content=text, metadata={_INDEX: i}) for i, text in enumerate(texts)]
        kept = compressor.compress_documents(documents, query)
        return _by_order([doc.metadata.get(_INDEX) for doc in kept], len(texts))

    return score


def _llama_index(postprocessor: Any) -> Scorer:
    def score(query: str, texts: list[str]) -> list[float]:
        from llama_index.core.schema import NodeWithScore, TextNode

        nodes = [NodeWithScore(node=TextNode(text=text, id_=f"{_INDEX}-{i}"), score=float(len(texts) - i))
                 for i, text in enumerate(texts)]
        kept = postprocessor.postprocess_nodes(nodes, query_str=query)
        return _by_order([_position(item) for item in kept], len(texts))

    return score


def _position(item: Any) -> int | str:
    node_id = str(getattr(getattr(item, "node", None), "node_id", ""))
    prefix = f"{_INDEX}-"
    return int(node_id[len(prefix):]) if node_id.startswith(prefix) and node_id[len(prefix):].isdigit() else node_id


def rerank(
    reranker: Reranker, query: str, ids: list[str], texts: dict[str, str], explains: dict[str, dict[str, Any]],
    depth: int,
) -> list[str]:
    """``ids`` (best first) with their first ``depth`` (those with a text) in the reranker's order
    (ties keep the fused order), the rest after. The reordered ids keep the scores they had, handed
    out again in the new order (so scores still fall down the list); each one's explain gets
    ``rerank`` (its score from the reranker), ``rerank_ms`` (what the reranker took for the query)
    and ``fused_score`` (its score before)."""
    head = [record_id for record_id in ids[:depth] if record_id in texts]
    if not head:
        return ids
    start = time.perf_counter()
    scores = reranker.scores(query, [texts[record_id] for record_id in head])
    took = (time.perf_counter() - start) * 1000
    order = sorted(range(len(head)), key=lambda i: -scores[i])
    places = sorted((explains[record_id]["score"] for record_id in head), reverse=True)
    for i, place in zip(order, places, strict=True):
        explain = explains[head[i]]
        explain["fused_score"], explain["score"] = explain["score"], place
        explain["rerank"], explain["rerank_ms"] = scores[i], took
    reordered = [head[i] for i in order]
    placed = set(reordered)
    return reordered + [record_id for record_id in ids if record_id not in placed]
