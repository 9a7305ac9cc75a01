"""Offline estimates of how much a piece of text is worth keeping.

Used for a record's default importance and by the extractive summarizer to pick sentences.
Sentences that carry names, numbers, dates, first-person facts or explicit requests to remember
score high; small talk scores low.
"""

from __future__ import annotations

import re

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|tomorrow|today|tonight"
_DATE = re.compile(
    rf"\b({_MONTHS}|{_DAYS}|last (week|month|year)|next (week|month|year)|\d{{4}}-\d{{2}}-\d{{2}}|"
    rf"\d{{1,2}}/\d{{1,2}}(/\d{{2,4}})?)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d")
_FIRST_PERSON = re.compile(
    r"\b(i|i'm|i've|i'd|i'll|my|mine|me|we|our)\b", re.IGNORECASE
)
_FACT_VERB = re.compile(
    r"\b(am|is|are|was|were|live|lives|lived|work|works|worked|like|likes|love|loves|hate|hates|"
    r"prefer|prefers|have|has|had|moved|bought|started|born|allergic|married|name)\b",
    re.IGNORECASE,
)
_REMEMBER = re.compile(r"\b(remember|don't forget|do not forget|note that|keep in mind)\b", re.IGNORECASE)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{1,}\b")
_SMALL_TALK = re.compile(
    r"^\s*(hi|hello|hey|thanks|thank you|ok|okay|sure|cool|great|nice|bye|goodbye|lol|yes|no)"
    r"[\s!.,]*$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_FILLER_WORDS = frozenset(
    "hi hello hey yo thanks thank thx ty you ok okay k kk sure cool great nice fine good bye goodbye "
    "cya lol haha hah hehe yes yeah yep yup no nope nah wow awesome alright right sounds sound fun "
    "lovely amazing perfect indeed totally exactly agreed agree glad to hear that that's thats it "
    "it's so really oh ah aw aww hmm uh um well me too same congrats congratulations interesting "
    "true absolutely definitely of course got gotcha noted sweet welcome np "
    "ha oops a an the and very much super wonderful happy for".split()
)
_WORD = re.compile(r"[A-Za-z']+|\d+")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences on end punctuation and line breaks."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def is_filler(text: str, vocatives: bool = False) -> bool:
    """Whether a text carries no content: acknowledgements and reactions ("ok", "Sounds fun.",
    "Thanks, that's great!"), also with a counter ("ok 14"); a bare number alone is an answer.
    ``vocatives``: names it is addressed to do not count as content ("Thanks, Melanie!")."""
    words = [word.lower() for word in _WORD.findall(text)
             if not (vocatives and word[:1].isupper() and word.lower() not in _FILLER_WORDS)]
    if not words or len(words) > 8:
        return False
    numbers = [word for word in words if word.isdigit()]
    rest = [word for word in words if not word.isdigit()]
    return bool(rest) and len(numbers) <= 1 and all(word in _FILLER_WORDS for word in rest)


def sentence_salience(sentence: str) -> float:
    """A score in [0, 1] for how much a sentence carries (names, numbers, dates, facts)."""
    if _SMALL_TALK.match(sentence) or is_filler(sentence):
        return 0.05
    score = 0.15
    if _NAME.search(sentence):
        score += 0.2
    if _NUMBER.search(sentence):
        score += 0.15
    if _DATE.search(sentence):
        score += 0.15
    if _FIRST_PERSON.search(sentence) and _FACT_VERB.search(sentence):
        score += 0.2
    if _REMEMBER.search(sentence):
        score += 0.3
    if len(sentence) < 12:
        score -= 0.1
    return max(0.0, min(1.0, score))


def estimate_importance(text: str) -> float:
    """Importance in [0, 1] for a whole text: its best sentence, nudged by how many carry facts."""
    sentences = split_sentences(text) or [text]
    scores = sorted((sentence_salience(s) for s in sentences), reverse=True)
    best = scores[0]
    extra = 0.05 * sum(1 for s in scores[1:] if s >= 0.5)
    return round(min(1.0, best + extra), 3)
