"""Messages are embedded in their context: the vector Chroma holds for a message blends its own
embedding with its neighbours' in the session, is rebuilt when a neighbour comes or goes, and a
forgotten message leaves no part in anyone's vector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.indexes.context_vectors import context_vector
from agent_memory_plugins.core.indexes.indexer import drain_context

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def letters(texts: list[str]) -> list[list[float]]:
    """A tiny deterministic embedder: letter counts (no model needed)."""
    return [[float(text.lower().count(c)) + 0.01 for c in LETTERS] for text in texts]


def unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    return array / np.linalg.norm(array)


def same_direction(a: np.ndarray, b: list[float] | np.ndarray) -> bool:
    return bool(np.allclose(unit(list(a)), unit(list(b)), atol=1e-5))


def stored(memory: MemoryCore, record_id: str) -> np.ndarray:
    return np.asarray(memory.index.stored([record_id])[record_id], dtype=np.float32)


def in_context(texts: list[str], position: int, weight: float = 0.5, turns: int = 2) -> np.ndarray:
    """What the vector of ``texts[position]`` should be, from the texts alone."""
    vectors = [unit(v) for v in letters(texts)]
    before = vectors[max(0, position - turns):position]
    after = vectors[position + 1:position + 1 + turns]
    return np.asarray(context_vector(vectors[position], before, after, weight))


TALK = ["What did you research?", "Adoption agencies.", "Any luck so far?", "Two interviews next week.",
        "Good luck with them!"]


def write(memory: MemoryCore, texts: list[str], session: str = "s") -> list[str]:
    return [memory.add_message(session, "user", text, user_id="maya").id for text in texts]


def test_each_message_is_embedded_with_its_neighbours(store_path: Path) -> None:
    with MemoryCore(store_path, embedder=letters) as memory:
        ids = write(memory, TALK)
        other = write(memory, ["An unrelated session."], session="t")
        memory.flush()
        for position, record_id in enumerate(ids):
            assert np.allclose(stored(memory, record_id), in_context(TALK, position), atol=1e-5)
        assert same_direction(stored(memory, other[0]), letters(["An unrelated session."])[0])
        fact = memory.remember("Maya is allergic to shellfish.", user_id="maya")
        memory.flush()  # other kinds keep their own embedding
        assert same_direction(stored(memory, fact.id), letters([fact.text])[0])


def test_a_new_turn_updates_the_vectors_before_it(store_path: Path) -> None:
    with MemoryCore(store_path, embedder=letters) as memory:
        ids = write(memory, TALK[:3])
        memory.flush()
        ids += write(memory, TALK[3:])
        memory.flush()
        for position, record_id in enumerate(ids):
            assert np.allclose(stored(memory, record_id), in_context(TALK, position), atol=1e-5)


def test_a_forgotten_message_leaves_no_part_in_its_neighbours_vectors(store_path: Path) -> None:
    with MemoryCore(store_path, embedder=letters) as memory:
        ids = write(memory, TALK)
        memory.flush()
        assert memory.forget(memory_id=ids[2], user_id="maya") == 1
        memory.flush()
        rest = TALK[:2] + TALK[3:]
        for position, record_id in enumerate(ids[:2] + ids[3:]):
            assert np.allclose(stored(memory, record_id), in_context(rest, position), atol=1e-5)
        assert memory.index.stored([ids[2]]) == {}


def test_weight_zero_keeps_each_message_own_embedding_and_reopening_rebuilds(store_path: Path) -> None:
    with MemoryCore(store_path, embedder=letters, context_vector_weight=0.0) as memory:
        ids = write(memory, TALK)
        memory.flush()
        for record_id, text in zip(ids, TALK, strict=True):
            assert same_direction(stored(memory, record_id), letters([text])[0])
    with MemoryCore(store_path, embedder=letters, context_vector_weight=0.25) as memory:
        memory.flush()  # another weight: every message is queued again on open
        for position, record_id in enumerate(ids):
            assert np.allclose(stored(memory, record_id), in_context(TALK, position, 0.25), atol=1e-5)


def test_turning_context_vectors_off_restores_own_vectors_and_forget_still_cleans(store_path: Path) -> None:
    with MemoryCore(store_path, embedder=letters) as memory:
        ids = write(memory, TALK)
        memory.flush()
    with MemoryCore(store_path, embedder=letters, context_vector_weight=0.0) as memory:
        memory.flush()
        assert memory.forget(memory_id=ids[2], user_id="maya") == 1
        memory.flush()
        for record_id, text in zip(ids[:2] + ids[3:], TALK[:2] + TALK[3:], strict=True):
            assert same_direction(stored(memory, record_id), letters([text])[0])


def test_a_failed_context_batch_is_queued_again(store_path: Path) -> None:
    with MemoryCore(store_path, embedder=letters) as memory:
        write(memory, TALK)
        memory.flush()
        memory.store.queue_context([r.id for r in memory.export(user_id="maya")])
        waiting = memory.store.context_pending()

        def broken(batch: object) -> bool:
            raise RuntimeError("vector store unreachable")

        with pytest.raises(RuntimeError, match="unreachable"):
            drain_context(memory.store, on_batch=broken)
        assert memory.store.context_pending() == waiting
        assert drain_context(memory.store, on_batch=lambda batch: False) == 0  # "not now": stays queued
        assert memory.store.context_pending() == waiting
        memory.flush()
        assert memory.store.context_pending() == 0


def test_a_bad_context_vector_weight_is_refused() -> None:
    from agent_memory_plugins.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="context_vector_weight"):
        MemoryCore(context_vector_weight=-1)
    with pytest.raises(ConfigurationError, match="question_weight"):
        MemoryCore(question_weight=1.5)
    with pytest.raises(ConfigurationError, match="both be 0"):
        MemoryCore(dense_weight=0, keyword_weight=0)


def test_a_message_that_only_asks_ranks_below_an_equally_matching_answer() -> None:
    scores = {}
    for weight in (1.0, 0.85):
        user = f"maya-{weight}"  # each store to itself (on PostgreSQL both share the test's database)
        with MemoryCore(embedder=letters, dense_weight=0.0, question_weight=weight) as memory:
            memory.add_message("s", "user", "Which sensor did you order for the arm?\n", user_id=user)
            memory.add_message("s", "assistant", "The force sensor for the arm.", user_id=user)
            memory.flush()
            hits = memory.search("sensor for the arm", user_id=user, k=2)
            scores[weight] = {hit.record.text.strip(): hit for hit in hits}
    asks, answer = "Which sensor did you order for the arm?", "The force sensor for the arm."
    assert scores[1.0][asks].score == pytest.approx(scores[1.0][answer].score)  # the words tie
    assert scores[0.85][asks].score == pytest.approx(0.85 * scores[1.0][asks].score)
    assert scores[0.85][asks].explain["question"] == 0.85 and "question" not in scores[0.85][answer].explain


def test_keyword_recall_finds_every_kind_before_and_after_the_worker(store_path: Path) -> None:
    with MemoryCore(store_path, embedder=letters, dense_weight=0.0, background=False) as memory:
        said = memory.add_message("s", "user", "My cello lesson moved to Thursday.", user_id="maya")
        fact = memory.remember("Maya plays the cello.", user_id="maya")

        def found() -> list[str]:
            return sorted(hit.record.id for hit in memory.search("cello", user_id="maya", k=5))

        assert memory.store.context_pending() + memory.store.outbox_size() > 0
        assert found() == sorted([said.id, fact.id])  # at once, before any indexing
        memory.flush()
        assert memory.store.context_pending() == 0 and memory.store.outbox_size() == 0
        assert found() == sorted([said.id, fact.id])  # from the context index alone, once each
        memory.forget(memory_id=fact.id, user_id="maya")
        assert found() == [said.id]


@pytest.mark.sqlite_only  # reads SQLite's own tables or files
def test_a_record_processed_by_another_process_during_a_search_is_still_found(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keyword search reads one state of the store: when another process builds a record's
    context row between its two queries, the record is found once, not lost between them."""
    from agent_memory_plugins.core.storage.sqlite import SQLiteRecordStore

    with MemoryCore(store_path, embedder=letters, dense_weight=0.0, background=False) as memory:
        fact = memory.remember("Maya plays the cello.", user_id="maya")
        said = memory.add_message("s", "user", "The cello lesson is on Thursday.", user_id="maya")
        memory.indexer.index_pending(memory.store.outbox_position())  # indexed (the outbox is empty)
        memory.store.queue_context([fact.id, said.id])  # as just after indexing: queued, no row yet
        with memory.store.transaction() as db:
            db.execute("DELETE FROM context_fts")
        other = SQLiteRecordStore(str(memory.store.path))  # another process's connection
        other.open_context_index(memory.settings.context_turns, memory.indexer.context_layout)
        real = SQLiteRecordStore._all_processed

        def other_process_drains_first(self: SQLiteRecordStore, query: object) -> bool:
            drain_context(other)  # builds both rows and empties the queue, committed at once
            return real(self, query)  # type: ignore[arg-type]

        monkeypatch.setattr(SQLiteRecordStore, "_all_processed", other_process_drains_first)
        found = [hit.record.id for hit in memory.search("cello", user_id="maya", k=5)]
        monkeypatch.undo()
        other.close()
        assert sorted(found) == sorted([fact.id, said.id])


def test_a_long_message_takes_its_neighbours_at_a_share_of_the_weight() -> None:
    from agent_memory_plugins.core.indexes.context_vectors import own_weight

    short, long = "fine thanks", " ".join(["word"] * 120)
    assert own_weight(short, 0.5, 30) == 0.5 == own_weight(long, 0.5, 0)
    assert own_weight(long, 0.5, 30) == 0.5 * 30 / 120
    texts = ["Where did you go hiking?", long, "Ok."]
    with MemoryCore(embedder=letters, context_vector_words=30) as memory:
        memory.add_messages("s", [{"role": "user", "content": t} for t in texts])
        memory.flush()
        ids = [r.id for r in memory.export()]
        assert same_direction(stored(memory, ids[1]), in_context(texts, 1, weight=0.5 * 30 / 120))
        assert same_direction(stored(memory, ids[0]), in_context(texts, 0, weight=0.5))
