"""The keyword index is scoped per user (for speed) without changing scores, and old stores upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent_memory_plugins import MemoryCore


def bag_of_letters(texts: list[str]) -> list[list[float]]:
    """A tiny deterministic embedder (no model needed)."""
    return [[float(text.lower().count(c)) + 0.1 for c in "aeioust"] for text in texts]


def keyword_ids(memory: MemoryCore, query: str, user: str) -> list[str]:
    return [hit.record.id for hit in memory.search(query, user_id=user, k=10) if "keyword_rank" in hit.explain]


def test_keyword_recall_stays_within_the_user_and_survives_forget(store_path: Path) -> None:
    with MemoryCore(store_path, embedder=bag_of_letters, dense_weight=0.0) as memory:
        alice = memory.add_message("s", "user", "Trip to Lisbon in March", user_id="alice@example.com")
        memory.add_message("s", "user", "Trip to Lisbon in April", user_id="alice.example.com")
        memory.add_message("s", "user", "Lisbon trip with ünïcode", user_id="bob 🙂")
        assert keyword_ids(memory, "lisbon trip", "alice@example.com") == [alice.id]
        assert len(keyword_ids(memory, "lisbon", "bob 🙂")) == 1
        assert memory.forget(memory_id=alice.id, user_id="alice@example.com") == 1
        assert keyword_ids(memory, "lisbon trip", "alice@example.com") == []
        assert len(keyword_ids(memory, "lisbon", "alice.example.com")) == 1


@pytest.mark.sqlite_only  # reads SQLite's own tables or files
def test_a_store_with_the_old_keyword_index_is_upgraded_on_open(store_path: Path) -> None:
    with MemoryCore(store_path, embedder=bag_of_letters) as memory:
        kept = memory.add_message("s", "user", "My sister lives in Porto", user_id="maya")
        memory.add_message("s", "user", "My brother lives in Porto", user_id="omar")
        memory.flush()
    db = sqlite3.connect(store_path / "memory.db")  # the schema before the scope column
    with db:
        db.execute("DROP TABLE records_fts")
        db.execute("CREATE VIRTUAL TABLE records_fts USING fts5 (text, content='', "
                   "tokenize='porter unicode61 remove_diacritics 2')")
        db.execute("INSERT INTO records_fts (rowid, text) SELECT seq, text FROM records")
        db.execute("PRAGMA user_version = 0")  # stores of that release carried no schema version
    db.close()
    with MemoryCore(store_path, embedder=bag_of_letters, dense_weight=0.0) as memory:
        assert keyword_ids(memory, "sister porto", "maya") == [kept.id]
        assert memory.forget(user_id="omar") == 1
        assert keyword_ids(memory, "porto", "omar") == []


@pytest.mark.sqlite_only  # reads SQLite's own tables or files
def test_a_keyword_index_built_with_other_terms_is_rebuilt_on_open(store_path: Path) -> None:
    with MemoryCore(store_path, embedder=bag_of_letters) as memory:
        kept = memory.add_message("s", "user", "My sister lives in Porto", user_id="maya")
        gone = memory.add_message("s", "user", "My brother lives in Porto", user_id="maya")
        memory.flush()
    db = sqlite3.connect(store_path / "memory.db")  # as if another stemmer had written the index
    with db:
        db.execute("INSERT INTO records_fts (records_fts) VALUES ('delete-all')")
        db.execute("INSERT INTO records_fts (rowid, text) SELECT seq, 'stale' FROM records")
        db.execute("UPDATE meta SET value = 'porter-0.0:unicode-1.0' WHERE key = 'keyword_terms'")
    db.close()
    with MemoryCore(store_path, embedder=bag_of_letters, dense_weight=0.0) as memory:
        assert sorted(keyword_ids(memory, "porto", "maya")) == sorted([kept.id, gone.id])
        assert memory.forget(memory_id=gone.id, user_id="maya") == 1  # its terms are the ones indexed
        assert keyword_ids(memory, "sister brother porto", "maya") == [kept.id]
    with sqlite3.connect(store_path / "memory.db") as db:
        assert db.execute("SELECT COUNT(*) FROM records_fts WHERE records_fts MATCH 'stale'").fetchone()[0] == 0
    db.close()
