"""The core on PostgreSQL: chosen by ``database_url`` (or ``AGENT_MEMORY_DATABASE_URL``), one
memory for every instance on the database, never showing the URL's password."""

from __future__ import annotations

import logging
import os

import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.cli import main
from postgres_cluster import PASSWORD


@pytest.fixture
def url(record_engine: str) -> str:
    if record_engine != "postgres":
        pytest.skip("about the PostgreSQL engine")
    return os.environ["AGENT_MEMORY_DATABASE_URL"]


def test_instances_on_one_database_share_one_memory(url: str) -> None:
    with MemoryCore(database_url=url) as first, MemoryCore(database_url=url) as second:
        said = first.add_message("s1", "user", "My locker code is 4417.", user_id="ana")
        assert [m.id for m in second.messages("s1", user_id="ana")] == [said.id]
        assert "4417" in second.search("locker code", user_id="ana")[0].record.text  # keywords: at once
        assert second.search("locker code", user_id="ben") == []
        second.forget(memory_id=said.id, user_id="ana")
        assert first.messages("s1", user_id="ana") == []


def test_the_password_shows_in_no_repr_stats_or_log(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with MemoryCore(database_url=url) as memory:
        memory.add_message("s1", "user", "hello there", user_id="ana")
        memory.flush()
        shown = [repr(memory), str(memory.stats()), repr(memory.settings), repr(memory.store)]
        assert all(PASSWORD not in text for text in shown)
        assert "***" in memory.stats()["database"]
    assert PASSWORD not in caplog.text


def test_compact_from_the_command_line(url: str, tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    with MemoryCore(database_url=url) as memory:
        memory.remember("A fact to forget.", user_id="default")
        memory.forget(user_id="default")
    assert main(["compact", "--path", str(tmp_path)]) == 0  # the URL comes from the environment
    assert "compacted" in capsys.readouterr().out
