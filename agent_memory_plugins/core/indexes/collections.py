"""Which Chroma collection holds a store's vectors: named from the store's identity, checked on open.

Several stores may share one Chroma server (or one client). Every record store has an identity, a
random id kept in the store itself (``RecordStore.secret(STORE_ID)``), so every instance that opens
the same store, in any process or on any machine, has the same one. The store's vectors live in
the collection ``<chroma_collection>-<first 12 hex digits of the id>``, whose metadata records the
whole id; opening refuses a collection recorded as another store's, so a store never reads,
overwrites or (by ``reindex``) deletes vectors that are not its own.

Before issue 17 every store kept its vectors in a collection named ``chroma_collection`` itself
(the *legacy* collection). Opening a store moves its own vectors out of it: by renaming it when
every vector in it is the store's (always so for the embedded Chroma under a store's folder), by
copying them otherwise (other stores sharing a server keep theirs there until they are opened).

Since issue 18 each *user* of a store has a collection of their own,
``<store collection>-<16 hex digits of the user's keyed digest>``, so that a search touches only
that user's vectors and needs no ``where`` filter on the user (which made Chroma scan the user's
metadata on every query: 5-10x the cost of the query itself; ``benchmarks/scoping.py``). The
store's collection stays as the store's marker (its owner and whether Chroma lost the store's
data are read from it) and holds no vectors: opening a store whose vectors are still in it moves
them to their users' collections (:func:`split_by_user`), page by page, safe to repeat.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

from ...errors import ConfigurationError
from ...settings import COLLECTION_ID_DIGITS, USER_COLLECTION_DIGITS, check_collection_name

__all__ = [
    "OWNER", "STORE_ID", "check_prefix", "collection_name", "open_collection", "open_user_collection",
    "split_by_user", "user_collection_name", "user_collections",
]

log = logging.getLogger("agent_memory_plugins")
STORE_ID = "store_id"
"""Key of the store's identity among the record store's secrets."""
OWNER = "agent_memory_store"
"""Key of the owning store's identity in a collection's metadata."""
ID_DIGITS = COLLECTION_ID_DIGITS
"""Hex digits of the store id in a collection's name (48 bits: the metadata check does the rest)."""
USER_DIGITS = USER_COLLECTION_DIGITS
"""Hex digits of a user's keyed digest in the name of the user's collection."""
PAGE = 1000
"""Vectors read, copied or checked per request while moving a legacy collection."""
Legacy = Literal["own", "shared", "none"]
"""Whose vectors a legacy collection on this client can hold: this store's alone (the embedded
Chroma under its folder), several stores' (a server or a caller's client), or none (in memory)."""


def check_prefix(prefix: object) -> str:
    """``prefix`` (the ``chroma_collection`` setting) if collection names can start with it (see
    :func:`~agent_memory_plugins.settings.check_collection_name`, which raises otherwise)."""
    return check_collection_name(prefix)


def collection_name(prefix: str, store_id: str) -> str:
    """The name of the collection holding the vectors of the store ``store_id``."""
    return f"{prefix}-{store_id[:ID_DIGITS]}"


def user_collection_name(store_collection: str, user_scope: str) -> str:
    """The name of the collection holding the vectors of the user whose keyed digest is
    ``user_scope``, in the store whose collection is ``store_collection``."""
    return f"{store_collection}-{user_scope[:USER_DIGITS]}"


def open_user_collection(client: Any, name: str, store_id: str, create: bool) -> Any:
    """The user collection ``name`` of the store ``store_id``, created when ``create`` (else
    ``None`` when there is none). Raises :class:`ConfigurationError` when it is another store's."""
    if not create:
        collection = _get(client, name)
        if collection is not None:
            _check_owner(collection, name, store_id)
        return collection
    return _own_collection(client, name, store_id)[0]


def user_collections(client: Any, store_collection: str) -> list[Any]:
    """Every user collection of the store whose collection is ``store_collection``."""
    start = f"{store_collection}-"
    found: list[Any] = []
    offset = 0
    while True:
        page = client.list_collections(limit=PAGE, offset=offset)
        found.extend(c for c in page if str(c.name).startswith(start) and len(str(c.name)) == len(start) + USER_DIGITS)
        if len(page) < PAGE:
            return found
        offset += PAGE


def split_by_user(store_collection: Any, user_collection: Callable[[str], Any]) -> int:
    """Move every vector of the store's collection into its user's collection
    (``user_collection(user_scope)``, by the user digest kept in each vector's metadata), a page
    at a time: copied, then deleted. Several processes may run it at once; one cut short is
    finished by the next open. Returns the vectors moved by this call."""
    moved = 0
    while True:
        page = store_collection.get(include=["embeddings", "metadatas"], limit=PAGE)
        if not page["ids"]:
            break
        by_user: dict[str, list[int]] = {}
        for position, metadata in enumerate(page["metadatas"]):
            by_user.setdefault(str((metadata or {}).get("user_id", "")), []).append(position)
        for user_scope, positions in by_user.items():
            if user_scope:  # a vector without a user (never written so) cannot be found by any search
                user_collection(user_scope).upsert(
                    ids=[page["ids"][i] for i in positions],
                    embeddings=[page["embeddings"][i] for i in positions],
                    metadatas=[page["metadatas"][i] for i in positions],
                )
        store_collection.delete(ids=list(page["ids"]))
        moved += len(page["ids"])
    if moved:
        log.info("agent-memory moved %d vectors from the Chroma collection %r into one collection per user",
                 moved, str(store_collection.name))
    return moved


