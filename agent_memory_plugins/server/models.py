"""Request and response models of the JSON API (pydantic): what goes over the wire, validated.

Requests are checked here first (types, ranges, lengths), so bad input is answered with a 422 that
names the field; the core's own checks (``core/validation.py``) stay the last word and their errors
are answered the same way. Responses are built from the core's plain records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from ..records import Block, HistoryEvent, Hit, Link, MemoryContext, MemoryRecord

Role = Literal["user", "assistant", "system", "tool"]
Kind = Literal["message", "summary", "fact", "event", "preference", "skill"]
MemoryKind = Literal["fact", "event", "preference", "skill"]

MAX_PAGE = 500
"""Most items one page of a listing holds."""
MAX_BATCH = 1000
"""Most messages one request may add."""
MAX_K = 100
"""Most hits one search returns."""
MAX_OFFSET = 2**62
"""Largest offset a listing accepts."""

MAX_TEXT = 100_000
"""Longest text a request may carry (the default of the ``max_content_chars`` setting)."""
MAX_QUERY_PARAM = 1000
"""Longest text in a URL's query (a longer query goes in a POST body: ``/search``)."""
ID_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
"""An id or label: not blank, no control characters (as ``core/validation.py`` checks)."""
TEXT_PATTERN = r"\S"
"""A text holds something besides white space."""

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT, pattern=TEXT_PATTERN,
                            description="The text (not blank)")]
