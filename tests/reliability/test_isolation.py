"""Many users in one store: no read, search, context, export or adapter call returns another user's
record, whatever the ids, the query (FTS5 operators, wildcards, injection-like text) or the ``where``
filter (naming other users, or metadata keys called ``user_id``). Hypothesis drives the inputs."""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import BaseMessage
from llama_index.core.schema import QueryBundle

from agent_memory_plugins import AgentMemoryError, MemoryCore, NotFoundError
from agent_memory_plugins.langchain import ChatHistory, MemoryStore
from agent_memory_plugins.langchain import MemoryRetriever as LangChainRetriever
from agent_memory_plugins.llama_index import MemoryRetriever as LlamaRetriever

from .support import HashEmbedder

TRICKY = [
    "*", '"', "(", ")", ":", "^", "NEAR", "OR", "AND", "NOT", "-", "alice*", '"bob"', "NEAR(alice bob)",
    "user_id:alice", "text:secret", "^secret", "-secret", "a OR b", "' OR '1'='1", "'; DROP TABLE records; --",
    "%", "_", "\\", "$eq", "{}", "[]", "records_fts", "user_id", "default", "secret*", "*secret*",
]
USERS = ["alice", "bob", "Alice", "alice ", "al%", "al_ice", "*", "' OR 1=1 --", '" OR ""="', "user_id",
         "default", "ａｌｉｃｅ", "ali\u0301ce", "x" * 256]
WORDS = st.sampled_from(["secret", "alice", "bob", "denver", "cello", "volvo", "NEAR", "OR", "*", "x"])
TEXT = st.one_of(
    st.sampled_from(TRICKY),
    st.lists(WORDS, min_size=1, max_size=6).map(" ".join),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
).filter(lambda text: bool(text.strip()))
IDS = st.one_of(
    st.sampled_from(USERS),
    st.text(alphabet=string.ascii_letters + string.digits + " %_*'\"-:().", min_size=1, max_size=12),
).filter(lambda value: bool(value.strip()))


WHERES = [  # filters that name another user in every way a caller might try
    lambda u, t: None,
    lambda u, t: {"user_id": u},
    lambda u, t: {"owner": u},
    lambda u, t: {"$or": [{"user_id": u}, {"owner": {"$ne": u}}]},
    lambda u, t: {"owner": {"$in": [u, t, "alice"]}},
    lambda u, t: {"user_id": {"$ne": u}},
    lambda u, t: {"session_id": {"$in": ["s", u]}},
    lambda u, t: {"tag": t},
    lambda u, t: {t: u},
]


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[MemoryCore, dict[str, str]]]:
    """One store for every example (isolation must hold however much is in it) and the true owner
    of each record id."""
    core = MemoryCore(embedder=HashEmbedder(), window_messages=3, fold_batch=2, index_interval=0.0)
    yield core, {}
    core.close()


