"""Keyword search as the store grows: does a user's keyword search cost the same among 10 users as
among 500?

    python benchmarks/keyword_scale.py --sizes 20000 400000
    python benchmarks/keyword_scale.py --sizes 20000 1000000 --queries 300

Fills a SQLite record store (a file, WAL, as the core opens it) with synthetic conversations of
2,000 records per user (``benchmarks/synthetic.py``: two template sentences per message, sessions
of 20), builds the neighbour-context index as the worker would, then times
``keyword_candidates(terms, Filters(user), 100, weight)`` for random users and questions: weight 0
reads the records' own keyword index (``records_fts``), weight 0.5 (the default
``context_weight``) the context index (``context_fts``), which is what ``search`` runs.

Beside it, in the same database and run, the previous release's layout (before per-user terms):
FTS5 tables of the words as written (the records' own, and each with its neighbours' words) with
the user's scope token in a column of its own, queried as that release did (``scope : "<token>"
AND text : (terms)``, BM25 over the whole table). Its
BM25 counts every row of the store that holds a query term, so its cost grows with the store.

Prints p50/p95 per size and writes ``results/keyword_scale.json``. No model, no Chroma.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import RECORDS_PER_USER, SESSION_MESSAGES, pool_sentences, queries, user_of

from agent_memory_plugins.core.recall.keywords import query_terms
from agent_memory_plugins.core.storage import Filters, SQLiteRecordStore
from agent_memory_plugins.core.storage.interface import lent_words
from agent_memory_plugins.core.storage.sqlite.schema import scope_token
from agent_memory_plugins.core.validation import from_epoch
from agent_memory_plugins.records import MemoryRecord

BATCH = 2000
LIMIT = 100
"""Keyword candidates per query (what search asks for)."""
PREVIOUS = (
    "CREATE VIRTUAL TABLE previous_fts USING fts5 (text, scope, content='', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE VIRTUAL TABLE previous_context_fts USING fts5 (text, context, scope, "
    "tokenize='porter unicode61 remove_diacritics 2')",
)
NEIGHBOUR_WORDS = 40
"""The default ``context_neighbour_words``."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def message(pool: list[str], index: int) -> MemoryRecord:
    rng = random.Random(index)
    when = from_epoch(1_735_689_600.0 + index)
    return MemoryRecord(
        id=f"m{index}", text=f"{rng.choice(pool)} {rng.choice(pool)}", role="user" if index % 2 == 0 else "assistant",
        kind="message", user_id=user_of(index), session_id=f"s{index // SESSION_MESSAGES}", timestamp=when,
        created_at=when,
    )


def fill(store: SQLiteRecordStore, pool: list[str], size: int) -> float:
    """Add ``size`` messages, the previous layout's rows, and every context row; returns seconds."""
    started = time.perf_counter()
    with store.transaction() as db:
        for statement in PREVIOUS:
            db.execute(statement)
    for first in range(0, size, BATCH):
        records = [message(pool, i) for i in range(first, min(size, first + BATCH))]
        users = {record.id: record.user_id for record in records}
        store.add_records([(record, 20) for record in records])
        with store.transaction() as db:
            db.executemany(
                "INSERT INTO previous_fts (rowid, text, scope) SELECT seq, ?, ? FROM records WHERE id = ?",
                [(record.text, scope_token(record.user_id), record.id) for record in records],
            )
        while items := store.claim_outbox(5000):
            store.queue_context([item.record_id for item in items if item.op == "upsert"])
            store.ack_outbox([item.seq for item in items])
        while (batch := store.claim_context(5000)) is not None:
            previous_context = [
                (found.text, lent_words(found.text, found.before, found.after, NEIGHBOUR_WORDS),
                 scope_token(users[found.record_id]), found.record_id)
                for found in batch.neighbourhoods
            ]
            with store.transaction() as db:
                db.executemany("INSERT INTO previous_context_fts (rowid, text, context, scope) "
                               "SELECT seq, ?, ?, ? FROM records WHERE id = ?", previous_context)
            store.finish_context(batch)
    return time.perf_counter() - started


def previous_release(store: SQLiteRecordStore, words: list[str], user: str, context: bool) -> list[Any]:
    """The previous release's keyword query (own words, or words in context at weight 0.5)."""
    match = " OR ".join('"' + word.replace('"', '""') + '"' for word in words)
    table, weights, columns = ("previous_context_fts", "1.0, 0.5, 0.0", "{text context}") if context else (
        "previous_fts", "1.0, 0.0", "text")
    return store._read(
        f"SELECT r.id, bm25({table}, {weights}) AS rank FROM {table} JOIN records r ON r.seq = {table}.rowid "
        f"WHERE {table} MATCH ? AND r.user_id = ? ORDER BY rank LIMIT ?",
        (f'scope : "{scope_token(user)}" AND {columns} : ({match})', user, LIMIT),
    )


def measure(store: SQLiteRecordStore, users: int, questions: list[str], count: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    asks = [(query_terms(rng.choice(questions)), user_of(rng.randrange(users) * RECORDS_PER_USER))
            for _ in range(count)]
    calls: dict[str, Callable[[list[str], str], list[Any]]] = {
        "own words (weight 0)": lambda words, user: store.keyword_candidates(words, Filters(user), LIMIT, 0.0),
        "in context (weight 0.5, search's default)": lambda words, user: store.keyword_candidates(
            words, Filters(user), LIMIT, 0.5),
        "previous release's layout, own words": lambda words, user: previous_release(store, words, user, False),
        "previous release's layout, in context": lambda words, user: previous_release(store, words, user, True),
    }
    timings: dict[str, list[float]] = {name: [] for name in calls}
    hits: dict[str, int] = dict.fromkeys(calls, 0)
    for words, user in asks[:20]:  # warm the page cache
        for call in calls.values():
            call(words, user)
    for words, user in asks:
        for name, call in calls.items():  # alternate, so drift in the machine's load hits all alike
            started = time.perf_counter()
            found = call(words, user)
            timings[name].append((time.perf_counter() - started) * 1000)
            hits[name] += len(found)
    return {
        name: {"p50_ms": round(statistics.median(values), 2), "p95_ms": round(percentile(values, 0.95), 2),
               "mean_hits": round(hits[name] / count, 1)}
        for name, values in timings.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 400_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "keyword_scale.json")
    args = parser.parse_args()
    pool, questions = pool_sentences(600), queries(200)
    results: dict[str, Any] = {"sizes": {}}
    for size in args.sizes:
        users = max(1, size // RECORDS_PER_USER)
        with tempfile.TemporaryDirectory() as folder:
            store = SQLiteRecordStore(str(Path(folder) / "memory.db"), durability="normal")
            store.open_context_index(2, "benchmark", 40)
            seconds = fill(store, pool, size)
            figures = measure(store, users, questions, args.queries, args.seed)
            store.close()
        results["sizes"][str(size)] = {"users": users, "fill_seconds": round(seconds, 1), "keyword_candidates": figures}
        print(f"{size:>9,} records, {users} users (filled in {seconds:.0f} s)")
        for name, figure in figures.items():
            print(f"    {name:<44} p50 {figure['p50_ms']:7.2f} ms   p95 {figure['p95_ms']:7.2f} ms"
                  f"   {figure['mean_hits']:5.1f} hits")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
