"""The background worker: one daemon thread that drains the outbox and folds summaries."""

from __future__ import annotations

import threading
from collections.abc import Callable

IDLE_SECONDS = 5.0
"""How often an idle worker looks for work it was not told about."""
MAX_BACKOFF = 30.0


class Worker:
    """Runs ``drain`` after writes (batched by ``interval`` seconds) until stopped."""

    def __init__(self, drain: Callable[[], None], interval: float) -> None:
        self._drain = drain
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agent-memory-indexer", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def wake(self) -> None:
        """Tell the worker there is new work."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the worker to stop and wait for its current batch to finish (at most ``timeout``
        seconds); True when the thread has ended."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            self._wake.wait(IDLE_SECONDS if backoff == 0 else backoff)
            if self._stop.is_set():
                return
            self._wake.clear()
            if self._stop.wait(self._interval):
                return
            try:
                self._drain()
                backoff = 0.0
            except Exception:
                if self._stop.is_set():
                    return
                backoff = min(MAX_BACKOFF, max(1.0, backoff * 2))
                self._wake.set()
