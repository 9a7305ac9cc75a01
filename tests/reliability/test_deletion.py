"""``forget`` leaves nothing behind: after it (and after close and a restart) a byte scan of every
file under the store folder - SQLite's database with its free pages, its WAL and shared-memory
files, FTS5's shadow tables, and Chroma's own SQLite and HNSW files - finds none of the forgotten
text, ids or metadata, while everyone else's memory is still there and searchable."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent_memory_plugins import MemoryCore

from .support import HashEmbedder, child_env, scan

OPTIONS: dict[str, Any] = {"window_messages": 3, "fold_batch": 2, "embedder": HashEmbedder()}
VICTIM = "victimUSERzq"
MARKERS = ["victimUSERzq", "victimSESSIONzq", "victimAGENTzq", "victimTEXTzq", "victimMETAzq",
           "victimNESTEDzq", "victimFACTzq", "victimKEYzq"]
KEEPER_MARKERS = ["keeperTEXTzq", "keeperMETAzq", "keeperUSERzq"]


def fill(memory: MemoryCore, messages: int) -> None:
    """A victim and a keeper with many messages (several FTS5 segments, HNSW files on disk),
    summaries, facts and metadata, every field carrying a marker."""
    for start in range(0, messages, 50):
        for user, tag in ((VICTIM, "victim"), ("keeperUSERzq", "keeper")):
            memory.add_messages(
                f"{tag}SESSIONzq" if tag == "victim" else "keeper-session",
                [{"role": "user" if i % 2 else "assistant",
                  "content": f"{tag}TEXTzq{i} says the {tag} secret number {i}",
                  "metadata": {"note": f"{tag}METAzq{i}", "nested": {"deep": f"{tag}NESTEDzq"},
                               f"{tag}KEYzq": True}}
                 for i in range(start, start + 50)],
                user_id=user, agent_id=f"{tag}AGENTzq" if tag == "victim" else None,
            )
    memory.remember("victimFACTzq likes very secret cello music", user_id=VICTIM, kind="preference",
                    metadata={"victimKEYzq": "victimMETAzq"})
    memory.remember("keeperTEXTzq fact about a green Volvo", user_id="keeperUSERzq")
    memory.flush()


def assert_keeper_intact(memory: MemoryCore, messages: int) -> None:
    assert memory.users() == ["keeperUSERzq"]
    assert len(memory.messages("keeper-session", user_id="keeperUSERzq")) == messages
    hits = memory.search("keeperTEXTzq7", user_id="keeperUSERzq", k=3)
    assert "keeperTEXTzq7 says the keeper secret number 7" in [hit.record.text for hit in hits]
    assert memory.summary("keeper-session", user_id="keeperUSERzq")
    assert memory.export(user_id=VICTIM) == [] and memory.search("victimTEXTzq7 secret", user_id=VICTIM) == []
    stats = memory.stats()
    assert stats["pending_index"] == 0 and stats["vectors"] == stats["records"]


def test_forget_user_leaves_no_trace_in_any_file(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    messages = 600  # > Chroma's sync threshold of 1000 vectors in all: its HNSW files are written
    with MemoryCore(folder, **OPTIONS) as memory:
        fill(memory, messages)
        assert memory.summary("victimSESSIONzq", user_id=VICTIM)  # summaries were folded too
        before = scan(folder, MARKERS)
        assert "memory.db" in before["victimTEXTzq"] or "memory.db-wal" in before["victimTEXTzq"]
        assert memory.forget(user_id=VICTIM) == messages + 2  # messages, the fact, the summary
        assert scan(folder, MARKERS) == {}, "forgotten data is still on disk while the store is open"
        assert_keeper_intact(memory, messages)
    assert scan(folder, MARKERS) == {}, "forgotten data is still on disk after close"
    assert set(scan(folder, KEEPER_MARKERS)) == set(KEEPER_MARKERS)  # the scan does see what is kept
    with MemoryCore(folder, **OPTIONS) as memory:  # a restart brings nothing back
        assert_keeper_intact(memory, messages)
    assert scan(folder, MARKERS) == {}


def test_forget_while_another_connection_reads_is_finished_by_the_next_open(tmp_path: Path) -> None:
    """A reader (another process or connection) holding an old snapshot keeps the old pages alive;
    forget must not wait for it, and the next open must finish rewriting the file."""
    folder = tmp_path / "store"
    with MemoryCore(folder, **OPTIONS) as memory:
        fill(memory, 100)
        with contextlib.closing(sqlite3.connect(folder / "memory.db", isolation_level=None)) as reader:
            reader.execute("BEGIN")
            assert reader.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 204
            started = time.monotonic()
            assert memory.forget(user_id=VICTIM) == 102
            assert time.monotonic() - started < 20  # did not wait for the reader
            assert memory.export(user_id=VICTIM) == []  # gone from every read at once
            assert memory.store.purge_pending()  # the file rewrite is still owed
            reader.execute("ROLLBACK")
    with MemoryCore(folder, **OPTIONS) as memory:  # the next open pays it
        assert not memory.store.purge_pending()
        assert_keeper_intact(memory, 100)
    assert scan(folder, MARKERS) == {}


def test_forget_session_and_one_message_rebuild_summaries_without_them(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    with MemoryCore(folder, **OPTIONS) as memory:
        for i in range(8):
            memory.add_message("kept", "user", f"kept session line {i} about gardening", user_id="u")
            memory.add_message("dropped", "user", f"droppedSESSIONzq line {i} secret", user_id="u")
        one = memory.add_message("kept", "user", "oneMESSAGEzq the password is swordfish", user_id="u")
        for i in range(8, 12):
            memory.add_message("kept", "user", f"kept session line {i} about gardening", user_id="u")
        memory.flush()
        summary = memory.summary_record("kept", user_id="u")
        assert summary is not None and one.id in summary.covers
        assert memory.forget(memory_id=one.id, user_id="u") == 1
        assert memory.forget(session_id="dropped", user_id="u") == 9  # 8 messages and their summary
        memory.flush()  # the summary that covered the forgotten message is rebuilt without it
        rebuilt = memory.summary_record("kept", user_id="u")
        assert rebuilt is not None and one.id not in rebuilt.covers and "oneMESSAGEzq" not in rebuilt.text
        assert "gardening" in rebuilt.text
        assert memory.sessions(user_id="u") == ["kept"]
    assert scan(folder, ["oneMESSAGEzq", "swordfish", "droppedSESSIONzq"]) == {}
    assert scan(folder, ["gardening"])


@pytest.mark.server
def test_server_mode_never_sends_user_text_to_chroma(chroma: tuple[str, Path], tmp_path: Path) -> None:
    url, server_folder = chroma
    folder = tmp_path / "store"
    with MemoryCore(folder, chroma_url=url, chroma_collection="deletion", **OPTIONS) as memory:
        fill(memory, 100)
        assert memory.search("victimTEXTzq7 says", user_id=VICTIM, kinds="message")[0].explain.get("dense_rank")
        # the server (often run by someone else) holds vectors and digests, never texts or ids
        assert scan(server_folder, MARKERS + KEEPER_MARKERS) == {}
        assert memory.forget(user_id=VICTIM) == 102
        assert_keeper_intact(memory, 100)
    assert scan(folder, MARKERS) == {} and scan(server_folder, MARKERS) == {}
    with MemoryCore(folder, chroma_url=url, chroma_collection="deletion", **OPTIONS) as memory:
        assert_keeper_intact(memory, 100)


STRAY = r"""
import gc, sys, support
from agent_memory_plugins import MemoryCore
with MemoryCore(sys.argv[1], embedder=support.HashEmbedder(), window_messages=3, fold_batch=2) as memory:
    # Freed blocks full of words the store never holds, between blocks that stay: the heap's free
    # lists now hand out memory that still holds them (one arena for every thread).
    pairs = [("strayBYTESzq " * 14_000 + str(i), "kept" * 150 + str(i)) for i in range(400)]
    kept = [pair[1] for pair in pairs]
    del pairs
    gc.collect()
    memory.add_messages("s", [{"role": "user", "content": f"line {i}"} for i in range(150)], user_id="u")
    memory.flush()
