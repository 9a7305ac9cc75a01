"""SQLite vs PostgreSQL record stores, side by side in one run.

Prints, for each engine: ``add_message`` p50/p99 and ``search`` p50/p95 at each store size, write
throughput with 1, 2, 4 and 8 processes writing at once, and (with ``--locomo``) LoCoMo recall@10.

    python benchmarks/engines.py                       # starts a throwaway PostgreSQL cluster
    python benchmarks/engines.py --database-url postgresql://user:pw@host/postgres \\
        --locomo ../shared/data/locomo-dev.json

``--database-url`` names a server where the user may create databases (one per measurement);
without it the PostgreSQL server binaries (``initdb``, ``pg_ctl``) start a cluster for the run.
Both engines get the same deterministic stand-in embedder (the model's cost is the same for both
and would hide the stores' own), embedded Chroma for the latency runs and an in-memory Chroma per
process for the throughput runs (writes only: the background worker is off, so each process
measures what its callers wait for).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests"), str(HERE.parent / "tests" / "reliability")]

import synthetic  # noqa: E402
from speed import ms_since, percentile  # noqa: E402
from support import HashEmbedder  # noqa: E402

from agent_memory_plugins import MemoryCore  # noqa: E402

USERS = 10
BATCH = 1_000


class Databases:
    """Fresh PostgreSQL databases on the given server, or on a throwaway cluster."""

    def __init__(self, admin_url: str | None) -> None:
        import postgres_cluster

        if admin_url:
            os.environ[postgres_cluster.ENV_URL] = admin_url
        self._cluster = postgres_cluster

    def new(self) -> str:
        return self._cluster.database_url(f"amp_bench_{uuid.uuid4().hex[:12]}")


def engine_settings(engine: str, databases: Databases, folder: str) -> dict[str, Any]:
    """``MemoryCore`` keywords for one engine: a folder (SQLite + embedded Chroma), or a new
    database (PostgreSQL) with embedded Chroma in the folder."""
    if engine == "sqlite":
        return {"path": folder}
    return {"path": folder, "database_url": databases.new()}


def fill(memory: MemoryCore, size: int) -> None:
    """``size`` synthetic messages over :data:`USERS` users, in batches, then indexed."""
    texts = synthetic.pool_sentences(min(size, 50_000))
    for start in range(0, size, BATCH):
        user = f"user{(start // BATCH) % USERS}"
        count = min(BATCH, size - start)
        batch = [{"role": "user" if n % 2 == 0 else "assistant",
                  "content": f"{texts[(start + n) % len(texts)]} ({start + n})"} for n in range(count)]
        memory.add_messages(f"s{start // BATCH}", batch, user_id=user)
    memory.flush()


def latency(engine: str, size: int, databases: Databases, writes: int, searches: int) -> dict[str, float]:
    """add_message and search latencies on a store of ``size`` records."""
    with tempfile.TemporaryDirectory() as folder:
        settings = engine_settings(engine, databases, folder)
        memory = MemoryCore(embedder=HashEmbedder(), fold_batch=1_000_000, **settings)
        try:
            fill(memory, size)
            fresh = synthetic.fresh_texts(writes)
            write_ms = []
            for n, text in enumerate(fresh):
                start = time.perf_counter()
                memory.add_message(f"live{n % 5}", "user", text, user_id=f"user{n % USERS}")
                write_ms.append(ms_since(start))
            memory.flush()
            search_ms = []
            for n, query in enumerate(synthetic.queries(searches)):
                start = time.perf_counter()
                memory.search(query, user_id=f"user{n % USERS}", k=10)
                search_ms.append(ms_since(start))
        finally:
            memory.close()
    return {"add_p50": percentile(write_ms, 50), "add_p99": percentile(write_ms, 99),
            "search_p50": percentile(search_ms, 50), "search_p95": percentile(search_ms, 95)}


def _writer(settings: dict[str, Any], worker: int, seconds: float, ready: Any, go: Any, done: Any) -> None:
    import chromadb

    memory = MemoryCore(embedder=HashEmbedder(), background=False, chroma_client=chromadb.EphemeralClient(),
                        **settings)
    texts = synthetic.fresh_texts(2_000, seed=worker)
    ready.release()
    go.wait()
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        memory.add_message(f"w{worker}", "user", texts[count % len(texts)], user_id=f"user{worker}")
        count += 1
    done.put(count)
    memory.close()


def throughput(engine: str, processes: int, databases: Databases, seconds: float) -> float:
    """Messages per second that ``processes`` writers store together on one store."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        settings = engine_settings(engine, databases, folder)
        MemoryCore(embedder=HashEmbedder(), background=False, **settings).close()  # schema first
        ready, go, done = context.Semaphore(0), context.Event(), context.Queue()
        workers = [context.Process(target=_writer, args=(settings, n, seconds, ready, go, done))
                   for n in range(processes)]
        for process in workers:
            process.start()
        for _ in workers:
            ready.acquire()
        go.set()
        total = sum(done.get(timeout=seconds + 120) for _ in workers)
        for process in workers:
            process.join()
    return total / seconds


