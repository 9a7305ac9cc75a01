"""``/api/users``: who has memory, their sessions with counts, their stats; forgetting a user."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Request

from ...inspector import Tally, newest_first, tally_activity
from ..deps import Core, Limit, Offset, UserId, Write
from ..models import Counts, Page, Removed, SessionOut, StatsOut, UserOut
from .paging import slice_page
from .stats import stats_out

router = APIRouter(tags=["users"])


def _moment(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


def counts(tally: Tally, sessions: int | None = None) -> Counts:
    """A tally of the record store's activity on the wire."""
    return Counts(sessions=sessions, messages=tally.messages, folded=tally.folded, summaries=tally.summaries,
                  memories=tally.memories, first=_moment(tally.first), last=_moment(tally.last))


@router.get("/users", summary="Users with their counts, latest activity first")
def list_users(core: Core, offset: Offset = 0, limit: Limit = 50) -> Page[UserOut]:
    """Every user with stored records (the operator's view: this listing is not scoped to one user)."""
    users, sessions = tally_activity(core.store.activity())
    rows = [UserOut(user_id=user, counts=counts(users[user], len(sessions.get(user, {}))))
            for user in newest_first(users)]
    return slice_page(rows, offset, limit)


@router.get("/users/{user_id}/sessions", summary="A user's sessions with their counts, latest activity first")
def list_sessions(core: Core, user_id: UserId, offset: Offset = 0, limit: Limit = 50) -> Page[SessionOut]:
    """The sessions of ``user_id`` with messages, folded messages, summaries and memories."""
    core.sessions(user_id=user_id)  # checks the id (a 422 naming user_id)
    _, sessions = tally_activity(core.store.activity(user_id))
    mine = sessions.get(user_id, {})
    rows = [SessionOut(session_id=session, counts=counts(mine[session])) for session in newest_first(mine)]
    return slice_page(rows, offset, limit)


@router.get("/users/{user_id}/stats", summary="Counts of one user")
def user_stats(core: Core, user_id: UserId, request: Request) -> StatsOut:
    """Records by kind and sessions of ``user_id``, and the store's pending indexing."""
    return stats_out(core.stats(user_id=user_id), request)


@router.delete("/users/{user_id}", dependencies=[Write], summary="Forget everything of a user")
def forget_user(core: Core, user_id: UserId) -> Removed:
    """Remove every record of ``user_id`` from every store (records, keyword and vector indexes)."""
    return Removed(removed=core.forget(user_id=user_id))
