"""kill -9 at random points, and at chosen points of reindex, folding and forget, never loses an
acknowledged write; the store always reopens consistent (SQLite, FTS5, Chroma and summaries agree).

``AGENT_MEMORY_TEST_KILLS`` sets how many times the random kill loop kills its writer (default 20,
about 40 s on a 2-core machine); ``AGENT_MEMORY_TEST_SEED`` fixes its random choices.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent_memory_plugins import MemoryCore

from .support import HashEmbedder, expected_vector, python, scan

KILLS = int(os.environ.get("AGENT_MEMORY_TEST_KILLS", "20"))
SEED = int(os.environ.get("AGENT_MEMORY_TEST_SEED", "7"))
OPTIONS = {"window_messages": 4, "fold_batch": 2}

WRITER = r"""
import asyncio, json, sys, threading, time
import support
from agent_memory_plugins import MemoryCore
folder, round_, durability = sys.argv[1], sys.argv[2], sys.argv[3]
memory = MemoryCore(folder, embedder=support.HashEmbedder(), window_messages=4, fold_batch=2,
                    index_interval=0.0, durability=durability)
lock = threading.Lock()
def say(**line):  # printed only after the call returned: the parent counts it as acknowledged
    with lock:
        sys.stdout.write(json.dumps(line) + "\n"); sys.stdout.flush()
def single(n):
    for i in range(100000):
        text = f"round {round_} thread {n} message {i} word{round_}x{n}x{i}"
        record = memory.add_message(f"r{round_}-t{n}", "user" if i % 2 else "assistant", text,
                                    user_id=f"user{n % 2}")
        say(ids=[record.id], texts=[text], user=record.user_id)
def batch():
    for i in range(100000):
        texts = [f"round {round_} batch {i} item {j} bword{round_}x{i}x{j}" for j in range(5)]
        records = memory.add_messages(f"r{round_}-batch", [{"role": "user", "content": t} for t in texts],
                                      user_id="user0")
        say(ids=[r.id for r in records], texts=texts, user="user0")
def upkeep():  # forget whole users and reindex, while the others write
    for i in range(100000):
        if i % 2:
            say(reindexing=i)
            memory.reindex()
            say(reindexed=i)
            continue
        doomed = f"doomed-{round_}-{i}"
        records = [memory.add_message("d", "user", f"doomed {doomed} says dword{round_}x{i}x{j}", user_id=doomed)
                   for j in range(3)]
        say(doomed=doomed, ids=[r.id for r in records])
        memory.forget(user_id=doomed)
        say(forgot=doomed)
async def tasks():
    async def one(n):
        for i in range(100000):
            text = f"round {round_} task {n} message {i} aword{round_}x{n}x{i}"
            record = await memory.aadd_message(f"r{round_}-a{n}", "user", text, user_id="user1")
            say(ids=[record.id], texts=[text], user="user1")
    await asyncio.gather(one(0), one(1))
threads = [threading.Thread(target=single, args=(n,)) for n in range(2)]
threads += [threading.Thread(target=batch), threading.Thread(target=upkeep),
            threading.Thread(target=asyncio.run, args=(tasks(),))]
