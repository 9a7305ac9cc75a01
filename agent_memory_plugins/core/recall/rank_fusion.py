"""Pure: blend reciprocal-rank fusion into the score fusion of the dense and keyword rankings.

Score fusion (:func:`.ranking.fuse`) divides each ranking's scores by its best one. Cosine
similarities of one query's candidates are close together (the best hundred within a few
hundredths), keyword (BM25) scores are spread wide, so a record's keyword score decides most of
its place and a record that only the dense ranking likes rarely reaches the top. Rank fusion
(each ranking adds ``(k + 1) / (k + rank)``) lets both rankings count alike whatever their score
scales; ``rank_fusion_weight`` is the share of the fused score taken from it.
"""

from __future__ import annotations

RRF_K = 60
"""The usual reciprocal-rank-fusion constant: rank 1 counts ``61 / 61``, rank 60 half of that."""


def rank_part(rank: float) -> float:
    """A ranking's contribution at ``rank`` (1-based): 1.0 at the top, falling slowly."""
    return (RRF_K + 1) / (RRF_K + rank)


def blend_ranks(
    parts: dict[str, dict[str, float]],
    dense_weight: float,
    keyword_weight: float,
    share: float,
    dense_missing_rank: float | None,
) -> None:
    """Mix ``share`` of reciprocal-rank fusion into each record's ``fusion`` (in place).

    ``parts`` is :func:`.ranking.fuse`'s output (``dense_rank`` / ``keyword_rank`` where the record
    was found). The rank fusion is the weighted mean of :func:`rank_part` over the rankings that ran
    (1.0 for a record first in both). A record the dense ranking did not return counts at
    ``dense_missing_rank`` (the rank after its last, when the ranking stopped at its limit) or not at
    all (``None``: the ranking returned every vector in scope). ``rank_fusion`` in each entry keeps
    the rank part for ``explain``.
    """
    if share <= 0 or not parts:
        return
    has_dense = any("dense_rank" in entry for entry in parts.values())
    has_keyword = any("keyword_rank" in entry for entry in parts.values())
    total = (dense_weight if has_dense else 0.0) + (keyword_weight if has_keyword else 0.0)
    if total <= 0:
        return
    for entry in parts.values():
        dense_rank = entry.get("dense_rank", dense_missing_rank if has_dense else None)
        ranked = dense_weight * rank_part(dense_rank) if dense_rank is not None else 0.0
        if "keyword_rank" in entry:
            ranked += keyword_weight * rank_part(entry["keyword_rank"])
        entry["rank_fusion"] = ranked / total
        entry["fusion"] = (1.0 - share) * entry["fusion"] + share * entry["rank_fusion"]
