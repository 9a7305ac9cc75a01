"""Fuzzing the long-term memory API (kinds, links, history, expiry, cleanup): only documented
AgentMemoryErrors come out, and a refused call leaves every record and link as it was."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_memory_plugins import AgentMemoryError, MemoryCore, errors

from .support import HashEmbedder
from .test_fuzz import ANY, IDS, KINDS, METADATA, NUMBERS, SCALARS, TEXTS, TIMES

DOCUMENTED = {getattr(errors, name) for name in errors.__all__}
DURATIONS = st.one_of(SCALARS, TEXTS, st.sampled_from(["7d", "12h", "0s", "-1d", "1e400d", "inf", "nan", "3w"]))


def _snapshot(memory: MemoryCore) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    records = {
        r.id: (r.text, r.user_id, r.kind, r.superseded_by, r.times_seen, r.expires_at, dict(r.metadata))
        for user in memory.users() for r in memory.export(user_id=user)
    }
    links = memory.store._read("SELECT src, dst, relation, strength FROM links ORDER BY src, dst, relation")
    return records, links


@pytest.fixture(scope="module")
def core() -> Iterator[MemoryCore]:
    memory = MemoryCore(embedder=HashEmbedder(), background=False, max_content_chars=5000, max_metadata_bytes=2000)
    for user in ("alice", "bob"):
        fact = memory.remember("I live in Denver", user_id=user)
        skill = memory.add_skill("deploy", "make deploy", triggers=["ship it"], user_id=user)
        memory.link(fact.id, skill.id, user_id=user)
    yield memory
    memory.close()


def _ids(core: MemoryCore) -> st.SearchStrategy[Any]:
    known = [r.id for user in ("alice", "bob") for r in core.export(user_id=user)]
    return st.one_of(IDS, st.sampled_from(known or ["0" * 32]))


def _ops(ids: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    return st.one_of(
        st.tuples(st.just("remember"), st.fixed_dictionaries({"text": st.one_of(TEXTS, ANY)}, optional={
            "user_id": IDS, "kind": KINDS, "key": st.one_of(TEXTS, SCALARS), "ttl": DURATIONS,
            "consolidate": st.one_of(st.booleans(), SCALARS), "metadata": METADATA, "timestamp": TIMES})),
        st.tuples(st.just("set_preference"), st.fixed_dictionaries(
            {"key": st.one_of(TEXTS, SCALARS), "value": ANY}, optional={"user_id": IDS, "ttl": DURATIONS})),
        st.tuples(st.just("get_preference"), st.fixed_dictionaries(
            {"key": st.one_of(TEXTS, SCALARS)}, optional={"user_id": IDS})),
        st.tuples(st.just("add_skill"), st.fixed_dictionaries(
            {"name": st.one_of(TEXTS, SCALARS), "pattern": TEXTS},
            optional={"triggers": st.one_of(st.lists(TEXTS, max_size=3), ANY), "user_id": IDS, "metadata": METADATA})),
        st.tuples(st.just("find_skills"), st.fixed_dictionaries(
            {"query": TEXTS}, optional={"user_id": IDS, "k": NUMBERS})),
        st.tuples(st.just("record_skill_outcome"), st.fixed_dictionaries(
            {"skill_id": ids, "success": st.one_of(st.booleans(), SCALARS)}, optional={"user_id": IDS})),
        st.tuples(st.just("remember_event"), st.fixed_dictionaries(
            {"text": TEXTS}, optional={"when": TIMES, "outcome": st.one_of(TEXTS, SCALARS), "user_id": IDS})),
        st.tuples(st.just("link"), st.fixed_dictionaries(
            {"a": ids, "b": ids}, optional={"relation": st.one_of(TEXTS, SCALARS), "strength": NUMBERS,
                                            "user_id": IDS})),
        st.tuples(st.just("related"), st.fixed_dictionaries(
            {"memory_id": ids}, optional={"relation": st.one_of(TEXTS, SCALARS), "user_id": IDS})),
        st.tuples(st.just("history"), st.fixed_dictionaries({"memory_id": ids}, optional={"user_id": IDS})),
        st.tuples(st.just("records"), st.fixed_dictionaries({}, optional={
            "user_id": IDS, "kinds": KINDS, "limit": NUMBERS, "newest_first": ANY})),
        st.tuples(st.just("search"), st.fixed_dictionaries({"query": TEXTS}, optional={
            "user_id": IDS, "follow_links": st.one_of(st.booleans(), SCALARS)})),
        st.tuples(st.just("cleanup"), st.fixed_dictionaries({}, optional={
            "user_id": IDS, "older_than": DURATIONS, "min_importance": SCALARS, "kinds": KINDS,
            "dry_run": st.just(True)})),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_long_term_api_refuses_bad_input_cleanly(core: MemoryCore, data: st.DataObject) -> None:
    for name, kwargs in data.draw(st.lists(_ops(_ids(core)), min_size=1, max_size=6)):
        before = _snapshot(core)
        method: Callable[..., Any] = getattr(core, name)
        try:
            method(**kwargs)
        except AgentMemoryError as error:
            assert type(error) in DOCUMENTED and str(error), repr(error)
            assert _snapshot(core) == before, f"refused {name}({kwargs!r}) changed the store"
    core.flush()