for thread in threads: thread.start()
for thread in threads: thread.join()
"""


@dataclass
class Ledger:
    """What the writers acknowledged, and what they were doing when killed."""

    texts: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)
    doomed: dict[str, list[str]] = field(default_factory=dict)
    round_ids: list[str] = field(default_factory=list)
    reindexes: int = 0
    last: str = ""

    def read(self, line: str) -> bool:
        """Record one line of a writer; False for a line cut short by the kill."""
        try:
            entry = json.loads(line)
        except ValueError:
            return False
        self.last = next(iter(entry))
        if "forgot" in entry:
            self.forgotten.add(entry["forgot"])
        elif "doomed" in entry:
            self.doomed[entry["doomed"]] = entry["ids"]
        elif "reindexed" in entry:
            self.reindexes += 1
        elif "reindexing" in entry:
            pass
        else:
            for record_id, text in zip(entry["ids"], entry["texts"], strict=True):
                self.texts[record_id] = text
                self.users[record_id] = entry["user"]
                self.round_ids.append(record_id)
        return True


def check_store(folder: Path, ledger: Ledger, rng: random.Random, samples: int = 6) -> dict[str, int]:
    """Reopen the store and check everything the crash-safety contract promises."""
    with MemoryCore(folder, embedder=HashEmbedder(), **OPTIONS) as memory:
        # an interrupted reindex or forget was finished while opening
        assert not memory.store.reset_pending() and not memory.store.purge_pending()
        memory.flush()
        records = [record for user in memory.users() for record in memory.export(user_id=user)]
        messages = [record for record in records if record.kind == "message"]
        by_id = {record.id: record for record in records}
        # every acknowledged message is there, once, with its text and owner
        missing = [i for i in ledger.texts if i not in by_id]
        assert not missing, f"{len(missing)} acknowledged messages lost (seed {SEED})"
        assert all(by_id[i].text == text and by_id[i].user_id == ledger.users[i] for i, text in ledger.texts.items())
        twice = [text for text, n in Counter(m.text for m in messages).items() if n > 1]
        assert not twice, f"stored more than once: {twice[:3]}"
        # batches are all or nothing
        batches = Counter(m.text.split(" item ")[0] for m in messages if " batch " in m.text)
        assert set(batches.values()) <= {5}, batches
        # a forget that returned removed everything; one cut short removed all or nothing
        for doomed, ids in ledger.doomed.items():
            kept = memory.export(user_id=doomed)
            if doomed in ledger.forgotten:
                assert kept == [], f"forgotten user {doomed} still has records"
            else:
                assert {r.id for r in kept} in (set(), set(ids)), f"forget of {doomed} half done"
        # one summary per session, covering messages that exist in that session
        summaries = Counter((r.user_id, r.session_id) for r in records if r.kind == "summary")
        assert set(summaries.values()) <= {1}, "a session has two summaries"
        for summary in (r for r in records if r.kind == "summary"):
            assert all(by_id[i].session_id == summary.session_id for i in summary.covers)
        # the outbox drained and Chroma holds exactly the records
        stats = memory.stats()
        assert stats["pending_index"] == 0
        assert set(list(memory.index.stored(None))) == set(by_id)
        # search finds acknowledged messages again, and Chroma holds each one's vector in its context
        for record_id in rng.sample(ledger.round_ids, min(samples, len(ledger.round_ids))):
            record = by_id[record_id]
            hits = memory.search(record.text, user_id=record.user_id, session_id=record.session_id, k=10)
            assert record_id in [hit.record.id for hit in hits], f"search lost {record.text!r}"
            stored = memory.index.stored([record_id], record.user_id)[record_id]
            expected = expected_vector(memory, record)
            assert len(stored) == len(expected)
            assert all(abs(float(a) - float(b)) < 1e-5 for a, b in zip(stored, expected, strict=True))
        return {"records": len(records), "messages": len(messages), "summaries": sum(summaries.values())}


@pytest.mark.slow  # runs in the default `pytest -q`; `-m "not slow"` skips it while iterating
def test_sigkill_loop_never_loses_acknowledged_writes(tmp_path: Path) -> None:
    """Writers in threads, asyncio tasks and batches, plus forget and reindex, killed KILLS times.

    Every third round is killed while a reindex runs, every third just after a forget started,
    the others after a random number of acknowledged writes; rounds alternate the durability modes.
    The store is checked after each kill.
    """
    folder = tmp_path / "store"
    ledger = Ledger()
    rng = random.Random(SEED)
    killed_in = Counter[str]()
    for round_ in range(KILLS):
        ledger.round_ids = []
        # both durability modes promise to survive a killed process (only "full" survives power loss)
        process = python(WRITER, str(folder), str(round_), ("full", "normal")[round_ % 2])
        assert process.stdout is not None
        aim = ("writes", "reindexing", "doomed")[round_ % 3]
        wanted = rng.randint(10, 300)
        seen = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen += ledger.read(line)
            if (aim == "writes" and seen >= wanted) or ledger.last == aim:
                break
        time.sleep(rng.random() * (0.5 if aim == "reindexing" else 0.05))
        process.send_signal(signal.SIGKILL)
        rest, errors = process.communicate()
        killed_in[ledger.last] += 1  # what the upkeep thread last said it was doing, roughly
        for line in rest.splitlines():  # acknowledged before the kill landed
            ledger.read(line)
        assert process.returncode == -signal.SIGKILL, errors
        assert time.monotonic() < deadline, f"the writer never got to {aim}: {errors}"
        check_store(folder, ledger, rng)
    final = check_store(folder, ledger, rng, samples=20)
    print(f"{KILLS} kills; the upkeep thread last said: {dict(killed_in)}; {final}")  # shown with -s
    # folding, forgetting and reindexing all ran while the kills landed
    assert final["summaries"] > 0 and ledger.forgotten, killed_in
    assert killed_in["reindexing"] + ledger.reindexes > 0, killed_in
    assert final["messages"] >= len(ledger.texts) > 0


KILL_AT = r"""
import os, signal, sys, support
from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.storage.sqlite import SQLiteRecordStore
from agent_memory_plugins.core.indexes.vectors import ChromaIndex
folder, point = sys.argv[1], sys.argv[2]

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

