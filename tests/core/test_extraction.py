"""Extraction off the write path: a fake model over a 40-turn conversation, failures, cost, kills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.longterm.extraction import Extracted, parse_lines, parse_structured
from agent_memory_plugins.errors import ConfigurationError

from .extraction_fakes import EXPECTED_EVENT, EXPECTED_FACTS, FakeExtractor, conversation, hash_embedder

HERE = Path(__file__).parent


def _open(path: Path | None, extractor: object, **settings: object) -> MemoryCore:
    return MemoryCore(path, embedder=hash_embedder, extractor=extractor, extract_batch=10, **settings)


def _facts(core: MemoryCore, user: str = "ana") -> dict[str, int]:
    return {r.text: r.times_seen for r in core.records(user_id=user, kinds=["fact"])}


def test_parse_lines_keeps_the_three_forms_and_ignores_the_rest() -> None:
    answer = ("Sure!\nfact: Ana lives in Porto\n  - Preference: language = French\n2. event: Ana moved in May\n"
              "preference: no equals sign\nfact:   \nnote: ignored\nfact: Ana lives in Porto\nnone")
    assert parse_lines(answer) == [
        Extracted("fact", "Ana lives in Porto"), Extracted("preference", "French", "language"),
        Extracted("event", "Ana moved in May"),
    ]
    structured = {"memories": [{"kind": "fact", "text": "Ana codes"}, {"kind": "preference", "text": "tea",
                                                                        "key": "drink"}, {"kind": "x", "text": "y"}]}
    assert parse_structured(structured) == [Extracted("fact", "Ana codes"), Extracted("preference", "tea", "drink")]


def test_forty_turns_become_memories_linked_to_their_messages() -> None:
    model = FakeExtractor()
    with _open(None, model) as core:
        for message in conversation():
            core.add_message("s1", message["role"], message["content"], user_id="ana")
        core.flush()
        facts = _facts(core)
        assert set(facts) == EXPECTED_FACTS
        assert facts["The user has a cat named Rex8"] == 2  # said again at turn 36: consolidated
        (event,) = core.records(user_id="ana", kinds=["event"])
        assert event.text == EXPECTED_EVENT
        assert core.preferences(user_id="ana") == {"morning drink": "coffee"}  # the later one supersedes
        messages = {m.id: m for m in core.messages("s1", user_id="ana")}
        for record in core.records(user_id="ana", kinds=["fact", "event", "preference"]):
            assert record.session_id == "s1" and record.metadata["source"] == "extraction"
            (source,) = [messages[i] for i in record.metadata["derived_from"]]
            assert source.role == "user"
        marathon = [messages[i].text for i in event.metadata["derived_from"]]
        assert marathon == ["I ran the Porto marathon on May 3"]
        assert model.calls == 8  # 80 messages in batches of 10
        assert sorted(i for batch in model.batches for i in batch) == sorted(messages)  # each message once
        stats = core.stats(user_id="ana")["extraction"]
        assert stats["calls"] == 8 and stats["errors"] == 0 and stats["memories"] == 12
        view = core.inspect("s1", user_id="ana")
        assert "extracted from 1 message" in view._repr_html_()
        assert core.search("which cat", user_id="ana", k=3)  # stored through remember: indexed and found


def test_without_an_extractor_nothing_is_extracted() -> None:
    with MemoryCore(embedder=hash_embedder) as core:
        core.add_messages("s1", conversation(5), user_id="ana")
        core.flush()
        assert core.records(user_id="ana", kinds=["fact", "event", "preference"]) == []
        assert "extraction" not in core.stats()
    with pytest.raises(ConfigurationError, match="extractor must be"):
        MemoryCore(extractor=42)


class Gate:
    """A hook that holds the model call until :meth:`open`; ``entered`` is set once it waits."""

    def __init__(self) -> None:
        self.entered, self._open = threading.Event(), threading.Event()

    def __call__(self, call: int) -> None:
        self.entered.set()
        self._open.wait(30)

    def open(self) -> None:
        self._open.set()


def _held_in_the_model() -> tuple[MemoryCore, Gate]:
    """A core whose worker is inside the model call over five turns of ana's session s1."""
    gate = Gate()
    core = _open(None, FakeExtractor(gate), index_interval=0.0)
    core.add_messages("s1", conversation(5), user_id="ana")
    assert gate.entered.wait(20)
    return core, gate


def test_the_write_path_never_waits_for_the_model() -> None:
    core, gate = _held_in_the_model()
    with core:
        began = time.monotonic()
        core.add_message("s1", "user", "I have a cat named Rex99", user_id="ana")
        assert time.monotonic() - began < 1.0
        gate.open()
        core.flush()
        assert "The user has a cat named Rex99" in _facts(core)


