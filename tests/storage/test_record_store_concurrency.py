"""The RecordStore contract under concurrency: one instance shared by threads and, for engines with a
shared store, several instances on the same store (as several processes hold it) and a store reopened."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from agent_memory_plugins.core.storage import Filters, RecordStore

from .conftest import Connect
from .engines import Engine, add, chat, drain_context, ids, keyword_ids, record, summary_of

WRITERS = 4
PER_WRITER = 30


def _together(workers: list[Callable[[], Any]]) -> list[Any]:
    """Run each worker in its own thread, all released at once; returns their results in order and
    fails the test with the first exception any of them raised."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = workers[index]()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    assert errors == [], f"workers raised: {errors!r}"
    return results


def _writer(store: RecordStore, name: str) -> Callable[[], list[str]]:
    def write() -> list[str]:
        written = []
        for n in range(PER_WRITER):
            item = record(f"{name}-{n}", f"writer {name} says marmoset {n}", at=n, session=name)
            add(store, item)
            written.append(item.id)
        return written
    return write


def _check_nothing_lost(store: RecordStore, written: list[str]) -> None:
    assert len(set(written)) == WRITERS * PER_WRITER
    assert store.count() == len(written) and set(store.get(written, "alice")) == set(written)
    upserts = [item.record_id for item in store.claim_outbox(10_000)]
    assert sorted(upserts) == sorted(written)  # exactly one upsert each
    found = store.keyword_candidates(["marmoset"], Filters("alice"), 10_000)
    assert {record_id for record_id, _ in found} == set(written)
    for session in {record_id.rsplit("-", 1)[0] for record_id in written}:
        assert ids(store.session_tail("alice", session, None)) == [f"{session}-{n}" for n in range(PER_WRITER)]


def test_threads_sharing_one_instance_lose_no_record(store: RecordStore) -> None:
    results = _together([_writer(store, f"w{index}") for index in range(WRITERS)])
    _check_nothing_lost(store, [record_id for written in results for record_id in written])


