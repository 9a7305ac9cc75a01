"""``/api/users/{user_id}/search``: hybrid recall with each hit's score parts."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import Core, UserId
from ..models import HitOut, SearchIn, SearchOut

router = APIRouter(prefix="/users/{user_id}", tags=["search"])


@router.post("/search", summary="Search a user's memory; every hit explains its score")
def search(core: Core, user_id: UserId, body: SearchIn) -> SearchOut:
    """Dense + keyword fusion adjusted for time, recency and importance (``MemoryCore.search``)."""
    hits = core.search(body.query, user_id=user_id, k=body.k, session_id=body.session_id, kinds=body.kinds,
                       where=body.where, follow_links=body.follow_links)
    return SearchOut(query=hits.query, user_id=hits.user_id, hits=[HitOut.of(hit) for hit in hits])