def locomo_recall(engine: str, databases: Databases, data: str) -> float:
    """LoCoMo recall@10 of ``benchmarks/locomo.py`` on this engine (its own process)."""
    import subprocess

    command = [sys.executable, str(HERE / "locomo.py"), "--data", str(Path(data).resolve()), "--ours-only",
               "--no-folds"]
    if engine == "postgres":
        command += ["--database-url", databases.new()]
    with tempfile.TemporaryDirectory() as scratch:
        result = HERE / "results" / "locomo.json"
        saved = result.read_bytes() if result.exists() else None
        try:
            subprocess.run(command, check=True, cwd=scratch, stdout=subprocess.DEVNULL)
            figures = json.loads(result.read_text())
        finally:
            if saved is not None:
                result.write_bytes(saved)
    return float(_recall_at_10(figures))


def _recall_at_10(figures: Any) -> float:
    return float(figures["agent-memory-plugins (ours)"]["all"]["recall@10"])


def table(rows: Sequence[tuple[str, Callable[[str], Any]]], engines: Sequence[str]) -> list[dict[str, Any]]:
    """Measure each row on each engine, printing as it goes; returns the rows."""
    out = []
    print(f"{'measure':44}" + "".join(f"{engine:>14}" for engine in engines), flush=True)
    for name, measure in rows:
        values = {engine: measure(engine) for engine in engines}
        print(f"{name:44}" + "".join(f"{_show(values[e]):>14}" for e in engines), flush=True)
        out.append({"measure": name, **values})
    return out


def _show(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) and value < 10 else f"{value:.1f}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL server where this user may create databases")
    parser.add_argument("--sizes", default="10000,100000", help="store sizes (records), comma-separated ('' for none)")
    parser.add_argument("--processes", default="1,2,4,8", help="writer process counts, comma-separated ('' for none)")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long each throughput run writes")
    parser.add_argument("--writes", type=int, default=500, help="timed add_message calls per size")
    parser.add_argument("--searches", type=int, default=200, help="timed searches per size")
    parser.add_argument("--locomo", metavar="PATH",
                        help="also LoCoMo recall@10 on this file (e.g. ../shared/data/locomo-dev.json)")
    parser.add_argument("--out", default=str(HERE / "results" / "engines.json"))
    args = parser.parse_args(argv)
    databases = Databases(args.database_url)
    engines = ("sqlite", "postgres")
    rows: list[tuple[str, Callable[[str], Any]]] = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        cache: dict[str, dict[str, float]] = {}

        def measured(engine: str, size: int = size, cache: dict[str, dict[str, float]] = cache) -> dict[str, float]:
            if engine not in cache:
                cache[engine] = latency(engine, size, databases, args.writes, args.searches)
            return cache[engine]

        for key, label in (("add_p50", "add_message p50 ms"), ("add_p99", "add_message p99 ms"),
                           ("search_p50", "search p50 ms"), ("search_p95", "search p95 ms")):
            rows.append((f"{label} @ {size:,} records",
                         lambda engine, key=key, measured=measured: measured(engine)[key]))
    for count in (int(p) for p in args.processes.split(",") if p):
        rows.append((f"writes/s with {count} process{'es' if count > 1 else ''}",
                     lambda engine, count=count: throughput(engine, count, databases, args.seconds)))
    if args.locomo:
        rows.append(("LoCoMo dev recall@10", lambda engine: locomo_recall(engine, databases, args.locomo)))
    results = table(rows, engines)
    Path(args.out).write_text(json.dumps({"rows": results, "cpus": os.cpu_count()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
