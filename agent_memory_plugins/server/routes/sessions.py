"""``/api/users/{user_id}/sessions/{session_id}``: messages, window, summary, context, the timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ...inspector import SessionView, session_view
from ...records import MemoryRecord
from ..deps import Core, Limit, Offset, SessionId, UserId, Write
from ..models import (
    MAX_K,
    MAX_QUERY_PARAM,
    TEXT_PATTERN,
    AddMessages,
    ContextOut,
    MessageOut,
    Page,
    RecordOut,
    Removed,
    SessionDetail,
    SummaryOut,
)
from .paging import page

router = APIRouter(prefix="/users/{user_id}/sessions/{session_id}", tags=["sessions"])


@router.post("/messages", status_code=201, dependencies=[Write], summary="Add messages to a session")
def add_messages(core: Core, user_id: UserId, session_id: SessionId, body: AddMessages) -> list[RecordOut]:
    """Store the messages in one transaction (all or none); durable when the answer comes."""
    messages = [message.model_dump(exclude_none=True) for message in body.messages]
    records = core.add_messages(session_id, messages, user_id=user_id, agent_id=body.agent_id)
    return [RecordOut.of(record) for record in records]


@router.get("", summary="A session's timeline: counts by state, summary, window")
def session_detail(core: Core, user_id: UserId, session_id: SessionId) -> SessionDetail:
    """The session as the memory holds it (404 when it holds nothing)."""
    view = session_view(core, session_id, user_id=user_id)
    said = [record.timestamp for record in view.messages + view.memories]
    return SessionDetail(
        session_id=session_id, user_id=user_id, counts=view.counts(),
        summary=_summary(view.summary), window=[RecordOut.of(record) for record in view.window],
        window_messages=view.window_messages, window_tokens=view.window_tokens,
        pending_index=core.stats(user_id=user_id)["pending_index"],
        first=min(said, default=None), last=max(said, default=None),
    )


@router.get("/messages", summary="A session's messages with their state, oldest first")
def list_messages(
    core: Core, user_id: UserId, session_id: SessionId, offset: Offset = 0, limit: Limit = 50,
    newest_first: bool = False,
) -> Page[MessageOut]:
    """Messages of the session, each ``window``, ``summary`` (folded into it) or ``pending``."""
    view = SessionView(session_id, user_id, messages=[], window=core.window(session_id, user_id=user_id),
                       summary=core.summary_record(session_id, user_id=user_id))

    def fetch(start: int, count: int) -> list[MessageOut]:
        records = core.records(user_id=user_id, session_id=session_id, kinds="message",
                               newest_first=newest_first, limit=count, offset=start)
        return [MessageOut.of_message(record, view.state(record)) for record in records]

    return page(fetch, offset, limit)


@router.get("/window", summary="The messages the window keeps, oldest first")
def window(core: Core, user_id: UserId, session_id: SessionId) -> list[RecordOut]:
    """What the model sees verbatim."""
    return [RecordOut.of(record) for record in core.window(session_id, user_id=user_id)]


@router.get("/summary", summary="The session's running summary")
def summary(core: Core, user_id: UserId, session_id: SessionId) -> SummaryOut:
    """The summary of what left the window ('' until something was folded); ``record.covers``
    counts the messages it stands for."""
    return _summary(core.summary_record(session_id, user_id=user_id))


def _summary(record: MemoryRecord | None) -> SummaryOut:
    return SummaryOut(text=record.text if record else "", record=RecordOut.of(record) if record else None)


@router.get("/context", summary="The context a model would see for the next turn")
def context(
    core: Core, user_id: UserId, session_id: SessionId,
    query: Annotated[str | None, Query(min_length=1, max_length=MAX_QUERY_PARAM, pattern=TEXT_PATTERN,
                                       description="Recall for this (default: the latest user message)")] = None,
    max_tokens: Annotated[int | None, Query(ge=1, le=10_000_000)] = None,
    k: Annotated[int, Query(ge=0, le=MAX_K, description="Memories to recall (0: none)")] = 5,
) -> ContextOut:
    """Summary + recalled memories not in the window + the window, fitted to ``max_tokens``."""
    found = core.context(session_id, query, user_id=user_id, max_tokens=max_tokens, k=k)
    return ContextOut.of(found)


@router.delete("", dependencies=[Write], summary="Forget a session")
def forget_session(core: Core, user_id: UserId, session_id: SessionId) -> Removed:
    """Remove every record of the session from every store."""
    return Removed(removed=core.forget(session_id=session_id, user_id=user_id))
