"""Running the server: ``agent-memory serve`` opens the store and serves it with uvicorn."""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..core.memory import MemoryCore

__all__ = ["ServerThread", "check_bind", "serve", "serve_in_thread"]


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


class ServerThread:
    """uvicorn serving an ASGI app in a background thread of this process.

    ``url`` is where it listens (``port=0`` picks a free port); ``stop()`` (or leaving the
    ``with`` block) shuts it down. Use :func:`serve_in_thread` to serve a core.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name="agent-memory-server", daemon=True)
        self.host = host
        self.port = port

    def start(self, timeout: float = 30.0) -> ServerThread:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        return self

    @property
    def url(self) -> str:
        """The server's base URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving and wait for the thread to end."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(
    core: MemoryCore,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    read_only: bool = False,
) -> ServerThread:
    """Serve ``core`` (API and dashboard) from a thread of this process, e.g. next to an agent that
    uses the same core; returns the running :class:`ServerThread`. Refuses a non-loopback ``host``
    without ``api_key`` (``ConfigurationError``)."""
    from .app import create_app

    check_bind(host, api_key)
    return ServerThread(create_app(core, api_key=api_key, read_only=read_only), host, port).start()
