"""The plain data types the core hands out: records, search hits and assembled context."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["KINDS", "ROLES", "Hit", "MemoryContext", "MemoryRecord"]

ROLES = ("user", "assistant", "system", "tool")
"""Roles a message may have."""

KINDS = ("message", "summary", "fact", "event", "preference", "skill")
"""Kinds of memory: conversation messages, session summaries and long-term memories."""


@dataclass(frozen=True)
class MemoryRecord:
    """One stored memory: a message, a summary or a remembered fact.

    ``timestamp`` is when it was said (given by the caller or now); ``created_at`` is when it was
    written. Both are timezone-aware UTC datetimes. ``covers`` lists the ids of the messages a
    summary stands for (empty for everything else).
    """

    id: str
    text: str
    role: str
    kind: str
    user_id: str
    session_id: str | None
    timestamp: datetime
    created_at: datetime
    importance: float = 0.5
    metadata: dict[str, Any] = field(default_factory=dict)
    covers: tuple[str, ...] = ()
    agent_id: str | None = None

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return (
            f"MemoryRecord(id={self.id[:8]}…, kind={self.kind}, role={self.role}, "
            f"session={self.session_id!r}, text={text!r})"
        )


@dataclass(frozen=True)
class Hit:
    """A search result: the record, its final score and the parts that made the score."""

    record: MemoryRecord
    score: float
    explain: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Hit(score={self.score:.4f}, {self.record!r})"


@dataclass(frozen=True)
class MemoryContext:
    """What a model should see for one turn, already fitted to a token budget.

    ``summary`` is the session's running summary (may be empty), ``recalled`` the long-term hits
    that are not already in the window, ``window`` the recent messages in order.
    """

    session_id: str
    user_id: str
    summary: str
    recalled: list[Hit]
    window: list[MemoryRecord]
    tokens: int
    max_tokens: int | None = None
    dropped: int = 0

    def render(self) -> str:
        """The context as plain text: summary, recalled memories, then the conversation."""
        parts: list[str] = []
        if self.summary:
            parts.append("Summary of earlier conversation:\n" + self.summary)
        if self.recalled:
            lines = [f"- {format_recalled(hit.record)}" for hit in self.recalled]
            parts.append("Relevant memories:\n" + "\n".join(lines))
        if self.window:
            lines = [f"{record.role}: {record.text}" for record in self.window]
            parts.append("Recent conversation:\n" + "\n".join(lines))
        return "\n\n".join(parts)

    def __repr__(self) -> str:
        return (
            f"MemoryContext(session={self.session_id!r}, summary={len(self.summary)} chars, "
            f"recalled={len(self.recalled)}, window={len(self.window)}, tokens={self.tokens})"
        )


def format_recalled(record: MemoryRecord) -> str:
    """One line for a recalled memory: its date, who said it (for messages) and the text."""
    when = record.timestamp.strftime("%Y-%m-%d")
    who = f"{record.role}: " if record.kind == "message" else ""
    return f"[{when}] {who}{record.text}"
