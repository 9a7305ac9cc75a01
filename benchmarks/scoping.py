"""How to scope vector search by user in Chroma: a filter, hash groups of users, or a collection each.

    python benchmarks/scoping.py --users 10 --per-user 1000
    python benchmarks/scoping.py --users 1000 --per-user 1000 --layouts user,group-64,shared

Builds the same vectors (random unit vectors, 384 dimensions: all-MiniLM-L6-v2's) into Chroma in
each layout and times ``query(k)`` for random users:

- ``shared``: one collection, every query filtered by ``where={"user_id": ...}`` (the layout
  before issue 18);
- ``group-N``: N collections, a user's vectors in the one its id hashes to, queries still filtered
  by user inside it;
- ``user``: a collection per user, queries unfiltered.

The reference is one unfiltered query on a collection holding only that user's vectors (what a
single-user Chroma collection gives: the ``user`` layout by construction). Prints p50/p95 per
layout and k, the build time, and the store's size on disk; writes ``results/scoping.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np

DIMENSION = 384
BATCH = 5000


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def unit_vectors(rng: np.random.Generator, count: int) -> Any:
    """``count`` random unit vectors."""
    vectors = rng.standard_normal((count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def group_of(user: str, groups: int) -> int:
    """The hash group of ``user`` among ``groups``."""
    return int.from_bytes(hashlib.sha256(user.encode()).digest()[:8], "big") % groups


def collection_for(layout: str, user: str) -> str:
    """The collection holding ``user``'s vectors in ``layout``."""
    if layout == "shared":
        return "shared"
    if layout == "user":
        return f"user-{hashlib.sha256(user.encode()).hexdigest()[:16]}"
    return f"group-{group_of(user, int(layout.split('-')[1]))}"


def build(client: Any, layout: str, users: list[str], per_user: int, seed: int) -> float:
    """Fill ``layout`` with ``per_user`` vectors for each user; seconds taken."""
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    pending: dict[str, tuple[list[str], list[Any], list[dict[str, str]]]] = {}
    collections: dict[str, Any] = {}

    def write(name: str) -> None:
        ids, vectors, metadatas = pending.pop(name)
        if name not in collections:
            collections[name] = client.get_or_create_collection(name, embedding_function=None,
                                                                metadata={"hnsw:space": "cosine"})
        collections[name].add(ids=ids, embeddings=np.asarray(vectors), metadatas=metadatas)

    for user in users:
        name = collection_for(layout, user)
        ids, vectors, metadatas = pending.setdefault(name, ([], [], []))
        ids.extend(f"{user}-{i}" for i in range(per_user))
        vectors.extend(unit_vectors(rng, per_user))
        metadatas.extend({"user_id": user, "kind": "message"} for _ in range(per_user))
        if len(ids) >= BATCH:
            write(name)
    for name in list(pending):
        write(name)
    return time.perf_counter() - start


def time_queries(client: Any, layout: str, users: list[str], queries: int, k: int, seed: int) -> list[float]:
    """Milliseconds per query for random users (handles fetched beforehand, as a core keeps them)."""
    rng = random.Random(seed)
    vectors = unit_vectors(np.random.default_rng(seed), queries)
    asked = [rng.choice(users) for _ in range(queries)]
    handles = {name: client.get_collection(name, embedding_function=None)
               for name in {collection_for(layout, user) for user in asked}}
    times: list[float] = []
    for user, vector in zip(asked, vectors, strict=True):
        collection = handles[collection_for(layout, user)]
        where = None if layout == "user" else {"user_id": user}
        start = time.perf_counter()
        collection.query(query_embeddings=[vector], n_results=k, where=where, include=["distances"])
        times.append((time.perf_counter() - start) * 1000)
    return times


def folder_size(path: Path) -> int:
    """Bytes under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--per-user", type=int, default=1000)
    parser.add_argument("--layouts", default="user,group-16,shared")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ks", default="10,100")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "scoping.json"))
    args = parser.parse_args()
    import chromadb
    from chromadb.config import Settings

    users = [f"user-{i}" for i in range(args.users)]
    report: dict[str, Any] = {"users": args.users, "per_user": args.per_user, "layouts": {}}
    print(f"{args.users} users x {args.per_user} vectors = {args.users * args.per_user:,}")
    for layout in args.layouts.split(","):
        folder = Path(tempfile.mkdtemp(prefix="scoping-"))
        try:
            client = chromadb.PersistentClient(path=str(folder), settings=Settings(anonymized_telemetry=False))
            seconds = build(client, layout, users, args.per_user, seed=1)
            row: dict[str, Any] = {"build_s": round(seconds, 1), "disk_mb": round(folder_size(folder) / 1e6, 1),
                                   "collections": len(client.list_collections())}
            for k in (int(k) for k in args.ks.split(",")):
                time_queries(client, layout, users, 20, k, seed=3)  # warm: indexes loaded
                times = time_queries(client, layout, users, args.queries, k, seed=2)
                row[f"k{k}"] = {"p50_ms": round(statistics.median(times), 2),
                                "p95_ms": round(percentile(times, 95), 2)}
            report["layouts"][layout] = row
            print(f"  {layout:>9}: " + ", ".join(
                f"k={k[1:]} p50 {v['p50_ms']} ms p95 {v['p95_ms']} ms" for k, v in row.items() if k.startswith("k"))
                + f"; built in {row['build_s']} s, {row['disk_mb']} MB, {row['collections']} collections", flush=True)
            del client
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    out = Path(args.out)
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing[f"{args.users}x{args.per_user}"] = report
    out.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()
