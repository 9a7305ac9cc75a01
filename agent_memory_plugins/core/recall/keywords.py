"""The words of a query that keyword recall looks for."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)
STOP_WORDS = frozenset(
    "a an and are as at be but by did do does for from had has have how i if in into is it its "
    "me my of on or our she he her his so than that the their them then there these they this "
    "to was we were what when where which who whom why will with you your yours".split()
)


def query_terms(query: str) -> list[str]:
    """The query's distinct lower-case words, in order; stop words are dropped unless nothing else
    is left. Empty when the query has no words."""
    words = [w.lower() for w in _WORD.findall(query)]
    kept = [w for w in words if w not in STOP_WORDS] or words
    return list(dict.fromkeys(kept))
