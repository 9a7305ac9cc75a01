"""The RecordStore contract (core/storage/interface.py), checked against every engine in ``engines.ENGINES``.

Only the Protocol's methods are used, so a new engine passes or fails the same tests. Threads,
several connections on one store and reopening are in ``test_record_store_concurrency.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent_memory_plugins.core.storage import Filters, RecordStore
from agent_memory_plugins.core.storage.interface import (
    EMBEDDER,
    VECTOR_SCHEME,
    ContextBatch,
    ExtractionState,
    lent_words,
)
from agent_memory_plugins.core.validation import from_epoch
from agent_memory_plugins.errors import StoreClosedError

from .engines import (
    BASE,
    LAYOUT,
    TURNS,
    Engine,
    add,
    block,
    chat,
    drain_context,
    drain_outbox,
    fact,
    future,
    ids,
    keyword_ids,
    outbox,
    past,
    record,
    summary_of,
)

# -- writing and reading records -----------------------------------------------------------------

def test_engine_implements_the_protocol(store: RecordStore, engine: Engine) -> None:
    assert isinstance(store, RecordStore)
    assert store.schema_version() == engine.schema_version


def test_records_round_trip_every_field(store: RecordStore) -> None:
    meta = {"speaker": "Ana", "nested": {"list": [1, 2.5, None, True], "ü": "🙂 名前"}, "n": 0, "empty": {}}
    written = [
        record("m1", "Ünïcode text 🙂 with \"quotes\" and 'apostrophes'", at=0.25, metadata=meta,
               agent_id="helper", importance=0.9),
        fact("f1", "the user lives in Lisbon", at=1.5, key="city", times_seen=3, last_seen=from_epoch(BASE + 2),
             expires_at=future(), superseded_by="f0"),
        record("sum", "summary", at=2, kind="summary", role="system", covers=("m1",)),
    ]
    store.add_records([(written[0], 11), (written[1], 7), (written[2], 1)])
    wanted = [item.id for item in written]
    for found in (store.get(wanted, "alice"), store.get(wanted, None)):
        assert {key: row.record for key, row in found.items()} == {item.id: item for item in written}
        assert [found[key].tokens for key in ("m1", "f1", "sum")] == [11, 7, 1]
        assert not any(row.summarized for row in found.values())
    assert store.get(["m1"], None)["m1"].record.metadata == meta


def test_a_batch_with_a_duplicate_id_raises_and_stores_none_of_it(store: RecordStore) -> None:
    add(store, record("m1", "first"))
    with pytest.raises(Exception):  # noqa: B017 - each engine raises its own integrity error
        add(store, record("m2", "kangaroo"), record("m1", "again"))
    with pytest.raises(Exception):  # noqa: B017
        add(store, record("m3", "kangaroo"), record("m3", "kangaroo"))
    assert store.existing(["m1", "m2", "m3"]) == {"m1"}
    assert store.get(["m1"], None)["m1"].record.text == "first"
    assert store.count() == 1 and outbox(store) == [("m1", "upsert")]
    assert keyword_ids(store, ["kangaroo"]) == [] and keyword_ids(store, ["kangaroo"], weight=0.5) == []


def test_records_are_ordered_by_timestamp_then_write_order(store: RecordStore) -> None:
    add(store, record("late", at=10), record("tie-1", at=5), record("early", at=1))
    add(store, record("tie-2", at=5))
    add(store, record("tie-3", at=5), record("fact", at=3, kind="fact", session="s1"))
    order = ["early", "fact", "tie-1", "tie-2", "tie-3", "late"]
    assert ids(store.select(Filters("alice"))) == order
    assert ids(store.select(Filters("alice"), newest_first=True)) == order[::-1]
    assert ids(store.select(Filters("alice"), newest_first=True, limit=2)) == ["late", "tie-3"]


def test_select_pages_through_the_time_order_with_an_offset(store: RecordStore) -> None:
    add(store, record("late", at=10), record("tie-1", at=5), record("early", at=1))
    add(store, record("tie-2", at=5), record("other", at=2, user="bob"))
    order = ["early", "tie-1", "tie-2", "late"]
    pages = [ids(store.select(Filters("alice"), limit=2, offset=start)) for start in (0, 2, 4)]
    assert pages == [order[:2], order[2:], []]
    assert ids(store.select(Filters("alice"), newest_first=True, limit=3, offset=1)) == order[::-1][1:4]
    assert ids(store.select(Filters("alice"), offset=3)) == ["late"]  # no limit: the rest
    assert ids(store.select(Filters("alice", kinds=("fact",)), limit=5, offset=0)) == []
    messages = [i for i in order if i != "fact"]
    assert ids(store.session_tail("alice", "s1", None)) == messages
    assert ids(store.session_tail("alice", "s1", 3)) == messages[-3:]
    assert ids(store.unsummarized("alice", "s1")) == messages


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_added_records_are_keyword_findable_at_once(store: RecordStore, weight: float) -> None:
    add(store, record("m1", "my zebra sleeps"), record("m2", "zebra zebra zebra everywhere zebra"))
    add(store, fact("f1", "a giraffe fact"), record("m3", "nothing here"))
    found = store.keyword_candidates(["zebra", "giraffe"], Filters("alice"), 10, weight)
    assert {record_id for record_id, _ in found} == {"m1", "m2", "f1"}
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True)
    assert len(store.keyword_candidates(["zebra", "giraffe"], Filters("alice"), 2, weight)) == 2
    assert store.keyword_candidates(["unicorn"], Filters("alice"), 10, weight) == []


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_other_users_words_do_not_reorder_a_users_keyword_hits(store: RecordStore, weight: float) -> None:
    # among alice's records "giraffe" is the rare word, so the record holding it ranks first; bob
    # saying "giraffe" forty times must not make it common for her (nor tell her so by her ranking)
    add(store, *[record(f"z{n}", f"zebra {word}", session=f"s{n}") for n, word in enumerate(["one", "two", "six"])],
        record("g", "giraffe four", session="s9"))
    drain_outbox(store)
    drain_context(store)
    assert keyword_ids(store, ["zebra", "giraffe"], weight=weight)[0] == "g"
    add(store, *[record(f"b{n}", "giraffe here", user="bob", session=f"b{n}") for n in range(40)])
    drain_outbox(store)
    drain_context(store)
    assert keyword_ids(store, ["zebra", "giraffe"], weight=weight)[0] == "g"
    assert len(keyword_ids(store, ["giraffe"], user="bob", weight=weight)) == 40


def test_each_added_record_queues_one_upsert_in_write_order(store: RecordStore) -> None:
    add(store, record("b", at=2), record("a", at=1))
    add(store, fact("f"))
    assert outbox(store) == [("b", "upsert"), ("a", "upsert"), ("f", "upsert")]
    assert store.outbox_size() == 3


# -- scoped reads --------------------------------------------------------------------------------

def _scoping_data(store: RecordStore) -> None:
    """Every record says "apple", so each read can be compared with keyword search."""
    add(
        store,
        record("a-s1", "apple pie", at=1, metadata={"topic": "food", "year": 2021}),
        record("a-s2", "apple tree", at=2, session="s2", metadata={"topic": "garden", "year": 2023}),
        record("a-agent", "apple juice", at=3, agent_id="helper", metadata={"topic": "food", "year": 2024}),
        fact("a-fact", "apple allergy", at=4, metadata={"topic": "health", "year": 2022}),
        record("a-expired", "apple core", at=5, expires_at=past(), metadata={"topic": "food", "year": 2020}),
        record("b-s1", "apple phone", at=6, user="bob", metadata={"topic": "food", "year": 2023}),
    )


SCOPES: list[tuple[Filters, set[str]]] = [
    (Filters("alice"), {"a-s1", "a-s2", "a-agent", "a-fact"}),
    (Filters("bob"), {"b-s1"}),
    (Filters("carol"), set()),
    (Filters("alice", session_id="s1"), {"a-s1", "a-agent"}),
    (Filters("alice", kinds=("fact",)), {"a-fact"}),
    (Filters("alice", kinds=("fact", "message"), session_id="s2"), {"a-s2"}),
    (Filters("alice", agent_id="helper"), {"a-agent"}),
    (Filters("alice", where={"topic": "food"}), {"a-s1", "a-agent"}),
    (Filters("alice", where={"topic": {"$eq": "garden"}}), {"a-s2"}),
    (Filters("alice", where={"year": {"$gte": 2023}}), {"a-s2", "a-agent"}),
    (Filters("alice", where={"topic": {"$in": ["health", "garden"]}}), {"a-s2", "a-fact"}),
    (Filters("alice", where={"$or": [{"year": 2021}, {"topic": "health"}]}), {"a-s1", "a-fact"}),
    (Filters("alice", include_expired=True), {"a-s1", "a-s2", "a-agent", "a-fact", "a-expired"}),
    (Filters("alice", include_expired=True, where={"year": {"$gte": 2020}}, session_id="s1", kinds=("message",)),
     {"a-s1", "a-agent", "a-expired"}),
]


ODD_KEYS = ['say "hi"', "back\\slash", "ends\\", 'both\\"', "a.b", "[0]", "$x", "'", "名前 🙂",
            "tab\tnew\nline", "\x01\x7f"]
"""Metadata keys a JSON path would have to quote or escape."""


@pytest.mark.parametrize("key", ODD_KEYS)
def test_where_finds_metadata_keys_with_quotes_backslashes_and_dots(store: RecordStore, key: str) -> None:
    add(store, record("yes", metadata={key: "v", "other": 1}), record("no", metadata={key: "w"}),
        record("none", metadata={"plain": "v"}), record("nested", metadata={"outer": {key: "v"}}))
    assert ids(store.select(Filters("alice", where={key: "v"}))) == ["yes"]
    assert set(store.ids_matching(Filters("alice", where={key: {"$in": ["v", "w"]}}), 10)) == {"yes", "no"}
    assert ids(store.select(Filters("alice", where={key: {"$ne": "v"}}))) == ["no"]


@pytest.mark.parametrize(("filters", "expected"), SCOPES)
def test_every_filtered_read_keeps_to_its_scope(store: RecordStore, filters: Filters, expected: set[str]) -> None:
    _scoping_data(store)
    every = ["a-s1", "a-s2", "a-agent", "a-fact", "a-expired", "b-s1", "missing"]
    assert set(ids(store.select(filters))) == expected
    assert set(store.ids_matching(filters, 100)) == expected
    assert set(store.get_matching(every, filters)) == expected
    assert set(store.scoring_fields(every, filters)) == expected
    for weight in (0.0, 0.5):
        assert {record_id for record_id, _ in store.keyword_candidates(["apple"], filters, 100, weight)} == expected
    if expected:
        assert len(store.ids_matching(filters, 1)) == 1


def test_get_by_user_hides_other_users_and_expired_records(store: RecordStore) -> None:
    _scoping_data(store)
    wanted = ["a-s1", "a-expired", "b-s1", "missing"]
    assert set(store.get(wanted, "alice")) == {"a-s1"}
    assert set(store.get(wanted, "bob")) == {"b-s1"}
    assert set(store.get(wanted, None)) == {"a-s1", "a-expired", "b-s1"}
    assert store.existing(wanted) == {"a-s1", "a-expired", "b-s1"}


def test_counts_sessions_and_users_are_per_user(store: RecordStore) -> None:
    add(store, record("a1", at=1), record("a2", at=50, session="s2"), record("a3", at=3, session="s3"),
        fact("af", at=100), record("b1", at=7, user="bob"), record("b2", at=8, user="bob", kind="summary"))
    assert store.count() == 6 and store.count("alice") == 4 and store.count("bob") == 2 and store.count("carol") == 0
    assert store.count_by_kind("alice") == {"message": 3, "fact": 1}
    assert store.count_by_kind(None) == {"message": 4, "fact": 1, "summary": 1}
    assert store.sessions("alice") == ["s2", "s3", "s1"] and store.sessions("bob") == ["s1"]
    assert store.session_count() == 4 and store.users() == ["alice", "bob"]
    assert sorted(store.ids_of("alice", None)) == ["a1", "a2", "a3", "af"]
    assert sorted(store.ids_of("bob", "s1")) == ["b1", "b2"] and store.ids_of(None, None) == []
    assert store.newest_timestamp("alice") == BASE + 100 and store.newest_timestamp("carol") is None
    activity = {(a.user_id, a.session_id, a.kind): (a.count, a.summarized, a.first_ts, a.last_ts)
                for a in store.activity()}
    assert activity[("alice", None, "fact")] == (1, 0, BASE + 100, BASE + 100)
    assert activity[("bob", "s1", "message")] == (1, 0, BASE + 7, BASE + 7) and len(activity) == 6
    for user in ("alice", "bob", "carol"):
        assert sorted(store.activity(user), key=repr) == sorted(
            (a for a in store.activity() if a.user_id == user), key=repr)
    assert {a.session_id for a in store.activity("alice")} == {"s1", "s2", "s3", None}


def test_scoring_fields_give_importance_time_and_whether_a_record_asks(store: RecordStore) -> None:
    add(store, record("q", "Where do you live?  \n", at=1, importance=0.8), record("s", "I live? No. Here.", at=2),
        record("q2", "ok ?", at=3, importance=0.1))
    assert store.scoring_fields(["q", "s", "q2"], Filters("alice")) == {
        "q": (0.8, BASE + 1, True), "s": (0.5, BASE + 2, False), "q2": (0.1, BASE + 3, True)}


# -- summaries: compare-and-swap -------------------------------------------------------------------

def test_the_first_summary_folds_its_messages(store: RecordStore) -> None:
    m = chat(store, "s1", ["one", "two", "three", "four"])
    assert sorted(store.sessions_to_fold(4)) == [("alice", "s1")] and store.sessions_to_fold(5) == []
    assert store.replace_summary(None, summary_of("sum1", m[:2]), m[:2]) is True
    assert ids(store.unsummarized("alice", "s1")) == m[2:]
    assert [row.summarized for row in store.session_tail("alice", "s1", None)] == [True, True, False, False]
    assert store.sessions_to_fold(3) == [] and store.sessions_to_fold(2) == [("alice", "s1")]
    current = store.summary("alice", "s1")
    assert current is not None and current.record.id == "sum1" and current.record.covers == tuple(m[:2])
    assert ids(store.summaries_covering([m[1], "other"])) == ["sum1"] and store.summaries_covering([m[3]]) == []
    assert store.summary("alice", "s2") is None and store.summary("bob", "s1") is None


def test_a_swap_from_a_stale_summary_writes_nothing(store: RecordStore) -> None:
    m = chat(store, "s1", ["one", "two", "three", "four"])
    assert store.replace_summary(None, summary_of("sum1", m[:1]), m[:1])
    drain_outbox(store)
    assert store.replace_summary(None, summary_of("stale", m[:2]), m[1:2]) is False
    assert store.replace_summary("nope", summary_of("stale", m[:2]), m[1:2]) is False
    assert store.existing(["stale", "sum1"]) == {"sum1"} and store.outbox_size() == 0
    assert ids(store.unsummarized("alice", "s1")) == m[1:]
    assert store.replace_summary("sum1", summary_of("sum2", m[:3], at=11), m[1:3]) is True
    current = store.summary("alice", "s1")
    assert current is not None and current.record.id == "sum2" and store.existing(["sum1"]) == set()
    assert store.count_by_kind("alice") == {"message": 4, "summary": 1}
    assert ids(store.unsummarized("alice", "s1")) == m[3:]
    assert sorted(outbox(store)) == [("sum1", "delete"), ("sum2", "upsert")]  # the old one leaves the vectors


def test_a_swap_covering_a_folded_or_removed_message_fails(store: RecordStore) -> None:
    m = chat(store, "s1", ["one", "two", "three", "four"])
    store.mark_summarized([m[0]])
    assert ids(store.unsummarized("alice", "s1")) == m[1:]
    assert store.replace_summary(None, summary_of("sum1", m[:2]), m[:2]) is False
    store.forget([m[2]], [])
    assert store.replace_summary(None, summary_of("sum1", m[1:3]), m[1:3]) is False
    assert store.summary("alice", "s1") is None and ids(store.unsummarized("alice", "s1")) == [m[1], m[3]]
    assert store.replace_summary(None, summary_of("sum1", [m[1]]), [m[1]]) is True


# -- forget ----------------------------------------------------------------------------------------

def test_forget_leaves_nothing_of_the_records(store: RecordStore) -> None:
    add(store, fact("f1", "the ocelot likes rain", key="pet"), fact("f2", "the ocelot likes snow", key="pet"),
        fact("keep", "the ocelot sleeps"))
    store.add_superseding((fact("f3", "ocelot prefers sun", at=5, key="pet"), 3), ["f2"])
    store.add_link("alice", "f1", "keep", "related", 0.9, BASE)
    store.add_link("alice", "keep", "f3", "related", 0.4, BASE)
    store.record_repeat("f1", BASE + 9, "the ocelot likes rain!", 0.6)
    drain_outbox(store)
    drain_context(store)  # context rows built: both keyword indexes hold the records
    assert sorted(keyword_ids(store, ["ocelot"], weight=0.5)) == ["f1", "f2", "f3", "keep"]
    assert store.purge_pending() is False
    assert sorted(store.forget(["f1", "f3", "ghost", "f1"], [])) == ["f1", "f3"]
    assert store.existing(["f1", "f3", "f2", "keep"]) == {"f2", "keep"}
    for weight in (0.0, 0.5):
        assert sorted(keyword_ids(store, ["ocelot", "rain", "sun"], weight=weight)) == ["f2", "keep"]
    assert store.links(["f1", "f3", "keep"], "alice") == []
    assert store.history("f1") == [] and store.history("f3") == [] and store.history("f2") == []
    assert store.get(["f2"], "alice")["f2"].record.superseded_by is None  # no id of a forgotten record survives
    assert sorted(outbox(store)) == [("f1", "delete"), ("f3", "delete")]
    assert store.purge_pending() is True
    store.compact()
    assert store.purge_pending() is False and store.count() == 2


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_a_forgotten_record_no_longer_weighs_in_keyword_scores(store: RecordStore, weight: float) -> None:
    """Keyword entries left behind by a forget are invisible in the ids found but would still count
    in the term statistics: the scores must be those of the store before the record was added."""
    add(store, fact("keep", "the ocelot sleeps all day"), fact("other", "a lynx hunts"),
        *(fact(f"filler-{n}", f"filler words number {n}") for n in range(10)))

    def scores() -> list[tuple[str, float]]:
        drain_outbox(store)
        drain_context(store)
        return store.keyword_candidates(["ocelot", "hunts"], Filters("alice"), 10, weight)

    before = scores()
    add(store, fact("gone", "ocelot ocelot ocelot hunts"))
    assert scores()[0][0] == "gone"
    store.forget(["gone"], [])
    after = scores()
    assert [record_id for record_id, _ in after] == [record_id for record_id, _ in before] == ["other", "keep"]
    assert [score for _, score in after] == pytest.approx([score for _, score in before], rel=1e-9)


def test_forget_returns_only_the_ids_that_existed(store: RecordStore) -> None:
    add(store, record("m1"), record("m2", at=1), record("b1", user="bob"))
    assert sorted(store.forget(["m2", "ghost", "b1", "m2"], [])) == ["b1", "m2"]
    assert store.forget(["ghost"], []) == [] and store.forget(["m2"], []) == []
    deletes = outbox(store, op="delete")
    assert sorted(deletes) == [("b1", "delete"), ("m2", "delete")]


def test_forget_drops_queued_upserts_and_keeps_the_others(store: RecordStore) -> None:
    add(store, record("m1", at=1), record("m2", at=2))
    store.update_metadata("m1", {"x": 1})
    store.forget(["m1"], [])
    assert outbox(store) == [("m2", "upsert"), ("m1", "delete")]
    assert store.outbox_size() == 2


def test_forget_unfolds_the_messages_of_a_removed_summary(store: RecordStore) -> None:
    m = chat(store, "s1", ["one", "two", "three"])
    assert store.replace_summary(None, summary_of("sum1", m[:2]), m[:2])
    assert store.forget(["sum1"], m[:2]) == ["sum1"]
    assert store.summary("alice", "s1") is None and store.summaries_covering(m) == []
    assert ids(store.unsummarized("alice", "s1")) == m
    assert store.replace_summary(None, summary_of("sum2", m[:1]), m[:1]) is True


def test_a_forgotten_message_leaves_its_neighbours_context(store: RecordStore) -> None:
    m = chat(store, "s1", ["alpha opens", "beta talks", "the zebrasecret is kept", "gamma replies", "delta ends"])
    drain_outbox(store)
    store.queue_context(m)
    drain_context(store)
    assert sorted(keyword_ids(store, ["zebrasecret"], weight=0.5)) == sorted(m)  # itself, and its neighbours by context
    assert keyword_ids(store, ["zebrasecret"]) == [m[2]]
    assert store.context_pending() == 0
    store.forget([m[2]], [])
    for weight in (0.0, 0.5):
        assert keyword_ids(store, ["zebrasecret"], weight=weight) == []
    assert store.context_pending() == 4  # the neighbours that quoted it are rebuilt
    rebuilt = []
    while (batch := store.claim_context(2)) is not None:
        rebuilt += batch.neighbourhoods
        store.finish_context(batch)
    assert sorted(n.record_id for n in rebuilt) == sorted(m[:2] + m[3:])
    for neighbourhood in rebuilt + store.neighbourhoods(m):
        assert not any("zebrasecret" in text for text in (neighbourhood.text, *neighbourhood.before,
                                                          *neighbourhood.after))
    by_id = {n.record_id: n for n in store.neighbourhoods(m)}
    assert m[2] not in by_id and by_id[m[1]].after == ["gamma replies", "delta ends"]
    for weight in (0.0, 0.5):
        assert keyword_ids(store, ["zebrasecret"], weight=weight) == []


# -- the outbox ------------------------------------------------------------------------------------

def test_claim_outbox_gives_the_oldest_first_within_limit_upto_and_op(store: RecordStore) -> None:
    add(store, record("m1", at=1), record("m2", at=2), record("m3", at=3))
    store.forget(["m2"], [])
    add(store, record("m4", at=4))
    items = store.claim_outbox(10)
    assert [(i.record_id, i.op) for i in items] == [("m1", "upsert"), ("m3", "upsert"), ("m2", "delete"),
                                                     ("m4", "upsert")]
    seqs = [i.seq for i in items]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert store.outbox_position() == seqs[-1] and store.outbox_size() == 4
    assert store.claim_outbox(2) == items[:2]
    assert store.claim_outbox(10, upto=seqs[2]) == items[:3]
    assert store.claim_outbox(10, op="delete") == [items[2]]
    assert store.claim_outbox(10, upto=seqs[1], op="upsert") == items[:2]


def test_unacknowledged_items_are_claimed_again_and_ack_drops_exactly_those(store: RecordStore) -> None:
    add(store, record("m1", at=1), record("m2", at=2), record("m3", at=3))
    first = store.claim_outbox(2)
    assert store.claim_outbox(2) == first  # claimed, not acknowledged: still pending
    store.ack_outbox([first[0].seq])
    rest = store.claim_outbox(10)
    assert [i.record_id for i in rest] == ["m2", "m3"] and rest[0] == first[1]
    assert store.outbox_size() == 2 and store.outbox_position() == rest[-1].seq
    store.ack_outbox([i.seq for i in rest] + [first[0].seq])  # acknowledging twice is harmless
    assert store.claim_outbox(10) == [] and store.outbox_size() == 0 and store.outbox_position() == 0
    add(store, record("m4", at=4))
    assert store.outbox_position() == store.claim_outbox(10)[0].seq


def test_begin_reindex_queues_every_record_once_and_marks_a_reset(store: RecordStore) -> None:
    add(store, record("m1", at=1), record("m2", at=2), fact("f1"), record("b1", user="bob"))
    store.ack_outbox([store.claim_outbox(1)[0].seq])
    assert store.reset_pending() is False
    assert store.begin_reindex("model-b", "scheme-2") == 4
    assert sorted(outbox(store, op="upsert")) == [("b1", "upsert"), ("f1", "upsert"), ("m1", "upsert"),
                                                   ("m2", "upsert")]
    assert store.meta(EMBEDDER) == "model-b" and store.meta(VECTOR_SCHEME) == "scheme-2"
    assert store.reset_pending() is True
    store.vectors_reset()
    assert store.reset_pending() is False and store.outbox_size() == 4


# -- the neighbour-context queue -------------------------------------------------------------------

def test_queue_context_queues_a_message_and_its_neighbours_in_its_session(store: RecordStore) -> None:
    m = chat(store, "s1", [f"line {n}" for n in range(7)])
    chat(store, "s2", ["elsewhere", "far away"])  # other sessions and users are no neighbours
    chat(store, "s1", ["bob line"], user="bob", prefix="b")
    add(store, fact("f1"))
    drain_context(store)
    store.queue_context([m[3]])
    assert store.context_pending() == 2 * TURNS + 1
    batch = store.claim_context(100)
    assert batch is not None and batch.size == 5
    assert sorted(n.record_id for n in batch.neighbourhoods) == sorted(m[1:6])
    store.finish_context(batch)
    store.queue_context([m[0], "ghost"])
    assert store.context_pending() == 1 + TURNS
    drain_context(store)
    store.queue_context(["f1"])  # not a message: no neighbours, no neighbourhood
    batch = store.claim_context(100)
    assert batch is not None and batch.size == 1 and batch.neighbourhoods == []
    store.finish_context(batch)
    assert store.claim_context(100) is None


def test_claim_context_takes_the_newest_with_their_neighbourhoods(store: RecordStore) -> None:
    m = chat(store, "s1", ["zero", "one", "two", "three", "four", "five"])
    drain_context(store)
    store.queue_context([m[3]])  # queues m1 .. m5
    batch = store.claim_context(2)
    assert batch is not None and batch.size == 2
    assert {n.record_id: (n.text, n.before, n.after) for n in batch.neighbourhoods} == {
        m[5]: ("five", ["three", "four"], []),
        m[4]: ("four", ["two", "three"], ["five"]),
    }
    assert store.context_pending() == 5  # claimed records stay queued until finished
    store.finish_context(batch)
    assert store.context_pending() == 3
    batch = store.claim_context(1)
    assert batch is not None and [n.record_id for n in batch.neighbourhoods] == [m[3]]
    assert (batch.neighbourhoods[0].before, batch.neighbourhoods[0].after) == (["one", "two"], ["four", "five"])
    assert [(n.before, n.after) for n in store.neighbourhoods([m[0], "ghost"])] == [([], ["one", "two"])]


def test_a_record_queued_again_after_its_claim_stays_queued(store: RecordStore) -> None:
    m = chat(store, "solo", ["alone"])
    drain_context(store)
    store.queue_context(m)
    batch = store.claim_context(10)
    assert batch is not None
    store.queue_context(m)
    store.finish_context(batch)
    assert store.context_pending() == 1
    again = store.claim_context(10)
    assert again is not None
    store.finish_context(again)
    assert store.context_pending() == 0 and store.claim_context(10) is None


def test_a_forget_between_claim_and_finish_leaves_the_neighbours_queued(store: RecordStore) -> None:
    m = chat(store, "s1", ["first", "the okapi secret", "third"])
    drain_context(store)
    store.queue_context([m[0], m[2]])
    batch = store.claim_context(10)
    assert batch is not None
    store.forget([m[1]], [])  # the claimed rows quoted it: they are queued again
    store.finish_context(batch)
    rebuilt = store.claim_context(10)
    assert rebuilt is not None and sorted(n.record_id for n in rebuilt.neighbourhoods) == [m[0], m[2]]
    assert all("okapi" not in " ".join(n.before + n.after) for n in rebuilt.neighbourhoods)


def test_context_words_find_a_message_only_with_a_context_weight(store: RecordStore) -> None:
    m = chat(store, "s1", ["What did you research yesterday?", "Adoption agencies.", "Unrelated chatter."])
    drain_outbox(store)
    store.queue_context(m)
    drain_context(store)
    assert keyword_ids(store, ["research"]) == [m[0]]
    found = keyword_ids(store, ["research"], weight=0.5)
    assert found[0] == m[0] and sorted(found) == sorted(m)  # the question first: its own words weigh more
    assert keyword_ids(store, ["research"], user="bob", weight=0.5) == []


def test_neighbour_words_lend_only_the_words_nearest_the_message(store: RecordStore) -> None:
    store.open_context_index(TURNS, LAYOUT + "/n3", neighbour_words=3)
    long_reply = "okapi " + " ".join(f"filler{i}" for i in range(40)) + " near words here"
    m = chat(store, "s1", [long_reply, "Thanks, that helps.", "gazelle comes first then " + "more " * 30])
    drain_outbox(store)
    store.queue_context(m)
    drain_context(store)
    assert m[1] in keyword_ids(store, ["near"], weight=0.5)  # the end of the turn before
    assert m[1] in keyword_ids(store, ["gazelle"], weight=0.5)  # the start of the turn after
    assert m[1] not in keyword_ids(store, ["okapi"], weight=0.5)  # far up the long reply
    assert keyword_ids(store, ["okapi"], weight=0.5)[0] == m[0]  # its own words are whole
    assert lent_words("x", ["a b c d"], ["e f g h"], 2) == "c d e f" and lent_words("x", ["a b"], ["c"], 0) == "a b c"
    assert lent_words("one two three four five six seven", ["a b"], ["c"], 2) == ""  # a long message takes none
    assert m[0] not in keyword_ids(store, ["thanks"], weight=0.5)  # the long reply took no words from its reply


def test_another_context_layout_queues_every_record_again(store: RecordStore) -> None:
    chat(store, "s1", ["one", "two", "three"])
    add(store, fact("f1"))
    drain_context(store)
    store.open_context_index(TURNS, LAYOUT)
    assert store.context_pending() == 0
    store.open_context_index(TURNS, "another layout")
    assert store.context_pending() == 4
    drain_context(store)
    store.open_context_index(TURNS + 1, "another layout")
    assert store.context_pending() == 4


# -- long-term memories ----------------------------------------------------------------------------

def test_record_repeat_counts_dates_and_keeps_the_higher_importance(store: RecordStore) -> None:
    add(store, fact("f1", "likes tea", importance=0.4))
    store.record_repeat("f1", BASE + 500, "loves tea", 0.8)
    store.record_repeat("f1", BASE + 600, "really likes tea", 0.3)
    row = store.get(["f1"], "alice")["f1"].record
    assert (row.times_seen, row.last_seen, row.importance) == (3, from_epoch(BASE + 600), 0.8)
    store.record_repeat("f1", BASE + 550, "tea, please", 0.1)  # told late: history stays oldest first
    assert store.history("f1") == [(BASE + 500, "seen", "loves tea", None), (BASE + 550, "seen", "tea, please", None),
                                   (BASE + 600, "seen", "really likes tea", None)]


def test_superseding_marks_the_old_records_within_the_user(store: RecordStore) -> None:
    add(store, fact("old1", "lives in Rome"), fact("old2", "lives in Oslo"), fact("bobs", "lives in Rome", user="bob"))
    store.add_superseding((fact("new", "lives in Lisbon", at=10), 3), ["old1"])
    found = store.get(["old1", "new"], "alice")
    assert found["old1"].record.superseded_by == "new" and found["new"].record.superseded_by is None
    assert store.history("old1") == [(BASE + 10, "superseded_by", "", "new")]
    assert store.history("new") == [(BASE + 10, "supersedes", "", "old1")]
    assert keyword_ids(store, ["lisbon"]) == ["new"] and ("new", "upsert") in outbox(store)
    store.mark_superseded("new", "alice", ["old2", "bobs", "new"], BASE + 20)
    found = store.get(["old2", "new", "bobs"], None)
    assert found["old2"].record.superseded_by == "new" and found["new"].record.superseded_by is None
    assert found["bobs"].record.superseded_by is None
    assert store.history("old2") == [(BASE + 20, "superseded_by", "", "new")]
    assert (BASE + 20, "supersedes", "", "old2") in store.history("new")
    assert (BASE + 20, "supersedes", "", "new") not in store.history("new")
    assert store.history("bobs") == [] and (BASE + 20, "supersedes", "", "bobs") not in store.history("new")
    store.mark_superseded("new", "alice", ["missing"], BASE + 30)  # nothing marked: no history either
    assert store.history("missing") == [] and len(store.history("new")) == 2


def test_add_superseding_is_atomic(store: RecordStore) -> None:
    add(store, fact("old"), fact("taken"))
    with pytest.raises(Exception):  # noqa: B017 - each engine raises its own integrity error
        store.add_superseding((fact("taken", "duplicate id"), 3), ["old"])
    assert store.get(["old"], "alice")["old"].record.superseded_by is None and store.history("old") == []


def test_active_by_key_gives_the_current_records_newest_first(store: RecordStore) -> None:
    add(store, fact("older", at=1, key="city"), fact("newer", at=3, key="city"), fact("gone", at=4, key="city"),
        fact("expired", at=5, key="city", expires_at=past()), fact("other-key", at=6, key="pet"),
        record("pref", at=7, kind="preference", session=None, key="city"), fact("bobs", at=8, key="city", user="bob"))
    store.mark_superseded("newer", "alice", ["gone"], BASE + 9)
    assert ids(store.active_by_key("alice", "fact", "city")) == ["newer", "older"]
    assert ids(store.active_by_key("alice", "preference", "city")) == ["pref"]
    assert ids(store.active_by_key("bob", "fact", "city")) == ["bobs"] and store.active_by_key("bob", "fact", "x") == []


def test_update_metadata_replaces_it_and_queues_a_refresh(store: RecordStore) -> None:
    add(store, fact("f1", metadata={"a": 1, "b": {"c": 2}}))
    drain_outbox(store)
    store.update_metadata("f1", {"ü": ["🙂", {"deep": None}]})
    assert store.get(["f1"], "alice")["f1"].record.metadata == {"ü": ["🙂", {"deep": None}]}
    assert outbox(store) == [("f1", "upsert")]
    assert store.select(Filters("alice", where={"a": 1})) == []


def test_links_are_replaced_filtered_ordered_and_scoped(store: RecordStore) -> None:
    add(store, fact("a"), fact("b"), fact("c"), fact("d"), fact("x", user="bob"))
    store.add_link("alice", "a", "b", "related", 0.5, BASE)
    store.add_link("alice", "a", "b", "related", 0.9, BASE + 1)  # the same link again: new strength
    store.add_link("alice", "c", "a", "causes", 0.3, BASE)
    store.add_link("alice", "a", "b", "causes", 0.6, BASE)
    store.add_link("alice", "c", "d", "related", 1.0, BASE)
    store.add_link("bob", "x", "a", "related", 0.8, BASE)
    assert store.links(["a"], "alice") == [("a", "b", "related", 0.9), ("a", "b", "causes", 0.6),
                                           ("c", "a", "causes", 0.3)]
    assert store.links(["a"], "alice", "causes") == [("a", "b", "causes", 0.6), ("c", "a", "causes", 0.3)]
    assert store.links(["a"], "alice", min_strength=0.6) == [("a", "b", "related", 0.9), ("a", "b", "causes", 0.6)]
    assert store.links(["a", "d"], "alice", "related") == [("c", "d", "related", 1.0), ("a", "b", "related", 0.9)]
    assert store.links(["a"], "bob") == [("x", "a", "related", 0.8)] and store.links(["a"], "carol") == []


def test_expired_and_cleanup_ids_follow_their_criteria(store: RecordStore) -> None:
    ttl = from_epoch(BASE + 100)
    add(store, fact("f-old-low", at=1, importance=0.1), fact("f-old-high", at=2, importance=0.9),
        fact("f-new-low", at=50, importance=0.2, expires_at=ttl), record("m-old-low", at=3, importance=0.1),
        fact("b-old-low", at=4, importance=0.1, user="bob", expires_at=from_epoch(BASE + 200)))
    assert store.expired_ids(BASE + 99) == []
    assert store.expired_ids(BASE + 150) == ["f-new-low"]
    assert sorted(store.expired_ids(BASE + 250)) == ["b-old-low", "f-new-low"]
    assert store.expired_ids(BASE + 250, "bob") == ["b-old-low"] and store.expired_ids(BASE + 250, "carol") == []
    assert sorted(store.cleanup_ids(None, None, None, ["fact"])) == ["b-old-low", "f-new-low", "f-old-high",
                                                                     "f-old-low"]
    assert sorted(store.cleanup_ids("alice", BASE + 10, None, ["fact"])) == ["f-old-high", "f-old-low"]
    assert sorted(store.cleanup_ids("alice", None, 0.5, ["fact"])) == ["f-new-low", "f-old-low"]
    assert sorted(store.cleanup_ids("alice", BASE + 10, 0.5, ["fact", "message"])) == ["f-old-low", "m-old-low"]
    assert store.cleanup_ids("bob", BASE + 10, 0.5, ["fact"]) == ["b-old-low"]


# -- the store's settings, closing ------------------------------------------------------

def test_meta_and_secrets(store: RecordStore) -> None:
    assert store.meta("colour") is None
    store.set_meta("colour", "teal")
    store.set_meta("colour", "ochre ü")
    assert store.meta("colour") == "ochre ü"
    first = store.secret("vector_key")
    assert first and store.secret("vector_key") == first and store.secret("other") != first


CALLS: dict[str, Callable[[RecordStore], object]] = {
    "claimed_elsewhere": lambda s: s.claimed_elsewhere(0),
    "location": lambda s: s.location(),
    "schema_version": lambda s: s.schema_version(),
    "meta": lambda s: s.meta("k"),
    "set_meta": lambda s: s.set_meta("k", "v"),
    "secret": lambda s: s.secret("k"),
    "add_records": lambda s: add(s, record("new")),
    "replace_summary": lambda s: s.replace_summary(None, summary_of("sum", ["m1"]), ["m1"]),
    "mark_summarized": lambda s: s.mark_summarized(["m1"]),
    "forget": lambda s: s.forget(["m1"], []),
    "compact": lambda s: s.compact(),
    "purge_pending": lambda s: s.purge_pending(),
    "get": lambda s: s.get(["m1"], "alice"),
    "get_matching": lambda s: s.get_matching(["m1"], Filters("alice")),
    "existing": lambda s: s.existing(["m1"]),
    "select": lambda s: s.select(Filters("alice")),
    "ids_matching": lambda s: s.ids_matching(Filters("alice"), 5),
    "ids_of": lambda s: s.ids_of("alice", None),
    "scoring_fields": lambda s: s.scoring_fields(["m1"], Filters("alice")),
    "newest_timestamp": lambda s: s.newest_timestamp("alice"),
    "session_tail": lambda s: s.session_tail("alice", "s1", 5),
    "unsummarized": lambda s: s.unsummarized("alice", "s1"),
    "sessions_to_fold": lambda s: s.sessions_to_fold(1),
    "summary": lambda s: s.summary("alice", "s1"),
    "summaries_covering": lambda s: s.summaries_covering(["m1"]),
    "sessions": lambda s: s.sessions("alice"),
    "session_count": lambda s: s.session_count(),
    "users": lambda s: s.users(),
    "count": lambda s: s.count(),
    "count_by_kind": lambda s: s.count_by_kind(None),
    "activity": lambda s: s.activity(),
    "keyword_candidates": lambda s: s.keyword_candidates(["one"], Filters("alice"), 5, 0.5),
    "record_repeat": lambda s: s.record_repeat("m1", BASE, "again", 0.5),
    "add_superseding": lambda s: s.add_superseding((fact("f9"), 1), ["m1"]),
    "mark_superseded": lambda s: s.mark_superseded("m1", "alice", ["m1"], BASE),
    "active_by_key": lambda s: s.active_by_key("alice", "fact", "k"),
    "history": lambda s: s.history("m1"),
    "update_metadata": lambda s: s.update_metadata("m1", {}),
    "add_link": lambda s: s.add_link("alice", "m1", "m1", "r", 1.0, BASE),
    "links": lambda s: s.links(["m1"], "alice"),
    "expired_ids": lambda s: s.expired_ids(BASE),
    "cleanup_ids": lambda s: s.cleanup_ids(None, None, None, ["fact"]),
    "claim_outbox": lambda s: s.claim_outbox(5),
    "ack_outbox": lambda s: s.ack_outbox([1]),
    "outbox_position": lambda s: s.outbox_position(),
    "outbox_size": lambda s: s.outbox_size(),
    "begin_reindex": lambda s: s.begin_reindex("e", "s"),
    "reset_pending": lambda s: s.reset_pending(),
    "vectors_reset": lambda s: s.vectors_reset(),
    "open_context_index": lambda s: s.open_context_index(TURNS, LAYOUT),
    "queue_context": lambda s: s.queue_context(["m1"]),
    "context_pending": lambda s: s.context_pending(),
    "claim_context": lambda s: s.claim_context(5),
    "finish_context": lambda s: s.finish_context(ContextBatch([], ((1, 0),))),
    "neighbourhoods": lambda s: s.neighbourhoods(["m1"]),
    "put_block": lambda s: s.put_block(block("persona"), 0),
    "get_block": lambda s: s.get_block("alice", None, "persona"),
    "list_blocks": lambda s: s.list_blocks("alice", None),
    "block_history": lambda s: s.block_history("alice", None, "persona"),
    "forget_scope": lambda s: s.forget_scope("alice", None),
    "messages_after": lambda s: s.messages_after("alice", "s1", 0, 5),
    "extraction_state": lambda s: s.extraction_state("alice", "s1"),
    "save_extraction": lambda s: s.save_extraction("alice", "s1", ExtractionState(), ExtractionState(1)),
    "sessions_to_extract": lambda s: s.sessions_to_extract(5),
    "maintain": lambda s: s.maintain(),
}


def test_the_closed_store_calls_cover_the_whole_protocol() -> None:
    methods = {name for name in vars(RecordStore) if not name.startswith("_") and callable(vars(RecordStore)[name])}
    assert set(CALLS) == methods - {"close"}


EMPTY_CALLS: dict[str, Callable[[RecordStore], object]] = {
    "get": lambda s: s.get([], "alice"),
    "get_matching": lambda s: s.get_matching([], Filters("alice")),
    "existing": lambda s: s.existing([]),
    "scoring_fields": lambda s: s.scoring_fields([], Filters("alice")),
    "summaries_covering": lambda s: s.summaries_covering([]),
    "keyword_candidates": lambda s: s.keyword_candidates([], Filters("alice"), 5),
    "links": lambda s: s.links([], "alice"),
    "ids_of": lambda s: s.ids_of(None, None),
}


@pytest.mark.parametrize("name", sorted(EMPTY_CALLS))
def test_calls_with_nothing_to_do_after_close_raise_too(store: RecordStore, name: str) -> None:
    store.close()
    with pytest.raises(StoreClosedError):
        EMPTY_CALLS[name](store)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_call_after_close_raises(store: RecordStore, name: str) -> None:
    add(store, record("m1", "one"))
    store.close()
    store.close()  # closing twice is fine
    with pytest.raises(StoreClosedError):
        CALLS[name](store)
