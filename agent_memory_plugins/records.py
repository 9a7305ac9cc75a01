"""The plain data types the core hands out: records, search hits and assembled context."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "KINDS",
    "MEMORY_KINDS",
    "ROLES",
    "Block",
    "CleanupReport",
    "HistoryEvent",
    "Hit",
    "Link",
    "MemoryContext",
    "MemoryRecord",
    "SearchResults",
]

ROLES = ("user", "assistant", "system", "tool")
"""Roles a message may have."""

KINDS = ("message", "summary", "fact", "event", "preference", "skill")
"""Kinds of memory: conversation messages, session summaries and long-term memories."""

MEMORY_KINDS = tuple(kind for kind in KINDS if kind not in ("message", "summary"))
"""The long-term kinds: everything but messages and summaries."""


@dataclass(frozen=True)
class MemoryRecord:
    """One stored memory: a message, a summary or a remembered fact.

    ``timestamp`` is when it was said (given by the caller or now); ``created_at`` is when it was
    written. Both are timezone-aware UTC datetimes. ``covers`` lists the ids of the messages a
    summary stands for (empty for everything else).

    Long-term memories also carry: ``key`` (a preference's key, a skill's name, a fact's subject),
    ``times_seen`` and ``last_seen`` (a fact stated again refreshes its record instead of
    duplicating it), ``superseded_by`` (the id of a newer record that updates this one) and
    ``expires_at`` (after which the record is never returned and cleanup removes it).
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
    key: str | None = None
    times_seen: int = 1
    last_seen: datetime | None = None
    superseded_by: str | None = None
    expires_at: datetime | None = None

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


class SearchResults(list[Hit]):
    """The hits of one search, best first: a plain ``list`` of :class:`Hit` that also renders.

    In Jupyter it shows each hit's text, kind, session, time and the parts of its score
    (``Hit.explain``: dense and keyword ranks, fusion, recency, importance). ``query`` and
    ``user_id`` say what was searched for whom.
    """

    query: str
    user_id: str

    def __init__(self, hits: Iterable[Hit] = (), *, query: str = "", user_id: str = "default") -> None:
        super().__init__(hits)
        self.query = query
        self.user_id = user_id

    def __repr__(self) -> str:
        lines = [f"SearchResults({self.query!r}, user_id={self.user_id!r}, {len(self)} hits)"]
        for hit in self[:10]:
            where = f"{hit.record.kind}/{hit.record.session_id}" if hit.record.session_id else hit.record.kind
            lines.append(f"  {hit.score:.4f}  {where}  {one_line(hit.record.text)!r}")
        if len(self) > 10:
            lines.append(f"  … {len(self) - 10} more")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The hits as an HTML table with their score parts (for Jupyter)."""
        from .inspector import search_results_html

        return search_results_html(self)


def one_line(text: str, limit: int = 70) -> str:
    """One line of text for a plain repr."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class Block:
    """One version of a working-memory block: a named text always shown to the model.

    ``session_id=None``: a user block (it outlives sessions); otherwise the block of one session.
    ``limit`` is the most characters the block may hold; ``version`` counts from 1 and grows with
    every change; ``updated_at`` is when this version was written (timezone-aware UTC).
    """

    name: str
    text: str
    user_id: str
    session_id: str | None
    limit: int
    version: int
    updated_at: datetime

    def render(self) -> str:
        """The block as the model sees it: its text between ``<name>`` tags."""
        return f"<{self.name}>\n{self.text}\n</{self.name}>"

    def __repr__(self) -> str:
        scope = f"session={self.session_id!r}" if self.session_id is not None else "user"
        return (f"Block({self.name!r}, {scope}, v{self.version}, {len(self.text)}/{self.limit} chars, "
                f"text={one_line(self.text, 50)!r})")


def render_blocks(blocks: Iterable[Block]) -> str:
    """The working-memory section of a context ('' when no block holds text)."""
    shown = [block.render() for block in blocks if block.text.strip()]
    return "Working memory:\n" + "\n".join(shown) if shown else ""


@dataclass(frozen=True)
class MemoryContext:
    """What a model should see for one turn, already fitted to a token budget.

    ``blocks`` are the working-memory blocks (the user's, then the session's; always first),
    ``summary`` is the session's running summary (may be empty), ``recalled`` the long-term hits
    that the context does not already hold, ``window`` the recent messages in order: the session's
    window and, before it, the messages that left it but are not folded into the summary yet.
    """

    session_id: str
    user_id: str
    summary: str
    recalled: list[Hit]
    window: list[MemoryRecord]
    tokens: int
    max_tokens: int | None = None
    dropped: int = 0
    blocks: list[Block] = field(default_factory=list)

    def render(self) -> str:
        """The context as plain text: working memory, summary, recalled memories, the conversation."""
        parts: list[str] = []
        working = render_blocks(self.blocks)
        if working:
            parts.append(working)
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
            f"MemoryContext(session={self.session_id!r}, blocks={len(self.blocks)}, "
            f"summary={len(self.summary)} chars, "
            f"recalled={len(self.recalled)}, window={len(self.window)}, tokens={self.tokens})"
        )


def format_recalled(record: MemoryRecord) -> str:
    """One line for a recalled memory: its date, who said it (for messages) and the text."""
    when = record.timestamp.strftime("%Y-%m-%d")
    who = f"{record.role}: " if record.kind == "message" else ""
    old = " (superseded by a newer memory)" if record.superseded_by else ""
    return f"[{when}] {who}{record.text}{old}"


@dataclass(frozen=True)
class Link:
    """An association between two records, seen from one of them.

    ``record`` is the other end; ``direction`` is ``"out"`` when the link was made from the record
    asked about to ``record`` and ``"in"`` the other way round.
    """

    record: MemoryRecord
    relation: str
    strength: float
    direction: str

    def __repr__(self) -> str:
        arrow = "->" if self.direction == "out" else "<-"
        return f"Link({arrow} {self.relation} {self.strength:.2f}, {self.record!r})"


@dataclass(frozen=True)
class HistoryEvent:
    """Something that happened to a memory after it was written.

    ``event`` is ``"seen"`` (stated again; ``text`` is the wording used), ``"supersedes"`` or
    ``"superseded_by"`` (``other_id`` is the other record).
    """

    at: datetime
    event: str
    text: str = ""
    other_id: str | None = None


@dataclass(frozen=True)
class CleanupReport:
    """What :meth:`MemoryCore.cleanup` removed, or would remove on a dry run."""

    dry_run: bool
    ids: list[str]
    by_kind: dict[str, int]
    expired: int

    @property
    def count(self) -> int:
        """How many records were (or would be) removed."""
        return len(self.ids)

    def __repr__(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return f"CleanupReport({verb} {self.count}: {self.by_kind}, expired={self.expired})"


def is_tool_traffic(record: MemoryRecord) -> bool:
    """A recorded tool result, or an assistant message that only called tools (plumbing of an
    agent's turn: it echoes what the memories say and holds no fact of its own)."""
    if record.role == "tool":
        return True
    data = record.metadata.get("langchain", {}).get("data", {}) if record.role == "assistant" else {}
    return bool(isinstance(data, dict) and data.get("tool_calls") and not data.get("content"))
