"""The JSON API: one module per resource, all mounted under ``/api/`` behind the API key.

Adding a resource is one module with a ``router`` added to
:data:`ROUTERS`; the key check, the error answers and the OpenAPI document come with it.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ..deps import check_key, known_query
from ..models import ERRORS
from . import blocks, records, search, sessions, stats, users

ROUTERS = (stats.router, users.router, sessions.router, records.router, blocks.router, search.router)
"""Every resource router, in the order the OpenAPI document lists them."""


def api_router() -> APIRouter:
    """Every route of the API under ``/api``, each requiring the API key."""
    api = APIRouter(prefix="/api", dependencies=[Depends(check_key), Depends(known_query)], responses=ERRORS)
    for router in ROUTERS:
        api.include_router(router)
    return api