Id = Annotated[str, Field(min_length=1, max_length=256, pattern=ID_PATTERN)]
Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
Scalar = StrictStr | StrictBool | Int64 | Annotated[float, Field(ge=-(2**63), le=2**63 - 1)]
Compare = Annotated[dict[Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"], Scalar],
                    Field(min_length=1, max_length=1)]
Member = Annotated[dict[Literal["$in", "$nin"], Annotated[list[Scalar], Field(min_length=1)]],
                   Field(min_length=1, max_length=1)]
Where = Annotated[
    dict[Annotated[str, Field(pattern=r"^[^$]")], Scalar | Compare | Member],
    Field(min_length=1, json_schema_extra={"additionalProperties": False},
          description='Metadata filter: every condition must hold. {"topic": "travel"} (equality), '
                      '{"year": {"$gte": 2023}} ($eq $ne $gt $gte $lt $lte), {"tag": {"$in": ["a", "b"]}} '
                      "($in $nin)"),
]
Importance = Annotated[float, Field(ge=0.0, le=1.0, description="0 (trivial) to 1 (vital); estimated when absent")]
Metadata = Annotated[dict[str, Any] | None, Field(description="Any JSON object; round-trips unchanged")]

T = TypeVar("T")


class Strict(BaseModel):
    """A request model that refuses unknown fields (a misspelt field is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid")


# -- responses ---------------------------------------------------------------------------------
class BlockOut(BaseModel):
    """One version of a working-memory block (``session_id`` null: the user's own block)."""

    name: str
    text: str
    user_id: str
    session_id: str | None
    limit: int = Field(description="Most characters the block may hold")
    version: int
    updated_at: datetime

    @classmethod
    def of(cls, block: Block) -> BlockOut:
        """The wire form of a core block."""
        return cls(name=block.name, text=block.text, user_id=block.user_id, session_id=block.session_id,
                   limit=block.limit, version=block.version, updated_at=block.updated_at)


class RecordOut(BaseModel):
    """One stored record: a message, a summary or a long-term memory."""

    id: str
    text: str
    role: str
    kind: str
    user_id: str
    session_id: str | None
    agent_id: str | None
    timestamp: datetime = Field(description="When it was said")
    created_at: datetime = Field(description="When it was written")
    importance: float
    metadata: dict[str, Any]
    covers: int = Field(description="How many messages a summary stands for (0 for other kinds)")
    key: str | None
    times_seen: int
    last_seen: datetime | None
    superseded_by: str | None
    expires_at: datetime | None

    @classmethod
    def of(cls, record: MemoryRecord) -> RecordOut:
        """The wire form of a core record."""
        return cls(
            id=record.id, text=record.text, role=record.role, kind=record.kind, user_id=record.user_id,
            session_id=record.session_id, agent_id=record.agent_id, timestamp=record.timestamp,
            created_at=record.created_at, importance=record.importance, metadata=record.metadata,
            covers=len(record.covers), key=record.key, times_seen=record.times_seen, last_seen=record.last_seen,
            superseded_by=record.superseded_by, expires_at=record.expires_at,
        )


class MessageOut(RecordOut):
    """A message of a session with where it is: in the ``window``, folded into the ``summary``, or
    ``pending`` (left the window, not folded yet)."""

    state: Literal["window", "summary", "pending"]

    @classmethod
    def of_message(cls, record: MemoryRecord, state: str) -> MessageOut:
        """The wire form of a message in ``state`` (``SessionView.state``)."""
        return cls.model_validate({**RecordOut.of(record).model_dump(), "state": state})


class Page(BaseModel, Generic[T]):
    """One page of a listing. ``next_offset`` is the offset of the next page (``None``: last page);
    ``total`` is the number of items in the whole listing when it is known cheaply."""

    items: list[T]
    offset: int
    limit: int
    next_offset: int | None
    total: int | None = None


class ScoreParts(BaseModel):
    """The parts of a hit's score (``explain`` holds them all, with ranks).

    ``dense``: cosine similarity to the query (``None``: not among the dense candidates);
    ``keyword``: BM25 score (``None``: no query word matched); ``fusion``: their weighted mean, each
    divided by the best of its kind (1.0 = best on both); ``recency`` (1.0 = now, halving every
    ``recency_half_life_days``) and ``importance`` (0..1) adjust it; ``time`` and ``question`` are
    factors (1.0 unless the query named a time the record was said in, or the record only asks).
    """

    dense: float | None
    keyword: float | None
    fusion: float | None
    recency: float | None
    importance: float | None
    time: float
    question: float

    @classmethod
    def of(cls, explain: dict[str, Any]) -> ScoreParts:
        """The parts named in a hit's ``explain`` (linked hits carry none but their score)."""

        def number(name: str) -> float | None:
            value = explain.get(name)
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

        return cls(
            dense=number("dense_score"), keyword=number("keyword_score"), fusion=number("fusion"),
            recency=number("recency"), importance=number("importance"),
            time=number("time") or 1.0, question=number("question") or 1.0,
        )


class HitOut(BaseModel):
    """A search hit: the record, its final score, the score's parts and the raw ``explain``."""

    record: RecordOut
    score: float
    parts: ScoreParts
    explain: dict[str, Any]

    @classmethod
    def of(cls, hit: Hit) -> HitOut:
        """The wire form of a core hit."""
        return cls(record=RecordOut.of(hit.record), score=hit.score, parts=ScoreParts.of(hit.explain),
                   explain=hit.explain)


class SearchOut(BaseModel):
    """The hits of one search, best first."""

    query: str
    user_id: str
    hits: list[HitOut]


class HistoryEventOut(BaseModel):
    """Something that happened to a memory: ``seen`` again, ``supersedes`` or ``superseded_by`` another."""

    at: datetime
    event: str
    text: str
    other_id: str | None

    @classmethod
    def of(cls, event: HistoryEvent) -> HistoryEventOut:
        """The wire form of a history event."""
        return cls(at=event.at, event=event.event, text=event.text, other_id=event.other_id)


class LinkOut(BaseModel):
    """A link from (``out``) or to (``in``) a record."""

    record: RecordOut
    relation: str
    strength: float
    direction: Literal["in", "out"]

    @classmethod
    def of(cls, link: Link) -> LinkOut:
        """The wire form of a link."""
        direction: Literal["in", "out"] = "out" if link.direction == "out" else "in"
        return cls(record=RecordOut.of(link.record), relation=link.relation, strength=link.strength,
                   direction=direction)


class RecordDetail(BaseModel):
    """A record with its history and links."""

    record: RecordOut
    history: list[HistoryEventOut]
    links: list[LinkOut]


class Counts(BaseModel):
    """What a user or a session holds."""

    sessions: int | None = None
    messages: int
    folded: int = Field(description="Messages folded into a summary")
    summaries: int
    memories: int = Field(description="Long-term memories (facts, events, preferences, skills)")
    first: datetime | None
    last: datetime | None


class UserOut(BaseModel):
    """A user id and what it holds."""

    user_id: str
    counts: Counts


class SessionOut(BaseModel):
    """A session id and what it holds."""

    session_id: str
    counts: Counts


class SummaryOut(BaseModel):
    """A session's running summary ('' and no record until something has left the window)."""

    text: str
    record: RecordOut | None


class SessionDetail(BaseModel):
    """A session's timeline: its counts by state, the summary, the window and pending indexing."""

    session_id: str
    user_id: str
    counts: dict[str, int] = Field(description="messages, window, summary, pending (left the window, not "
                                              "folded yet), memories")
    summary: SummaryOut
    window: list[RecordOut]
    window_messages: int | None
    window_tokens: int | None
    pending_index: int = Field(description="Records of the whole store waiting for the vector index")
    first: datetime | None
    last: datetime | None


class ContextOut(BaseModel):
    """What a model would see for the session's next turn, within the token budget."""

    session_id: str
    user_id: str
    summary: str
    recalled: list[HitOut]
    window: list[RecordOut]
    tokens: int
    max_tokens: int | None
    dropped: int
    rendered: str

    @classmethod
    def of(cls, context: MemoryContext) -> ContextOut:
        """The wire form of an assembled context."""
        return cls(
            session_id=context.session_id, user_id=context.user_id, summary=context.summary,
            recalled=[HitOut.of(hit) for hit in context.recalled],
            window=[RecordOut.of(record) for record in context.window], tokens=context.tokens,
            max_tokens=context.max_tokens, dropped=context.dropped, rendered=context.render(),
        )


class ErrorOut(BaseModel):
    """Why a request was refused."""

    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body is not JSON"},
    401: {"model": ErrorOut, "description": "Missing or wrong API key"},
    403: {"model": ErrorOut, "description": "A write on a read-only server"},
    404: {"model": ErrorOut, "description": "No such record or session for this user"},
    503: {"model": ErrorOut, "description": "The store is closed"},
}
"""Refusals any route may answer with (422, bad input, is FastAPI's own validation error)."""


class Removed(BaseModel):
    """How many records a forget removed (from every store)."""

    removed: int


class StatsOut(BaseModel):
    """Counts of records by kind, sessions, users and pending indexing."""

    records: int
    by_kind: dict[str, int]
    sessions: int
    users: int
    pending_index: int
    vectors: int
    chroma: str
    embedder: str
    read_only: bool


# -- requests ----------------------------------------------------------------------------------
class MessageIn(Strict):
    """One message to add."""

    role: Role
    content: Text
    timestamp: datetime | None = Field(default=None, description="When it was said (default: now)")
    metadata: Metadata = None
    importance: Importance | None = None


class AddMessages(Strict):
    """Messages to add to a session, in one transaction (all are stored, or none)."""

    messages: list[MessageIn] = Field(min_length=1, max_length=MAX_BATCH)
    agent_id: Id | None = None


class BlockIn(Strict):
    """A new text for a working-memory block (a new version; ``session_id`` absent: the user's own block)."""

    text: Annotated[str, Field(max_length=MAX_TEXT, pattern=TEXT_PATTERN)]
    session_id: Id | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_TEXT)] | None = None


class RememberIn(Strict):
    """A long-term memory to store (consolidated with what is stored, as ``MemoryCore.remember``)."""

    text: Text
    kind: MemoryKind = "fact"
    key: Id | None = None
    session_id: Id | None = None
    agent_id: Id | None = None
    timestamp: datetime | None = None
    metadata: Metadata = None
    importance: Importance | None = None


class SearchIn(Strict):
    """A search of one user's memory."""

    query: Text
    k: int = Field(default=5, ge=1, le=MAX_K)
    session_id: Id | None = None
    kinds: list[Kind] | None = Field(default=None, min_length=1)
    where: Where | None = None
    follow_links: bool = False