WRITE = st.tuples(IDS, IDS, TEXT, st.sampled_from(TRICKY), st.booleans())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), writes=st.lists(WRITE, min_size=2, max_size=8))
def test_no_call_returns_another_users_record(shared: tuple[MemoryCore, dict[str, str]], data: Any,
                                              writes: list[tuple[str, str, str, str, bool]]) -> None:
    memory, owner = shared
    for user, session, text, tag, is_fact in writes:
        # metadata that claims other owners: it must never widen what a user can see
        metadata = {"owner": user, "user_id": "alice", "tag": tag, "session_id": "s"}
        if is_fact:
            record = memory.remember(text, user_id=user, metadata=metadata)
        else:
            record = memory.add_message(session, "user", text, user_id=user, metadata=metadata)
        owner[record.id] = user
    memory.flush()
    # draws never depend on what earlier examples stored (so Hypothesis can replay and shrink)
    users = sorted(set(owner.values()))
    user = users[data.draw(st.integers(0, 1000), "user") % len(users)]
    other = users[data.draw(st.integers(0, 1000), "other user") % len(users)]
    sessions = memory.sessions(user_id=user) or ["no-such-session"]
    session = sessions[data.draw(st.integers(0, 1000), "session") % len(sessions)]
    query = data.draw(TEXT, "query")
    where = data.draw(st.sampled_from(WHERES), "where")(other, data.draw(st.sampled_from(TRICKY), "tag"))

    def mine(ids: list[str]) -> None:
        strangers = [(i, owner.get(i)) for i in ids if owner.get(i) != user]
        summaries = [i for i, known in strangers if known is None]
        for summary_id in summaries:  # summaries are written by the store: check them by content
            record = memory.get(summary_id, user_id=user)
            assert record.kind == "summary" and all(owner[i] == user for i in record.covers)
        assert [s for s in strangers if s[0] not in summaries] == [], f"{user!r} saw another user's record"

    try:
        hits = memory.search(query, user_id=user, k=10, where=where)
    except AgentMemoryError:
        hits = []  # a filter the store refuses is fine; a leak is not
    mine([hit.record.id for hit in hits])
    mine([hit.record.id for hit in memory.search(query, user_id=user, k=10, session_id=session)])
    context = memory.context(session, query, user_id=user, max_tokens=2000)
    mine([hit.record.id for hit in context.recalled] + [record.id for record in context.window])
    mine([record.id for record in memory.export(user_id=user)])
    mine([record.id for record in memory.messages(session, user_id=user)])
    mine([record.id for record in memory.window(session, user_id=user)])
    assert set(memory.sessions(user_id=user)) == {
        r.session_id for r in memory.export(user_id=user) if r.session_id is not None
    }
    summary = memory.summary_record(session, user_id=user)
    if summary is not None:
        mine([summary.id, *summary.covers])
    # adapters: LangChain retriever and chat history, LlamaIndex retriever
    documents = LangChainRetriever(core=memory, user_id=user, k=10).invoke(query, where=where) if where is None \
        else _safe(lambda: LangChainRetriever(core=memory, user_id=user, k=10).invoke(query, where=where))
    mine([str(document.id) for document in documents or []])
    nodes = LlamaRetriever.from_defaults(core=memory, user_id=user, similarity_top_k=10).retrieve(QueryBundle(query))
    mine([node.node.id_ for node in nodes])
    history: list[BaseMessage] = ChatHistory(core=memory, session_id=session, user_id=user).messages
    allowed = {r.text for r in memory.export(user_id=user)}
    assert all(str(message.content) in allowed or "Summary" in str(message.content) for message in history)
    # another user's record cannot be read or forgotten by id
    stranger = next((i for i, u in owner.items() if u != user), None)
    if stranger is not None:
        with pytest.raises(NotFoundError):
            memory.get(stranger, user_id=user)
        assert memory.forget(memory_id=stranger, user_id=user) == 0
        assert memory.get(stranger, user_id=owner[stranger]).id == stranger


def _safe(call: Any) -> Any:
    try:
        return call()
    except AgentMemoryError:
        return []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=st.sampled_from(USERS), other=st.sampled_from(USERS), text=TEXT, query=TEXT)
def test_langgraph_store_namespaces_do_not_cross_users(shared: tuple[MemoryCore, dict[str, str]], user: str,
                                                       other: str, text: str, query: str) -> None:
    memory, _ = shared
    store = MemoryStore(core=memory)
    store.put((user, "notes"), "k1", {"text": text, "who": user})
    store.put((other, "notes"), "k1", {"text": text, "who": other})
    memory.flush()
    for prefix, filter_ in (((user,), None), ((user,), {"who": other}), ((user, "notes"), {"who": user})):
        items = store.search(prefix, query=query, filter=filter_, limit=20)
        assert all(item.namespace[0] == user and item.value["who"] == user for item in items)
    got = store.get((user, "notes"), "k1")
    assert got is not None and got.value["who"] == user
