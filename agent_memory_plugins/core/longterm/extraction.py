"""Pure parts of extraction: the prompt, reading a model's answer, and which messages each
extracted memory came from. Nothing here touches a store or a model.

A model answers one memory a line, in one of three forms (a leading ``-``, ``*`` or ``1.`` is
allowed; any other line is ignored)::

    fact: <a self-contained statement>
    preference: <key> = <value>
    event: <what happened>

Models with structured output answer :data:`SCHEMA` instead: ``{"memories": [{"kind", "text",
"key"}]}`` (``key`` names a preference).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...records import MemoryRecord
from ..recall.keywords import query_terms

__all__ = ["PROMPT", "SCHEMA", "Extracted", "build_prompt", "parse_lines", "parse_structured", "sources_of"]

PROMPT = """You read part of a conversation and write down what is worth remembering about the user \
for later conversations: durable facts about them, their preferences, and notable events. Skip small \
talk, questions, greetings and what the assistant said unless the user agreed to it.

Write one memory a line, exactly in one of these forms, and nothing else:
fact: <a self-contained statement, naming the user as "the user" or by name>
preference: <what it is about, in one or two words> = <the preferred value>
event: <what happened, with its date when one was said>
When nothing is worth remembering, write: none

Conversation:
{lines}
"""

SCHEMA: dict[str, Any] = {
    "title": "extracted_memories",
    "description": "Durable facts, preferences and events about the user found in the conversation.",
    "type": "object",
    "properties": {
        "memories": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["fact", "preference", "event"]},
                    "text": {"type": "string", "description": "The fact or event; for a preference, its value."},
                    "key": {"type": "string", "description": "For a preference: what it is about."},
                },
                "required": ["kind", "text"],
            },
        },
    },
    "required": ["memories"],
}
"""JSON schema of a structured answer (for ``with_structured_output``)."""

KINDS = ("fact", "preference", "event")
_LINE = re.compile(r"^\s*(?:[-*•]\s*|\d+[.)]\s*)?(fact|preference|event)\s*:\s*(.+?)\s*$", re.IGNORECASE)
MAX_SOURCES = 3
"""Most messages an extracted memory names as where it came from."""


@dataclass(frozen=True)
class Extracted:
    """One memory a model found: ``kind`` fact, preference or event; ``key`` names a preference."""

    kind: str
    text: str
    key: str | None = None


def build_prompt(messages: Sequence[MemoryRecord]) -> str:
    """The extraction prompt for a batch of messages (oldest first)."""
    lines = "\n".join(f"{message.role}: {message.text}" for message in messages)
    return PROMPT.format(lines=lines)


def parse_lines(text: str) -> list[Extracted]:
    """The memories in a plain-text answer; lines in no known form are ignored."""
    found: list[Extracted] = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        item = _item(match.group(1).lower(), match.group(2), None)
        if item is not None:
            found.append(item)
    return _distinct(found)


def parse_structured(answer: Any) -> list[Extracted]:
    """The memories in a structured answer (a mapping with ``memories``, or a list of items;
    items are mappings or objects with ``kind``, ``text`` and ``key``). Malformed items are skipped."""
    if isinstance(answer, Mapping):
        answer = answer.get("memories", [])
    elif hasattr(answer, "memories"):
        answer = answer.memories
    if isinstance(answer, str):
        return parse_lines(answer)
    if not isinstance(answer, Iterable):
        return []
    found: list[Extracted] = []
    for entry in answer:
        if isinstance(entry, str):
            found.extend(parse_lines(entry))
            continue
        get = entry.get if isinstance(entry, Mapping) else lambda name, e=entry: getattr(e, name, None)
        kind, text, key = get("kind"), get("text"), get("key")
        if isinstance(kind, str) and isinstance(text, str):
            item = _item(kind.strip().lower(), text, key if isinstance(key, str) else None)
            if item is not None:
                found.append(item)
    return _distinct(found)


def _item(kind: str, text: str, key: str | None) -> Extracted | None:
    text = text.strip()
    if kind not in KINDS or not text or text.lower() in ("none", "n/a"):
        return None
    if kind != "preference":
        return Extracted(kind, text)
    if key is None:
        key, equals, value = text.partition("=")
        if not equals:
            return None
        text = value
    key, text = key.strip(), text.strip()
    return Extracted("preference", text, key) if key and text else None


def _distinct(items: list[Extracted]) -> list[Extracted]:
    return list(dict.fromkeys(items))


def sources_of(item: Extracted, messages: Sequence[MemoryRecord]) -> list[str]:
    """Ids of the messages an extracted memory most likely came from: the (at most
    :data:`MAX_SOURCES`) messages sharing the most words with it, user messages first on ties;
    every user message of the batch when none shares a word."""
    words = set(query_terms(f"{item.key or ''} {item.text}"))
    scored = []
    for position, message in enumerate(messages):
        overlap = len(words & set(query_terms(message.text)))
        if overlap:
            scored.append((-overlap, message.role != "user", position, message.id))
    if not scored:
        return [m.id for m in messages if m.role == "user"] or [m.id for m in messages]
    scored.sort()
    best = scored[0][0]
    return [entry[3] for entry in scored if entry[0] == best][:MAX_SOURCES]
