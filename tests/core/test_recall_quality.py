"""Recall quality without a model: neighbour context and time expressions (no dataset needed)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.recall.query_analysis import find_time
from agent_memory_plugins.core.storage.sqlite.schema import user_match
from agent_memory_plugins.errors import ConfigurationError


def _toy(texts: list[str]) -> list[list[float]]:
    return [[float(len(t)), 1.0, float(t.count("e"))] for t in texts]


def _core(path: Path | None = None, **settings: object) -> MemoryCore:
    """Keyword recall only (dense off, toy vectors): what these tests check is deterministic."""
    return MemoryCore(path, embedder=_toy, dense_weight=0.0, **settings)  # type: ignore[arg-type]


def _epoch(*parts: int) -> float:
    return datetime(*parts, tzinfo=timezone.utc).timestamp()


DIALOGUE = [
    ("user", "Mel: What have you been researching lately?"),
    ("assistant", "Caroline: Adoption agencies. I want to give a kid a loving home."),
    ("user", "Mel: That's wonderful, you'll be a great mum."),
    ("assistant", "Caroline: Thanks! The paperwork is a lot though."),
]


def _dialogue(memory: MemoryCore, session: str = "s1") -> list[str]:
    records = memory.add_messages(session, [{"role": r, "content": c, "timestamp": _epoch(2023, 5, 8, 12, i)}
                                            for i, (r, c) in enumerate(DIALOGUE)])
    memory.flush()
    return [record.id for record in records]


def test_a_turn_is_found_through_its_neighbours_words() -> None:
    with _core() as memory:
        ids = _dialogue(memory)
        hits = memory.search("what did Caroline research?", k=2)
        assert ids[1] in [hit.record.id for hit in hits]  # the answer never says "research"
        assert all(hit.record.kind == "message" for hit in hits)  # the turn itself comes back
    with _core(context_weight=0.0) as memory:
        ids = _dialogue(memory)
        assert ids[1] not in [hit.record.id for hit in memory.search("what did Caroline research?", k=2)]


@pytest.mark.sqlite_only  # reads SQLite's own tables or files
def test_context_follows_later_turns_and_is_purged_on_forget() -> None:
    with _core() as memory:
        ids = _dialogue(memory)
        memory.add_message("s1", "user", "Mel: Which xylophone brand did the agency recommend?",
                           timestamp=_epoch(2023, 5, 8, 12, 9))
        memory.flush()  # the last turn now has a next neighbour: it is found by its words
        assert ids[3] in [hit.record.id for hit in memory.search("xylophone", k=5)]
        in_context = "SELECT COUNT(*) FROM context_fts WHERE context_fts MATCH ?"
        assert memory.store._read(in_context, (user_match(["xylophone"], "default"),))[0][0] > 0
        memory.forget(memory_id=memory.search("xylophone", k=5)[0].record.id)
        memory.flush()
        assert memory.search("xylophone", k=5) == []  # nothing of it is left in any neighbour
        assert memory.store._read(in_context, (user_match(["xylophone"], "default"),))[0][0] == 0


def test_time_expressions_prefer_records_from_that_time() -> None:
    with _core(relative_time_boost=1.0) as memory:  # relative words count too (off by default)
        may = memory.add_message("s1", "user", "We went hiking in the hills.", timestamp=_epoch(2023, 5, 20))
        june = memory.add_message("s2", "user", "We went hiking by the lake.", timestamp=_epoch(2023, 6, 25))
        memory.add_message("s3", "user", "Nothing much happened today.", timestamp=_epoch(2023, 7, 1))
        memory.flush()
        assert memory.search("Where did we go hiking in May 2023?", k=1)[0].record.id == may.id
        assert memory.search("Where did we go hiking on 25 June, 2023?", k=1)[0].record.id == june.id
        top = memory.search("Where did we go hiking last week?", k=2)  # read from the newest record
        assert top[0].record.id == june.id and top[0].explain["time"] == 2.0


def test_the_past_weekend_includes_the_day_of_the_newest_message() -> None:
    with _core(relative_time_boost=1.0) as memory:
        memory.add_message("s1", "user", "I serviced the brakes of my mountain bike.", timestamp=_epoch(2023, 3, 1, 9))
        road = memory.add_message("s2", "user", "My road bike got its maintenance check at the bike shop.",
                                  timestamp=_epoch(2023, 3, 19, 7, 8))
        memory.add_message("s3", "user", "Now planning a long ride.", timestamp=_epoch(2023, 3, 19, 22, 23))
        memory.flush()
        top = memory.search("Which bike did I service or get a maintenance check the past weekend?", k=1)
        assert top[0].record.id == road.id and top[0].explain["time"] == 2.0


def test_a_relative_time_word_lifts_by_relative_time_boost_and_a_named_date_by_time_boost() -> None:
    for settings, lifted in (({}, False), ({"relative_time_boost": 1.0}, True)):  # off by default
        with _core(**settings) as memory:
            guitar = memory.add_message("s1", "user", "Any tips on a new guitar from the music shop?",
                                        timestamp=_epoch(2023, 5, 2))
            jeans = memory.add_message("s2", "user", "Any tips for the new jeans I got at the store?",
                                       timestamp=_epoch(2023, 5, 30, 18))
            memory.flush()
            top = memory.search("I visit the music store this weekend: tips on a new guitar?", k=2)
            assert top[0].record.id == (jeans.id if lifted else guitar.id)
            assert ("time" in top[0].explain) is lifted
            named = memory.search("tips on the new jeans from the store on 30 May 2023", k=1)[0]
            assert named.record.id == jeans.id and named.explain["time"] == 2.0  # a named date: time_boost
            memory.forget(user_id="default")


def test_time_expressions_can_be_switched_off() -> None:
    with _core(time_boost=0.0) as memory:
        memory.add_message("s1", "user", "We went hiking in the hills.", timestamp=_epoch(2023, 5, 20))
        memory.flush()
        assert "time" not in memory.search("hiking in May 2023", k=1)[0].explain
    with pytest.raises(ConfigurationError, match="context_weight"):
        MemoryCore(context_weight=-1)
    with pytest.raises(ConfigurationError, match="relative_time_boost"):
        MemoryCore(relative_time_boost=-0.5)


def test_find_time_reads_dates_months_years_and_relative_words() -> None:
    reference = _epoch(2023, 6, 9, 15)
    day = find_time("What did Gina find on 1 February, 2023?", reference)
    assert day is not None and day.contains(_epoch(2023, 2, 1, 18)) and not day.contains(_epoch(2023, 2, 5))
    assert find_time("accepted on May 23, 2023", None).contains(_epoch(2023, 5, 23))  # type: ignore[union-attr]
    month = find_time("in December 2023", None)
    assert month is not None and month.contains(_epoch(2023, 12, 31, 23)) and not month.contains(_epoch(2024, 1, 1))
    june = find_time("When did Melanie go camping in June?", None)
    assert june is not None and june.contains(_epoch(2021, 6, 2)) and not june.contains(_epoch(2021, 7, 2))
    assert find_time("in 2022", None).contains(_epoch(2022, 7, 1))  # type: ignore[union-attr]
    week = find_time("what did I say last week?", reference)
    assert week is not None and week.contains(_epoch(2023, 6, 2)) and not week.contains(_epoch(2023, 4, 1))
    weekend = find_time("Which bike did I service the past weekend?", _epoch(2023, 3, 19, 22, 23))
    assert weekend is not None and weekend.contains(_epoch(2023, 3, 19, 7, 8))  # the newest day is in the past
    assert weekend.contains(_epoch(2023, 3, 12)) and not weekend.contains(_epoch(2023, 3, 10))
    ago = find_time("the trip three weeks ago", lambda: reference)
    assert ago is not None and ago.contains(_epoch(2023, 5, 19)) and not ago.contains(_epoch(2023, 6, 8))
    assert find_time("yesterday", None) is None  # relative words need a reference
    assert find_time("may I ask something?", reference) is None
    impossible = find_time("on 31 February, 2023", reference)  # not a day: the month it names
    assert impossible is not None and impossible.contains(_epoch(2023, 2, 14)) and impossible.text == "February, 2023"


@pytest.mark.sqlite_only  # reads SQLite's own tables or files
def test_a_store_from_before_the_context_index_is_migrated(store_path: Path) -> None:
    with _core(store_path) as memory:
        ids = _dialogue(memory)
    db = sqlite3.connect(store_path / "memory.db")  # turn it back into an old-schema store
    db.executescript("DROP TRIGGER context_on_delete; DROP TABLE context_fts; DROP TABLE context_queue; "
                     "DELETE FROM meta WHERE key = 'context_index';")
    db.close()
    with _core(store_path) as memory:
        memory.flush()
        assert [record.id for record in memory.messages("s1")] == ids  # nothing lost
        assert memory.store.context_pending() == 0
        assert ids[1] in [hit.record.id for hit in memory.search("what did Caroline research?", k=2)]