def test_forgetting_a_session_while_the_model_reads_it_leaves_nothing() -> None:
    core, gate = _held_in_the_model()
    with core:
        core.forget(session_id="s1", user_id="ana")
        gate.open()
        core.flush()
        assert core.records(user_id="ana") == [] and core.store.extraction_state("ana", "s1").pending is None


def test_a_failing_model_is_retried_with_backoff_and_reported() -> None:
    def fail_twice(call: int) -> None:
        if call <= 2:
            raise RuntimeError(f"model overloaded ({call})")

    with _open(None, FakeExtractor(fail_twice)) as core:
        core.add_messages("s1", conversation(5), user_id="ana")  # never raises
        core.flush()  # neither does flush
        stats = core.stats()["extraction"]
        assert stats["errors"] == 1 and stats["last_error"] == "RuntimeError: model overloaded (1)"
        assert stats["retrying"] == 1 and _facts(core) == {}
        core.flush()  # inside the backoff: no new call
        assert core.stats()["extraction"]["calls"] == 1
        deadline = time.monotonic() + 20
        while set(_facts(core)) != {"The user has a cat named Rex4"} and time.monotonic() < deadline:
            time.sleep(0.2)  # the worker retries after 1 s, fails, then after 2 s more
            core.flush()
        assert _facts(core) == {"The user has a cat named Rex4": 1}
        stats = core.stats()["extraction"]
        assert stats["errors"] == 2 and stats["retrying"] == 0 and stats["calls"] == 3


def test_calls_per_minute_are_capped() -> None:
    model = FakeExtractor()
    with _open(None, model, extract_calls_per_minute=2, background=False) as core:
        for session in ("a", "b", "c"):
            core.add_messages(session, conversation(5), user_id="ana")
        core.flush()
        assert model.calls == 2 and core.stats()["extraction"]["calls"] == 2
        assert len(core.store.sessions_to_extract(10)) == 1


def test_a_partial_batch_waits_until_idle_or_flush() -> None:
    model = FakeExtractor()
    with _open(None, model, extract_idle=0.5) as core:
        core.add_messages("s1", conversation(2), user_id="ana")  # 4 messages: under a batch of 10
        deadline = time.monotonic() + 15
        while model.calls == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert model.calls == 1  # the idle worker took it without a flush


SCRIPT = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {here!r})
    from core.extraction_fakes import FakeExtractor, conversation, hash_embedder
    from agent_memory_plugins import MemoryCore

    marker = {marker!r}
    where = {where!r}

    def hook(call):
        if where == "model" and call == 3:
            open(marker, "w").close()
            time.sleep(120)

    core = MemoryCore({path!r}, embedder=hash_embedder, extractor=FakeExtractor(hook), extract_batch=10,
                      background=False)
    if where == "store":
        remember, stored = core.remember, []

        def remember_then_hang(*args, **kwargs):
            record = remember(*args, **kwargs)
            stored.append(record)
            if len(stored) == 3:  # the second memory of the second batch (stored, not yet counted)
                open(marker, "w").close()
                time.sleep(120)
            return record

        core.remember = remember_then_hang
    core.add_messages("s1", conversation(), user_id="ana")
    core.flush()
""")


@pytest.mark.parametrize("where", ["model", "store"])
def test_a_kill_during_extraction_loses_and_repeats_nothing(tmp_path: Path, where: str) -> None:
    path, marker = tmp_path / "store", tmp_path / "killed-here"
    script = SCRIPT.format(here=str(HERE.parent), marker=str(marker), where=where, path=str(path))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", script], env=environment)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the child never reached the point to kill"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    model = FakeExtractor()
    with _open(path, model) as core:
        before = core.store.extraction_state("ana", "s1")
        if where == "store":
            assert before.pending is not None  # the answer was kept: it is stored, not asked again
        core.flush()
        facts = _facts(core)
        assert set(facts) == EXPECTED_FACTS
        assert all(seen == (2 if "Rex8" in text else 1) for text, seen in facts.items()), facts
        assert [r.text for r in core.records(user_id="ana", kinds=["event"])] == [EXPECTED_EVENT]
        assert core.preferences(user_id="ana") == {"morning drink": "coffee"}
        tea = [r for r in core.records(user_id="ana", kinds=["preference"]) if r.metadata["value"] == "tea"]
        assert [r.times_seen for r in tea] == [1]  # stored before the kill, found by its marker, not again
        assert core.store.extraction_state("ana", "s1").pending is None
        asked = {i for batch in model.batches for i in batch}
        assert model.calls == 8 - 2  # batches 1 and 2 were done (or their answer kept) before the kill
        assert len(asked) == 60
