"""Keyword recall in PostgreSQL: the words of a text as SQLite's FTS5 sees them, and BM25 in SQL.

PostgreSQL's own ``ts_rank`` is not BM25 (no inverse document frequency, no length
normalisation of the same kind), and recall measured with it fell short of the SQLite engine's.
So the engine keeps an inverted index of its own, ``keywords(seq, term, user_id, tf)``, with the
terms both engines index (:mod:`..terms`), and scores with FTS5's BM25 (k1 = 1.2, b = 0.75,
document frequencies among the user's own records, as the SQLite engine's per-user terms give).
Both engines rank the same records the same way.
"""

from __future__ import annotations

K1 = 1.2
B = 0.75


def idf(rows: int, hits: int) -> float:
    """FTS5's inverse document frequency of a term found in ``hits`` of ``rows`` documents."""
    import math

    value = math.log((rows - hits + 0.5) / (hits + 0.5)) if rows else 0.0
    return value if value > 0 else 1e-6


def bm25_sql(frequency: str, length: str, average: str) -> str:
    """The SQL of one term's BM25 part, times its idf ``q.idf`` (``frequency``, ``length``:
    columns; ``average``: a placeholder for the average length)."""
    return (f"q.idf * ({frequency}) * {K1 + 1} / (({frequency}) + {K1} * "
            f"({1 - B} + {B} * ({length})::float8 / {average}))")
