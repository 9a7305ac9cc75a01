"""The vector index: Chroma collections (one per user) that mirror the record store and can be rebuilt from it.

Embedded ``PersistentClient`` under the store's folder by default, an in-memory client when the
store has no folder, or an ``HttpClient`` for a Chroma server (``chroma_url`` or ``chroma_client``).
We always hand Chroma our own embeddings; its default embedding function is never used.

No user text reaches Chroma: it holds the vector, the record's kind, role and timestamp, and keyed
digests of its user, session and agent ids (for scoping queries). Each user's vectors are in a
collection of their own (see :mod:`.collections`), so a search reads that user's vectors only.
Texts and user metadata stay in the record store, where ``forget`` can erase them; ``where``
filters are resolved there (see ``MemoryCore``).
Chroma keeps its own write log and deleted HNSW entries, so a forgotten record's *vector* may stay
in Chroma's files until Chroma compacts them; its words never do (nor stale process memory in the
unused tail of Chroma's index files: see :mod:`.heap`).
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
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

import httpx
import numpy as np

from ...errors import ConfigurationError, MissingDependencyError, StoreInUseError, VectorIndexUnavailableError
from ...records import MemoryRecord
from .collections import (
    PAGE,
    Legacy,
    check_prefix,
    collection_name,
    open_collection,
    open_user_collection,
    split_by_user,
    user_collection_name,
    user_collections,
)
from .embeddings import cosine
from .heap import scrub_heap

if TYPE_CHECKING:
    from ..storage.interface import Filters

T = TypeVar("T")
log = logging.getLogger("agent_memory_plugins")
LOCK_FILE = "chroma.lock"
HANDLES = 4096
"""Users whose collection handles an index keeps (the most recent ones)."""
RETRY_PAUSES = (0.0, 0.1, 0.5)
"""Seconds before each new try of a Chroma call that failed on a collection dropped meanwhile."""
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
            if _writes_files_here(client):
                scrub_heap()
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
            scrub_heap()  # before Chroma allocates the blocks its index files are written from
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
        """The store's open collection (``None`` until it is first reached)."""
        self._users: OrderedDict[str, Any] = OrderedDict()
        self._holding: set[str] = set()
        """Digests of users known to have vectors."""

    def attach(
        self, store_id: str, owned: Callable[[Sequence[str]], set[str]], on_new: Callable[[], None] = _nothing
    ) -> None:
        """Use the collections of the store ``store_id``: its own (named from it, checked, its
        legacy vectors moved in, then split into its users' collections; see :mod:`.collections`)
        and one per user. ``owned(ids)`` says which ids are records of the store; ``on_new()``
        runs whenever the store's collection had to be made anew (Chroma holds none of the
        store's vectors). An unreachable server defers the opening to the first use."""
        self.store_id, self._owned, self._on_new = store_id, owned, on_new
        self.name = collection_name(self.prefix, store_id)
        with contextlib.suppress(VectorIndexUnavailableError):
            self._use(lambda: None)

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
        self._users.clear()
        collection, new = open_collection(self._client(), self.prefix, self.store_id, self._owned, self._legacy)
        if new:
            self._on_new()
        elif collection.count():  # vectors of a release before issue 18: into their users' collections
            split_by_user(collection, lambda user_scope: self._user(user_scope, create=True))
        return collection

    def _use(self, action: Callable[[], T]) -> T:
        """Run ``action()`` (which reaches the collections through :meth:`_user`); never during a
        reset by another thread, and once more on fresh handles when another process reset
        (deleted and recreated) the store's collections.

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

    def _attempt(self, action: Callable[[], T]) -> T:
        """Run ``action()``, again on fresh handles when a collection it used was dropped meanwhile
        (another process forgot a user or reset the store): a server answers a handle whose
        collection is gone with ``NotFoundError``, and one whose deletion is still under way with
        another ``ChromaError`` ("Missing metadata segment"), so the tries are spaced by
        :data:`RETRY_PAUSES` to let the drop finish. The last failure is raised."""
        if self.collection is None:
            self.collection = self._open()
        errors = _chromadb().errors
        for pause in RETRY_PAUSES:
            try:
                return action()
            except errors.ChromaError as error:
                if not isinstance(error, errors.NotFoundError) and type(error) not in (
                    errors.ChromaError, errors.InternalError
                ):  # a bad argument, a wrong dimension...: trying again changes nothing
                    raise
                time.sleep(pause)
                self.collection = self._open()  # drops the cached user handles too
        return action()

    def _user(self, user_scope: str, create: bool) -> Any:
        """The collection of the user whose digest is ``user_scope`` (``None`` when it does not
        exist and ``create`` is false); handles are kept for the most recent users."""
        handle = self._users.get(user_scope)
        if handle is not None:
            self._users.move_to_end(user_scope)
            return handle
        name = user_collection_name(self.name, user_scope)
        handle = open_user_collection(self._client(), name, self.store_id, create)
        if handle is not None:
            self._users[user_scope] = handle
            while len(self._users) > HANDLES:
                self._users.popitem(last=False)
        return handle

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

    def where(self, filters: Filters) -> dict[str, Any] | None:
        """Chroma's ``where`` for the scope of ``filters`` inside the user's own collection (ids
        as digests; metadata ``where`` is resolved by the record store, never here); ``None``
        when the whole collection is in scope."""
        parts: list[dict[str, Any]] = []
        if filters.session_id is not None:
            parts.append({"session_id": {"$eq": self.scope(filters.session_id)}})
        if filters.agent_id is not None:
            parts.append({"agent_id": {"$eq": self.scope(filters.agent_id)}})
        if filters.kinds:
            parts.append({"kind": {"$in": list(filters.kinds)}})
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"$and": parts}

    def upsert(
        self, records: Sequence[MemoryRecord], vectors: Sequence[Any], parents: Sequence[str] | None = None
    ) -> None:
        """Store the vectors of ``records`` in their users' collections, with their (digested)
        scope, kind, role and time; with ``parents``, each is a passage (see :mod:`.passages`) of
        the record id given."""
        if not records:
            return
        matrix = np.asarray(vectors, dtype=np.float32)
        metadatas = [self._metadata(r) for r in records]
        for meta, parent in zip(metadatas, parents or (), strict=False):
            meta[PARENT], meta[PASSAGE] = parent, 1
        by_user: dict[str, list[int]] = {}
        for position, record in enumerate(records):
            by_user.setdefault(self.scope(record.user_id), []).append(position)

        def write() -> None:
            for user_scope, positions in by_user.items():
                self._user(user_scope, create=True).upsert(
                    ids=[records[i].id for i in positions], embeddings=matrix[positions],
                    metadatas=[metadatas[i] for i in positions],
                )
                self._holding.add(user_scope)

        self._use(write)

    def delete_passages(self, parents: Sequence[str], user_id: str | None = None) -> None:
        """Remove the passage vectors of these records of ``user_id`` (of any user when ``None``);
        their own vectors stay."""
        self._remove(parents, user_id, passages_only=True)

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

    def delete(self, ids: Sequence[str], user_id: str | None = None) -> None:
        """Remove the vectors of records (missing ids are fine), their passages' too, from
        ``user_id``'s collection, or from every user's when the user is not known (deletions
        queued by an older release)."""
        self._remove(ids, user_id, passages_only=False)

    def _remove(self, ids: Sequence[str], user_id: str | None, passages_only: bool) -> None:
        if not ids:
            return

        def remove() -> None:
            if user_id is not None:
                user_scope = self.scope(user_id)
                self._holding.discard(user_scope)  # unknown until counted again
                found = self._user(user_scope, create=False)
                collections = [found] if found is not None else []
            else:
                self._holding.clear()
                collections = user_collections(self._client(), self.name)
            for collection in collections:
                for start in range(0, len(ids), PAGE):
                    chunk = list(ids[start:start + PAGE])
                    if not passages_only:
                        collection.delete(ids=chunk)
                    collection.delete(where={PARENT: {"$in": chunk}})

        self._use(remove)

    def query(
        self, vector: Sequence[float] | Any, filters: Filters, limit: int, ids: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """Nearest records of ``filters.user_id`` within the rest of ``filters`` (and ``ids``
        when given): ``(id, similarity)`` best first."""
        where = self.where(filters)
        if ids is not None and where is None:  # Chroma 1.5 fails a query by ids that names a missing one
            where = {"user_id": {"$eq": self.scope(filters.user_id)}}  # unless it has a where: every vector's

        def ask() -> Any:
            collection = self._user(self.scope(filters.user_id), create=False)
            if collection is None:
                return None
            return collection.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=limit, where=where,
                include=["distances"], ids=list(ids) if ids is not None else None,
            )

        result = self._use(ask)
        found = result["ids"][0] if result is not None and result["ids"] else []
        distances = (result.get("distances") or [[]])[0] if result is not None else []
        return [(str(i), 1.0 - float(d)) for i, d in zip(found, distances, strict=False)]

    def similarities(self, vector: Sequence[float] | Any, ids: Sequence[str], user_id: str) -> dict[str, float]:
        """Exact cosine similarity of ``vector`` to the stored vectors of ``user_id``'s ``ids``
        (those present)."""
        if not ids:
            return {}
        try:
            found = self.stored(ids, user_id)
        except _chromadb().errors.ChromaError as error:  # e.g. a Chroma server's "Error finding id" while
            log.debug("exact similarities skipped: %s", error)  # other processes delete: only a refinement
            return {}
        return {record_id: cosine(vector, stored) for record_id, stored in found.items()}

    def stored(self, ids: Sequence[str] | None, user_id: str | None = None) -> dict[str, Any]:
        """The stored vectors (record id -> vector) of ``ids`` (every one when ``None``) of
        ``user_id`` (of every user when ``None``)."""
        def read() -> dict[str, Any]:
            if user_id is not None:
                found = self._user(self.scope(user_id), create=False)
                collections = [found] if found is not None else []
            else:
                collections = user_collections(self._client(), self.name)
            vectors: dict[str, Any] = {}
            for collection in collections:
                if ids is not None:
                    page = collection.get(ids=list(ids), include=["embeddings"])
                    vectors.update(zip(map(str, page["ids"]), page["embeddings"], strict=True))
                    continue
                offset = 0
                while True:
                    page = collection.get(include=["embeddings"], limit=PAGE, offset=offset)
                    vectors.update(zip(map(str, page["ids"]), page["embeddings"], strict=True))
                    offset += PAGE
                    if len(page["ids"]) < PAGE:
                        break
            return vectors

        return self._use(read)

    def count(self, user_id: str | None = None) -> int:
        """Records with a vector stored (for ``user_id``, or in the whole store; passage vectors
        of long messages not counted)."""
        def counted() -> int:
            if user_id is not None:
                found = self._user(self.scope(user_id), create=False)
                collections = [found] if found is not None else []
            else:
                collections = user_collections(self._client(), self.name)
            return sum(int(collection.count()) - len(collection.get(where={PASSAGE: 1}, include=[])["ids"])
                       for collection in collections)

        return self._use(counted)

    def is_empty(self, user_id: str) -> bool:
        """Whether ``user_id`` has no vector to query; cheap once one is known to be there."""
        user_scope = self.scope(user_id)

        def holds() -> bool:
            found = self._user(user_scope, create=False)
            return found is not None and int(found.count()) > 0

        if user_scope not in self._holding and self._use(holds):
            self._holding.add(user_scope)
        return user_scope not in self._holding

    def drop_user(self, user_id: str) -> bool:
        """Drop ``user_id``'s collection if it holds no vector (after the user was forgotten), so
        that Chroma's files keep nothing of theirs, not even deleted index entries. True when
        dropped."""
        def drop() -> bool:
            user_scope = self.scope(user_id)
            collection = self._user(user_scope, create=False)
            if collection is None or collection.count():
                return False
            with contextlib.suppress(_chromadb().errors.NotFoundError):  # another process was first
                self._client().delete_collection(str(collection.name))
            self._users.pop(user_scope, None)
            self._holding.discard(user_scope)
            return True

        return self._use(drop)

    def reset(self) -> None:
        """Drop and recreate the store's own collections (for reindexing); no other is touched."""
        def drop() -> None:
            self._drop_all()
            self.collection = self._open()

        self._use(drop)

    def _drop_all(self) -> None:
        client = self._client()
        for collection in [*user_collections(client, self.name), self.collection]:
            if collection is not None:
                with contextlib.suppress(_chromadb().errors.NotFoundError):  # another process was first
                    client.delete_collection(str(collection.name))
        self._users.clear()
        self._holding.clear()

    def close(self) -> None:
        """Release the collections (and drop them when they lived only in memory) and the folder lock."""
        if self.ephemeral and self.name:
            with contextlib.suppress(Exception):  # best effort on in-memory collections
                self._drop_all()
        if self.mode == "embedded":
            # Release Chroma's per-path cache of the store, or a later open in this process would
            # reuse an in-memory index that another process has since changed on disk.
            close = getattr(self.client, "close", None)
            if close is not None:
                close()
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None


def _writes_files_here(client: Any) -> bool:
    """Whether ``client`` is a Chroma that runs in this process and keeps files (not a server's
    ``HttpClient``, not an in-memory one)."""
    settings = getattr(client, "get_settings", lambda: None)()
    impl = str(getattr(settings, "chroma_api_impl", ""))
    return bool(getattr(settings, "is_persistent", False)) and "fastapi" not in impl.lower()


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
