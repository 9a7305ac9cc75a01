"""The RecordStore contract for working memory: versioned blocks, extraction state (every engine)."""

from __future__ import annotations

import threading

import pytest

from agent_memory_plugins.core.storage import RecordStore
from agent_memory_plugins.core.storage.interface import ExtractionState

from .conftest import Connect
from .engines import add, block, fact, record

# -- blocks --------------------------------------------------------------------------------------


def test_a_block_round_trips_and_keeps_every_version(store: RecordStore) -> None:
    first = block("persona", "I am terse ü 🙂", limit=50)
    assert store.put_block(first, 0)
    second = block("persona", "I am terse and kind", version=2, limit=80, at=5)
    assert store.put_block(second, 1)
    assert store.get_block("alice", None, "persona") == second
    assert store.block_history("alice", None, "persona") == [first, second]
    assert store.list_blocks("alice", None) == [second]


def test_put_block_is_a_compare_and_swap(store: RecordStore) -> None:
    assert store.put_block(block("task", "v1"), 0)
    assert not store.put_block(block("task", "stale", version=1), 0)  # someone wrote version 1 already
    assert not store.put_block(block("task", "skips", version=3), 1)  # version must follow expected
    assert not store.put_block(block("task", "behind", version=2), 2)
    assert [b.text for b in store.block_history("alice", None, "task")] == ["v1"]


def test_user_and_session_blocks_are_separate_scopes(store: RecordStore) -> None:
    store.put_block(block("notes", "user-wide"), 0)
    store.put_block(block("notes", "only in s1", session="s1"), 0)
    store.put_block(block("b", "s1 b", session="s1"), 0)
    store.put_block(block("notes", "bob's", user="bob"), 0)
    assert [b.text for b in store.list_blocks("alice", None)] == ["user-wide"]
    assert [b.name for b in store.list_blocks("alice", "s1")] == ["b", "notes"]
    assert store.get_block("alice", "s1", "notes").text == "only in s1"  # type: ignore[union-attr]
    assert store.get_block("alice", "s2", "notes") is None
    assert store.get_block("bob", "s1", "notes") is None
    assert [b.text for b in store.list_blocks("bob", None)] == ["bob's"]
    assert store.block_history("bob", None, "b") == []


def test_forget_scope_removes_a_session_or_a_whole_user(store: RecordStore) -> None:
    store.put_block(block("notes", "user-wide"), 0)
    store.put_block(block("task", "t", session="s1"), 0)
    store.put_block(block("task", "t2", session="s1", version=2), 1)
    store.put_block(block("task", "other session", session="s2"), 0)
    store.put_block(block("notes", "bob's", user="bob"), 0)
    store.save_extraction("alice", "s1", ExtractionState(), ExtractionState(4))
    store.save_extraction("bob", "s1", ExtractionState(), ExtractionState(2))
    assert store.forget_scope("alice", "s1") == 1
    assert store.list_blocks("alice", "s1") == [] and store.block_history("alice", "s1", "task") == []
    assert store.extraction_state("alice", "s1") == ExtractionState()
    assert [b.text for b in store.list_blocks("alice", "s2")] == ["other session"]
    assert store.forget_scope("alice", None) == 2
    assert store.list_blocks("alice", None) == [] and store.list_blocks("alice", "s2") == []
    assert [b.text for b in store.list_blocks("bob", None)] == ["bob's"]
    assert store.extraction_state("bob", "s1") == ExtractionState(2)


def test_concurrent_writers_of_a_block_lose_nothing(store: RecordStore) -> None:
    def append(worker: int) -> None:
        for step in range(10):
            while True:
                current = store.get_block("alice", None, "log")
                version = current.version if current else 0
                text = (current.text + "\n" if current else "") + f"{worker}-{step}"
                if store.put_block(block("log", text, version=version + 1, limit=10_000), version):
                    break

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = store.get_block("alice", None, "log")
    assert final is not None and final.version == 40
    assert sorted(final.text.split("\n")) == sorted(f"{w}-{s}" for w in range(4) for s in range(10))


def test_blocks_survive_reopening(store: RecordStore, connect: Connect) -> None:
    store.put_block(block("persona", "kept"), 0)
    store.save_extraction("alice", "s1", ExtractionState(), ExtractionState(3, "pending answer"))
    store.close()
    again = connect()
    assert again.get_block("alice", None, "persona") == block("persona", "kept")
    assert again.extraction_state("alice", "s1") == ExtractionState(3, "pending answer")


# -- extraction state ----------------------------------------------------------------------------


def _seqs(store: RecordStore, user: str, session: str, after: int, limit: int = 100) -> list[str]:
    return [row.record.id for row in store.messages_after(user, session, after, limit)]


def test_messages_after_follow_write_order_within_the_session(store: RecordStore) -> None:
    add(store, record("m1", at=5), record("m2", at=1), fact("f1"), record("x", session="s2"),
        record("b1", user="bob"))
    add(store, record("m3", at=0))
    assert _seqs(store, "alice", "s1", 0) == ["m1", "m2", "m3"]  # write order, not time order
    rows = store.messages_after("alice", "s1", 0, 2)
    assert [row.record.id for row in rows] == ["m1", "m2"]
    assert _seqs(store, "alice", "s1", rows[-1].seq) == ["m3"]
    assert _seqs(store, "bob", "s1", 0) == ["b1"]


def test_save_extraction_is_a_compare_and_swap(store: RecordStore) -> None:
    assert store.extraction_state("alice", "s1") == ExtractionState()
    assert store.save_extraction("alice", "s1", ExtractionState(), ExtractionState(5, "answer"))
    assert not store.save_extraction("alice", "s1", ExtractionState(), ExtractionState(9))
    assert not store.save_extraction("alice", "s1", ExtractionState(5), ExtractionState(9))
    assert store.save_extraction("alice", "s1", ExtractionState(5, "answer"), ExtractionState(5))
    assert store.extraction_state("alice", "s1") == ExtractionState(5)
    assert store.extraction_state("bob", "s1") == ExtractionState()


def test_sessions_to_extract_are_those_with_new_messages_or_a_pending_answer(store: RecordStore) -> None:
    add(store, record("a1"), record("a2"), record("c1", session="s3"), record("b1", user="bob"),
        fact("f1"))
    assert set(store.sessions_to_extract(10)) == {("alice", "s1"), ("alice", "s3"), ("bob", "s1")}
    assert store.sessions_to_extract(1) == [("alice", "s1")]  # the longest waiting first
    upto = store.messages_after("alice", "s1", 0, 10)[-1].seq
    store.save_extraction("alice", "s1", ExtractionState(), ExtractionState(upto))
    b_upto = store.messages_after("bob", "s1", 0, 10)[-1].seq
    store.save_extraction("bob", "s1", ExtractionState(), ExtractionState(b_upto, "pending"))
    assert set(store.sessions_to_extract(10)) == {("alice", "s3"), ("bob", "s1")}
    add(store, record("a3"))
    assert ("alice", "s1") in store.sessions_to_extract(10)


@pytest.mark.parametrize("limit", [1, 3])
def test_messages_after_respects_the_limit(store: RecordStore, limit: int) -> None:
    add(store, *[record(f"m{n}", at=n) for n in range(5)])
    assert len(store.messages_after("alice", "s1", 0, limit)) == limit
