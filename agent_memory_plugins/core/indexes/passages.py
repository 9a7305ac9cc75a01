"""Passages of long messages: extra vectors so that a fact deep in a long reply can match.

A sentence-transformers model reads a text up to its window (all-MiniLM-L6-v2: 256 word pieces,
about 190 words) and averages what it read into one vector: a fact in the fifth paragraph of an
assistant's long answer is never seen, and one in the second is diluted by everything around it.
A message longer than ``passage_words`` words therefore also gets one vector per passage of about
that many words (cut at paragraph and sentence ends), stored in the same Chroma collection under
the id ``"<message id>~p<n>"`` with the message's scope and ``parent`` = the message id. Dense
recall maps each passage back to its message: a message's dense score is the best of its own
vector's and its passages' (:func:`collapse`). Passages are never records: they have no row in
the record store and are deleted with their message.

Pure functions over plain data, tested without any store.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence

__all__ = [
    "MARK", "MAX_PASSAGES", "collapse", "parent_of", "passage_id", "passage_ids", "passage_texts",
    "split_passages", "with_passages",
]

MARK = "~p"
"""Separates a message id from its passage number in a passage's vector id."""
MAX_PASSAGES = 8
"""Most passages of one message: a longer one gets longer passages (up to the model's window)."""
_PARAGRAPH = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9*])")


def passage_id(record_id: str, number: int) -> str:
    """The vector id of passage ``number`` (0-based) of a message."""
    return f"{record_id}{MARK}{number}"


def passage_ids(record_ids: Iterable[str]) -> list[str]:
    """Every vector id a passage of these messages may have."""
    return [passage_id(record_id, n) for record_id in record_ids for n in range(MAX_PASSAGES)]


def with_passages(record_ids: list[str] | None) -> list[str] | None:
    """These record ids and every id their passages may have (``None`` stays ``None``)."""
    return None if record_ids is None else record_ids + passage_ids(record_ids)


def parent_of(vector_id: str) -> str:
    """The record id a vector belongs to (a passage's message, or the id itself)."""
    head, mark, tail = vector_id.rpartition(MARK)
    return head if mark and tail.isdigit() else vector_id


def _units(text: str) -> list[str]:
    """Paragraphs (list items count as paragraphs), each cut into sentences."""
    units: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        units.extend(s.strip() for s in _SENTENCE.split(paragraph.strip()) if s.strip())
    return units


def split_passages(text: str, words: int, skip: int = 0) -> list[str]:
    """The passages of ``text`` when it has more than ``words`` words, else ``[]``.

    Sentences are gathered in order until a passage holds about ``words`` words (a longer text
    gets longer passages so that it has at most :data:`MAX_PASSAGES`); a sentence longer than a
    passage is cut at word boundaries; a short last passage joins the one before it. Passages
    that end within the first ``skip`` words (what the message's own vector reads) are left out.
    """
    if words <= 0:
        return []
    total = len(text.split())
    if total <= words:
        return []
    size = max(words, math.ceil(total / MAX_PASSAGES))
    pieces: list[list[str]] = []
    current: list[str] = []
    for unit in _units(text):
        tokens = unit.split()
        while len(tokens) > size:  # one very long sentence: cut it
            if current:
                pieces.append(current)
                current = []
            pieces.append(tokens[:size])
            tokens = tokens[size:]
        if current and len(current) + len(tokens) > size:
            pieces.append(current)
            current = []
        current.extend(tokens)
    if current:
        if pieces and len(current) < size // 2:
            pieces[-1].extend(current)
        else:
            pieces.append(current)
    while len(pieces) > MAX_PASSAGES:  # cuts of long sentences can exceed the bound: join the shortest pair
        join = min(range(len(pieces) - 1), key=lambda i: len(pieces[i]) + len(pieces[i + 1]))
        pieces[join:join + 2] = [pieces[join] + pieces[join + 1]]
    if len(pieces) < 2:
        return []
    ends = list(itertools.accumulate(len(piece) for piece in pieces))
    return [" ".join(piece) for piece, end in zip(pieces, ends, strict=True) if end > skip]


def passage_texts(texts: Iterable[str], words: int, skip: int = 0) -> list[str]:
    """The passages of every text (to drop their cached vectors with the texts')."""
    return [passage for text in texts for passage in split_passages(text, words, skip)]


def collapse(ranking: Sequence[tuple[str, float]]) -> tuple[list[tuple[str, float]], dict[str, int]]:
    """A dense ranking of vector ids turned into one of records (best first): each record keeps
    its best score, from its own vector or one of its passages. Also returns, per record whose
    best score came from a passage, that passage's number."""
    best: dict[str, float] = {}
    passage: dict[str, int] = {}
    for vector_id, score in ranking:
        record_id = parent_of(vector_id)
        if record_id not in best or score > best[record_id]:
            best[record_id] = score
            if record_id != vector_id:
                passage[record_id] = int(vector_id.rpartition(MARK)[2])
            else:
                passage.pop(record_id, None)
    ordered = sorted(best.items(), key=lambda pair: -pair[1])
    return ordered, passage
