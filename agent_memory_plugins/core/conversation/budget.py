"""The digest's greedy fit within its token budget, in O(n log n) for the default token counter.

The extractive summarizer keeps sentences in order of worth while the rendered digest (one line
``[day] speaker: sentence sentence`` per run of sentences with the same day and speaker) fits the
budget. Rendering and counting the whole digest for every candidate sentence is quadratic: a
500-message import spent most of its folding time there. The default counter
(:func:`~agent_memory_plugins.core.conversation.tokens.approximate_tokens`) splits text at
whitespace and never counts it, so a digest's count is the sum of its lines' heads and its
sentences' counts: adding a sentence changes it by the sentence's count plus the heads of the
lines it opens or splits. :func:`greedy_fit` keeps exactly the sentences the full re-render keeps.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

Unit = tuple[str, str, str]
"""(day, speaker, sentence), as the summarizer renders them."""


def head(unit: Unit) -> str:
    """What a line that starts with ``unit`` writes before its sentences (its count is the line's
    cost over its sentences')."""
    day, who, _ = unit
    stamp = f"[{day}]" if day else ""
    return f"{stamp} {who}:" if who else stamp


def greedy_fit(units: Sequence[Unit], order: Sequence[int], max_tokens: int, count: Callable[[str], int]) -> set[int]:
    """Indexes of ``units`` kept when each one, in ``order``, is added if the digest still fits
    ``max_tokens`` under ``count``, a counter that is additive over whitespace-separated text
    (such as ``approximate_tokens``)."""
    keys = [(day, who) for day, who, _ in units]
    kept: list[int] = []  # sorted
    total = 0
    for index in order:
        at = bisect.bisect(kept, index)
        before = kept[at - 1] if at else None
        after = kept[at] if at < len(kept) else None
        key = keys[index]
        joins_before = before is not None and keys[before] == key
        joins_after = after is not None and keys[after] == key
        if joins_before or joins_after:
            lines = 0  # it extends a line (or fills a gap inside one)
        elif before is not None and after is not None and keys[before] == keys[after]:
            lines = count(head(units[index])) + count(head(units[after]))  # it splits a line in two
        else:
            lines = count(head(units[index]))  # a line of its own
        cost = count(units[index][2]) + lines
        if total + cost <= max_tokens:
            kept.insert(at, index)
            total += cost
    return set(kept)
