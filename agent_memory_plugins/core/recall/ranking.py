"""Pure ranking: fuse the dense and keyword scores, then weigh recency, importance and questions."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ...settings import Settings
from ..longterm.salience import is_filler
from .query_analysis import TimeSpan


@dataclass(frozen=True)
class Weights:
    """How much each signal counts (defaults: those of :class:`Settings`)."""

    dense: float = Settings.dense_weight
    keyword: float = Settings.keyword_weight
    recency: float = Settings.recency_weight
    recency_half_life_days: float = Settings.recency_half_life_days
    importance: float = Settings.importance_weight
    time: float = Settings.time_boost
    relative_time: float = Settings.relative_time_boost
    question: float = Settings.question_weight
    filler: float = Settings.filler_weight
    assistant: float = Settings.assistant_weight

    @classmethod
    def from_settings(cls, settings: Settings) -> Weights:
        """The weights a store's settings ask for."""
        return cls(
            dense=settings.dense_weight, keyword=settings.keyword_weight, recency=settings.recency_weight,
            recency_half_life_days=settings.recency_half_life_days, importance=settings.importance_weight,
            time=settings.time_boost, relative_time=settings.relative_time_boost,
            question=settings.question_weight, filler=settings.filler_weight,
            assistant=settings.assistant_weight,
        )


RESCORED = 20
"""Best keyword candidates whose dense similarity is computed exactly when the approximate dense
search did not return them."""


def with_rescored(dense: Sequence[tuple[str, float]], exact: dict[str, float]) -> list[tuple[str, float]]:
    """The dense ranking with exactly scored extra candidates put in their place (best first).

    Approximate nearest-neighbour search can miss a record, and a dense ranking stops at its
    candidate limit; a record that the keyword ranking puts near the top then had no dense rank
    at all. Scoring it exactly gives it the dense rank it deserves.
    """
    known = {record_id for record_id, _ in dense}
    merged = list(dense) + [(i, s) for i, s in exact.items() if i not in known]
    merged.sort(key=lambda pair: -pair[1])
    return merged


def fuse(
    dense: Sequence[tuple[str, float]],
    keyword: Sequence[tuple[str, float]],
    weights: Weights,
    dense_complete: bool = False,
) -> dict[str, dict[str, float]]:
    """Weighted fusion of two rankings (best first) of ``(id, raw score)`` by their scores.

    Each ranking's scores are divided by its best score (a cosine below 0 counts as 0), so the best
    record of either ranking brings that ranking's whole weight; ``fusion`` is the weighted mean of
    the two (1.0 for a record that is best in both). A record the dense ranking did not return
    takes its lowest score when the ranking stopped at its candidate limit (the record is at most
    that close), and none when the ranking returned every vector in scope (``dense_complete``: the
    record has no vector yet); one the keyword ranking did not return has no keyword score.
    Unlike rank fusion, a record far ahead on one signal stays ahead.

    Returns, per id, the parts of its score: ranks (1-based) and raw scores where the id was found,
    and ``fusion``.
    """
    total = (weights.dense if dense else 0.0) + (weights.keyword if keyword else 0.0)
    parts: dict[str, dict[str, float]] = {}
    shares: dict[str, float] = {}
    dense_floor = 0.0
    for name, ranking, weight in (("dense", dense, weights.dense), ("keyword", keyword, weights.keyword)):
        if not ranking:
            continue
        clipped = [raw if raw > 0.0 else 0.0 for _, raw in ranking]
        best = max(clipped)
        scale = weight / total / best if best > 0 and total > 0 else 0.0
        if name == "dense" and not dense_complete:
            dense_floor = min(clipped) * scale
        rank_key, score_key = f"{name}_rank", f"{name}_score"
        for rank, ((record_id, raw), positive) in enumerate(zip(ranking, clipped, strict=True), start=1):
            entry = parts.get(record_id)
            if entry is None:
                entry = parts[record_id] = {}
            elif rank_key in entry:
                continue
            entry[rank_key] = rank
            entry[score_key] = raw
            shares[record_id] = shares.get(record_id, 0.0) + positive * scale
    for record_id, entry in parts.items():
        entry["fusion"] = shares[record_id] + (dense_floor if "dense_rank" not in entry else 0.0)
    return parts


def recency(age_seconds: float, half_life_days: float) -> float:
    """1.0 for a record written now, 0.5 one half-life ago, falling towards 0."""
    days = max(age_seconds, 0.0) / 86400.0
    return math.pow(0.5, days / half_life_days)


def final_score(fusion: float, importance: float, age_seconds: float, weights: Weights) -> dict[str, float]:
    """The final score and its parts: ``fusion * (1 + w_r * recency + w_i * (importance - 0.5))``."""
    fresh = recency(age_seconds, weights.recency_half_life_days)
    boost = 1.0 + weights.recency * fresh + weights.importance * (importance - 0.5)
    return {
        "fusion": fusion,
        "recency": fresh,
        "importance": importance,
        "score": fusion * boost,
    }


def question_factor(asks: bool, weights: Weights) -> float:
    """``weights.question`` for a record that only asks (its text ends with a question mark):
    facts live in statements, and a question shares the words of the questions put to memory."""
    return weights.question if asks else 1.0


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def states(text: str, words: int) -> bool:
    """Whether a text says something before its last sentence: at least ``words`` words (a long
    message that ends with a question still holds facts); ``words`` 0: never."""
    if words <= 0:
        return False
    sentences = _SENTENCE_END.split(text.strip())
    return sum(len(sentence.split()) for sentence in sentences[:-1]) >= words


def filler_factor(text: str, weights: Weights) -> float:
    """``weights.filler`` for a content-free turn ("ok", "Sounds fun.", "ok 14"), else 1.0."""
    return weights.filler if weights.filler != 1.0 and is_filler(text) else 1.0


def role_factor(role: str | None, about_asker: bool, weights: Weights) -> float:
    """``weights.assistant`` for an assistant message when the query asks about the one who asks
    (:func:`.query_analysis.asks_about_asker`: the user's facts are in the user's messages), else 1.0."""
    return weights.assistant if about_asker and role == "assistant" else 1.0


def time_factor(span: TimeSpan | None, epoch: float, weights: Weights) -> float:
    """``1 + weights.time`` for a record said within the time the query names (``1 +
    weights.relative_time`` when the span was read from a reference moment), else 1.0."""
    if span is None or not span.contains(epoch):
        return 1.0
    return 1.0 + (weights.relative_time if span.relative else weights.time)
