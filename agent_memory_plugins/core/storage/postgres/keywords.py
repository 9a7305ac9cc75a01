"""Keyword recall in PostgreSQL: the words of a text as SQLite's FTS5 sees them, and BM25 in SQL.

PostgreSQL's own ``ts_rank`` is not BM25 (no inverse document frequency, no length
normalisation of the same kind), and recall measured with it fell short of the SQLite engine's.
So the engine keeps an inverted index of its own, ``keywords(seq, term, user_id, tf)``, with the
terms of FTS5's ``porter unicode61 remove_diacritics 2`` tokenizer (words of letters and digits,
lower case, accents removed, Porter stems for words of three letters or more), and scores with
FTS5's BM25 (k1 = 1.2, b = 0.75, document frequencies over the whole store, a row's length
counting the user's scope token as FTS5 does). Both engines rank the same records the same way.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import snowballstemmer

K1 = 1.2
B = 0.75
_WORD = re.compile(r"[^\W_]+")
_stemmer = snowballstemmer.stemmer("porter")


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """A lower-case word's index term (FTS5's porter tokenizer leaves short words as they are)."""
    return word if len(word) < 3 else str(_stemmer.stemWord(word))


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def terms(text: str) -> list[str]:
    """The index terms of ``text`` in order (repeats kept)."""
    return [stem(word) for word in _WORD.findall(_plain(text))]


def term_counts(text: str) -> tuple[Counter[str], int]:
    """How often each term occurs in ``text``, and how many terms it has."""
    found = terms(text)
    return Counter(found), len(found)


def query_terms(words: Sequence[str]) -> list[str]:
    """The distinct index terms of a query's words."""
    return list(dict.fromkeys(term for word in words for term in terms(word)))


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
