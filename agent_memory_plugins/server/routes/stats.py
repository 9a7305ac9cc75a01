"""``/api/stats``: the whole store's counts (for the operator)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ..deps import Core
from ..models import StatsOut

router = APIRouter(tags=["stats"])


def stats_out(stats: dict[str, Any], request: Request) -> StatsOut:
    """``MemoryCore.stats()`` on the wire, with whether this server accepts writes."""
    fields = {name: stats[name] for name in StatsOut.model_fields if name in stats}
    return StatsOut(**fields, read_only=request.app.state.read_only)


@router.get("/stats", summary="Counts of the whole store")
def store_stats(core: Core, request: Request) -> StatsOut:
    """Records by kind, sessions, users, records waiting for the vector index, vectors."""
    return stats_out(core.stats(), request)
