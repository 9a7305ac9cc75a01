"""``/api/users/{user_id}/records`` and ``/memories``: listing, one record with its history and
links, remembering, forgetting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from ..deps import Core, Limit, MemoryId, Offset, SessionFilter, UserId, Write
from ..models import (
    HistoryEventOut,
    Kind,
    LinkOut,
    Page,
    RecordDetail,
    RecordOut,
    RememberIn,
    Removed,
)
from .paging import page

router = APIRouter(prefix="/users/{user_id}", tags=["records"])


@router.get("/records", summary="A user's records, in time order, filtered and paged")
def list_records(
    core: Core, user_id: UserId, offset: Offset = 0, limit: Limit = 50,
    kind: Annotated[list[Kind] | None, Query(description="Only these kinds (repeatable)")] = None,
    session_id: SessionFilter = None,
    newest_first: bool = False,
) -> Page[RecordOut]:
    """Records of ``user_id`` (``total`` is given when no session is asked for)."""

    def fetch(start: int, count: int) -> list[RecordOut]:
        records = core.records(user_id=user_id, kinds=kind, session_id=session_id, newest_first=newest_first,
                               limit=count, offset=start)
        return [RecordOut.of(record) for record in records]

    result = page(fetch, offset, limit)
    if session_id is None:
        by_kind = core.stats(user_id=user_id)["by_kind"]
        result.total = sum(count for name, count in by_kind.items() if kind is None or name in kind)
    return result


@router.post("/memories", status_code=201, dependencies=[Write], summary="Remember a long-term memory")
def remember(core: Core, user_id: UserId, body: RememberIn) -> RecordOut:
    """Store a fact, event, preference or skill; a repeat refreshes the stored record (and is
    returned), an update supersedes it."""
    record = core.remember(body.text, user_id=user_id, kind=body.kind, key=body.key, session_id=body.session_id,
                           agent_id=body.agent_id, timestamp=body.timestamp, metadata=body.metadata,
                           importance=body.importance)
    return RecordOut.of(record)


@router.get("/records/{memory_id}", summary="One record with its history and links")
def record_detail(core: Core, user_id: UserId, memory_id: MemoryId) -> RecordDetail:
    """The record (404 unless it belongs to ``user_id``), what happened to it, what it is linked to."""
    record = core.get(memory_id, user_id=user_id)
    return RecordDetail(
        record=RecordOut.of(record),
        history=[HistoryEventOut.of(event) for event in core.history(memory_id, user_id=user_id)],
        links=[LinkOut.of(link) for link in core.related(memory_id, user_id=user_id)],
    )


@router.get("/records/{memory_id}/history", summary="What happened to a memory, oldest first")
def history(core: Core, user_id: UserId, memory_id: MemoryId) -> list[HistoryEventOut]:
    """Repeats (``seen``) and supersessions of the record."""
    return [HistoryEventOut.of(event) for event in core.history(memory_id, user_id=user_id)]


@router.delete("/records/{memory_id}", dependencies=[Write], summary="Forget one record")
def forget_record(core: Core, user_id: UserId, memory_id: MemoryId) -> Removed:
    """Remove the record from every store (404 unless it belongs to ``user_id``); summaries that
    covered it are rebuilt without it."""
    removed = core.forget(memory_id=memory_id, user_id=user_id)
    if not removed:
        raise HTTPException(status_code=404, detail=f"no record {memory_id} for user {user_id!r}")
    return Removed(removed=removed)
