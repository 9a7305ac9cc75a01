"""Stores made by earlier layouts open in this release with nothing lost, one numbered step at a time."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agent_memory_plugins import MemoryCore, StoreVersionError
from agent_memory_plugins.core.storage import Filters, SQLiteRecordStore
from agent_memory_plugins.core.storage.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, scope_token

DATA = Path(__file__).parent / "data"


def _fixture_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_old_store", DATA / "make_old_store.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _old_store(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    with tarfile.open(DATA / "store-f81578e.tar.gz") as archive:
        archive.extractall(folder, filter="data")
    return folder


PREVIOUS_LAYOUT = {"context_neighbour_words": 0}
"""The previous release's neighbour context (issue 21 made 40 the default: a store opened with it
rebuilds its context rows once, which these tests would count as work queued by the migration)."""
PREVIOUS_RANKING = {"summary_weight": 1.0, "assistant_weight": 1.0}
"""The previous release's ranking of summaries and assistant replies (issue 21 made 0.5 the default
for both: a summary now ranks below a turn that matches as well, and an assistant reply below the
user's own message for a question about the one who asks, such as "Where do I live now?"), so that
its answers can be compared hit for hit."""


def test_a_store_made_by_the_previous_release_opens_and_answers_the_same(tmp_path: Path) -> None:
    folder = _old_store(tmp_path)
    expected: dict[str, Any] = json.loads((folder / "expected.json").read_text())
    with sqlite3.connect(folder / "memory.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0  # made before schema versions
    db.close()
    with MemoryCore(folder, background=False, **PREVIOUS_LAYOUT, **PREVIOUS_RANKING) as memory:
        assert memory.store.schema_version() == SCHEMA_VERSION
        # the migration kept every derived index: nothing is queued to be embedded or rebuilt again
        assert memory.store.outbox_size() == 0 and memory.store.context_pending() == 0
        found = _fixture_script().answers(memory, expected["names"])
    found.pop("made_by")
    expected.pop("made_by")
    total = sum(found["users"][user]["stats"]["vectors"] for user in found["users"])
    for user, answers in expected["users"].items():  # stats(user_id=) now counts that user's vectors (issue 18)
        assert answers["stats"]["vectors"] == total
        answers["stats"]["vectors"] = answers["stats"]["records"]
        # keyword scores now weigh words by the user's own records (issue 18): the same hits in the
        # same order, scores within 0.02 (the largest change here is 0.013)
        for before, after in zip(answers.pop("search"), found["users"][user].pop("search"), strict=True):
            assert [hit["id"] for hit in after["hits"]] == [hit["id"] for hit in before["hits"]], before["query"]
            for old, new in zip(before["hits"], after["hits"], strict=True):
                assert new["score"] == pytest.approx(old["score"], abs=0.02), before["query"]
    assert found == expected


def test_the_previous_release_store_is_migrated_once(tmp_path: Path) -> None:
    folder = _old_store(tmp_path)
    with MemoryCore(folder, background=False, **PREVIOUS_LAYOUT) as memory:
        count = memory.store.count()
    with MemoryCore(folder, background=False, **PREVIOUS_LAYOUT) as memory:  # the second open applies nothing
        assert memory.store.schema_version() == SCHEMA_VERSION and memory.store.count() == count
        assert memory.store.outbox_size() == 0 and memory.store.context_pending() == 0


def _store_at(path: Path, version: int) -> None:
    """A store whose schema stops at migration ``version``, holding one message of maya's."""
    db = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:version]:
        step.apply(db)
    db.execute(f"PRAGMA user_version = {version}")
    db.execute(
        "INSERT INTO records (id, user_id, session_id, kind, role, text, ts, created_at, importance, metadata, "
        "tokens) VALUES ('m1', 'maya', 's', 'message', 'user', 'My sister lives in Porto', 1.7e9, 1.7e9, 0.5, "
        "'{\"topic\": \"family\"}', 6)"
    )
    if version == 1:  # the keyword index before its scope column
        db.execute("INSERT INTO records_fts (rowid, text) VALUES (1, 'My sister lives in Porto')")
    else:
        db.execute("INSERT INTO records_fts (rowid, text, scope) VALUES (1, 'My sister lives in Porto', ?)",
                   (scope_token("maya"),))
    db.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_each_later_step_applies_to_a_store_of_an_earlier_version(tmp_path: Path, version: int) -> None:
    path = tmp_path / "memory.db"
    _store_at(path, version)
    store = SQLiteRecordStore(str(path))
    try:
        assert store.schema_version() == SCHEMA_VERSION
        record = store.get(["m1"], "maya")["m1"].record
        assert record.text == "My sister lives in Porto" and record.metadata == {"topic": "family"}
        assert record.times_seen == 1 and record.superseded_by is None  # columns of step 3, with defaults
        assert store.keyword_candidates(["porto"], Filters("maya"), 5)[0][0] == "m1"  # scoped index of step 2
        assert store.keyword_candidates(["porto"], Filters("omar"), 5) == []
        store.add_link("maya", "m1", "m1", "self", 1.0, 1.7e9)  # the links table of step 3
        assert store.links(["m1"], "maya")
    finally:
        store.close()


def test_numbered_steps_are_consecutive() -> None:
    assert [step.version for step in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert len(MIGRATIONS) == SCHEMA_VERSION


def test_a_store_written_by_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    SQLiteRecordStore(str(path)).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreVersionError, match=f"schema version {SCHEMA_VERSION + 1}"):
        SQLiteRecordStore(str(path))
    assert path.read_bytes() == before
