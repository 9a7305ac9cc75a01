"""Fuzzing the public API and the CLI with malformed, huge, empty and strange input: only the
documented AgentMemoryErrors come out (the CLI exits with 2, never a traceback), and afterwards the
store holds exactly what was accepted."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_memory_plugins import AgentMemoryError, MemoryCore, errors
from agent_memory_plugins.cli import main

from .support import HashEmbedder, python

DOCUMENTED = {getattr(errors, name) for name in errors.__all__}

def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"x": value}
    return value


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([10**400, -(10**400), 2**63, 0.5, math.nan, math.inf]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.binary(max_size=10),
)
NASTY_TEXT = st.sampled_from([
    "", " ", "\n\t", "\x00", "a\x00b", "\ud800", "ok \udfff text", "x" * 5001, "😀" * 10, "e\u0301", "\u200b",
    "NaN", "null", "' OR 1=1 --", '"', "*", "NEAR(a b)", "-x", "^", ":", "user_id", "\\", "%s", "{0}",
])
TEXTS = st.one_of(NASTY_TEXT, st.text(max_size=30), st.text(alphabet=st.characters(), max_size=30))
ANY = st.recursive(
    st.one_of(SCALARS, TEXTS),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.one_of(TEXTS, st.integers()), inner,
                                                                        max_size=3), st.tuples(inner)),
    max_leaves=6,
)
IDS = st.one_of(st.sampled_from(["s1", "s2", "alice", "bob", "default"]), TEXTS, SCALARS)
ROLES = st.one_of(st.sampled_from(["user", "assistant", "system", "tool", "human", "ai", "robot"]), ANY)
KINDS = st.one_of(st.sampled_from(["fact", "event", "preference", "skill", "summary", "message"]), ANY)
TIMES = st.one_of(
    st.none(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.datetimes(),
    st.datetimes(timezones=st.just(timezone(timedelta(hours=-12)))), TEXTS,
    st.sampled_from(["2024-05-08T13:56:00Z", "2024-13-45", "9999-12-31T23:59:59", "0001-01-01T00:00:00+14:00"]),
)
METADATA = st.one_of(
    st.none(), ANY, st.dictionaries(TEXTS, ANY, max_size=4),
    st.just({"a": math.nan}), st.builds(lambda: _nested(40)),
)
WHERES = st.one_of(
    st.none(), ANY, st.dictionaries(TEXTS, ANY, max_size=2),
    st.sampled_from([{"$and": []}, {"$or": [{}]}, {"a": {"$in": [math.nan]}}, {"a": {"$gt": "x"}},
                     {"$and": [{"a": 1}, {"b": {"$nin": ["x", 2]}}]}, {"a\"b": 1}, {"$.a": 1}]),
)
NUMBERS = st.one_of(st.integers(min_value=-5, max_value=50), st.sampled_from([10**9, 10**30, 1.5, "ten", None, True]),
                    SCALARS)


def _ops() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """One call of the public API with fuzzed arguments."""
    message = st.one_of(ANY, st.fixed_dictionaries(
        {"role": ROLES, "content": TEXTS}, optional={"timestamp": TIMES, "metadata": METADATA, "importance": SCALARS}
    ))
    return st.one_of(
        st.tuples(st.just("add_message"), st.fixed_dictionaries(
            {"session_id": IDS, "role": ROLES, "content": TEXTS},
            optional={"user_id": IDS, "agent_id": IDS, "timestamp": TIMES, "metadata": METADATA,
                      "importance": SCALARS})),
        st.tuples(st.just("add_messages"), st.fixed_dictionaries(
            {"session_id": IDS, "messages": st.one_of(st.lists(message, max_size=4), ANY)},
            optional={"user_id": IDS})),
        st.tuples(st.just("remember"), st.fixed_dictionaries(
            {"text": TEXTS}, optional={"user_id": IDS, "kind": KINDS, "timestamp": TIMES, "metadata": METADATA,
                                       "importance": SCALARS, "session_id": IDS})),
        st.tuples(st.just("search"), st.fixed_dictionaries(
            {"query": TEXTS}, optional={"user_id": IDS, "k": NUMBERS, "session_id": IDS, "kinds": KINDS,
                                        "where": WHERES, "agent_id": IDS})),
        st.tuples(st.just("context"), st.fixed_dictionaries(
            {"session_id": IDS}, optional={"query": st.one_of(TEXTS, ANY), "user_id": IDS, "max_tokens": NUMBERS,
                                           "k": NUMBERS})),
        st.tuples(st.just("forget"), st.fixed_dictionaries(
            {}, optional={"memory_id": st.one_of(IDS, st.just("0" * 32)), "session_id": IDS, "user_id": IDS})),
        st.tuples(st.just("get"), st.fixed_dictionaries({"memory_id": IDS}, optional={"user_id": IDS})),
        st.tuples(st.just("messages"), st.fixed_dictionaries({"session_id": IDS},
                                                             optional={"user_id": IDS, "limit": NUMBERS})),
        st.tuples(st.just("window"), st.fixed_dictionaries({"session_id": IDS}, optional={"user_id": IDS})),
        st.tuples(st.just("summary"), st.fixed_dictionaries({"session_id": IDS}, optional={"user_id": IDS})),
        st.tuples(st.just("export"), st.fixed_dictionaries({}, optional={"user_id": IDS})),
        st.tuples(st.just("sessions"), st.fixed_dictionaries({}, optional={"user_id": IDS})),
        st.tuples(st.just("stats"), st.fixed_dictionaries({}, optional={"user_id": IDS})),
    )


def stored(memory: MemoryCore) -> dict[str, tuple[str, str, str | None, str]]:
    """Every record but summaries: id -> (text, user, session, kind)."""
    return {
        r.id: (r.text, r.user_id, r.session_id, r.kind)
        for user in memory.users() for r in memory.export(user_id=user) if r.kind != "summary"
    }


def apply(model: dict[str, tuple[str, str, str | None, str]], name: str, kwargs: dict[str, Any], result: Any) -> None:
    """What an accepted call changed, by the API's own contract."""
    if name in ("add_message", "remember"):
        model[result.id] = (result.text, result.user_id, result.session_id, result.kind)
    elif name == "add_messages":
        model.update((r.id, (r.text, r.user_id, r.session_id, r.kind)) for r in result)
    elif name == "forget":
        user, session, memory_id = kwargs.get("user_id"), kwargs.get("session_id"), kwargs.get("memory_id")
        if memory_id is not None:
            gone = [i for i, v in model.items() if i == memory_id and (user is None or v[1] == user)]
        elif session is not None:
            gone = [i for i, v in model.items() if v[1] == (user or "default") and v[2] == session]
        else:
            gone = [i for i, v in model.items() if v[1] == user]
        assert result == len(gone), (kwargs, result, gone)
        for record_id in gone:
            del model[record_id]


