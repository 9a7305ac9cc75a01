"""Kinds, importance, links, consolidation, expiry and cleanup, against the real stores and model."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent_memory_plugins import (
    ConfigurationError,
    InvalidInputError,
    MemoryCore,
    NotFoundError,
)
from agent_memory_plugins.core.longterm.consolidation import subject_of


def _texts(memory: MemoryCore, query: str, user: str = "default", **kwargs: object) -> list[str]:
    return [hit.record.text for hit in memory.search(query, user_id=user, **kwargs)]  # type: ignore[arg-type]


# -- consolidation ---------------------------------------------------------------------------------
def test_a_fact_stated_twice_is_one_record_seen_twice(memory: MemoryCore) -> None:
    first = memory.remember("I am allergic to peanuts.", user_id="ana")
    again = memory.remember("i am allergic to peanuts", user_id="ana")
    assert again.id == first.id and again.times_seen == 2 and again.last_seen is not None
    assert [r.id for r in memory.records(user_id="ana", kinds="fact")] == [first.id]
    history = memory.history(first.id, user_id="ana")
    assert [(e.event, e.text) for e in history] == [("seen", "i am allergic to peanuts")]


def test_a_paraphrase_by_embedding_similarity_is_a_repeat(memory: MemoryCore) -> None:
    first = memory.remember("I'm allergic to peanuts", user_id="ana")
    memory.flush()
    again = memory.remember("I am allergic to peanuts", user_id="ana")
    assert again.id == first.id and again.times_seen == 2
    other = memory.remember("My sister is allergic to shellfish", user_id="ana")
    assert other.id != first.id and len(memory.records(user_id="ana")) == 2


def test_new_address_supersedes_old_and_ranks_first(memory: MemoryCore) -> None:
    denver = memory.remember("I live in Denver", user_id="ana")
    memory.add_message("s1", "user", "I love hiking in the mountains", user_id="ana")
    austin = memory.remember("I moved to Austin", user_id="ana")
    memory.flush()
    hits = memory.search("where does the user live?", user_id="ana", k=3)
    assert [hit.record.id for hit in hits[:2]] == [austin.id, denver.id]
    assert hits[0].explain["supersedes"] == [denver.id]
    assert hits[1].explain["superseded_by"] == austin.id and hits[1].record.superseded_by == austin.id
    assert [(e.event, e.other_id) for e in memory.history(denver.id, user_id="ana")] == [("superseded_by", austin.id)]
    rendered = memory.context("s1", "where do I live?", user_id="ana").render()
    assert rendered.index("Austin") < rendered.index("Denver")
    assert "I live in Denver (superseded by a newer memory)" in rendered


def test_supersession_and_repeats_survive_a_restart(store_path: Path) -> None:
    with MemoryCore(store_path) as memory:
        old = memory.remember("I work at Acme", user_id="bo")
        memory.remember("I work at Acme", user_id="bo")
        new = memory.remember("I work at Globex now", user_id="bo")
        memory.flush()
    with MemoryCore(store_path) as memory:
        assert memory.get(old.id, user_id="bo").superseded_by == new.id
        assert memory.get(old.id, user_id="bo").times_seen == 2
        assert _texts(memory, "which company does the user work for", "bo", k=2) == [
            "I work at Globex now", "I work at Acme"]


def test_consolidation_is_per_user_and_can_be_switched_off() -> None:
    with MemoryCore() as memory:
        a = memory.remember("I live in Denver", user_id="ana")
        b = memory.remember("I live in Denver", user_id="bo")
        assert a.id != b.id and memory.get(a.id, user_id="ana").times_seen == 1
    with MemoryCore(consolidate=False) as memory:
        memory.remember("I live in Denver")
        memory.remember("I live in Denver")
        assert len(memory.records(kinds="fact")) == 2


def test_subjects_found_in_statements_about_oneself_and_others() -> None:
    assert subject_of("I live in Denver") == subject_of("We moved to Austin last May") == "self:residence"
    assert subject_of("Alice relocated to Berlin") == "alice:residence"
    assert subject_of("My favourite colour is blue") == "self:favorite colour"
    assert subject_of("nice weather today") is None


def test_explicit_subject_supersedes_without_a_pattern(memory: MemoryCore) -> None:
    tea = memory.remember_fact("Mornings start with green tea", subject="morning drink")
    coffee = memory.remember_fact("Mornings start with black coffee", subject="morning drink")
    assert memory.get(tea.id).superseded_by == coffee.id and coffee.key == "morning drink"


# -- kinds --------------------------------------------------------------------------------------------
def test_preferences_by_key_and_by_meaning(memory: MemoryCore) -> None:
    first = memory.set_preference("language", "French", user_id="ana")
    assert memory.set_preference("language", "French", user_id="ana").id == first.id
    second = memory.set_preference("Language", "German", user_id="ana")
    memory.set_preference("units", "metric", user_id="ana")
    assert memory.get_preference("language", user_id="ana") == "German"
    assert memory.get_preference("theme", "dark", user_id="ana") == "dark"
    assert memory.get_preference("language", user_id="bo") is None
    assert memory.preferences(user_id="ana") == {"language": "German", "units": "metric"}
    assert memory.get(first.id, user_id="ana").superseded_by == second.id
    memory.flush()
    hits = memory.search("which language should replies be in", user_id="ana", kinds="preference", k=1)
    assert hits[0].record.id == second.id
    with pytest.raises(InvalidInputError):
        memory.set_preference("language", {"nested": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        memory.set_preference("  ", "x")


def test_skills_by_trigger_and_by_meaning_with_outcome_counts(memory: MemoryCore) -> None:
    deploy = memory.add_skill("deploy", "run make deploy, then watch the dashboard", triggers=["ship it"])
    memory.add_skill("rollback", "git revert the release commit and redeploy", triggers=["roll back"])
    memory.flush()
    by_trigger = memory.find_skills("ok, ship it now", k=1)
    assert by_trigger[0].record.id == deploy.id and by_trigger[0].explain["trigger"] == "ship it"
    by_meaning = memory.find_skills("how do I undo a bad release?", k=1)
    assert by_meaning[0].record.key == "rollback" and "trigger" not in by_meaning[0].explain
    memory.record_skill_outcome(deploy.id, success=True)
    updated = memory.record_skill_outcome(deploy.id, success=False)
    assert (updated.metadata["successes"], updated.metadata["failures"]) == (1, 1)
    memory.flush()
    assert memory.search("deploy", where={"successes": {"$gte": 1}}, kinds="skill")[0].record.id == deploy.id
    with pytest.raises(InvalidInputError):
        memory.record_skill_outcome(memory.remember("a plain fact").id, success=True)
    with pytest.raises(InvalidInputError):
        memory.add_skill("x", "y", triggers="not a list")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        memory.add_skill("x", "y", triggers=None)  # type: ignore[arg-type]


def test_events_carry_when_and_outcome_and_search_filters_by_kind(memory: MemoryCore) -> None:
    when = datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)
    event = memory.remember_event("Interviewed at Globex", when=when, outcome="got an offer")
    memory.remember("Globex is a software company")
    memory.flush()
    assert event.kind == "event" and event.timestamp == when and event.metadata["outcome"] == "got an offer"
    assert [h.record.kind for h in memory.search("Globex", kinds="event")] == ["event"]
    assert {h.record.kind for h in memory.search("Globex", kinds=["fact", "event"])} == {"fact", "event"}


# -- importance -------------------------------------------------------------------------------------
def test_importance_from_caller_or_heuristic_and_shown_in_explain(memory: MemoryCore) -> None:
    small_talk = memory.add_message("s", "user", "ok thanks")
    fact = memory.add_message("s", "user", "Please remember my passport number is X1234567, expiring June 2027")
    given = memory.remember("The project deadline moved", importance=0.95)
    assert fact.importance > small_talk.importance and given.importance == 0.95
    memory.flush()
    hit = memory.search("project deadline", k=1)[0]
    assert hit.explain["importance"] == 0.95


# -- links ----------------------------------------------------------------------------------------------
def test_links_both_ways_and_one_hop_recall(memory: MemoryCore) -> None:
    trip = memory.remember_event("Flew to Lisbon for the conference", user_id="ana")
    hotel = memory.remember("Stayed at the Hotel Avenida Palace", user_id="ana")
    talk = memory.remember("Gave a talk about vector databases", user_id="ana")
    memory.link(trip.id, hotel.id, "stayed_at", 0.9, user_id="ana")
    memory.link(trip.id, talk.id, "part_of", 0.2, user_id="ana")
    assert [(link.record.id, link.direction) for link in memory.related(hotel.id, user_id="ana")] == [(trip.id, "in")]
    assert [link.record.id for link in memory.related(trip.id, user_id="ana", relation="part_of")] == [talk.id]
    memory.flush()
    hits = memory.search("flight to Lisbon", user_id="ana", k=1, follow_links=True)
    assert [h.record.id for h in hits] == [trip.id, hotel.id]  # the weak link is not followed
    assert hits[1].explain["linked_from"] == trip.id and hits[1].explain["relation"] == "stayed_at"
    assert [h.record.id for h in memory.search("flight to Lisbon", user_id="ana", k=1)] == [trip.id]
    memory.forget(memory_id=hotel.id, user_id="ana")
    assert [link.record.id for link in memory.related(trip.id, user_id="ana")] == [talk.id]


def test_links_never_cross_users_and_bad_links_are_refused(memory: MemoryCore) -> None:
    mine = memory.remember("my fact", user_id="ana")
    theirs = memory.remember("their fact", user_id="bo")
    with pytest.raises(NotFoundError):
        memory.link(mine.id, theirs.id, user_id="ana")
    with pytest.raises(InvalidInputError):
        memory.link(mine.id, mine.id, user_id="ana")
    other = memory.remember("another fact of mine", user_id="ana")
    for strength in (1.5, -0.1, float("nan"), True):
        with pytest.raises(InvalidInputError):
            memory.link(mine.id, other.id, strength=strength, user_id="ana")
    with pytest.raises(NotFoundError):
        memory.related(mine.id, user_id="bo")


# -- expiry and cleanup ------------------------------------------------------------------------------
def test_an_expired_record_is_never_returned_and_cleanup_removes_it(
    memory: MemoryCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory._next_sweep = float("inf")  # keep the background sweep out of this test
    note = memory.remember("Parking spot is level 3, row K", ttl="10m")
    kept = memory.remember("Parking at the office is free")
    message = memory.add_message("s", "user", "temporary code 4455", ttl=timedelta(minutes=10))
    memory.flush()
    assert note.expires_at is not None and note.text in _texts(memory, "parking spot level")
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)  # an hour later
    assert _texts(memory, "parking spot level code") == [kept.text]
    assert [r.id for r in memory.export()] == [kept.id]
    assert memory.window("s") == [] and memory.messages("s") == []
    with pytest.raises(NotFoundError):
        memory.get(note.id)
    dry = memory.cleanup()
    assert dry.dry_run and set(dry.ids) == {note.id, message.id} and dry.expired == 2
    assert memory.store.count() == 3  # a dry run removed nothing
    done = memory.cleanup(dry_run=False)
    assert done.count == 2 and done.by_kind == {"fact": 1, "message": 1}
    assert memory.store.count() == 1 and memory.index.count() == 1


def test_cleanup_by_age_importance_and_kind(memory: MemoryCore) -> None:
    old = datetime.now(timezone.utc) - timedelta(days=40)
    memory.add_message("s", "user", "lol", timestamp=old, importance=0.1)
    keep_important = memory.add_message("s", "user", "My blood type is O-", timestamp=old, importance=0.9)
    keep_recent = memory.add_message("s", "user", "haha", importance=0.1)
    keep_fact = memory.remember("old but a fact", timestamp=old, importance=0.1)
    report = memory.cleanup(older_than="30d", min_importance=0.5, kinds=["message"])
    assert report.count == 1 and report.by_kind == {"message": 1}
    assert memory.store.count() == 4
    memory.cleanup(older_than=timedelta(days=30), min_importance=0.5, kinds="message", dry_run=False)
    assert {r.id for r in memory.export()} == {keep_important.id, keep_recent.id, keep_fact.id}
    for bad in ({"older_than": "soon"}, {"older_than": -5}, {"min_importance": 2}, {"kinds": ["nope"]},
                {"dry_run": "no"}):
        with pytest.raises(InvalidInputError):
            memory.cleanup(**bad)  # type: ignore[arg-type]


def test_ttl_per_kind_from_settings_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_MEMORY_TTL", "event=1h, message=30m")
    with MemoryCore() as memory:
        event = memory.remember_event("Standup happened")
        fact = memory.remember("A lasting fact")
        message = memory.add_message("s", "user", "hi")
        assert event.expires_at is not None and fact.expires_at is None and message.expires_at is not None
        assert 3590 < (event.expires_at - event.created_at).total_seconds() <= 3600
        assert 1790 < (message.expires_at - message.created_at).total_seconds() <= 1800
    monkeypatch.setenv("AGENT_MEMORY_TTL", "event=forever")
    with pytest.raises(ConfigurationError, match="event"):
        MemoryCore()


def test_background_sweep_removes_expired_records() -> None:
    with MemoryCore(expiry_interval=0.1) as memory:
        memory.remember("short lived", ttl=0.2)
        memory.remember("long lived")
        deadline = time.monotonic() + 30
        while memory.store.count() > 1 and time.monotonic() < deadline:
            time.sleep(0.1)  # the worker sweeps every expiry_interval seconds
        assert [r.text for r in memory.records()] == ["long lived"]


# -- storage ----------------------------------------------------------------------------------------
@pytest.mark.sqlite_only  # reads SQLite's own tables or files
def test_a_store_from_before_these_columns_opens_without_loss(store_path: Path) -> None:
    store_path.mkdir(parents=True)
    db = sqlite3.connect(store_path / "memory.db")
    db.executescript("""
        CREATE TABLE records (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
          user_id TEXT NOT NULL, agent_id TEXT, session_id TEXT, kind TEXT NOT NULL, role TEXT NOT NULL,
          text TEXT NOT NULL, ts REAL NOT NULL, created_at REAL NOT NULL, importance REAL NOT NULL,
          metadata TEXT NOT NULL, covers TEXT NOT NULL DEFAULT '[]', summarized INTEGER NOT NULL DEFAULT 0,
          tokens INTEGER NOT NULL);
        CREATE VIRTUAL TABLE records_fts USING fts5 (text, content='',
          tokenize='porter unicode61 remove_diacritics 2');
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, record_id TEXT NOT NULL,
          op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')));
        INSERT INTO records (id, user_id, session_id, kind, role, text, ts, created_at, importance, metadata, tokens)
          VALUES ('0123456789abcdef0123456789abcdef', 'ana', 's1', 'message', 'user', 'I live in Porto',
                  1700000000, 1700000000, 0.6, '{}', 5);
        INSERT INTO records_fts (rowid, text) VALUES (1, 'I live in Porto');
        INSERT INTO outbox (record_id, op) VALUES ('0123456789abcdef0123456789abcdef', 'upsert');
    """)
    db.commit()
    db.close()
    with MemoryCore(store_path) as memory:
        memory.flush()
        old = memory.get("0123456789abcdef0123456789abcdef", user_id="ana")
        assert old.text == "I live in Porto" and old.times_seen == 1 and old.expires_at is None
        assert _texts(memory, "Porto", "ana") == ["I live in Porto"]
        memory.remember("I live in Porto now", user_id="ana")


def test_records_lists_by_kind_session_and_metadata(memory: MemoryCore) -> None:
    memory.add_message("s1", "user", "one", metadata={"topic": "a"})
    memory.add_message("s2", "user", "two", metadata={"topic": "b"})
    memory.remember("three", metadata={"topic": "a"})
    assert [r.text for r in memory.records(where={"topic": "a"})] == ["one", "three"]
    assert [r.text for r in memory.records(kinds="message", newest_first=True, limit=1)] == ["two"]
    assert [r.text for r in memory.records(session_id="s1")] == ["one"]
    with pytest.raises(InvalidInputError):
        memory.records(limit=0)


async def test_async_twins_of_the_long_term_helpers(memory: MemoryCore) -> None:
    pref = await memory.aset_preference("tone", "brief", user_id="ana")
    assert await memory.aget_preference("tone", user_id="ana") == "brief"
    fact = await memory.aremember_fact("I live in Oslo", user_id="ana")
    await memory.alink(pref.id, fact.id, user_id="ana")
    assert len(await memory.arelated(fact.id, user_id="ana")) == 1
    assert (await memory.acleanup(user_id="ana")).count == 0


# -- a plugged-in consolidator ---------------------------------------------------------------------------
def test_a_chat_model_consolidator_runs_off_the_write_path() -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    model = GenericFakeChatModel(messages=iter([AIMessage("UPDATES 1"), AIMessage("DUPLICATE 1")]))
    with MemoryCore(consolidator=model) as memory:
        honda = memory.remember("I drive a Honda Civic", user_id="ana")
        memory.flush()  # nothing similar stored yet: the model is not asked
        tesla = memory.remember("These days my ride is a Tesla", user_id="ana")  # the rules see no subject
        assert memory.get(honda.id, user_id="ana").superseded_by is None  # remember did not wait
        memory.flush()
        assert memory.get(honda.id, user_id="ana").superseded_by == tesla.id
        again = memory.remember("Nowadays I get around in my Tesla", user_id="ana")
        memory.flush()
        assert [r.id for r in memory.records(user_id="ana")] == [honda.id, tesla.id]
        assert memory.get(tesla.id, user_id="ana").times_seen == 2
        with pytest.raises(NotFoundError):
            memory.get(again.id, user_id="ana")


def test_flush_waits_for_a_verdict_the_background_worker_is_still_waiting_for() -> None:
    import threading

    asked = threading.Event()

    def slow_model(new: object, similar: object) -> str:
        asked.set()
        time.sleep(0.5)  # a slow model: the worker, woken by remember, takes the review first
        return "UPDATES 1"

    with MemoryCore(consolidator=slow_model) as memory:
        honda = memory.remember("I drive a Honda Civic", user_id="ana")
        memory.flush()
        tesla = memory.remember("These days my ride is a Tesla", user_id="ana")
        asked.wait(10)
        memory.flush()
        assert memory.get(honda.id, user_id="ana").superseded_by == tesla.id


def test_a_failing_or_unreadable_consolidator_changes_nothing() -> None:
    def broken(new: object, similar: object) -> str:
        raise RuntimeError("model down")

    for consolidator in (broken, lambda new, similar: "I am not sure", lambda new, similar: "UPDATES 7"):
        with MemoryCore(consolidator=consolidator) as memory:
            first = memory.remember("I drive a Honda Civic")
            memory.flush()
            memory.remember("These days my ride is a Tesla")
            memory.flush()
            assert memory.get(first.id).superseded_by is None and len(memory.records()) == 2
    with pytest.raises(ConfigurationError):
        MemoryCore(consolidator=42)


def test_remember_refuses_text_that_is_not_text(memory: MemoryCore) -> None:
    from agent_memory_plugins import InvalidContentError

    for bad in (None, 123, ["I live in Denver"]):
        with pytest.raises(InvalidContentError):
            memory.remember(bad)  # type: ignore[arg-type]
    assert memory.records() == []


def test_long_term_reads_and_cleanup_stay_within_one_user(memory: MemoryCore) -> None:
    a_fact = memory.remember("I live in Denver", user_id="ana")
    a_pref = memory.set_preference("language", "French", user_id="ana")
    memory.add_skill("deploy", "make deploy", triggers=["ship it"], user_id="ana")
    memory.link(a_fact.id, a_pref.id, user_id="ana")
    old = datetime.now(timezone.utc) - timedelta(days=400)
    memory.add_message("s", "user", "ana's old line", user_id="ana", timestamp=old, importance=0.1)
    memory.add_message("s", "user", "bo's old line", user_id="bo", timestamp=old, importance=0.1)
    memory.flush()
    assert memory.preferences(user_id="bo") == {} and memory.get_preference("language", user_id="bo") is None
    assert memory.find_skills("ship it", user_id="bo") == []
    assert memory.records(user_id="bo", kinds=["fact", "preference", "skill"]) == []
    for call in (memory.related, memory.history):
        with pytest.raises(NotFoundError):
            call(a_fact.id, user_id="bo")
    with pytest.raises(NotFoundError):
        memory.record_skill_outcome(memory.find_skills("ship it", user_id="ana")[0].record.id, success=True,
                                    user_id="bo")
    assert memory.remember("I live in Denver", user_id="bo").id != a_fact.id
    report = memory.cleanup(user_id="bo", older_than="30d", dry_run=False)
    assert report.count == 1 and [r.text for r in memory.records(user_id="ana", kinds="message")] == ["ana's old line"]


def test_update_supersedes_a_memory_within_its_user(memory: MemoryCore) -> None:
    old = memory.remember("Ana lives in Lisbon", user_id="ana", session_id="s1", metadata={"from": "chat"})
    new = memory.update(old.id, "Ana lives in Porto", user_id="ana")
    assert (new.kind, new.key, new.session_id, new.metadata) == (old.kind, old.key, "s1", {"from": "chat"})
    assert memory.get(old.id, user_id="ana").superseded_by == new.id
    assert [e.event for e in memory.history(new.id, user_id="ana")] == ["supersedes"]
    with pytest.raises(NotFoundError):
        memory.update(new.id, "Bob's version", user_id="bob")
    with pytest.raises(InvalidInputError, match="already replaced"):
        memory.update(old.id, "again", user_id="ana")
    message = memory.add_message("s1", "user", "hello", user_id="ana")
    with pytest.raises(InvalidInputError, match="only long-term memories"):
        memory.update(message.id, "rewritten", user_id="ana")
    assert memory.get(new.id, user_id="ana").text == "Ana lives in Porto"
