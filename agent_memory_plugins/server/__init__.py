"""``agent-memory serve``: the memory over HTTP (a JSON API under ``/api/``) and a dashboard at ``/``.

Needs the ``server`` extra (``pip install 'agent-memory-plugins[server]'``: FastAPI and uvicorn).

Usage::

    from agent_memory_plugins import MemoryCore
    from agent_memory_plugins.server import create_app

    app = create_app(MemoryCore("./agent_memory"), api_key="a-long-secret", read_only=False)
    # run it with any ASGI server, e.g. uvicorn.run(app, host="127.0.0.1", port=8765)

or from a shell: ``AGENT_MEMORY_API_KEY=... agent-memory serve --path ./agent_memory``.
"""

from __future__ import annotations

from ..extras import require_extra

require_extra(("fastapi", "uvicorn"), "server", "server")

from .app import create_app  # noqa: E402
from .run import ServerThread, check_bind, serve, serve_in_thread  # noqa: E402

__all__ = ["ServerThread", "check_bind", "create_app", "serve", "serve_in_thread"]
