"""SQLite keeps a writer's commit short on a large store: the background worker checkpoints the
WAL (a writer does not), and the worker's context rows find a message's neighbours by a range of
the session index instead of walking the session."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from agent_memory_plugins.core.storage import Filters, SQLiteRecordStore
from agent_memory_plugins.core.storage.sqlite import context
from agent_memory_plugins.core.storage.sqlite.connection import CHECKPOINT_BYTES

from .engines import LAYOUT, TURNS, add, chat, drain_context, drain_outbox, record


def _open(path: Path) -> SQLiteRecordStore:
    store = SQLiteRecordStore(str(path))
    store.open_context_index(TURNS, LAYOUT)
    return store


def _long_texts(count: int, words: int) -> list[str]:
    rng = random.Random(5)
    vocabulary = [f"word{n}" for n in range(5000)]
    return [" ".join(rng.choices(vocabulary, k=words)) for _ in range(count)]


def test_writes_leave_the_checkpoint_to_maintain(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    store = _open(path)
    try:
        for n, text in enumerate(_long_texts(150, 4000)):  # over 4 MB through the WAL, a record per commit
            add(store, record(f"m{n}", text, at=n))
        wal = Path(f"{path}-wal").stat().st_size
        assert wal > CHECKPOINT_BYTES
        assert path.stat().st_size < 1024 * 1024, "a writer's commit checkpointed the WAL"
        store.maintain()
        assert path.stat().st_size > CHECKPOINT_BYTES  # the pages are in the database file now
        assert store.count("alice") == 150
    finally:
        store.close()
    reopened = sqlite3.connect(path)
    try:
        assert reopened.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 150
    finally:
        reopened.close()


def test_maintain_on_a_small_or_in_memory_store_changes_nothing(tmp_path: Path) -> None:
    for store in (_open(tmp_path / "memory.db"), SQLiteRecordStore(None)):
        try:
            chat(store, "s1", ["one", "two"])
            store.maintain()
            assert [row.record.text for row in store.select(Filters("alice"))] == ["one", "two"]
        finally:
            store.close()


def test_a_messages_neighbours_are_a_range_of_the_session_index(tmp_path: Path) -> None:
    """Found by walking the session from one end, a neighbour lookup cost 1 ms per query at the
    100th of 4,500 turns, and the worker held the write lock through hundreds of them."""
    store = _open(tmp_path / "memory.db")
    try:
        chat(store, "s1", [f"turn {n}" for n in range(50)])
        drain_outbox(store)
        drain_context(store)
        neighbours = store.neighbourhoods(["s1-25"])[0]
        assert neighbours.before == ["turn 23", "turn 24"] and neighbours.after == ["turn 26", "turn 27"]
        for template, bound in ((context._BEFORE, "ts<?"), (context._AFTER, "ts>?")):
            sql = context._CENTRE + template.format(col="text", join=", c", r="c", n=TURNS)
            plan = " ".join(str(row[-1]) for row in store._read(f"EXPLAIN QUERY PLAN {sql}", (1,)))
            assert f"records_by_session (user_id=? AND session_id=? AND kind=? AND {bound})" in plan, plan
    finally:
        store.close()


def test_a_store_with_older_delete_triggers_gets_the_new_ones_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    store = _open(path)
    chat(store, "s1", ["alpha", "bravo", "charlie", "delta"])
    drain_outbox(store)
    drain_context(store)
    store.close()
    db = sqlite3.connect(path, isolation_level=None)  # as the previous release left it: OR, no meta key
    old = db.execute("SELECT sql FROM sqlite_master WHERE name = 'context_on_delete'").fetchone()[0]
    older = old.replace("(p.ts, p.seq) < (old.ts, old.seq)", "(p.ts < old.ts OR (p.ts = old.ts AND p.seq < old.seq))")
    older = older.replace("(p.ts, p.seq) > (old.ts, old.seq)", "(p.ts > old.ts OR (p.ts = old.ts AND p.seq > old.seq))")
    assert older != old
    db.execute("DROP TRIGGER context_on_delete")
    db.execute(older)
    db.execute("DELETE FROM meta WHERE key = 'context_triggers'")
    db.close()
    store = _open(path)
    try:
        assert store.context_pending() == 0  # nothing is rebuilt
        (sql,) = store._read("SELECT sql FROM sqlite_master WHERE name = 'context_on_delete'", ())[0]
        assert "(p.ts, p.seq) < (old.ts, old.seq)" in sql
        store.forget(["s1-2"], [])  # its neighbours quoted it: they are queued again
        assert store.context_pending() == 3
    finally:
        store.close()
