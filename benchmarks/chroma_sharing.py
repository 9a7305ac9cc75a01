"""What sharing a Chroma server costs: moving a store's vectors out of a pre-issue-17 collection,
and search while the server is down (keywords alone) against search with it up.

    python benchmarks/chroma_sharing.py            # 10k records per store
    python benchmarks/chroma_sharing.py --quick    # 2k records per store

Prints each figure on its own line. How each is measured:

- open (no move): reopening a store whose collection is already its own (best of 3).
- legacy move by rename: reopening an embedded store whose vectors sit in the old collection named
  ``chroma_collection`` (made as releases before issue 17 made it): one rename, nothing copied.
- legacy move by copy: two stores whose vectors share one old collection on a ``chroma run`` server;
  reopening the first copies its vectors out (the second's stay).
- search p50 up / down: ``search(k=10)`` on a server store, 50 queries each, with the server
  running and then stopped (``explain["dense"] == "unavailable"``).

Vectors come from a deterministic hash embedder (the cost measured is Chroma's and ours, not a
model's).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from agent_memory_plugins import MemoryCore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from core.chroma_server import ChromaServer


def embed(texts: Sequence[str]) -> list[list[float]]:
    """A unit vector per text, the same in every run."""
    vectors = []
    for text in texts:
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
        vector = np.random.default_rng(seed).standard_normal(384)
        vectors.append((vector / np.linalg.norm(vector)).tolist())
    return vectors


OPTIONS: dict[str, Any] = {"embedder": embed, "window_messages": None, "context_vector_weight": 0.0}


def fill(memory: MemoryCore, count: int, tag: str) -> None:
    for start in range(0, count, 500):
        messages = [{"role": "user", "content": f"{tag} message {i} about topic{i % 97} and item{i}"}
                    for i in range(start, min(count, start + 500))]
        memory.add_messages(f"{tag}-{start // 50}", messages, user_id="u")
    memory.flush()


def as_legacy(client: Any, names: list[str], legacy: str) -> None:
    """The vectors of ``names`` in one collection ``legacy`` made as before issue 17."""
    old = client.create_collection(legacy, embedding_function=None, metadata={"hnsw:space": "cosine"})
    for name in names:
        source = client.get_collection(name)
        offset = 0
        while True:
            page = source.get(include=["embeddings", "metadatas"], limit=1000, offset=offset)
            if not page["ids"]:
                break
            old.upsert(ids=page["ids"], embeddings=page["embeddings"], metadatas=page["metadatas"])
            offset += len(page["ids"])
        client.delete_collection(name)


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def reopen(folder: Path, **options: Any) -> float:
    def open_close() -> None:
        MemoryCore(folder, **OPTIONS, **options).close()

    return timed(open_close)


def search_p50(memory: MemoryCore, queries: list[str]) -> float:
    times = []
    for query in queries:
        start = time.perf_counter()
        memory.search(query, user_id="u", k=10)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2k records per store instead of 10k")
    count = 2000 if parser.parse_args().quick else 10_000
    queries = [f"topic{i} and item{i * 7}" for i in range(50)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        embedded = root / "embedded"
        with MemoryCore(embedded, **OPTIONS) as memory:
            fill(memory, count, "e")
            name = memory.index.name
        base = min(reopen(embedded) for _ in range(3))
        client = chromadb.PersistentClient(path=str(embedded / "chroma"),
                                           settings=ChromaSettings(anonymized_telemetry=False))
        as_legacy(client, [name], "agent_memory")
        client.close()
        print(f"records per store: {count}")
        print(f"open (no move), embedded: {base:.2f} s")
        print(f"legacy move by rename, embedded: {reopen(embedded):.2f} s")

        (root / "chroma-data").mkdir()
        server = ChromaServer(root / "chroma-data")
        server.start()
        try:
            names = []
            for tag in ("a", "b"):
                with MemoryCore(root / tag, chroma_url=server.url, **OPTIONS) as memory:
                    fill(memory, count, tag)
                    names.append(memory.index.name)
            base = min(reopen(root / "b", chroma_url=server.url) for _ in range(3))
            parsed = urlparse(server.url)
            http = chromadb.HttpClient(host=parsed.hostname, port=parsed.port,
                                       settings=ChromaSettings(anonymized_telemetry=False))
            as_legacy(http, names, "agent_memory")
            print(f"open (no move), server: {base:.2f} s")
            print(f"legacy move by copy ({count} of {2 * count} vectors), server: "
                  f"{reopen(root / 'a', chroma_url=server.url):.2f} s")
            with MemoryCore(root / "a", chroma_url=server.url, **OPTIONS) as memory:
                memory.search(queries[0], user_id="u")
                print(f"search p50, server up: {search_p50(memory, queries):.1f} ms")
                server.stop()
                hits = memory.search(queries[0], user_id="u")
                assert hits and hits[0].explain["dense"] == "unavailable"
                print(f"search p50, server down (keywords alone): {search_p50(memory, queries):.1f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