@pytest.fixture(scope="module")
def core() -> Iterator[MemoryCore]:
    memory = MemoryCore(embedder=HashEmbedder(), background=False, window_messages=3, fold_batch=2,
                        max_content_chars=5000, max_metadata_bytes=2000)
    yield memory
    memory.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(ops=st.lists(_ops(), min_size=1, max_size=8))
def test_public_api_refuses_bad_input_cleanly(core: MemoryCore, ops: list[tuple[str, dict[str, Any]]]) -> None:
    model = stored(core)
    for name, kwargs in ops:
        method: Callable[..., Any] = getattr(core, name)
        try:
            result = method(**kwargs)
        except AgentMemoryError as error:
            assert type(error) in DOCUMENTED and str(error), repr(error)
        else:
            apply(model, name, kwargs, result)
        assert stored(core) == model, f"{name}({kwargs!r}) changed the store unexpectedly"
    core.flush()  # indexing and folding whatever was accepted works too
    assert core.stats()["vectors"] == core.stats()["records"]


def test_deep_and_huge_input_is_refused_cleanly(core: MemoryCore) -> None:
    before = stored(core)
    calls: list[Callable[[], Any]] = [
        lambda: core.add_message("s", "user", "deep", metadata=_nested(5000)),
        lambda: core.add_message("s", "user", "x" * 10_000_000),
        lambda: core.add_message("s", "user", "big int", timestamp=10**400),
        lambda: core.add_message("s", "user", "big int", importance=10**400),
        lambda: core.search("x", where=_nested(5000)),
        lambda: core.search("x", where={"$and": [{"$or": [{"$and": [{"a": {"$in": list(range(100_000))}}]}]}]}),
        lambda: core.add_messages("s", None),  # type: ignore[arg-type]
        lambda: core.add_messages("s", 42),  # type: ignore[arg-type]
        lambda: core.messages("s", limit="ten"),  # type: ignore[arg-type]
        lambda: core.context("s", "query", k="five"),  # type: ignore[arg-type]
    ]
    for call in calls:
        with contextlib.suppress(AgentMemoryError):
            call()
    assert stored(core) == before


# -- the command line -------------------------------------------------------------------------

