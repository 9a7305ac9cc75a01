"""Long-term recall: one query through both indexes, fused, adjusted and explained.

The path of a search: the ``where`` filter is resolved by the record store (dense search is then
limited to exactly those ids); the query is embedded once and the vector index (the user's own
collection) returns its nearest records; meanwhile, on another thread, the record store returns
keyword candidates (by their own words and their neighbours'; so the keyword side costs no time
when the machine has a core to spare: it is done before the query embedding is);
keyword favourites the approximate dense search missed get their exact similarity; the two score
lists are fused (:func:`.ranking.fuse`); the record store's scoring fields (importance, when it was
said, whether it only asks) adjust each score for recency, importance, the time the query names,
questions, and (for a query about the one who asks) assistant replies; superseded records move
below their successors; links are followed on request.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ...errors import InvalidInputError, VectorIndexUnavailableError
from ...records import Hit, MemoryRecord
from ...settings import Settings
from ..indexes.embeddings import CachedEmbedder
from ..indexes.passages import collapse, passage_ids, with_passages
from ..indexes.vectors import ChromaIndex
from ..storage.interface import Filters, RecordStore, StoredRow
from .associations import expand_links, rank_superseded
from .keywords import query_terms
from .query_analysis import asks_about_asker, find_time
from .ranking import (
    RESCORED,
    Weights,
    filler_factor,
    final_score,
    fuse,
    question_factor,
    role_factor,
    states,
    time_factor,
    with_rescored,
)
from .rerank import Reranker, rerank
from .sessions import session_factors

SUPERSESSION_MARGIN = 10
"""Candidates read beyond ``k`` so that a superseded record moving below its successor is refilled."""
SCORED = 60
"""Best fused candidates whose scoring fields (importance, time said, whether it asks) are read
and weighed; the rest of the (up to twice ``candidates``) fused ones cannot reach the top ``k``
often enough to pay for reading them (LoCoMo dev recall@10: 0.831 reading all, 0.829 the best 60,
0.823 the best 30). When the query names a time, all are weighed: a record from that time scores
×2 and can come from anywhere in the fused ranking."""
SESSION_CANDIDATES = 30
"""Best candidates among which sessions lend weight to their turns (``session_weight``)."""
MAX_ID_FILTER = 10_000
"""Most records a ``where`` filter may select for dense search to be limited to exactly them."""
DENSE, UNAVAILABLE = "dense", "unavailable"
"""``explain["dense"] == "unavailable"``: the Chroma server could not be reached, the hit was
found by its words alone."""


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _keyword_thread() -> ThreadPoolExecutor:
    """The process's threads for keyword searches that run beside the query's embedding."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="agent-memory-keywords")
        return _executor