"""


@pytest.mark.parametrize("scrub", ["1", "0"])
def test_index_files_never_carry_stale_process_memory(scrub: str, tmp_path: Path) -> None:
    """Chroma writes its HNSW files from blocks whose unused tail was never initialised; what the
    process had freed there (texts it read, other users' words) must not reach the disk. The
    control (``AGENT_MEMORY_SCRUB_HEAP=0``) shows that the scan sees it when it does."""
    env = {**child_env(), "MALLOC_ARENA_MAX": "1", "AGENT_MEMORY_SCRUB_HEAP": scrub}
    # whether a freed block lands in Chroma's buffers depends on the threads' timing: the control
    # (scrub "0") has three tries to show the leak (about one run in eight misses it); the scrubbed
    # process must not leak in any of its three
    outcomes = []
    for attempt in range(3):
        store = tmp_path / f"store{attempt}"
        done = subprocess.run([sys.executable, "-c", STRAY, str(store)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        found = scan(store, ["strayBYTESzq"])
        if scrub == "1":
            assert found == {}
        outcomes.append(found)
        if scrub == "0" and any(path.endswith(".bin") for path in found.get("strayBYTESzq", [])):
            return
    if scrub == "0":
        pytest.fail(f"the control never saw the freed bytes in an index file: {outcomes}")
