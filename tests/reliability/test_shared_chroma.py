"""Stores that share one Chroma (a server, or a folder written by an older release) never touch
each other's vectors: each store's collection is named from its identity and checked on open."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from agent_memory_plugins import ConfigurationError, EmbeddingMismatchError, MemoryCore
from agent_memory_plugins.core.indexes.collections import OWNER, STORE_ID

from .support import HashEmbedder

OPTIONS: dict[str, Any] = {"embedder": HashEmbedder(), "window_messages": 4, "fold_batch": 2}


def http_client(url: str) -> Any:
    parsed = urlparse(url)  # chromadb writes into the settings it is given: a fresh object each time
    return chromadb.HttpClient(host=parsed.hostname, port=parsed.port,
                               settings=ChromaSettings(anonymized_telemetry=False))


def fill(memory: MemoryCore, who: str, count: int) -> set[str]:
    """``count`` messages and a fact of one user; the ids of every record (summaries too)."""
    for i in range(count):
        memory.add_message("s", "user", f"{who} line {i} word{who}{i}", user_id="u")
    memory.remember(f"{who} keeps a pet called pet{who}", user_id="u")
    memory.flush()
    return {record.id for record in memory.export(user_id="u")}


def vector_ids(collection: Any) -> set[str]:
    return {str(i) for i in collection.get(include=[])["ids"]}


def of_store(client: Any, name: str) -> list[Any]:
    """The collections of the store whose collection is ``name``: its own and its users'."""
    return [c for c in client.list_collections() if c.name == name or c.name.startswith(f"{name}-")]


def store_vector_ids(client: Any, name: str) -> set[str]:
    return set().union(*(vector_ids(collection) for collection in of_store(client, name)))


def as_legacy(client: Any, names: list[str], legacy: str, extra: tuple[str, list[float]] | None = None) -> None:
    """Put the vectors of the stores whose collections are ``names`` into one collection ``legacy``
    made as releases before issue 17 made it (no owner in its metadata), and drop the stores'."""
    old = client.create_collection(legacy, embedding_function=None, metadata={"hnsw:space": "cosine"})
    for name in names:
        for collection in of_store(client, name):
            found = collection.get(include=["embeddings", "metadatas"])
            if found["ids"]:
                old.upsert(ids=found["ids"], embeddings=found["embeddings"], metadatas=found["metadatas"])
            client.delete_collection(collection.name)
    if extra is not None:  # a vector whose record is gone from the store
        old.upsert(ids=[extra[0]], embeddings=[extra[1]], metadatas=[{"user_id": "x"}])


def names(client: Any) -> set[str]:
    return {collection.name for collection in client.list_collections()}


@pytest.mark.server
def test_stores_on_one_server_keep_apart_and_reindex_only_their_own(chroma: tuple[str, Path], tmp_path: Path) -> None:
    url = chroma[0]
    with (MemoryCore(tmp_path / "a", chroma_url=url, chroma_collection="apart", **OPTIONS) as a,
          MemoryCore(tmp_path / "b", chroma_url=url, chroma_collection="apart", **OPTIONS) as b):
        a_ids, b_ids = fill(a, "alpha", 20), fill(b, "beta", 30)
        a_id, b_id = a.store.secret(STORE_ID), b.store.secret(STORE_ID)
        assert a_id != b_id
        assert (a.index.name, b.index.name) == (f"apart-{a_id[:12]}", f"apart-{b_id[:12]}")
        assert a.index.collection.metadata[OWNER] == a_id and b.index.collection.metadata[OWNER] == b_id
        assert (set(a.index.stored(None)), set(b.index.stored(None))) == (a_ids, b_ids)
        # the same user id in two stores: neither finds the other's memory, by vectors or words
        assert {h.record.id for h in a.search("beta keeps a pet called petbeta", user_id="u", k=50)} <= a_ids
        assert b.search("petbeta", user_id="u", k=1)[0].explain["dense_rank"] == 1
        assert a.reindex() == len(a_ids)  # drops and rebuilds a's collection only
        assert set(b.index.stored(None)) == b_ids
        assert b.search("petbeta", user_id="u", k=1)[0].explain["dense_rank"] == 1
        assert set(a.index.stored(None)) == a_ids
    with MemoryCore(tmp_path / "b", chroma_url=url, chroma_collection="apart", **OPTIONS) as b:  # reopened
        assert set(b.index.stored(None)) == b_ids
        assert b.search("petbeta", user_id="u", k=1)[0].explain["dense_rank"] == 1


