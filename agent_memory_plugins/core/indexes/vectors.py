"""The vector index: a Chroma collection that mirrors the record store and can be rebuilt from it.

Embedded ``PersistentClient`` under the store's folder by default, an in-memory client when the
store has no folder, or an ``HttpClient`` for a Chroma server (``chroma_url`` or ``chroma_client``).
We always hand Chroma our own embeddings; its default embedding function is never used.

No user text reaches Chroma: it holds the vector, the record's kind, role and timestamp, and keyed
digests of its user, session and agent ids (for scoping queries). Texts and user metadata stay in
SQLite, where ``forget`` can erase them; ``where`` filters are resolved there (see ``MemoryCore``).
Chroma keeps its own write log and deleted HNSW entries, so a forgotten record's *vector* may stay
in Chroma's files until Chroma compacts them; its words never do.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

import httpx
import numpy as np

from ...errors import ConfigurationError, MissingDependencyError, StoreInUseError, VectorIndexUnavailableError
from ...records import MemoryRecord
from .collections import Legacy, check_prefix, collection_name, open_collection
from .embeddings import cosine

if TYPE_CHECKING:
    from ..storage.interface import Filters

T = TypeVar("T")
log = logging.getLogger("agent_memory_plugins")
LOCK_FILE = "chroma.lock"
PARENT, PASSAGE = "parent", "passage"
"""Metadata of a passage vector: the id of its message, and a marker (see :mod:`.passages`)."""
SCHEME = "2"
"""Layout of the metadata stored beside each vector (1: raw ids and user metadata; 2: digests)."""


def _chromadb() -> Any:
    try:
        import chromadb
    except ImportError as error:  # pragma: no cover - chromadb is a core dependency
        raise MissingDependencyError("chromadb is missing: pip install 'agent-memory-plugins'") from error
    return chromadb


def _nothing_owned(ids: Sequence[str]) -> set[str]:
    return set()


def _nothing() -> None:
    pass


class ChromaIndex:
    """One Chroma collection holding a vector per record, with its scope as metadata.

    The collection is the record store's own (see :mod:`.collections`): :meth:`attach` opens it
    once the store's identity is known. When a Chroma server cannot be reached, each operation
    raises :class:`VectorIndexUnavailableError` (a warning is logged once per outage, and a note
    when the server is back); the collection is opened at the first use that reaches the server.
    """

    def __init__(
        self,
        path: str | None,
        collection: str,
        url: str | None = None,
        client: Any = None,
    ) -> None:
        chromadb = _chromadb()
        from chromadb.config import Settings as ChromaSettings

        self.prefix = check_prefix(collection)
        self._lock_handle: Any = None
        self.key = b""
        """Secret for :meth:`scope` digests; the core sets it from the record store."""
        self._holds_vectors = False
        self.ephemeral = False
        self.available = True
        """False from a failed attempt to reach the Chroma server until the next one that works."""
        self._label = "the Chroma client"
        self._legacy: Legacy = "shared"
        self._connect: Callable[[], Any] | None = None
        self.client: Any = None
        settings = ChromaSettings(anonymized_telemetry=False)
        if client is not None:
            self.client = client
            self.mode = "client"
        elif url is not None:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ConfigurationError(f"chroma_url must look like http://host:port, got {url!r}")
            port = parsed.port or (443 if parsed.scheme == "https" else 8000)
            self._connect = functools.partial(
                chromadb.HttpClient, host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=settings,
            )
            self._label = f"the Chroma server at {parsed.scheme}://{parsed.hostname}:{port}"
            self.mode = "server"
        elif path is not None:
            self._lock_handle = _lock_folder(path)
            self.client = chromadb.PersistentClient(path=os.path.join(path, "chroma"), settings=settings)
            self.mode = "embedded"
            self._legacy = "own"
        else:
            self.client = chromadb.EphemeralClient(settings=settings)
            self.ephemeral = True  # its collection is dropped on close (the client lives on in the process)
            self.mode = "memory"
            self._legacy = "none"
        self.name = ""
        """The store's collection (known from :meth:`attach`)."""
        self.store_id = ""
        self._owned: Callable[[Sequence[str]], set[str]] = _nothing_owned
        self._on_new: Callable[[], None] = _nothing
        self._lock = threading.RLock()
        self.collection: Any = None
        """The open collection (``None`` until it is first reached)."""

    def attach(
        self, store_id: str, owned: Callable[[Sequence[str]], set[str]], on_new: Callable[[], None] = _nothing
    ) -> None:
        """Use the collection of the store ``store_id`` (named from it, checked, its legacy
        vectors moved in; see :func:`.collections.open_collection`). ``owned(ids)`` says which
        ids are records of the store; ``on_new()`` runs whenever the collection had to be made
        anew (it holds none of the store's vectors). An unreachable server defers the opening to
        the first use."""
        self.store_id, self._owned, self._on_new = store_id, owned, on_new
        self.name = collection_name(self.prefix, store_id)
        with contextlib.suppress(VectorIndexUnavailableError):
            self._use(lambda collection: None)

    def _client(self) -> Any:
        if self.client is None and self._connect is not None:
            try:
                self.client = self._connect()
            except ValueError as error:  # chromadb's "Could not connect to a Chroma server"
                if isinstance(error.__context__, httpx.TransportError):
                    raise httpx.ConnectError(str(error)) from error
                raise ConfigurationError(f"{self._label}: {error}") from error
        return self.client

    def _open(self) -> Any:
        if not self.store_id:
            raise RuntimeError("ChromaIndex.attach() must be called before the collection is used")
        collection, new = open_collection(self._client(), self.prefix, self.store_id, self._owned, self._legacy)
        if new:
            self._on_new()
        return collection

    def _use(self, action: Callable[[Any], T]) -> T:
        """Run ``action(collection)``; never during a reset by another thread, and once more on a
        fresh handle when another process reset (deleted and recreated) the collection.

        Raises :class:`VectorIndexUnavailableError` when the server cannot be reached (after one
        more try on a fresh connection: a restarted server leaves stale ones in the pool)."""
        with self._lock:
            try:
                try:
                    result = self._attempt(action)
                except httpx.TransportError as error:
                    if isinstance(error, httpx.TimeoutException):
                        raise
                    result = self._attempt(action)
            except httpx.TransportError as error:
                self._down(error)
                raise VectorIndexUnavailableError(
                    f"{self._label} cannot be reached ({error}); records wait in the outbox"
                ) from error
            if not self.available:
                self.available = True
                log.info("%s is reachable again: indexing catches up, search uses vectors again", self._label)
            return result

    def _attempt(self, action: Callable[[Any], T]) -> T:
        if self.collection is None:
            self.collection = self._open()
        try:
            return action(self.collection)
        except _chromadb().errors.NotFoundError:
            self.collection = self._open()
            return action(self.collection)

    def _down(self, error: BaseException) -> None:
        if self.available:
            self.available = False
            log.warning(
                "%s cannot be reached (%s): writes go on and wait in the outbox, search answers from "
                "keywords alone until it is back (logged once per outage)", self._label, error,
            )

    def scope(self, value: str) -> str:
        """The keyed digest under which a user, session or agent id is stored in Chroma."""
        return hmac.new(self.key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def where(self, filters: Filters) -> dict[str, Any]:
        """Chroma's ``where`` for the scope of ``filters`` (ids as digests; metadata ``where`` is
        resolved in SQLite, never here)."""
        parts: list[dict[str, Any]] = [{"user_id": {"$eq": self.scope(filters.user_id)}}]
        if filters.session_id is not None:
            parts.append({"session_id": {"$eq": self.scope(filters.session_id)}})
        if filters.agent_id is not None:
            parts.append({"agent_id": {"$eq": self.scope(filters.agent_id)}})
        if filters.kinds:
            parts.append({"kind": {"$in": list(filters.kinds)}})
        return parts[0] if len(parts) == 1 else {"$and": parts}

    def upsert(
        self, records: Sequence[MemoryRecord], vectors: Sequence[Any], parents: Sequence[str] | None = None
    ) -> None:
        """Store the vectors of ``records`` with their (digested) scope, kind, role and time;
        with ``parents``, each is a passage (see :mod:`.passages`) of the record id given."""
        if not records:
            return
        self._holds_vectors = True
        metadatas = [self._metadata(r) for r in records]
        for meta, parent in zip(metadatas, parents or (), strict=False):
            meta[PARENT], meta[PASSAGE] = parent, 1
        self._use(lambda collection: collection.upsert(
            ids=[r.id for r in records], embeddings=np.asarray(vectors, dtype=np.float32), metadatas=metadatas,
        ))

    def delete_passages(self, parents: Sequence[str]) -> None:
        """Remove the passage vectors of these records (their own vectors stay)."""
        for start in range(0, len(parents), 1000):
            self._use(functools.partial(_delete_children, parents=list(parents[start:start + 1000])))

    def _metadata(self, record: MemoryRecord) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "user_id": self.scope(record.user_id), "kind": record.kind, "role": record.role,
            "timestamp": record.timestamp.timestamp(),
        }
        if record.session_id is not None:
            meta["session_id"] = self.scope(record.session_id)
        if record.agent_id is not None:
            meta["agent_id"] = self.scope(record.agent_id)
        return meta

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors by record id (missing ids are fine)."""
        self._holds_vectors = False  # unknown until counted again
        for start in range(0, len(ids), 1000):
            self._use(functools.partial(_delete, ids=list(ids[start:start + 1000])))

    def query(
        self, vector: Sequence[float] | Any, where: dict[str, Any], limit: int, ids: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """Nearest records within ``where`` (and ``ids`` when given): ``(id, similarity)`` best first."""
        result = self._use(lambda collection: collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=limit, where=where,
            include=["distances"], ids=list(ids) if ids is not None else None,
        ))
        ids = result["ids"][0] if result["ids"] else []
        distances = (result.get("distances") or [[]])[0]
        return [(str(i), 1.0 - float(d)) for i, d in zip(ids, distances, strict=False)]

    def similarities(self, vector: Sequence[float] | Any, ids: Sequence[str]) -> dict[str, float]:
        """Exact cosine similarity of ``vector`` to the stored vectors of ``ids`` (those present)."""
        if not ids:
            return {}
        found = self._use(lambda collection: collection.get(ids=list(ids), include=["embeddings"]))
        return {
            str(record_id): cosine(vector, stored)
            for record_id, stored in zip(found["ids"], found["embeddings"], strict=True)
        }

    def count(self) -> int:
        """Records with a vector stored (passage vectors of long messages not counted)."""
        return int(self._use(lambda collection: collection.count() - len(
            collection.get(where={PASSAGE: 1}, include=[])["ids"])))

    def is_empty(self) -> bool:
        """Whether there is nothing to query; cheap once a vector is known to be there."""
        if not self._holds_vectors:
            self._holds_vectors = int(self._use(lambda collection: collection.count())) > 0
        return not self._holds_vectors

    def reset(self) -> None:
        """Drop and recreate the store's own collection (for reindexing); no other is touched."""
        def drop(collection: Any) -> None:
            with contextlib.suppress(_chromadb().errors.NotFoundError):  # another process was first
                self.client.delete_collection(self.name)
            self._holds_vectors = False
            self.collection = self._open()

        self._use(drop)

    def close(self) -> None:
        """Release the collection (and drop it when it lived only in memory) and the folder lock."""
        if self.ephemeral and self.name:
            with contextlib.suppress(Exception):  # best effort on an in-memory collection
                self.client.delete_collection(self.name)
        if self.mode == "embedded":
            # Release Chroma's per-path cache of the store, or a later open in this process would
            # reuse an in-memory index that another process has since changed on disk.
            close = getattr(self.client, "close", None)
            if close is not None:
                close()
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None


def _delete(collection: Any, ids: list[str]) -> None:
    collection.delete(ids=ids)


def _delete_children(collection: Any, parents: list[str]) -> None:
    collection.delete(where={PARENT: {"$in": parents}})




def _lock_folder(path: str) -> Any:
    """Hold an exclusive lock on the folder's embedded Chroma for this process.

    Embedded Chroma must not be opened by two processes at once; the second gets a clear error
    that points at server mode instead of a corrupted index.
    """
    os.makedirs(path, exist_ok=True)
    handle = open(os.path.join(path, LOCK_FILE), "a+")  # noqa: SIM115 - kept open as the lock
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreInUseError(
            f"embedded Chroma under {path} is already open (in another process, or in another "
            "MemoryCore of this one). Share one MemoryCore per process; to use one store from "
            "several processes run a Chroma server (chroma run --path DIR --port 8000) and pass "
            "chroma_url='http://127.0.0.1:8000' in every process."
        ) from None
    return handle
