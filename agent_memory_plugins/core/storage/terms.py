"""The index terms of a text, as every engine's keyword index stores and looks them up.

Words are runs of letters and digits, lower case, accents removed, with Porter stems for words of
three letters or more (what SQLite FTS5's ``porter unicode61 remove_diacritics 2`` tokenizer
makes). Both engines index these terms per user: a term's postings and its document frequency are
the user's own, so a search reads only the user's postings however large the store grows, and
another user's words never move a user's keyword scores.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from importlib.metadata import version

import snowballstemmer

_WORD = re.compile(r"[^\W_]+")
_stemmer = snowballstemmer.stemmer("porter")

IDENTITY = f"porter-{version('snowballstemmer')}:unicode-{unicodedata.unidata_version}"
"""What the terms depend on: an index built with other terms is rebuilt (a contentless index
removes a row by its terms, so they must come out the same as when it was written)."""


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """A lower-case word's index term (FTS5's porter tokenizer leaves short words as they are)."""
    return word if len(word) < 3 else str(_stemmer.stemWord(word))


def _plain(text: str) -> str:
    if text.isascii():  # nothing to decompose (most texts: five times faster)
        return text.lower()
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
