"""The ASGI application: the JSON API under ``/api/``, the dashboard at ``/``, errors as 4xx."""

from __future__ import annotations

import re
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..core.memory import MemoryCore
from ..errors import (
    ConfigurationError,
    InvalidFilterError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidTimestampError,
    NotFoundError,
    StoreClosedError,
)
from .routes import api_router

__all__ = ["create_app"]

STATIC = files("agent_memory_plugins.server") / "static"
_FIELD = re.compile(r"\b(user_id|session_id|agent_id|memory_id|messages|content|query|text|role|kinds|kind|key|"
                    r"metadata|timestamp|importance|where|max_tokens|limit|offset|k)\b")
"""Argument names a core error message may name (the first one found is the field)."""
_FIELD_OF_ERROR: dict[type[Exception], str] = {
    InvalidFilterError: "where", InvalidMetadataError: "metadata", InvalidTimestampError: "timestamp",
}
"""Errors that always concern one field, whatever their message says."""


def create_app(core: MemoryCore, *, api_key: str | None = None, read_only: bool = False) -> FastAPI:
    """A FastAPI app serving ``core``: the API under ``/api/`` (OpenAPI at ``/openapi.json``, docs at
    ``/docs``) and the dashboard at ``/``.

    ``api_key``: every ``/api/`` route requires ``Authorization: Bearer <api_key>`` (``None``: no
    key; keep such a server on a loopback address, as :func:`.run.serve` does). ``read_only``:
    every write (add, remember, forget) is refused with 403. The app does not close ``core``.
    """
    if api_key is not None and (not isinstance(api_key, str) or len(api_key.strip()) < 8):
        raise ConfigurationError("api_key must be text of at least 8 characters (or None for no key)")
    app = FastAPI(
        title="agent-memory", version=__version__,
        description="Durable memory for LLM agents over HTTP. Every route is scoped to one user; every "
                    "`/api/` route needs `Authorization: Bearer <key>` when the server has a key.",
    )
    app.state.core = core
    app.state.api_key = api_key
    app.state.read_only = read_only
    app.include_router(api_router())
    app.add_exception_handler(InvalidInputError, _invalid_input)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(StoreClosedError, _closed)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-store"})

    return app


async def _invalid_input(request: Request, error: Exception) -> JSONResponse:
    """Bad input the core refused: 422 in FastAPI's own shape, ``loc`` naming the field."""
    message = str(error)
    match = _FIELD.search(message)
    field = _FIELD_OF_ERROR.get(type(error)) or (match.group(1) if match else "body")
    return JSONResponse(status_code=422, content={"detail": [{"loc": ["request", field], "msg": message,
                                                              "type": "invalid_input"}]})


async def _not_found(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(error.args[0] if error.args else error)})


async def _closed(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": str(error)})
