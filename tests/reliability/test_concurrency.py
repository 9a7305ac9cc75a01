"""Many threads, asyncio tasks and processes on one store: nothing lost, nothing doubled, no
"database is locked" reaching the caller, and a clear error where embedded Chroma cannot be shared."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from pathlib import Path

import pytest

from agent_memory_plugins import MemoryCore, StoreInUseError

from .support import HashEmbedder, python

OPTIONS = {"window_messages": 4, "fold_batch": 2, "index_interval": 0.0}


def assert_consistent(memory: MemoryCore, acked: dict[str, str], gone_users: set[str]) -> None:
    """Everything acknowledged is stored once; the forgotten are gone; Chroma mirrors SQLite."""
    memory.flush()
    records = [record for user in memory.users() for record in memory.export(user_id=user)]
    by_id = {record.id: record for record in records}
    assert {i: by_id[i].text for i in acked if i in by_id} == acked, "acknowledged writes were lost"
    texts = Counter(r.text for r in records if r.kind != "summary")
    assert [t for t, n in texts.items() if n > 1] == [], "a write was stored twice"
    assert not gone_users & set(memory.users()), "a forgotten user still has records"
    summaries = Counter((r.user_id, r.session_id) for r in records if r.kind == "summary")
    assert set(summaries.values()) <= {1}, "a session has two summaries"
    for user, session in summaries:  # each folded message is folded once, into its own summary
        summary = memory.summary_record(session or "", user_id=user)
        assert summary is not None and len(summary.covers) == len(set(summary.covers))
        assert {by_id[i].session_id for i in summary.covers} <= {session}
    assert memory.stats()["pending_index"] == 0
    assert set(list(memory.index.stored(None))) == set(by_id)


def test_threads_and_asyncio_tasks_share_one_core(tmp_path: Path) -> None:
    memory = MemoryCore(tmp_path / "store", embedder=HashEmbedder(), **OPTIONS)
    acked: dict[str, str] = {}
    gone: set[str] = set()
    lock = threading.Lock()
    failures: list[BaseException] = []

    def thread(n: int) -> None:
        user = f"user{n % 2}"
        try:
            for i in range(30):
                text = f"thread {n} says {i} tword{n}x{i}"
                record = memory.add_message(f"t{n}", "user" if i % 2 else "assistant", text, user_id=user)
                with lock:
                    acked[record.id] = text
                if i % 6 == 0:
                    fact = memory.remember(f"thread {n} fact {i} fword{n}x{i}", user_id=user)
                    with lock:
                        acked[fact.id] = fact.text
                    assert all(h.record.user_id == user for h in memory.search(text, user_id=user, k=5))
                    assert memory.context(f"t{n}", user_id=user, max_tokens=300).tokens <= 300
                if i == 10:
                    doomed = f"doomed-thread-{n}"
                    memory.add_messages("d", [{"role": "user", "content": f"{doomed} {j}"} for j in range(3)],
                                        user_id=doomed)
                    assert memory.forget(user_id=doomed) == 3
                    with lock:
                        gone.add(doomed)
                if i == 20 and n == 0:
                    memory.reindex()
                if i == 25:
                    memory.flush()
        except BaseException as error:  # reported below with its traceback
            failures.append(error)

    async def tasks() -> None:
        async def one(n: int) -> None:
            for i in range(20):
                text = f"task {n} says {i} aword{n}x{i}"
                record = await memory.aadd_message(f"a{n}", "user", text, user_id="user1")
                with lock:
                    acked[record.id] = text
                if i % 5 == 0:
                    hits = await memory.asearch(text, user_id="user1", k=3)
                    assert all(h.record.user_id == "user1" for h in hits)
                    await memory.acontext(f"a{n}", user_id="user1")
            doomed = f"doomed-task-{n}"
            await memory.aadd_message("d", "user", f"{doomed} says bye", user_id=doomed)
            assert await memory.aforget(user_id=doomed) == 1
            gone.add(doomed)

        try:
            await asyncio.gather(*(one(n) for n in range(3)))
        except BaseException as error:
            failures.append(error)

    workers = [threading.Thread(target=thread, args=(n,)) for n in range(4)]
    workers.append(threading.Thread(target=asyncio.run, args=(tasks(),)))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    assert len(acked) == 4 * 30 + 4 * 5 + 3 * 20
    assert_consistent(memory, acked, gone)
    for record_id in list(acked)[::25]:  # still searchable
        text = acked[record_id]
        owner = memory.get(record_id, user_id="user0" if "thread 0" in text or "thread 2" in text else "user1")
        assert record_id in {h.record.id for h in memory.search(text, user_id=owner.user_id, k=10)}
    memory.close()


def test_reads_during_reindex_never_fail(tmp_path: Path) -> None:
    """A reindex drops and rebuilds the Chroma collection; searches meanwhile must not see it gone."""
    memory = MemoryCore(tmp_path / "store", embedder=HashEmbedder(), **OPTIONS)
    memory.add_messages("s", [{"role": "user", "content": f"hello number {i}"} for i in range(40)])
    memory.flush()
    failures: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                assert memory.search("hello number 3", k=3, kinds="message")[0].record.text == "hello number 3"
                memory.stats()
            except BaseException as error:
                failures.append(error)
                return

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for _ in range(15):
        assert memory.reindex() == memory.stats()["records"]
    done.set()
    for reader in readers:
        reader.join()
    memory.close()
    if failures:
        raise failures[0]


PROCESS = r"""
import json, sys, threading, support
from agent_memory_plugins import MemoryCore
url, folder, name = sys.argv[1:4]
memory = MemoryCore(folder, chroma_url=url, chroma_collection="shared", embedder=support.HashEmbedder(),
                    window_messages=4, fold_batch=2, index_interval=0.0)
