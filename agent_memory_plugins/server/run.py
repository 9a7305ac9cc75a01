"""Running the server: ``agent-memory serve`` opens the store and serves it with uvicorn."""

from __future__ import annotations

import ipaddress
import os

from ..errors import ConfigurationError

__all__ = ["check_bind", "serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to listen beyond this machine without an API key (``ConfigurationError``)."""
    if api_key is None and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve on {host!r} without an API key: anyone who can reach it could read and delete "
            "memory. Set AGENT_MEMORY_API_KEY (or the api_key setting), or listen on 127.0.0.1"
        )


def serve(
    path: str | os.PathLike[str] | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    read_only: bool = False,
    log_level: str = "info",
) -> None:
    """Open the store at ``path`` and serve it until interrupted (the key comes from the ``api_key``
    setting, i.e. ``AGENT_MEMORY_API_KEY``). Raises ``ConfigurationError`` before opening anything
    when ``host`` is not a loopback address and there is no key."""
    import uvicorn

    from ..core.memory import MemoryCore
    from ..settings import Settings
    from .app import create_app

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigurationError(f"port must be an integer from 0 to 65535, got {port!r}")
    api_key = Settings.from_env().api_key
    check_bind(host, api_key)
    with MemoryCore(path) as core:
        app = create_app(core, api_key=api_key, read_only=read_only)
        uvicorn.run(app, host=host, port=port, log_level=log_level)
