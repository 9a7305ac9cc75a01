"""Offline consolidation of long-term memories: duplicates refresh, updates supersede.

Pure functions, no LLM. A new fact is compared with the user's stored facts that look alike
(keyword neighbours, dense neighbours and facts about the same subject):

- **duplicate**: the same text once case, spacing and end punctuation are ignored, or an
  embedding cosine similarity of at least ``consolidation_threshold`` (default 0.9) with the same
  names and numbers. The stored record is refreshed (``times_seen``, ``last_seen``) instead of a
  second copy being written.
- **supersede**: a statement about the same subject (``"I live in Denver"`` then
  ``"I moved to Austin"``: subject ``self:residence``) with a different value. The new record is
  stored and the older one is marked ``superseded_by`` the new one; recall ranks the newer first.
- **new**: anything else.

Subjects come from the caller (``key=`` / ``subject=``) or from a small set of patterns for the
facts people state about themselves (where they live, work, their name, age, partner, "my X is").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ...records import MemoryRecord

__all__ = ["Decision", "content_words", "decide", "normalise", "subject_of", "value_tokens"]

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[\w'’-]+", re.UNICODE)
_SELF = re.compile(r"\b(i|i'm|i’m|i've|my|me|mine|we|we're|our|us|the user|user's|user)\b", re.IGNORECASE)
_NOT_NAMES = frozenset(
    "i the a an my our we he she they it this that there then yes no ok so but and also now today "
    "user".split()
)
_STOP_WORDS = frozenset(
    "a an and are as at be but by do does for from has have i i'm in is it its me my of on or our "
    "so that the their them they this to was we were with you your user".split()
)
_SLOTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("name", re.compile(r"\b(my name is|my name's|call me|i am called|i'm called|name is)\b", re.I)),
    ("residence", re.compile(
        r"\b(live|lives|lived|living|moved|move|moving|relocated|relocating|reside|resides|resided|"
        r"based|home is|address)\b", re.I)),
    ("employer", re.compile(
        r"\b(work|works|worked|working) (at|for)\b|\b(employed (at|by)|job at|joined|hired by)\b", re.I)),
    ("age", re.compile(r"\b(\d{1,3} years old|my age|aged \d{1,3})\b", re.I)),
    ("birthday", re.compile(r"\b(birthday|born on)\b", re.I)),
    ("partner", re.compile(
        r"\b(married to|engaged to|dating|my (wife|husband|partner|spouse|girlfriend|boyfriend|fianc[ée]e?))\b",
        re.I)),
    ("phone", re.compile(r"\b(phone number|my number|cell number|mobile number)\b", re.I)),
    ("email", re.compile(r"\b(e-?mail( address)?)\b", re.I)),
)
_MY_X_IS = re.compile(r"\bmy ((?:favou?rite |preferred )?[a-z]+(?: [a-z]+)?) (?:is|are|was)\b", re.I)


def normalise(text: str) -> str:
    """Text compared for exact duplicates: lower case, single spaces, no end punctuation."""
    return _SPACE.sub(" ", text.strip().lower()).rstrip(" .!?;:,")


def value_tokens(text: str) -> frozenset[str]:
    """The words that carry a statement's value: numbers and capitalised names (lower-cased)."""
    words = _WORD.findall(text)
    found = set()
    for position, word in enumerate(words):
        is_number = any(ch.isdigit() for ch in word)
        is_name = word[:1].isupper() and word.lower() not in _NOT_NAMES and (position > 0 or len(words) == 1)
        if is_number or is_name:
            found.add(word.lower())
    return frozenset(found)


def content_words(text: str) -> frozenset[str]:
    """Lower-cased words without stop words or a plural ``s``: what a statement says."""
    words = (word.lower() for word in _WORD.findall(text))
    return frozenset(word.removesuffix("s") for word in words if word not in _STOP_WORDS)


def subject_of(text: str) -> str | None:
    """``who:slot`` for a statement about a known slot (``self:residence``), else ``None``.

    ``who`` is ``self`` for first-person statements (or about "the user") and the lower-cased
    name that opens the sentence otherwise (``"Alice moved to Austin"`` -> ``alice:residence``).
    """
    who = _speaker(text)
    if who is None:
        return None
    match = _MY_X_IS.search(text)
    if match and who == "self":
        thing = match.group(1).lower().replace("favourite", "favorite")
        for slot, pattern in _SLOTS:
            if pattern.search("my " + thing + " is"):
                return f"{who}:{slot}"
        return f"{who}:{thing}"
    for slot, pattern in _SLOTS:
        if pattern.search(text):
            return f"{who}:{slot}"
    return None


def _speaker(text: str) -> str | None:
    if _SELF.search(text):
        return "self"
    words = _WORD.findall(text)
    if words and words[0][:1].isupper() and words[0].lower() not in _NOT_NAMES:
        return str(words[0]).lower()
    return None


@dataclass(frozen=True)
class Decision:
    """What to do with a new memory: store it, refresh a duplicate, or supersede older ones."""

    action: Literal["new", "duplicate", "supersede"]
    target: str | None = None
    """The duplicate's id (for ``duplicate``)."""
    superseded: tuple[str, ...] = ()
    """Ids the new record supersedes (for ``supersede``)."""
    similarity: float | None = None


def decide(
    text: str,
    key: str | None,
    candidates: Sequence[tuple[MemoryRecord, float | None]],
    threshold: float,
) -> Decision:
    """Compare a new memory with stored active ones of the same user and kind.

    ``candidates`` pairs each stored record with its embedding similarity to ``text`` (``None``
    when unknown). Exact text wins, then similarity with the same values, then the same subject.
    """
    wanted = normalise(text)
    values = value_tokens(text)
    best: tuple[float, MemoryRecord] | None = None
    for record, similarity in candidates:
        if normalise(record.text) == wanted:
            return Decision("duplicate", record.id, similarity=1.0)
        if similarity is None or similarity < threshold or value_tokens(record.text) != values:
            continue
        if key is not None and record.key == key and content_words(record.text) != content_words(text):
            continue  # same subject, other words: an update, not a repeat ("I like tea" / "I like coffee")
        if best is None or similarity > best[0]:
            best = (similarity, record)
    if best is not None:
        return Decision("duplicate", best[1].id, similarity=best[0])
    if key is not None:
        older = tuple(record.id for record, _ in candidates if record.key == key)
        if older:
            return Decision("supersede", superseded=older)
    return Decision("new")