acked, gone, lock = {}, [], threading.Lock()
def talk(n):  # every process talks into the same session: their folds race each other
    for i in range(25):
        text = f"{name} thread {n} line {i} pword{name}x{n}x{i}"
        record = memory.add_message("shared", "user", text, user_id="team")
        with lock: acked[record.id] = text
        if i % 8 == 0:
            memory.search(text, user_id="team", k=3)
def batches():
    for i in range(8):
        texts = [f"{name} batch {i} item {j}" for j in range(4)]
        records = memory.add_messages(f"{name}-batch", [{"role": "user", "content": t} for t in texts], user_id="team")
        with lock: acked.update((r.id, r.text) for r in records)
def forgets():
    for i in range(4):
        doomed = f"{name}-doomed-{i}"
        for j in range(3):
            memory.add_message("d", "user", f"{doomed} line {j}", user_id=doomed)
        assert memory.forget(user_id=doomed) == 3
        gone.append(doomed)
threads = [threading.Thread(target=talk, args=(n,)) for n in range(2)]
threads += [threading.Thread(target=batches), threading.Thread(target=forgets)]
for thread in threads: thread.start()
for thread in threads: thread.join()
memory.flush()
memory.close()
print(json.dumps({"acked": acked, "gone": gone}))
"""


@pytest.mark.server
def test_several_processes_share_a_store_through_a_chroma_server(chroma: tuple[str, Path], tmp_path: Path) -> None:
    server_url = chroma[0]
    folder = tmp_path / "shared"  # fresh: the processes also race to create the SQLite file
    processes = [python(PROCESS, server_url, str(folder), f"p{n}") for n in range(3)]
    acked: dict[str, str] = {}
    gone: set[str] = set()
    for process in processes:
        out, errors = process.communicate(timeout=300)
        assert process.returncode == 0, errors
        # no error reached a caller in any thread ("database is locked" would be an OperationalError)
        assert "Traceback" not in errors and "Error" not in errors, errors
        result = json.loads(out)
        acked.update(result["acked"])
        gone.update(result["gone"])
    with MemoryCore(folder, chroma_url=server_url, chroma_collection="shared", embedder=HashEmbedder(),
                    **OPTIONS) as memory:
        assert_consistent(memory, acked, gone)
        messages = {r.id for r in memory.messages("shared", user_id="team")}
        window = {r.id for r in memory.window("shared", user_id="team")}
        summary = memory.summary_record("shared", user_id="team")
        assert summary is not None and set(summary.covers) == messages - window  # folded once each
        hit = memory.search("p2 thread 1 line 17 pwordp2x1x17", user_id="team", k=1)[0]
        assert hit.record.text == "p2 thread 1 line 17 pwordp2x1x17"


OPEN_SECOND = r"""
import sys, support
from agent_memory_plugins import MemoryCore, StoreInUseError
try:
    MemoryCore(sys.argv[1], embedder=support.HashEmbedder())
except StoreInUseError as error:
    print("StoreInUseError:", error)
"""


def test_second_process_on_embedded_chroma_is_told_to_use_server_mode(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    with MemoryCore(folder, embedder=HashEmbedder(), **OPTIONS) as memory:
        first = memory.add_message("s", "user", "written by the first process")
        process = python(OPEN_SECOND, str(folder))
        out, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors
        assert out.startswith("StoreInUseError:"), out + errors
        assert "chroma run" in out and "chroma_url" in out  # says how to share the store
        second = memory.add_message("s", "user", "written after the refusal")
        memory.flush()
        assert [r.id for r in memory.messages("s")] == [first.id, second.id]
        assert memory.search("refusal")[0].record.id == second.id
    with MemoryCore(folder, embedder=HashEmbedder()), pytest.raises(StoreInUseError, match="server"):
        MemoryCore(folder, embedder=HashEmbedder())  # the same refusal within one process
