"""What every route depends on: the core, the API key, the read-only switch, paging parameters."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..core.memory import MemoryCore
from .models import ID_PATTERN, MAX_OFFSET, MAX_PAGE

bearer = HTTPBearer(auto_error=False, description="The server's API key (setting api_key / AGENT_MEMORY_API_KEY)")


def get_core(request: Request) -> MemoryCore:
    """The core the app serves."""
    core: MemoryCore = request.app.state.core
    return core


def check_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """Refuse (401) a request without ``Authorization: Bearer <the api key>`` when the app has a key."""
    wanted: str | None = request.app.state.api_key
    if wanted is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), wanted.encode()):
        raise HTTPException(
            status_code=401, detail="missing or wrong API key: send Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )


def known_query(request: Request) -> None:
    """Refuse (422) query parameters the route does not take: a misspelt ``limt=5`` is an error
    naming it, not a silently ignored wish."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    allowed = _query_names(dependant)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise RequestValidationError([
            {"loc": ("query", name), "msg": f"unknown query parameter {name!r}; this route takes "
             f"{', '.join(sorted(allowed)) or 'none'}", "type": "extra_forbidden"} for name in unknown
        ])


def _query_names(dependant: Any) -> set[str]:
    """The query parameters a route's dependency tree declares."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def writable(request: Request) -> None:
    """Refuse (403) a write on a read-only server."""
    if request.app.state.read_only:
        raise HTTPException(status_code=403, detail="this server is read-only (started with --read-only)")


Core = Annotated[MemoryCore, Depends(get_core)]
UserId = Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN,
                             description="Whose memory (every route is scoped to it)")]
SessionId = Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN)]
SessionFilter = Annotated[str | None, Query(min_length=1, max_length=256, pattern=ID_PATTERN,
                                            description="Only this session")]
MemoryId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="A record id issued by the store")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip (the next_offset of the last page)")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page")]
Write = Depends(writable)