def after(owner, name):  # run the real method, then die
    real = getattr(owner, name)
    def wrapper(*args, **kwargs):
        real(*args, **kwargs)
        die()
    setattr(owner, name, wrapper)

memory = MemoryCore(folder, embedder=support.HashEmbedder(), window_messages=4, fold_batch=2, background=False)
if point == "reindex-queued":        # records queued and reset marked, vectors not yet dropped
    ChromaIndex.reset = die
elif point == "reindex-reset":       # vectors dropped, reset mark not yet cleared
    after(ChromaIndex, "reset")
elif point == "reindex-refilling":   # halfway through re-embedding
    memory.indexer.settings = memory.settings.replace(index_batch_size=5)
    calls = []
    real_upsert = ChromaIndex.upsert
    def upsert(self, records, vectors):
        real_upsert(self, records, vectors)
        calls.append(1)
        if len(calls) == 2:
            die()
    ChromaIndex.upsert = upsert
elif point == "forget-committed":    # SQLite committed the forget, Chroma not yet told
    memory.indexer.apply_deletes = die
elif point == "forget-vectors":      # vectors dropped, keyword index not yet compacted
    SQLiteRecordStore.compact = die
elif point == "fold-summarizing":    # the summarizer is running
    memory.summarizer.summarize = die
elif point == "fold-committed":      # the new summary is committed, not yet indexed
    after(SQLiteRecordStore, "replace_summary")

if point.startswith("reindex"):
    memory.reindex()
elif point.startswith("forget"):
    memory.forget(user_id="gone")
else:
    for i in range(12):
        memory.add_message("s", "user", f"keep adds kmore{i}", user_id="keep")
    memory.flush()
print("survived", point)
"""

POINTS = [
    "reindex-queued", "reindex-reset", "reindex-refilling", "forget-committed", "forget-vectors",
    "fold-summarizing", "fold-committed",
]


@pytest.mark.parametrize("point", POINTS)
def test_kill_inside_reindex_forget_and_folding_leaves_a_consistent_store(tmp_path: Path, point: str) -> None:
    folder = tmp_path / "store"
    ledger = Ledger()
    with MemoryCore(folder, embedder=HashEmbedder(), **OPTIONS) as memory:
        for user in ("keep", "gone"):
            for i in range(12):
                memory.add_message("s", "user" if i % 2 else "assistant", f"{user} says kword{user}{i}", user_id=user)
        memory.flush()
        for user in ("keep", "gone"):
            for record in memory.messages("s", user_id=user):
                ledger.texts[record.id], ledger.users[record.id] = record.text, user
                ledger.round_ids.append(record.id)
        gone_ids = [r.id for r in memory.export(user_id="gone")]
    process = python(KILL_AT, str(folder), point)
    out, errors = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, f"{point} was not reached: {out} {errors}"
    if point.startswith("forget"):
        # the forget committed in SQLite before the kill: the next open must finish it everywhere
        for record_id in gone_ids:
            ledger.texts.pop(record_id, None)
        ledger.doomed["gone"] = gone_ids
        ledger.forgotten.add("gone")
        ledger.round_ids = [i for i in ledger.round_ids if i not in gone_ids]
    check_store(folder, ledger, random.Random(SEED), samples=10)
    if point.startswith("forget"):
        assert not scan(folder, ["kwordgone"]), "a forgotten text is still in the store's files"
    with MemoryCore(folder, embedder=HashEmbedder(), **OPTIONS) as memory:
        memory.add_message("s", "user", "one more after the crash", user_id="keep")
        memory.flush()
        # the folding resumed: the summary stands for exactly the messages outside the window
        messages = {r.id for r in memory.messages("s", user_id="keep")}
        window = {r.id for r in memory.window("s", user_id="keep")}
        summary = memory.summary_record("s", user_id="keep")
        assert summary is not None and len(window) == 4
        assert set(summary.covers) == messages - window