@pytest.mark.server
def test_collection_holding_other_vectors_is_refused(chroma: tuple[str, Path], tmp_path: Path) -> None:
    url = chroma[0]
    folder = tmp_path / "store"
    with MemoryCore(folder, chroma_url=url, chroma_collection="refuse", **OPTIONS) as memory:
        ids = fill(memory, "gamma", 5)
        name = memory.index.name
    client = http_client(url)
    collection = client.get_collection(name)  # the store's own: its users' vectors are beside it
    collection.upsert(ids=["foreign"], embeddings=[[1.0] + [0.0] * 383])  # someone else's vector
    for metadata, whose in (({OWNER: "f" * 64}, "the store ffffffffffff"), ({"made_by": "someone"}, "no agent-memory")):
        collection.modify(metadata=metadata)
        with pytest.raises(ConfigurationError, match=f"{name}.*{whose}.*refusing"):
            MemoryCore(folder, chroma_url=url, chroma_collection="refuse", **OPTIONS)
        assert store_vector_ids(client, name) == ids | {"foreign"}  # refused, and left as it was
    collection.delete(ids=["foreign"])  # an empty collection without an owner is taken over
    with MemoryCore(folder, chroma_url=url, chroma_collection="refuse", **OPTIONS) as memory:
        assert memory.index.collection.metadata[OWNER] == memory.store.secret(STORE_ID)
        assert memory.reindex() == len(ids) and set(memory.index.stored(None)) == ids


@pytest.mark.server
def test_legacy_collection_shared_by_two_stores_is_split_between_them(chroma: tuple[str, Path],
                                                                      tmp_path: Path) -> None:
    url = chroma[0]
    client = http_client(url)
    stores = {"a": tmp_path / "a", "b": tmp_path / "b"}
    ids, collection = {}, {}
    for key, folder in stores.items():
        with MemoryCore(folder, chroma_url=url, chroma_collection="legacy", **OPTIONS) as memory:
            ids[key], collection[key] = fill(memory, key * 3, 10), memory.index.name
    as_legacy(client, list(collection.values()), "legacy")  # both stores in one collection, as before
    with MemoryCore(tmp_path / "new", chroma_url=url, chroma_collection="legacy", **OPTIONS) as memory:
        assert memory.index.count() == 0  # a third store takes nothing
    assert vector_ids(client.get_collection("legacy")) == ids["a"] | ids["b"]
    with MemoryCore(stores["a"], chroma_url=url, chroma_collection="legacy", **OPTIONS) as memory:
        assert memory.index.name == collection["a"] and set(memory.index.stored(None)) == ids["a"]
        assert memory.search("aaa keeps a pet", user_id="u", k=1)[0].explain["dense_rank"] == 1
    assert vector_ids(client.get_collection("legacy")) == ids["b"]  # b's vectors wait for b
    with MemoryCore(stores["b"], chroma_url=url, chroma_collection="legacy", **OPTIONS) as memory:
        assert set(memory.index.stored(None)) == ids["b"]
    assert "legacy" not in names(client)
    with MemoryCore(stores["a"], chroma_url=url, chroma_collection="legacy", **OPTIONS) as memory:  # again
        assert set(memory.index.stored(None)) == ids["a"]


