"""What extraction's bookkeeping costs the background worker on a large store.

    python benchmarks/extraction_scan.py --messages 100000 --sessions 1000

With ``MemoryCore(extractor=...)`` every drain of the worker asks the record store which sessions
have messages after their extraction cursor (``sessions_to_extract``) and reads a batch
(``messages_after``). This script fills a SQLite store (on disk, in a temporary folder) with
``--messages`` messages over ``--sessions`` sessions, moves every cursor to the end (the steady
state) and prints the median time of each call, and of ``put_block`` / ``list_blocks``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from agent_memory_plugins.core.storage import SQLiteRecordStore
from agent_memory_plugins.core.storage.interface import ExtractionState
from agent_memory_plugins.core.validation import from_epoch
from agent_memory_plugins.records import Block, MemoryRecord


def _median_ms(call: Callable[[], object], repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteRecordStore(str(Path(folder) / "memory.db"), durability="normal")
        now = time.time()
        batch: list[tuple[MemoryRecord, int]] = []
        for n in range(args.messages):
            session = f"s{n % args.sessions}"
            when = from_epoch(now + n)
            batch.append((MemoryRecord(id=f"{n:032x}", text=f"message {n} about topic {n % 97}", role="user",
                                       kind="message", user_id=f"u{n % 50}", session_id=session, timestamp=when,
                                       created_at=when), 5))
            if len(batch) == 5_000:
                store.add_records(batch)
                batch = []
        if batch:
            store.add_records(batch)
        pairs = store.sessions_to_extract(args.sessions * 2)
        scan_all = _median_ms(lambda: store.sessions_to_extract(50), repeat=5)
        for user, session in pairs:
            rows = store.messages_after(user, session, 0, 1_000_000)
            store.save_extraction(user, session, ExtractionState(), ExtractionState(rows[-1].seq))
        user, session = pairs[0]
        print(f"store: {args.messages} messages, {len(pairs)} (user, session) pairs")
        print(f"sessions_to_extract(50), every session waiting: {scan_all:.1f} ms")
        steady = _median_ms(lambda: store.sessions_to_extract(50))
        print(f"sessions_to_extract(50), steady state (nothing new): {steady:.1f} ms")
        print(f"messages_after(batch of 20): {_median_ms(lambda: store.messages_after(user, session, 0, 20)):.2f} ms")
        block = Block("task", "x" * 500, "u1", None, 2000, 1, from_epoch(now))
        store.put_block(block, 0)
        versions = iter(range(2, 10_000))

        def put() -> None:
            version = next(versions)
            store.put_block(Block("task", "y" * 500, "u1", None, 2000, version, from_epoch(now)), version - 1)

        print(f"put_block (a new version, synchronous=normal): {_median_ms(put):.2f} ms")
        print(f"list_blocks (one user): {_median_ms(lambda: store.list_blocks('u1', None)):.2f} ms")
        store.close()


if __name__ == "__main__":
    main()