def run_cli(args: list[str]) -> tuple[int, str, str]:
    """``agent-memory args`` in this process: exit status, stdout, stderr (tracebacks fail)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exit_:  # argparse refusing the arguments
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


CLI_TEXT = st.one_of(NASTY_TEXT.filter(lambda t: "\x00" not in t and not re.search(r"[\ud800-\udfff]", t)),
                     st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                             max_size=20))
CLI_ARGS = st.one_of(
    st.tuples(st.just("add"), st.text(alphabet="abcdefgh xyz", min_size=1, max_size=20).filter(str.strip),
              st.sampled_from([["--session", "s1"], ["--session", "s2", "--role", "ai"], []]), st.just([])),
    st.tuples(st.just("add"), CLI_TEXT, st.sampled_from([[], ["--session", "s1"], ["--kind", "fact"]]),
              st.sampled_from([[], ["--role", "robot"], ["--kind", "opinion"], ["--user", ""], ["--user", "bob"]])),
    st.tuples(st.just("search"), CLI_TEXT, st.sampled_from([[], ["-k", "0"], ["-k", "-3"], ["-k", "x"],
                                                            ["--kind", "nope"], ["--session", ""]]), st.just([])),
    st.tuples(st.just("forget"), st.just(""), st.sampled_from([[], ["--id", "nope"], ["--id", "0" * 32],
                                                               ["--session", "s1"], ["--all", "--user", "bob"]]),
              st.just([])),
    st.tuples(st.sampled_from(["show", "export", "stats", "sessions", "frobnicate"]), CLI_TEXT,
              st.just([]), st.sampled_from([[], ["--user", "\t"], ["--json"]])),
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(CLI_ARGS, min_size=1, max_size=3))
def test_cli_refuses_bad_input_with_status_2(cli_store: Path, calls: list[tuple[str, str, list[str], list[str]]]
                                             ) -> None:
    for command, text, options, more in calls:
        args = [command] + ([text] if command in ("add", "search", "show") else []) + options + more
        before = record_ids(cli_store)
        code, out, err = run_cli([*args, "--path", str(cli_store)])
        assert "Traceback" not in err and code in (0, 1, 2), (args, code, err)
        if code == 1:  # kept for errors that are not the caller's input (none expected here)
            pytest.fail(f"{args}: {err}")
        if code == 2:  # refused: one line saying why, and nothing changed
            assert err.startswith("agent-memory: ") or err.startswith("usage:"), err
            assert record_ids(cli_store) == before, args
        elif command == "add":  # accepted: exactly the one record it printed was added
            assert record_ids(cli_store) - before == {out.strip()}, (args, out)
    code, out, err = run_cli(["export", "--path", str(cli_store), "--user", "default"])
    lines = [line for line in out.split("\n") if line]  # JSONL: \u2028 and friends stay raw inside strings
    assert code == 0 and all(json.loads(line)["user_id"] == "default" for line in lines)


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli") / "store"


IMPORT_LINES = st.lists(st.one_of(
    st.fixed_dictionaries({"session_id": st.sampled_from(["s1", "s2"]), "content": CLI_TEXT,
                           "role": st.one_of(st.sampled_from(["user", "ai", "robot"]), st.none(), st.integers())},
                          optional={"timestamp": st.sampled_from([0, "2024-01-01", "yesterday", 1e30]),
                                    "user_id": st.sampled_from(["imp", "imp2"])}).map(json.dumps),
    st.sampled_from(["", "{", "[1]", "null", '{"role": "user"}', "\"text\"", '{"session_id": "s1"}']),
), min_size=1, max_size=6)


def record_ids(store: Path) -> set[str]:
    """Ids of the records (but summaries) in the CLI's store, straight from SQLite."""
    if not (store / "memory.db").exists():
        return set()
    with contextlib.closing(sqlite3.connect(store / "memory.db")) as db:
        return {row[0] for row in db.execute("SELECT id FROM records WHERE kind != 'summary'")}


def count_messages(store: Path) -> int:
    """Messages in the CLI's store, read straight from SQLite (quicker than another CLI run)."""
    if not (store / "memory.db").exists():
        return 0
    with contextlib.closing(sqlite3.connect(store / "memory.db")) as db:
        return int(db.execute("SELECT COUNT(*) FROM records WHERE kind = 'message'").fetchone()[0])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=IMPORT_LINES)
def test_cli_import_stores_exactly_what_it_reports(cli_store: Path, tmp_path_factory: pytest.TempPathFactory,
                                                   lines: list[str]) -> None:
    source = tmp_path_factory.mktemp("import") / "data.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = count_messages(cli_store)
    code, out, err = run_cli(["import", str(source), "--path", str(cli_store), "--json"])
    assert "Traceback" not in err and code in (0, 2), err
    stopped = re.search(r"import stopped after (\d+) messages", err)  # else refused before any write
    imported = json.loads(out)["imported"] if code == 0 else int(stopped.group(1)) if stopped else 0
    assert count_messages(cli_store) - before == imported, (lines, err)


def test_cli_in_a_subprocess_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    for args in (["add", "", "--session", "s"], ["forget", "--id", "bad"], ["import", str(tmp_path / "none.jsonl")]):
        process = python("import sys; from agent_memory_plugins.cli import main; sys.exit(main(sys.argv[1:]))",
                         *args, "--path", str(folder))
        _, err = process.communicate(timeout=120)
        expected = 1 if args[0] == "import" else 2  # a missing file is not bad input to the library
        assert process.returncode == expected and "Traceback" not in err, (args, err)
        assert err.startswith("agent-memory: ") and len(err.strip().splitlines()) == 1, err