@pytest.mark.server
def test_store_moved_to_a_server_or_whose_collection_is_lost_rebuilds_its_vectors(
    chroma: tuple[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = chroma[0]
    folder = tmp_path / "store"
    with MemoryCore(folder, **OPTIONS) as memory:  # embedded Chroma first
        ids = fill(memory, "eps", 10)
    caplog.set_level(logging.WARNING, logger="agent_memory_plugins")
    other = {**OPTIONS, "embedder": lambda texts: [[1.0] * 384 for _ in texts]}
    with pytest.raises(EmbeddingMismatchError):  # the rebuild does not slip another embedder in
        MemoryCore(folder, chroma_url=url, chroma_collection="moved", **other)
    with MemoryCore(folder, chroma_url=url, chroma_collection="moved", **OPTIONS) as memory:  # then a server
        assert memory.indexer.pending() >= len(ids) and "rebuilding them for" in caplog.text
        memory.flush()
        assert set(memory.index.stored(None)) == ids
        for collection in of_store(http_client(url), memory.index.name):  # lost under a running core
            http_client(url).delete_collection(collection.name)
        assert "dense_rank" not in memory.search("eps keeps a pet", user_id="u", k=1)[0].explain
        memory.flush()
        assert set(memory.index.stored(None)) == ids
        assert memory.search("eps keeps a pet", user_id="u", k=1)[0].explain["dense_rank"] == 1


def test_embedded_store_from_before_issue_17_keeps_its_vectors(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    with MemoryCore(folder, **OPTIONS) as memory:
        ids = fill(memory, "delta", 40)
        name = memory.index.name
    client = chromadb.PersistentClient(path=str(folder / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    as_legacy(client, [name], "agent_memory", extra=("stale", [1.0] + [0.0] * 383))
    legacy_id = client.get_collection("agent_memory").id
    client.close()
    with MemoryCore(folder, **OPTIONS) as memory:
        assert memory.index.name == name
        assert memory.index.collection.id == legacy_id  # renamed in place, not copied
        assert set(memory.index.stored(None)) == ids  # the stale vector is dropped
        assert memory.stats()["pending_index"] == 0  # nothing to rebuild
        assert memory.search("delta keeps a pet", user_id="u", k=1)[0].explain["dense_rank"] == 1
        assert names(memory.index.client) == {name, f"{name}-{memory.index.scope('u')[:16]}"}  # one user


@pytest.mark.parametrize("prefix", ["", "-memory", "my memory", "a..b", "naïve", "x" * 500, 7])
def test_bad_collection_prefix_is_refused_with_a_clear_error(prefix: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="chroma_collection"):
        MemoryCore(tmp_path / "store", chroma_collection=prefix, **OPTIONS)
    with MemoryCore(tmp_path / "store", chroma_collection="ok", **OPTIONS) as memory:  # nothing was locked
        assert memory.index.name.startswith("ok-")


def test_store_from_before_issue_18_moves_its_vectors_into_one_collection_per_user(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    with MemoryCore(folder, **OPTIONS) as memory:
        mine = fill(memory, "eta", 6)
        memory.add_message("s", "user", "theta collects old maps of harbours", user_id="v")
        memory.flush()
        theirs = {record.id for record in memory.export(user_id="v")}
        name = memory.index.name
    client = chromadb.PersistentClient(path=str(folder / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    store = client.get_collection(name)
    for collection in of_store(client, name):  # every vector back in the store's collection, as issue 17 kept them
        if collection.name != name:
            found = collection.get(include=["embeddings", "metadatas"])
            store.upsert(ids=found["ids"], embeddings=found["embeddings"], metadatas=found["metadatas"])
            client.delete_collection(collection.name)
    assert names(client) == {name} and vector_ids(store) == mine | theirs
    client.close()
    with MemoryCore(folder, **OPTIONS) as memory:
        assert set(memory.index.stored(None, "u")) == mine and set(memory.index.stored(None, "v")) == theirs
        assert memory.index.collection.count() == 0 and memory.stats()["pending_index"] == 0
        assert memory.search("old maps of harbours", user_id="v", k=1)[0].explain["dense_rank"] == 1
        assert all(hit.record.user_id == "u" for hit in memory.search("old maps of harbours", user_id="u", k=10))


@pytest.mark.server
def test_a_user_collection_dropped_by_another_process_meanwhile_is_not_an_error(
    chroma: tuple[str, Path], tmp_path: Path
) -> None:
    """Another process that forgets a user drops the user's collection; this process may hold a
    handle to it at that moment. A server answers such a handle with ``NotFoundError`` once the
    drop is done, and with "Missing metadata segment" while it is still under way: deleting the
    user's vectors or searching them must take both as "nothing left", never raise."""
    url = chroma[0]
    other = http_client(url)
    with MemoryCore(tmp_path / "store", chroma_url=url, chroma_collection="racing", **OPTIONS) as memory:
        for round_ in range(25):
            user = f"gone{round_}"
            ids = [memory.add_message("s", "user", f"line {i} word{round_}", user_id=user).id for i in range(3)]
            memory.flush()
            name = memory.index._user(memory.index.scope(user), create=False).name  # the handle is cached
            dropper = threading.Thread(target=other.delete_collection, args=(name,))
            dropper.start()
            for record_id in ids:
                memory.index.delete([record_id], user)
            dropper.join()
            hits = memory.search(f"line 1 word{round_}", user_id=user, k=3)
            assert "dense_rank" not in hits[0].explain  # its vectors are gone, its records are not
        memory.add_message("s", "user", "still writable afterwards", user_id="gone0")
        memory.flush()
        assert memory.search("still writable afterwards", user_id="gone0", k=1)[0].explain["dense_rank"] == 1