def open_collection(
    client: Any, prefix: str, store_id: str, owned: Callable[[Sequence[str]], set[str]], legacy: Legacy
) -> tuple[Any, bool]:
    """Open (or create) the collection of the store ``store_id`` on ``client`` and check that it is
    the store's; first move the store's vectors out of a legacy collection named ``prefix``.

    Returns the collection and whether it is new (created, or an empty one taken over): then it
    holds none of the store's vectors. ``owned(ids)`` says which of ``ids`` are records of this
    store. Safe to run in several processes of one store at once (every step can be repeated).
    Raises :class:`ConfigurationError` when the collection belongs to another store.
    """
    name = collection_name(prefix, store_id)
    old = _legacy(client, prefix) if legacy != "none" else None
    moved = _move_legacy(client, old, name, store_id, owned, legacy == "own") if old is not None else None
    return (moved, False) if moved is not None else _own_collection(client, name, store_id)


def _own_collection(client: Any, name: str, store_id: str) -> tuple[Any, bool]:
    collection = _get(client, name)
    if collection is None:
        try:
            return client.create_collection(name, embedding_function=None,
                                            metadata={"hnsw:space": "cosine", OWNER: store_id}), True
        except _chroma_error():  # another instance of this store created it meanwhile
            collection = client.get_collection(name, embedding_function=None)
    return collection, _check_owner(collection, name, store_id)


def _move_legacy(
    client: Any, old: Any, name: str, store_id: str, owned: Callable[[Sequence[str]], set[str]], own: bool
) -> Any:
    """Move this store's vectors out of the legacy collection ``old``; the store's collection
    afterwards, or ``None`` when ``old`` holds none of them. ``own``: every vector in ``old`` is
    this store's or stale (the embedded Chroma under the store's folder)."""
    legacy_name = str(old.name)
    ids = _all_ids(old)
    ours = _owned_of(ids, owned)
    foreign = [record_id for record_id in ids if record_id not in ours]
    if (own or not foreign) and _get(client, name) is None:
        with contextlib.suppress(_chroma_error()):  # another instance of this store moved it first
            old.modify(name=name, metadata={OWNER: store_id})  # one step, nothing copied
            if foreign:  # vectors of records gone from the store: nothing can find them
                old.delete(ids=foreign)
            log.info("agent-memory moved this store's vectors from the Chroma collection %r to %r",
                     legacy_name, name)
            return old
        return None
    if not ours:
        return None
    collection, _ = _own_collection(client, name, store_id)
    _copy(old, collection, [record_id for record_id in ids if record_id in ours])
    if own or not foreign:
        with contextlib.suppress(_not_found()):  # another instance of this store was first
            client.delete_collection(legacy_name)
    log.info("agent-memory copied %d vectors of this store from the Chroma collection %r to %r",
             len(ours), legacy_name, name)
    return collection


def _check_owner(collection: Any, name: str, store_id: str) -> bool:
    """Refuse another store's collection; take over an empty one nobody owns (True then)."""
    owner = (collection.metadata or {}).get(OWNER)
    if owner == store_id:
        return False
    if owner is None and collection.count() == 0:  # made by hand, or by a client that stopped halfway
        collection.modify(metadata={OWNER: store_id})
        return True
    whose = f"the store {str(owner)[:ID_DIGITS]}..." if owner is not None else "no agent-memory store"
    raise ConfigurationError(
        f"the Chroma collection {name!r} holds vectors of {whose}, not of this store "
        f"({store_id[:ID_DIGITS]}...); refusing to use or change them. Point this store at another "
        "Chroma server or set another chroma_collection prefix; reindex() then rebuilds its vectors"
    )


def _legacy(client: Any, prefix: str) -> Any:
    """The legacy collection named ``prefix``, if there is one that no store has claimed."""
    if len(prefix) < 3 or not prefix[-1].isalnum():
        return None  # never a valid collection name: no release could have made it
    collection = _get(client, prefix)
    if collection is None or OWNER in (collection.metadata or {}):
        return None
    return collection


def _get(client: Any, name: str) -> Any:
    try:
        return client.get_collection(name, embedding_function=None)
    except _not_found():
        return None


def _all_ids(collection: Any) -> list[str]:
    ids: list[str] = []
    while True:
        page = collection.get(include=[], limit=PAGE, offset=len(ids))["ids"]
        ids.extend(str(record_id) for record_id in page)
        if len(page) < PAGE:
            return ids


def _owned_of(ids: Sequence[str], owned: Callable[[Sequence[str]], set[str]]) -> set[str]:
    mine: set[str] = set()
    for start in range(0, len(ids), PAGE):
        mine |= owned(ids[start:start + PAGE])
    return mine


def _copy(source: Any, target: Any, ids: Sequence[str]) -> None:
    """Copy the vectors (with their metadata) of ``ids`` from ``source`` to ``target``, then take
    them out of ``source``; a copy cut short is finished by the next open."""
    for start in range(0, len(ids), PAGE):
        chunk = list(ids[start:start + PAGE])
        found = source.get(ids=chunk, include=["embeddings", "metadatas"])
        if found["ids"]:
            target.upsert(ids=found["ids"], embeddings=found["embeddings"], metadatas=found["metadatas"])
        source.delete(ids=chunk)


def _not_found() -> type[Exception]:
    from chromadb.errors import NotFoundError

    return NotFoundError


def _chroma_error() -> type[Exception]:
    from chromadb.errors import ChromaError

    return ChromaError
