"""The write path on a large SQLite store: how long does a durable write wait, alone and beside the
background worker's own store work?

    python benchmarks/write_path.py --size 1000000
    python benchmarks/write_path.py --size 200000 --writes 2000 --session-turns 2000

Fills a SQLite record store (a file, WAL, ``durability="full"`` as the core opens it) with
synthetic conversations of 2,000 records per user (``benchmarks/synthetic.py``) and builds the
neighbour-context index, as ``keyword_scale.py`` does. Then one user talks in one session of
``--session-turns`` earlier turns: ``--writes`` messages, each one ``add_records`` call (what
``add_message`` commits), 4 ms apart, timed

- alone (nothing else touches the store), and
- beside a thread doing what the core's worker does to the store between embeddings: claim the
  outbox, queue the context work, acknowledge, build the queued context rows, ``maintain()``;
  a 50 ms pause stands for each batch's embedding.

Before each case the filling's dirty pages are written back (``os.sync``), so that the first
case does not pay for them. Prints p50 / p99 / max per case, beside the disk's own durable-write
floor, and writes ``results/write_path.json``. No model, no Chroma: the
model's time and Chroma's writes happen outside the store's lock, so they do not make a writer
wait. ``speed.py --scale`` measures ``add_message`` with the real worker (hours at 1M).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import RECORDS_PER_USER, SESSION_MESSAGES, pool_sentences, user_of

from agent_memory_plugins.core.storage import SQLiteRecordStore
from agent_memory_plugins.core.validation import from_epoch
from agent_memory_plugins.records import MemoryRecord

BATCH = 20_000
"""Records per filling step."""
TURNS, LAYOUT, NEIGHBOUR_WORDS = 2, "benchmark", 40
START = 1_735_689_600.0
"""Epoch seconds of the first synthetic message (January 2025)."""


def message(pool: list[str], index: int, user: str, session: str, at: float) -> MemoryRecord:
    rng = random.Random(index)
    when = from_epoch(at)
    return MemoryRecord(
        id=f"m{index}", text=f"{rng.choice(pool)} {rng.choice(pool)}", role="user" if index % 2 == 0 else "assistant",
        kind="message", user_id=user, session_id=session, timestamp=when, created_at=when,
    )


def drain(store: SQLiteRecordStore, outbox: int, context: int) -> int:
    """The worker's store work for what is queued; returns how many context rows were built."""
    built = 0
    while items := store.claim_outbox(outbox):
        store.queue_context([item.record_id for item in items if item.op == "upsert"])
        store.ack_outbox([item.seq for item in items])
        store.maintain()
    while (batch := store.claim_context(context)) is not None:
        store.finish_context(batch)
        store.maintain()
        built += batch.size
    return built


def fill(store: SQLiteRecordStore, pool: list[str], size: int, session_turns: int) -> float:
    """``size`` synthetic messages, then the benchmark user's session of ``session_turns`` turns."""
    started = time.perf_counter()
    for first in range(0, size, BATCH):
        store.add_records([
            (message(pool, i, user_of(i), f"s{i // SESSION_MESSAGES}", START + i), 20)
            for i in range(first, min(size, first + BATCH))
        ])
        drain(store, 5000, 5000)
    store.add_records([
        (message(pool, size + n, user_of(0), "bench-latency", START + size + n), 20) for n in range(session_turns)
    ])
    drain(store, 5000, 5000)
    return time.perf_counter() - started


def settle() -> None:
    """Let the disk write back what the filling left dirty (a durable write's fsync waits for it)."""
    os.sync()
    while True:
        with open("/proc/meminfo") as meminfo:  # Linux; elsewhere the sync above is all
            dirty = sum(int(line.split()[1]) for line in meminfo if line.startswith(("Dirty:", "Writeback:")))
        if dirty < 4096:
            return
        time.sleep(0.5)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(ordered[len(ordered) // 2], 2), "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 2),
            "max_ms": round(ordered[-1], 2)}


def writes(store: SQLiteRecordStore, pool: list[str], count: int, first: int, worker: bool,
           folder: str) -> dict[str, Any]:
    """Time ``count`` one-message commits to the benchmark session, with or without the worker;
    beside each, the disk's floor for a durable write (4 KiB written and ``fdatasync``'d)."""
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            drain(store, 256, 256)  # the core's index_batch_size and CONTEXT_BATCH
            stop.wait(0.05)  # the batch's embedding, outside the store's lock

    thread = threading.Thread(target=work, daemon=True)
    if worker:
        thread.start()
    timings, floor = [], []
    probe = os.open(os.path.join(folder, "fsync-floor.bin"), os.O_RDWR | os.O_CREAT)
    for n in range(count):
        record = message(pool, first + n, user_of(0), "bench-latency", time.time())
        start = time.perf_counter()
        store.add_records([(record, 20)])
        timings.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        os.pwrite(probe, b"x" * 4096, (n % 64) * 4096)
        os.fdatasync(probe)
        floor.append((time.perf_counter() - start) * 1000)
        time.sleep(0.004)
    os.close(probe)
    stop.set()
    if worker:
        thread.join()
    drain(store, 5000, 5000)
    return {**percentiles(timings), "fdatasync": percentiles(floor)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--session-turns", type=int, default=500, help="earlier turns of the written session")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "write_path.json")
    args = parser.parse_args()
    pool = pool_sentences(600)
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteRecordStore(str(Path(folder) / "memory.db"))
        store.open_context_index(TURNS, LAYOUT, NEIGHBOUR_WORDS)
        seconds = fill(store, pool, args.size, args.session_turns)
        print(f"{args.size:,} records, {max(1, args.size // RECORDS_PER_USER)} users, filled in {seconds:.0f} s")
        figures: dict[str, Any] = {"size": args.size, "session_turns": args.session_turns, "writes": args.writes,
                                   "fill_seconds": round(seconds, 1)}
        first = args.size + args.session_turns
        for case, worker in (("alone", False), ("beside the worker", True)):
            settle()
            figures[case] = writes(store, pool, args.writes, first, worker, folder)
            first += args.writes
            disk = figures[case]["fdatasync"]
            print(f"    {case:<18} p50 {figures[case]['p50_ms']:6.2f} ms   p99 {figures[case]['p99_ms']:6.2f} ms"
                  f"   max {figures[case]['max_ms']:6.2f} ms   (disk fdatasync p50 {disk['p50_ms']:.2f} ms, "
                  f"p99 {disk['p99_ms']:.2f} ms)")
        store.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