class Recall:
    """Hybrid search over one record store and its vector index."""

    def __init__(
        self, store: RecordStore, index: ChromaIndex, embedder: CachedEmbedder, settings: Settings,
        reranker: Reranker | None = None,
    ) -> None:
        self.store = store
        self.reranker = reranker
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.weights = Weights.from_settings(settings)
        self.passages = settings.passage_words > 0
        """Whether long messages have passage vectors, whose ids an id-limited query must name."""

    def search(self, text: str, filters: Filters, k: int, follow_links: bool = False) -> list[Hit]:
        """The ``k`` records within ``filters`` that best match ``text`` (arguments already checked)."""
        limit = max(k, self.settings.candidates)
        dense: list[tuple[str, float]] = []
        allowed = self.store.ids_matching(filters, MAX_ID_FILTER + 1) if filters.where else None
        if allowed is not None and len(allowed) > MAX_ID_FILTER:
            allowed, limit = None, limit * 4  # too many to list: filter the nearest ones afterwards
        unavailable = False  # the Chroma server cannot be reached: keywords alone (the index warns once)
        words: Future[list[tuple[str, float]]] = _keyword_thread().submit(
            self.store.keyword_candidates, query_terms(text), filters, limit, self.settings.context_weight
        )
        try:
            if self.settings.dense_weight > 0 and allowed != [] and not self.index.is_empty(filters.user_id):
                vector = self.embedder.embed_query(text)
                dense = self.index.query(vector, filters, limit, with_passages(allowed) if self.passages else allowed)
        except VectorIndexUnavailableError:
            unavailable = True
        finally:
            keyword = words.result()  # its errors (a closed store) are raised here
        dense_complete = len(dense) < limit  # every vector in scope came back
        dense, passages = collapse(dense)  # a long message's passages count as the message
        if dense:  # keyword favourites that the approximate dense search missed: score them exactly
            seen = {record_id for record_id, _ in dense}
            missed = [record_id for record_id, _ in keyword[:RESCORED] if record_id not in seen]
            try:
                wanted = missed + passage_ids(missed) if self.passages else missed
                exact = self.index.similarities(vector, wanted, filters.user_id)
                dense = with_rescored(dense, dict(collapse(list(exact.items()))[0]))
            except VectorIndexUnavailableError:  # gone since the query: keep what it returned
                unavailable = True
        parts = fuse(dense, keyword, self.weights, dense_complete)
        depth = max(k, self.settings.rerank_candidates) if self.reranker is not None else k
        newest = (lambda: self.store.newest_timestamp(filters.user_id)) if self.weights.relative_time > 0 else None
        span = find_time(text, newest) if self.weights.time > 0 else None  # time_boost 0 turns both off
        scored = max(SCORED, depth + SUPERSESSION_MARGIN)
        if len(parts) > scored and span is None:  # a time the query names lifts any candidate: all are weighed
            best_fused = sorted(parts, key=lambda record_id: parts[record_id]["fusion"], reverse=True)[:scored]
            parts = {record_id: parts[record_id] for record_id in best_fused}
        fields = self.store.scoring_fields(list(parts), filters)  # the record store has the last word
        now = time.time()
        explains: dict[str, dict[str, Any]] = {}
        unasked: dict[str, float] = {}  # each score before the question factor (a text that states is spared it)
        for record_id, (importance, said, asks) in fields.items():
            explain: dict[str, Any] = {**parts[record_id], **final_score(parts[record_id]["fusion"], importance,
                                                                         now - said, self.weights)}
            if record_id in passages:
                explain["dense_passage"] = passages[record_id]
            if unavailable:
                explain[DENSE] = UNAVAILABLE
            when = time_factor(span, said, self.weights)
            if when != 1.0:
                explain["time"], explain["score"] = when, explain["score"] * when
            unasked[record_id] = explain["score"]
            question = question_factor(asks, self.weights)
            if question != 1.0:
                explain["question"], explain["score"] = question, explain["score"] * question
            explains[record_id] = explain
        best = sorted(explains, key=lambda record_id: explains[record_id]["score"], reverse=True)
        settled = depth + SUPERSESSION_MARGIN  # the best this many must be the best by their final scores
        if self.settings.session_weight > 0:
            settled = max(settled, SESSION_CANDIDATES)
        about_asker = self.weights.assistant != 1.0 and asks_about_asker(text)
        rows: dict[str, StoredRow] = {}
        read = settled
        while True:  # whole records, the best only: their texts move some down, read on until none below can pass
            found = self.store.get_matching([i for i in best[:read] if i not in rows], filters)
            for record_id, row in found.items():
                self._weigh_text(explains[record_id], row.record, unasked[record_id], about_asker)
            rows.update(found)
            if read >= len(best) or self.settings.session_weight > 0:
                break
            final = sorted((explains[i]["score"] for i in rows), reverse=True)
            if len(final) >= settled and final[settled - 1] >= max(unasked[i] for i in best[read:]):
                break  # no record not read yet can enter the best ``settled``: its text can only lower its score
            read *= 2
        lend = session_factors({i: explains[i]["score"] for i in rows},
                               {i: row.record.session_id for i, row in rows.items()}, self.settings.session_weight)
        for record_id, factor in lend.items():  # a session matching as a whole lends weight to its turns
            explain = explains[record_id]
            explain["session"], explain["score"] = factor, explain["score"] * factor
        best.sort(key=lambda record_id: explains[record_id]["score"], reverse=True)
        if self.reranker is not None:  # the plugged-in model orders the best candidates
            texts = {record_id: row.record.text for record_id, row in rows.items()}
            best = rerank(self.reranker, text, best, texts, explains, depth)
        hits = [Hit(rows[i].record, explains[i]["score"], explains[i]) for i in best if i in rows]

        def scoped(ids: list[str]) -> dict[str, MemoryRecord]:
            return {i: row.record for i, row in self.store.get_matching(ids, filters).items()}

        hits = rank_superseded(hits, scoped, self.settings.superseded_weight)[:k]
        if follow_links is True:
            hits = expand_links(
                hits,
                lambda ids: self.store.links(ids, filters.user_id, None, self.settings.link_threshold),
                lambda ids: {i: row.record for i, row in self.store.get(ids, filters.user_id).items()},
            )
        elif follow_links is not False:
            raise InvalidInputError(f"follow_links must be True or False, got {follow_links!r}")
        return hits

    def _weigh_text(self, explain: dict[str, Any], record: MemoryRecord, unasked: float, about_asker: bool) -> None:
        """Adjust a candidate's score by what its text and kind show: a text that states something
        before it asks is spared the question factor (its score goes back to ``unasked``), and
        content-free turns, assistant replies to a question about the asker and summaries move down."""
        if "question" in explain and states(record.text, self.settings.question_statement_words):
            del explain["question"]  # it asks, but says something first
            explain["score"] = unasked
        filler = filler_factor(record.text, self.weights)
        if filler != 1.0:
            explain["filler"], explain["score"] = filler, explain["score"] * filler
        role = role_factor(record.role, about_asker, self.weights)
        if role != 1.0:  # a question about the asker: their own messages hold the facts
            explain["role"], explain["score"] = role, explain["score"] * role
        if record.kind == "summary" and self.settings.summary_weight != 1.0:  # below the turns
            explain["summary"] = self.settings.summary_weight
            explain["score"] *= self.settings.summary_weight
