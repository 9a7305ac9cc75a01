"""The core contract against real SQLite, real Chroma and the real embedding model."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agent_memory_plugins import EmbeddingMismatchError, InvalidInputError, MemoryCore, NotFoundError


def _chat(memory: MemoryCore, session: str, lines: list[str], user: str = "default") -> None:
    for index, line in enumerate(lines):
        memory.add_message(session, "user" if index % 2 == 0 else "assistant", line, user_id=user)


def test_record_fields_and_metadata_round_trip(memory: MemoryCore) -> None:
    meta = {"speaker": "Ana", "nested": {"list": [1, 2.5, None, True], "ü": "🙂"}, "n": 0}
    when = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)
    record = memory.add_message("s1", "user", "I adopted a cat named Miso.", timestamp=when, metadata=meta)
    assert record.role == "user" and record.kind == "message" and record.session_id == "s1"
    assert record.timestamp == when and record.created_at > when
    assert 0.0 <= record.importance <= 1.0 and len(record.id) == 32
    stored = memory.get(record.id)
    assert stored.metadata == meta and stored.timestamp == when and stored.text == record.text


def test_window_and_summary_fold_out_of_window_messages(memory: MemoryCore) -> None:
    _chat(memory, "s1", ["My name is Dana and I live in Lisbon.", "Nice to meet you, Dana."]
          + [f"small talk line {i}" for i in range(10)])
    window = memory.window("s1")
    assert [r.text for r in window] == [f"small talk line {i}" for i in range(4, 10)]
    memory.flush()
    summary = memory.summary_record("s1")
    assert summary is not None and summary.kind == "summary"
    assert "Lisbon" in summary.text
    messages = memory.messages("s1")
    assert set(summary.covers) == {r.id for r in messages[:6]}
    hits = memory.search("Dana Lisbon", kinds=["summary"])
    assert hits and hits[0].record.id == summary.id


def test_search_is_hybrid_and_explains(memory: MemoryCore) -> None:
    memory.add_message("s1", "user", "My dog Rex loves chasing tennis balls in the park.")
    memory.add_message("s1", "user", "I work as a nurse at the city hospital.")
    memory.remember("The user's favourite colour is teal.")
    memory.flush()
    hits = memory.search("what does my puppy like to play with?", k=3)
    assert "Rex" in hits[0].record.text
    assert {"fusion", "recency", "importance", "score", "dense_rank"} <= set(hits[0].explain)
    assert hits[0].score == hits[0].explain["score"]
    keyword = memory.search("teal", k=1)
    assert keyword[0].record.kind == "fact" and keyword[0].explain["keyword_rank"] == 1


def test_keyword_recall_works_before_indexing_finishes() -> None:
    with MemoryCore(background=False) as memory:
        memory.add_message("s1", "user", "The wifi password is zebra-7731.")
        hits = memory.search("wifi password")
        assert hits and "zebra" in hits[0].record.text


def test_search_filters(memory: MemoryCore) -> None:
    memory.add_message("a", "user", "Trip to Rome in June", metadata={"topic": "travel", "year": 2023})
    memory.add_message("b", "user", "Trip to Oslo in March", metadata={"topic": "travel", "year": 2021})
    memory.remember("Trip planning is fun", metadata={"topic": "meta"})
    memory.flush()
    assert {h.record.session_id for h in memory.search("trip", session_id="a")} == {"a"}
    assert {h.record.kind for h in memory.search("trip", kinds="fact")} == {"fact"}
    recent = memory.search("trip", where={"year": {"$gte": 2022}})
    assert [h.record.text for h in recent] == ["Trip to Rome in June"]
    either = memory.search("trip", where={"$or": [{"year": 2021}, {"topic": "meta"}]}, k=10)
    assert {h.record.text for h in either} == {"Trip to Oslo in March", "Trip planning is fun"}


def test_users_are_isolated(memory: MemoryCore) -> None:
    memory.add_message("s1", "user", "My bank PIN is 9911", user_id="alice")
    memory.add_message("s1", "user", "I like turtles", user_id="bob")
    memory.flush()
    for query in ("bank PIN", "9911", "alice", "*", "turtles"):
        assert all(h.record.user_id == "bob" for h in memory.search(query, user_id="bob"))
    assert memory.window("s1", user_id="bob")[0].text == "I like turtles"
    assert "PIN" not in memory.context("s1", "bank PIN", user_id="bob").render()
    assert memory.search("PIN", user_id="bob", where={"user_id": "alice"}) == []
    record = memory.search("PIN", user_id="alice")[0].record
    with pytest.raises(NotFoundError):
        memory.get(record.id, user_id="bob")


def test_context_assembles_and_fits_budget(memory: MemoryCore) -> None:
    memory.remember("The user is allergic to peanuts.")
    _chat(memory, "s1", [f"line {i} about nothing much" for i in range(12)])
    memory.flush()
    context = memory.context("s1", "can I eat peanut butter?")
    assert any("peanuts" in hit.record.text for hit in context.recalled)
    window_ids = {r.id for r in context.window}
    assert not window_ids & {hit.record.id for hit in context.recalled}
    assert context.window[-1].text == "line 11 about nothing much"
    text = context.render()
    assert "Relevant memories" in text and "Recent conversation" in text
    tight = memory.context("s1", "peanuts", max_tokens=30)
    assert tight.tokens <= 30 and tight.window[-1].text == "line 11 about nothing much"
    assert tight.dropped > 0


def test_context_without_query_recalls_for_latest_user_message(memory: MemoryCore) -> None:
    memory.remember("The user's sister is called Priya.")
    memory.add_message("s1", "user", "What is my sister called?")
    memory.flush()
    context = memory.context("s1")
    assert any("Priya" in hit.record.text for hit in context.recalled)


def test_forget_memory_session_and_user(memory: MemoryCore) -> None:
    first = memory.add_message("s1", "user", "Secret plan: paint the barn blue.")
    memory.add_message("s2", "user", "Another session entirely", user_id="default")
    memory.add_message("s1", "user", "Keep this one", user_id="carol")
    memory.flush()
    assert memory.forget(memory_id=first.id) == 1
    assert memory.forget(memory_id=first.id) == 0
    assert not [h for h in memory.search("barn blue") if "barn" in h.record.text]
    assert memory.forget(session_id="s2") == 1
    assert memory.sessions() == []
    assert memory.forget(user_id="carol") == 1
    assert memory.stats()["records"] == 0 and memory.stats()["vectors"] == 0


def test_forgetting_a_user_drops_their_vector_collection_and_nobody_elses(memory: MemoryCore) -> None:
    for user in ("carol", "dev"):
        memory.add_message("s1", "user", f"{user} keeps bees on the roof of the library", user_id=user)
    memory.flush()
    mine = f"{memory.index.name}-{memory.index.scope('carol')[:16]}"
    theirs = f"{memory.index.name}-{memory.index.scope('dev')[:16]}"
    def collections() -> set[str]:
        return {c.name for c in memory.index.client.list_collections()}
    assert {mine, theirs} <= collections()
    assert memory.forget(user_id="carol") == 1
    assert mine not in collections() and theirs in collections()  # not even deleted index entries stay
    assert memory.search("bees on the roof", user_id="carol") == []
    assert memory.search("bees on the roof", user_id="dev", k=1)[0].explain["dense_rank"] == 1
    memory.add_message("s1", "user", "carol came back and keeps hens now", user_id="carol")
    memory.flush()  # the same user again: a new collection
    assert memory.search("who keeps hens", user_id="carol", k=1)[0].explain["dense_rank"] == 1


def test_forget_rebuilds_summaries_without_forgotten_text(memory: MemoryCore) -> None:
    lines = ["My cousin Theo lives in Berlin.", "ok", "I was born in 1985 in Leeds.", "ok"]
    _chat(memory, "s1", lines + [f"filler {i}" for i in range(8)])
    memory.flush()
    assert "Theo" in memory.summary("s1") and "Leeds" in memory.summary("s1")
    theo = memory.messages("s1")[0]
    memory.forget(memory_id=theo.id)
    memory.flush()
    summary = memory.summary_record("s1")
    assert summary is not None and "Theo" not in summary.text and "Leeds" in summary.text
    assert theo.id not in summary.covers
    assert not [h for h in memory.search("Theo Berlin", k=10) if "Theo" in h.record.text]


def test_restart_keeps_everything(store_path: Path) -> None:
    with MemoryCore(store_path, window_messages=4, fold_batch=2) as memory:
        _chat(memory, "s1", ["I keep bees on my roof in Ghent."] + [f"chat {i}" for i in range(7)])
        fact = memory.remember("The user's passport expires in 2031.", user_id="dan")
        memory.flush()
        before = (memory.window("s1"), memory.summary("s1"), memory.stats())
    with MemoryCore(store_path, window_messages=4, fold_batch=2) as memory:
        assert (memory.window("s1"), memory.summary("s1"), memory.stats()) == before
        assert memory.search("passport", user_id="dan")[0].record.id == fact.id
        assert "bees" in memory.search("honey insects", k=3)[0].record.text


def test_outbox_is_indexed_on_reopen(store_path: Path) -> None:
    with MemoryCore(store_path, background=False) as memory:
        memory.add_message("s1", "user", "Violins have four strings.")
        assert memory.stats()["pending_index"] == 1
    with MemoryCore(store_path) as memory:
        memory.flush()
        assert memory.stats()["pending_index"] == 0 and memory.stats()["vectors"] == 1


def _toy_embedder(texts: list[str]) -> list[list[float]]:
    return [[float(len(t)), 1.0, float(t.count("a"))] for t in texts]


def test_embedder_change_is_detected_and_reindex_rebuilds(store_path: Path) -> None:
    with MemoryCore(store_path) as memory:
        memory.add_message("s1", "user", "a banana and an apple")
        memory.flush()
    with pytest.raises(EmbeddingMismatchError, match="reindex"):
        MemoryCore(store_path, embedder=_toy_embedder)
    with MemoryCore(store_path, embedder=_toy_embedder, reindex=True) as memory:
        assert memory.stats()["vectors"] == 1
        assert memory.search("banana")[0].record.text == "a banana and an apple"
    with MemoryCore(store_path, embedder=_toy_embedder) as memory:
        assert memory.embedder.name.startswith("callable/")


def test_pluggable_summarizer_runs_off_the_write_path() -> None:
    calls: list[int] = []
    started = threading.Event()

    def slow_summary(previous: str, messages: list[object]) -> str:
        started.set()
        calls.append(len(messages))
        return f"{previous} folded {len(messages)}".strip()

    with MemoryCore(window_messages=2, fold_batch=2, summarizer=slow_summary) as memory:
        for i in range(6):
            memory.add_message("s1", "user", f"message number {i}")
        memory.flush()
        assert memory.summary("s1") == "folded 4" or memory.summary("s1").endswith("folded 2")
        assert sum(calls) == 4


def test_threads_and_tasks_share_one_core(memory: MemoryCore) -> None:
    def writer(n: int) -> None:
        for i in range(25):
            memory.add_message(f"t{n}", "user", f"thread {n} message {i}", user_id=f"u{n % 2}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()

    async def tasks() -> None:
        await asyncio.gather(*(memory.aadd_message("async", "user", f"task {i}") for i in range(20)))
        hits = await memory.asearch("task", k=3)
        assert hits

    asyncio.run(tasks())
    for thread in threads:
        thread.join()
    memory.flush()
    assert memory.stats()["records"] - memory.stats()["by_kind"].get("summary", 0) == 120
    assert len(memory.messages("t1", user_id="u1")) == 25
    assert memory.stats()["pending_index"] == 0


async def test_async_twins(memory: MemoryCore) -> None:
    record = await memory.aadd_message("s1", "user", "I play the oboe.")
    await memory.aremember("The user plays in an orchestra.")
    await memory.aflush()
    hits = await memory.asearch("musical instrument")
    assert hits and (await memory.awindow("s1"))[0].id == record.id
    context = await memory.acontext("s1", "oboe")
    assert context.window
    assert await memory.aforget(memory_id=record.id) == 1


def test_window_limits_can_be_switched_off() -> None:
    with MemoryCore(window_messages=None, window_tokens=50, background=False) as memory:
        for i in range(30):
            memory.add_message("s1", "user", f"short line {i}")
        assert memory.settings.window_messages is None
        window = memory.window("s1")
        assert 5 < len(window) < 30 and window[-1].text == "short line 29"


def test_a_fold_never_takes_messages_that_arrive_while_it_reads() -> None:
    with MemoryCore(window_messages=4, fold_batch=2, background=False) as memory:
        memory.add_message("s", "user", "first")
        reads = {"n": 0}

        def concurrent_write_before_second_read(read):  # type: ignore[no-untyped-def]
            def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
                reads["n"] += 1
                if reads["n"] == 2:  # another thread writes between the fold's two reads
                    memory.add_messages("s", [{"role": "user", "content": "second"},
                                              {"role": "user", "content": "third"}])
                return read(*args, **kwargs)
            return wrapped

        unsummarized = memory.store.unsummarized
        conversations = memory.conversations
        conversations.window_rows = concurrent_write_before_second_read(conversations.window_rows)  # type: ignore[method-assign]
        memory.store.unsummarized = concurrent_write_before_second_read(unsummarized)  # type: ignore[method-assign]
        conversations.fold("default", "s", force=False)
        assert len(unsummarized("default", "s")) == 3  # all three are still in the window of 4: none folded


def test_records_page_through_a_users_records_with_limit_and_offset() -> None:
    with MemoryCore(background=False) as memory:
        added = memory.add_messages("s", [{"role": "user", "content": f"message {i}", "timestamp": 1000.0 + i}
                                          for i in range(7)], user_id="ana")
        memory.add_message("s", "user", "someone else's", user_id="bo")
        pages = [memory.records(user_id="ana", limit=3, offset=start) for start in (0, 3, 6, 9)]
        assert [[r.id for r in page] for page in pages] == [
            [r.id for r in added[0:3]], [r.id for r in added[3:6]], [added[6].id], []]
        newest = memory.records(user_id="ana", newest_first=True, limit=2, offset=1)
        assert [r.text for r in newest] == ["message 5", "message 4"]
        for bad in (-1, 1.5, True, "2"):
            with pytest.raises(InvalidInputError, match="offset"):
                memory.records(user_id="ana", offset=bad)
