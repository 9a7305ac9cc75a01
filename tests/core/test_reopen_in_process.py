"""One store per folder per process: a dropped core releases its folder (a notebook cell run
again); a live one, or another process, still holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_memory_plugins import MemoryCore, StoreClosedError, StoreInUseError


def open_and_drop(folder: Path) -> None:
    memory = MemoryCore(folder)  # the cell of a notebook, run once
    memory.add_message("s", "user", "I keep bees in Ghent.", user_id="u")


def test_a_dropped_core_releases_its_folder(tmp_path: Path) -> None:
    open_and_drop(tmp_path / "m")
    memory = MemoryCore(tmp_path / "m")  # the same cell, run again: no StoreInUseError
    try:
        assert [r.text for r in memory.messages("s", user_id="u")] == ["I keep bees in Ghent."]
        memory.flush()
        assert memory.search("bees", user_id="u", k=1)
    finally:
        memory.close()


def test_a_rebound_name_releases_its_folder(tmp_path: Path) -> None:
    memory = MemoryCore(tmp_path / "m")
    memory.add_message("s", "user", "first run", user_id="u")
    memory = MemoryCore(tmp_path / "m")  # `memory = MemoryCore(...)` run twice
    try:
        assert len(memory.messages("s", user_id="u")) == 1
    finally:
        memory.close()


def test_the_same_folder_twice_is_the_same_core_until_the_last_close(tmp_path: Path) -> None:
    first = MemoryCore(tmp_path / "m", background=False)
    second = MemoryCore(str(tmp_path / "m"), background=False)
    assert second is first
    first.close()  # opened twice: still open for the other user of it
    second.add_message("s", "user", "still open", user_id="u")
    second.close()
    with pytest.raises(StoreClosedError):
        first.add_message("s", "user", "closed now", user_id="u")
    with MemoryCore(tmp_path / "m", background=False) as again:  # a fresh core
        assert again is not first and len(again.messages("s", user_id="u")) == 1


def test_a_live_core_with_other_settings_still_holds_its_folder(tmp_path: Path) -> None:
    with MemoryCore(tmp_path / "m", background=False), pytest.raises(StoreInUseError, match="this process"):
        MemoryCore(tmp_path / "m", window_messages=3)