def test_two_connections_written_by_several_threads_lose_no_record(store: RecordStore, connect: Connect) -> None:
    other = connect()
    stores = [store, other] * (WRITERS // 2)
    results = _together([_writer(target, f"w{index}") for index, target in enumerate(stores)])
    written = [record_id for batch in results for record_id in batch]
    _check_nothing_lost(store, written)
    assert other.count() == len(written) and set(other.get(written, None)) == set(written)


def test_readers_see_whole_batches_while_writers_write(store: RecordStore) -> None:
    """A batch is committed whole: a concurrent reader sees all of it or none of it."""
    batches, size = 30, 20
    written = threading.Event()

    def write() -> None:
        for n in range(batches):
            add(store, *(record(f"b{n}-{k}", "capybara batch", at=n, session=f"b{n}") for k in range(size)))
        written.set()

    def read() -> set[int]:
        seen: set[int] = set()
        while not written.is_set():
            per_session: dict[str, int] = {}
            for record_id, _ in store.keyword_candidates(["capybara"], Filters("alice"), 10_000):
                session = record_id.split("-")[0]
                per_session[session] = per_session.get(session, 0) + 1
            seen.update(per_session.values())
        return seen

    _, seen = _together([write, read])
    assert seen <= {size} and store.count() == batches * size


def _fold(store: RecordStore, old_id: str | None, summary_id: str, session: str, covered: list[str],
          covers: list[str]) -> Callable[[], bool]:
    summary = record(summary_id, "summary", at=5, session=session, kind="summary", role="system", covers=tuple(covers))
    return lambda: store.replace_summary(old_id, (summary, 2), covered)


def _race_summaries(stores: list[RecordStore], rounds: int = 8) -> None:
    """Two folds of the same session from the same read race: exactly one swap wins each round."""
    first = stores[0]
    for round_ in range(rounds):
        session = f"r{round_}"
        m = chat(first, session, ["one", "two", "three"])
        names = [f"{session}-a", f"{session}-b"]
        workers = [_fold(target, None, name, session, m[:1], m[:1]) for name, target in zip(names, stores, strict=True)]
        results = _together(workers)
        assert sorted(results) == [False, True]
        winner = names[results.index(True)]
        current = first.summary("alice", session)
        assert current is not None and current.record.id == winner
        assert first.count_by_kind("alice")["summary"] == round_ + 1
        assert ids(first.unsummarized("alice", session)) == m[1:]
        loser = stores[results.index(False)]  # folds again from fresh data, and succeeds
        assert _fold(loser, winner, f"{session}-c", session, m[1:2], m[:2])() is True


def test_concurrent_summary_swaps_in_one_instance_let_exactly_one_win(store: RecordStore) -> None:
    _race_summaries([store, store])


def test_concurrent_summary_swaps_from_two_connections_let_exactly_one_win(
    store: RecordStore, connect: Connect
) -> None:
    _race_summaries([store, connect()])


def test_concurrent_first_secrets_agree(store: RecordStore, connect: Connect) -> None:
    stores = [store, connect(), connect(), store]
    values = _together([lambda target=target: target.secret("vector_key") for target in stores])
    assert len(set(values)) == 1 and values[0]


def test_a_record_queued_again_by_another_connection_stays_queued(store: RecordStore, connect: Connect) -> None:
    m = chat(store, "solo", ["alone"])
    drain_context(store)
    store.queue_context(m)
    batch = store.claim_context(10)
    assert batch is not None
    other = connect()
    other.queue_context(m)
    store.finish_context(batch)
    assert store.context_pending() == other.context_pending() == 1


@pytest.mark.parametrize("connections", [1, 2])
def test_concurrent_claimers_deliver_every_outbox_item(
    store: RecordStore, opener: Connect, engine: Engine, connections: int
) -> None:
    """Two claimers that acknowledge what they applied leave nothing behind (at least once)."""
    if connections == 2 and not engine.shared:
        pytest.skip(f"{engine.name} lives in one connection")
    targets = [store, opener() if connections == 2 else store]
    add(store, *(record(f"m{n}", at=n) for n in range(100)))

    def claimer(target: RecordStore) -> Callable[[], set[str]]:
        def drain() -> set[str]:
            applied: set[str] = set()
            while items := target.claim_outbox(7):
                applied.update(item.record_id for item in items)
                target.ack_outbox([item.seq for item in items])
            return applied
        return drain

    applied = _together([claimer(target) for target in targets])
    assert set().union(*applied) == {f"m{n}" for n in range(100)}
    assert store.outbox_size() == 0 and store.outbox_position() == 0


# -- several connections and reopening --------------------------------------------------------------

def test_another_connection_sees_every_committed_write(store: RecordStore, connect: Connect) -> None:
    m = chat(store, "s1", ["the quokka smiles", "two", "three"])
    store.set_meta("colour", "teal")
    key = store.secret("vector_key")
    assert store.replace_summary(None, summary_of("sum1", m[:1]), m[:1])
    store.forget([m[2]], [])
    store.begin_reindex("model", "scheme")
    other = connect()
    assert set(other.get(m, "alice")) == set(m[:2]) and keyword_ids(other, ["quokka"]) == [m[0]]
    assert other.meta("colour") == "teal" and other.secret("vector_key") == key
    assert other.secret("new key") == store.secret("new key")
    assert ids(other.unsummarized("alice", "s1")) == [m[1]] and other.purge_pending() and other.reset_pending()
    assert other.outbox_size() == store.outbox_size() == 4


def test_unacknowledged_items_survive_for_another_connection_and_a_reopen(store: RecordStore, connect: Connect) -> None:
    add(store, record("m1", at=1), record("m2", at=2))
    claimed = store.claim_outbox(10)
    other = connect()
    assert other.claim_outbox(10) == claimed
    other.ack_outbox([claimed[0].seq])
    assert store.claim_outbox(10) == claimed[1:]
    store.close()
    reopened = connect()
    assert reopened.claim_outbox(10) == claimed[1:] and reopened.count() == 2


def test_a_reopened_store_keeps_its_context_queue_and_marks(store: RecordStore, connect: Connect) -> None:
    m = chat(store, "s1", ["one", "two", "three"])
    drain_context(store)
    store.queue_context([m[0]])
    store.forget([m[2]], [])
    store.close()
    reopened = connect()
    assert reopened.context_pending() == 2 and reopened.purge_pending() is True
    reopened.compact()
    assert reopened.purge_pending() is False
