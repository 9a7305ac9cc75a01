"""MemoryStore as a LangGraph BaseStore: direct use, in a compiled StateGraph and in create_agent."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TypedDict

import pytest
from langchain.agents import create_agent
from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import GetOp, InvalidNamespaceError, ListNamespacesOp, MatchCondition, PutOp, SearchOp
from lc_fakes import RecordingChatModel

from agent_memory_plugins import InvalidFilterError, InvalidInputError, MemoryCore
from agent_memory_plugins.langchain import MemoryRetriever, MemoryStore


@pytest.fixture
def store(memory: MemoryCore) -> MemoryStore:
    return MemoryStore(core=memory)


def test_put_get_replace_delete(store: MemoryStore, memory: MemoryCore) -> None:
    assert store.get(("alice", "preference"), "drink") is None
    store.put(("alice", "preference"), "drink", {"text": "Alice drinks green tea", "topic": "food"})
    item = store.get(("alice", "preference"), "drink")
    assert item is not None and item.value == {"text": "Alice drinks green tea", "topic": "food"}
    assert item.namespace == ("alice", "preference") and item.key == "drink"
    created = item.created_at
    time.sleep(0.01)

    store.put(("alice", "preference"), "drink", {"text": "Alice drinks black coffee", "topic": "food"})
    replaced = store.get(("alice", "preference"), "drink")
    assert replaced is not None and replaced.value["text"] == "Alice drinks black coffee"
    assert replaced.created_at == created and replaced.updated_at > created
    memory.flush()
    hits = memory.search("what does Alice drink?", user_id="alice", k=10)
    assert [h.record.text for h in hits] == ["Alice drinks black coffee"]  # the old record is gone
    assert hits[0].record.kind == "preference"

    store.delete(("alice", "preference"), "drink")
    assert store.get(("alice", "preference"), "drink") is None
    assert memory.stats(user_id="alice")["records"] == 0
    assert store.get(("bob", "preference"), "drink") is None


def test_namespaces_map_to_users_and_kinds(store: MemoryStore, memory: MemoryCore) -> None:
    store.put(("alice",), "a", {"content": "plain fact"})
    store.put(("alice", "event", "2024"), "b", {"memory": "went to Rome"})
    store.put(("alice", "notes"), "c", {"n": 1, "tags": ["x"]})
    store.put(("bob", "skill"), "d", {"text": "can juggle"})
    memory.flush()
    records = {h.record.text: h.record for h in memory.search("plain fact Rome tags", user_id="alice", k=10)}
    assert {text: r.kind for text, r in records.items()} == {
        "plain fact": "fact", "went to Rome": "event", '{"n": 1, "tags": ["x"]}': "fact"}
    assert all(r.user_id == "alice" for r in records.values())
    assert store.get(("alice", "notes"), "c").value == {"n": 1, "tags": ["x"]}  # type: ignore[union-attr]
    assert store.get(("alice",), "d") is None


def test_semantic_search_filters_and_paging(store: MemoryStore, memory: MemoryCore) -> None:
    store.put(("alice", "preference"), "drink", {"text": "Alice drinks green tea every morning", "topic": "food"})
    store.put(("alice", "preference"), "seat", {"text": "Alice wants a window seat on planes", "topic": "travel"})
    store.put(("alice", "fact"), "home", {"text": "Alice lives in Denver, Colorado", "topic": "home"})
    store.put(("alice", "fact"), "pet", {"text": "Alice has a cat named Miso", "topic": "home", "age": 3})
    store.put(("bob", "fact"), "home", {"text": "Bob lives in Denver too", "topic": "home"})
    memory.flush()

    top = store.search(("alice",), query="which city does she live in?", limit=2)
    assert top[0].key == "home" and top[0].namespace == ("alice", "fact") and top[0].score is not None
    assert top[0].score >= top[1].score  # type: ignore[operator]
    assert all(item.namespace[0] == "alice" for item in store.search(("alice",), query="Denver", limit=10))

    assert store.search(("alice", "preference"), query="morning drink", limit=5)[0].key == "drink"
    assert {i.key for i in store.search(("alice", "preference"), query="Denver", limit=10)} <= {"drink", "seat"}
    assert [i.key for i in store.search(("alice",), query="Denver", filter={"topic": "travel"})] == ["seat"]
    assert [i.key for i in store.search(("alice",), filter={"age": {"$gte": 2}})] == ["pet"]

    listed = store.search(("alice",), limit=10)
    assert [i.key for i in listed] == ["pet", "home", "seat", "drink"]  # newest first
    assert [i.key for i in store.search(("alice",), limit=2, offset=1)] == ["home", "seat"]
    assert all(i.score is None for i in listed)
    assert {(i.namespace[0], i.key) for i in store.search((), query="Denver", limit=20)} >= {
        ("alice", "home"), ("bob", "home")}
    with pytest.raises(InvalidFilterError):
        store.search(("alice",), filter={"topic": {"$regex": "t.*"}})


def test_index_choices(store: MemoryStore, memory: MemoryCore) -> None:
    store.put(("u",), "fields", {"title": "Quarterly plan", "body": {"summary": "hire two engineers"}},
              index=["body.summary"])
    store.put(("u",), "hidden", {"text": "secret engineers roadmap"}, index=False)
    memory.flush()
    texts = {h.record.metadata["_lg_key"]: h.record.text for h in memory.search("engineers", user_id="u", k=5)}
    assert texts["fields"] == "hire two engineers"
    assert [i.key for i in store.search(("u",), query="engineers roadmap")] == ["fields"]
    assert {i.key for i in store.search(("u",))} == {"fields", "hidden"}
    with pytest.raises(InvalidInputError, match="reserved"):
        store.put(("u",), "bad", {"_lg_key": "x"})


def test_list_namespaces(store: MemoryStore) -> None:
    for namespace in [("a", "fact"), ("a", "event", "2024"), ("a", "event", "2025"), ("b", "fact")]:
        store.put(namespace, "k", {"text": "something worth keeping"})
    assert store.list_namespaces() == [("a", "event", "2024"), ("a", "event", "2025"), ("a", "fact"), ("b", "fact")]
    assert store.list_namespaces(prefix=("a",), max_depth=2) == [("a", "event"), ("a", "fact")]
    assert store.list_namespaces(suffix=("fact",)) == [("a", "fact"), ("b", "fact")]
    assert store.list_namespaces(prefix=("*", "event")) == [("a", "event", "2024"), ("a", "event", "2025")]
    assert store.list_namespaces(limit=1, offset=1) == [("a", "event", "2025")]
    store.delete(("b", "fact"), "k")
    assert store.list_namespaces(prefix=("b",)) == []


def test_batch_and_validation(store: MemoryStore) -> None:
    results = store.batch([
        PutOp(("u", "fact"), "k1", {"text": "one"}),
        PutOp(("u", "fact"), "k2", {"text": "two"}),
        GetOp(("u", "fact"), "k1"),
        PutOp(("u", "fact"), "k1", None),
        GetOp(("u", "fact"), "k1"),
        SearchOp(("u",), limit=5),
        ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("u",)),)),
    ])
    assert results[0] is None and results[1] is None
    assert results[2].value == {"text": "one"}  # type: ignore[union-attr]
    assert results[4] is None
    assert [i.key for i in results[5]] == ["k2"]  # type: ignore[union-attr]
    assert results[6] == [("u", "fact")]
    with pytest.raises(InvalidNamespaceError):
        store.put((), "k", {"text": "x"})
    with pytest.raises(InvalidNamespaceError):
        store.put(("u.v",), "k", {"text": "x"})


async def test_async_operations(store: MemoryStore, memory: MemoryCore) -> None:
    await store.aput(("u", "fact"), "city", {"text": "The user lives in Ghent"})
    item = await store.aget(("u", "fact"), "city")
    assert item is not None and item.value["text"] == "The user lives in Ghent"
    await memory.aflush()
    found = await store.asearch(("u",), query="where does the user live?")
    assert [i.key for i in found] == ["city"]
    assert await store.alist_namespaces() == [("u", "fact")]
    results = await store.abatch([GetOp(("u", "fact"), "city"), PutOp(("u", "fact"), "city", None)])
    assert results[0].key == "city"  # type: ignore[union-attr]
    assert await store.aget(("u", "fact"), "city") is None


class GraphState(TypedDict):
    mode: str
    text: str
    answer: str


def memory_node(state: GraphState, runtime: Runtime[dict[str, str]]) -> dict[str, str]:
    assert runtime.store is not None
    user = runtime.context["user_id"]
    if state["mode"] == "save":
        runtime.store.put((user, "fact"), "home", {"text": state["text"]})
        return {"answer": "saved"}
    found = runtime.store.search((user,), query=state["text"], limit=1)
    return {"answer": found[0].value["text"] if found else "nothing"}


def test_state_graph_compiled_with_the_store(store: MemoryStore, memory: MemoryCore) -> None:
    builder = StateGraph(GraphState)
    builder.add_node("memory", memory_node)
    builder.add_edge(START, "memory")
    builder.add_edge("memory", END)
    graph = builder.compile(store=store, checkpointer=InMemorySaver())

    saved = graph.invoke({"mode": "save", "text": "I live in Bergen", "answer": ""},
                         {"configurable": {"thread_id": "1"}}, context={"user_id": "alice"})
    assert saved["answer"] == "saved"
    memory.flush()
    found = graph.invoke({"mode": "ask", "text": "where do I live?", "answer": ""},
                         {"configurable": {"thread_id": "2"}}, context={"user_id": "alice"})
    assert found["answer"] == "I live in Bergen"
    other = graph.invoke({"mode": "ask", "text": "where do I live?", "answer": ""},
                         {"configurable": {"thread_id": "3"}}, context={"user_id": "bob"})
    assert other["answer"] == "nothing"
    # the same memory, found by the retriever too
    docs = MemoryRetriever(core=memory, user_id="alice").invoke("Bergen")
    assert docs[0].page_content == "I live in Bergen" and docs[0].metadata["_lg_key"] == "home"


@tool
def save_memory(text: str, runtime: ToolRuntime) -> str:
    """Save a memory about the user."""
    assert runtime.store is not None
    user = runtime.config["configurable"]["user_id"]
    runtime.store.put((user, "preference"), str(len(text)), {"text": text})
    return "saved"


@tool
def recall(query: str, runtime: ToolRuntime) -> str:
    """Recall memories about the user."""
    assert runtime.store is not None
    user = runtime.config["configurable"]["user_id"]
    return "\n".join(i.value["text"] for i in runtime.store.search((user,), query=query, limit=3)) or "none"


def scripted_tools(messages: list[BaseMessage]) -> AIMessage:
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return AIMessage(f"tool said: {last.text}")
    assert isinstance(last, HumanMessage)
    name = "save_memory" if last.text.startswith("save:") else "recall"
    args = {"text": last.text[5:]} if name == "save_memory" else {"query": last.text}
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"c-{last.id}", "type": "tool_call"}])


def test_create_agent_tools_use_the_store(store: MemoryStore, memory: MemoryCore) -> None:
    model = RecordingChatModel(reply=scripted_tools)
    agent = create_agent(model, tools=[save_memory, recall], store=store, checkpointer=InMemorySaver())

    def run(text: str, thread: str, user: str) -> str:
        result = agent.invoke({"messages": [{"role": "user", "content": text}]},
                              {"configurable": {"thread_id": thread, "user_id": user}})
        return str(result["messages"][-1].text)

    assert run("save:I am vegetarian", "t1", "alice") == "tool said: saved"
    memory.flush()
    assert run("what do I eat?", "t2", "alice") == "tool said: I am vegetarian"
    assert run("what do I eat?", "t3", "bob") == "tool said: none"


def test_store_survives_a_restart(store_path: Path) -> None:
    with MemoryCore(store_path) as core:
        store = MemoryStore(core=core)
        store.put(("alice", "fact"), "home", {"text": "Alice lives in Porto", "since": 2020})
        store.put(("alice", "fact"), "home", {"text": "Alice lives in Braga", "since": 2023})
        created = store.get(("alice", "fact"), "home").created_at  # type: ignore[union-attr]
    with MemoryCore(store_path) as core:
        store = MemoryStore(core=core)
        item = store.get(("alice", "fact"), "home")
        assert item is not None and item.value == {"text": "Alice lives in Braga", "since": 2023}
        assert item.created_at == created
        core.flush()
        assert [i.key for i in store.search(("alice",), query="which town?", filter={"since": 2023})] == ["home"]
        assert store.list_namespaces() == [("alice", "fact")]


def test_items_keep_their_importance_and_are_never_merged(store: MemoryStore, memory: MemoryCore) -> None:
    store.put(("alice", "fact"), "a", {"text": "Alice lives in Denver", "importance": 0.9})
    store.put(("alice", "fact"), "b", {"text": "Alice lives in Denver"})
    store.put(("alice", "fact"), "c", {"text": "Alice moved to Austin"})
    records = {r.metadata["_lg_key"]: r for r in memory.records(user_id="alice")}
    assert set(records) == {"a", "b", "c"}  # a key-value store: no consolidation between keys
    assert records["a"].importance == 0.9 and all(r.superseded_by is None for r in records.values())
    memory.flush()
    found = store.search(("alice",), query="where does Alice live", limit=3)
    assert {item.key for item in found} == {"a", "b", "c"}
