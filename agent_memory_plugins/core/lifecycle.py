"""One core per folder per process: opening a core's stores, handing an open one out again, and
releasing them when it is closed, dropped, or left open at exit."""

from __future__ import annotations

import atexit
import gc
import logging
import os
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import StoreInUseError
from ..settings import Settings
from .indexes.indexer import Indexer
from .indexes.vectors import ChromaIndex
from .indexes.worker import Worker

if TYPE_CHECKING:
    from .memory import MemoryCore

__all__ = ["BY_FOLDER", "DEFAULT", "OPEN_CORES", "held_core", "open_index", "release", "settings_for", "weak_drain"]

log = logging.getLogger("agent_memory_plugins")
WORKER_STOP_SECONDS = 0.1
"""How long ``close`` waits for the worker thread to end (after that it ends on its own: a stopped
indexer writes nothing, and the worker only loads a model or waits outside the index lock)."""
OPEN_CORES: weakref.WeakSet[MemoryCore] = weakref.WeakSet()
BY_FOLDER: weakref.WeakValueDictionary[str, MemoryCore] = weakref.WeakValueDictionary()
"""The core holding each embedded folder in this process."""
_COMPONENTS = ("embedder", "summarizer", "consolidator", "token_counter", "chroma_client")
DEFAULT: Any = object()
"""Marks a keyword the caller did not pass (so ``None`` can mean "no limit")."""


@atexit.register
def _close_open_cores() -> None:
    """Close cores the program left open: stop workers cleanly and checkpoint SQLite."""
    for core in list(OPEN_CORES):
        try:
            core._opens = 1  # however often it was handed out
            core.close()
        except Exception:  # best effort at interpreter exit
            log.debug("closing a MemoryCore at exit failed", exc_info=True)


def settings_for(path: Any, window_messages: Any, window_tokens: Any, settings: Mapping[str, Any]) -> Settings:
    """The settings of a core opened with these arguments."""
    overrides: dict[str, Any] = dict(settings)
    if path is not None:
        overrides["path"] = os.path.abspath(os.fspath(path))  # Chroma caches clients by path text
    if window_messages is not DEFAULT:  # None switches the count limit off
        overrides["window_messages"] = window_messages
    if window_tokens is not DEFAULT:
        overrides["window_tokens"] = window_tokens
    return Settings.from_env(overrides)


def held_core(path: Any, kwargs: dict[str, Any]) -> MemoryCore | None:
    """The open core of this process that holds ``path``, when these arguments ask for the same
    store (no components of their own, the same settings); ``None`` when nothing holds it.
    Raises :class:`StoreInUseError` when a live core holds it with other settings."""
    if path is None:
        return None
    held = BY_FOLDER.get(os.path.abspath(os.fspath(path)))
    if held is None or held._closed:
        return None
    options = {name: value for name, value in kwargs.items()
               if name not in (*_COMPONENTS, "window_messages", "window_tokens", "reindex", "background")}
    try:
        wanted = settings_for(path, kwargs.get("window_messages", DEFAULT), kwargs.get("window_tokens", DEFAULT),
                           options)
    except Exception:
        return None  # bad arguments: __init__ reports them
    same = (wanted == held.settings and not kwargs.get("reindex")
            and all(kwargs.get(name) is None for name in _COMPONENTS))
    if not same:
        raise StoreInUseError(
            f"another MemoryCore of this process has {held.settings.path} open (with other settings or "
            "components); close() it first, or use that one. To use one store from several processes "
            "run a Chroma server (chroma run --path DIR --port 8000) and pass chroma_url='http://127.0.0.1:8000'."
        )
    return held


def open_index(settings: Settings, client: Any) -> ChromaIndex:
    """The vector index of a store. A folder held by a core this process dropped is released
    first (its finalizer runs on collection); one held by a live core or another process is not."""
    def attempt() -> ChromaIndex:
        return ChromaIndex(settings.path, settings.chroma_collection, settings.chroma_url, client)

    try:
        return attempt()
    except StoreInUseError:
        gc.collect()  # a dropped core in a reference cycle: collecting it releases the folder
        try:
            return attempt()
        except StoreInUseError as error:
            holders = [core for core in list(OPEN_CORES) if core.settings.path == settings.path]
            if holders:
                raise StoreInUseError(
                    f"another MemoryCore of this process has {settings.path} open; close() it first, "
                    "or share that one (one MemoryCore per folder per process)"
                ) from error
            raise


def weak_drain(core: MemoryCore) -> Callable[[], None]:
    """The worker's drain, holding ``core`` weakly (once it is collected, draining does nothing)."""
    ref = weakref.ref(core)

    def drain() -> None:
        alive = ref()
        if alive is not None:
            alive._background_drain()

    return drain


def release(indexer: Indexer, worker: Worker | None, lock: Any, index: ChromaIndex, store: Any) -> None:
    """Stop the worker and close the stores (``close()``, or the collection of a dropped core)."""
    indexer.stop()
    if worker is not None:
        worker.stop(WORKER_STOP_SECONDS)
    with lock:
        index.close()
        store.close()
