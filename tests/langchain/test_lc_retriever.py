"""MemoryRetriever: the standard LangChain retriever suite plus our own checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_tests.integration_tests import RetrieversIntegrationTests
from lc_fakes import RecordingChatModel

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.langchain import MemoryRetriever

ALICE = [
    ("Alice lives in a flat in Denver.", "fact", {"topic": "home"}),
    ("Alice moved to Denver from Boston in 2021.", "event", {"topic": "home"}),
    ("Alice prefers window seats on flights.", "preference", {"topic": "travel"}),
    ("Alice can bake sourdough bread.", "skill", {"topic": "food"}),
    ("Alice's favourite city for holidays is Lisbon.", "preference", {"topic": "travel"}),
]
_cores: dict[str, MemoryCore] = {}


@pytest.fixture(scope="module", autouse=True)
def shared_core() -> Iterator[MemoryCore]:
    """One core for the whole module, filled with Alice's memories and one of Bob's."""
    core = MemoryCore(window_messages=6)
    for text, kind, metadata in ALICE:
        core.remember(text, user_id="alice", kind=kind, metadata=metadata)
    core.add_message("chat", "user", "Where should I live? Denver is nice.", user_id="alice")
    core.remember("Bob lives in Denver too, near the park.", user_id="bob")
    core.flush()
    _cores["shared"] = core
    yield core
    core.close()


class TestMemoryRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[MemoryRetriever]:
        return MemoryRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"core": _cores["shared"], "user_id": "alice"}

    @property
    def retriever_query_example(self) -> str:
        return "where does Alice live?"


def test_documents_carry_the_record_and_its_score(shared_core: MemoryCore) -> None:
    docs = MemoryRetriever(core=shared_core, user_id="alice", k=3).invoke("where does Alice live?")
    assert docs[0].page_content == "Alice lives in a flat in Denver."
    top = docs[0].metadata
    assert top["id"] == docs[0].id and len(top["id"]) == 32
    assert top["kind"] == "fact" and top["role"] == "system" and top["user_id"] == "alice"
    assert top["session_id"] is None and top["topic"] == "home"
    assert datetime.fromisoformat(top["timestamp"]).tzinfo is not None
    assert top["score"] == top["explain"]["score"] and {"dense_rank", "keyword_rank", "fusion"} <= set(top["explain"])
    assert [d.metadata["score"] for d in docs] == sorted((d.metadata["score"] for d in docs), reverse=True)
    assert shared_core.get(top["id"], user_id="alice").text == docs[0].page_content


def test_users_never_see_each_others_memories(shared_core: MemoryCore) -> None:
    alice = MemoryRetriever(core=shared_core, user_id="alice", k=10).invoke("who lives near the park?")
    bob = MemoryRetriever(core=shared_core, user_id="bob", k=10).invoke("where does Alice live?")
    assert all("Bob" not in d.page_content for d in alice)
    assert [d.page_content for d in bob] == ["Bob lives in Denver too, near the park."]


def test_filters_in_constructor_and_at_invoke(shared_core: MemoryCore) -> None:
    travel = MemoryRetriever(core=shared_core, user_id="alice", where={"topic": "travel"}, k=10)
    assert {d.page_content for d in travel.invoke("holidays")} == {
        "Alice prefers window seats on flights.", "Alice's favourite city for holidays is Lisbon."}
    prefs = MemoryRetriever(core=shared_core, user_id="alice", kinds=["preference"], k=10)
    assert {d.metadata["kind"] for d in prefs.invoke("Denver")} == {"preference"}
    chat = MemoryRetriever(core=shared_core, user_id="alice", k=10).invoke("Denver", session_id="chat")
    assert [d.page_content for d in chat] == ["Where should I live? Denver is nice."]
    events = MemoryRetriever(core=shared_core, user_id="alice").invoke("Denver", kinds=["event"], k=1)
    assert [d.metadata["kind"] for d in events] == ["event"]


async def test_async_invoke_matches_sync(shared_core: MemoryCore) -> None:
    retriever = MemoryRetriever(core=shared_core, user_id="alice", k=2)
    sync = retriever.invoke("bread baking")
    async_docs = await retriever.ainvoke("bread baking", k=2)
    assert [d.id for d in async_docs] == [d.id for d in sync]
    assert async_docs[0].page_content == "Alice can bake sourdough bread."


def test_in_a_rag_chain_the_model_sees_the_memories(shared_core: MemoryCore) -> None:
    model = RecordingChatModel()
    retriever = MemoryRetriever(core=shared_core, user_id="alice", k=2)
    prompt = ChatPromptTemplate.from_messages([("system", "Context:\n{context}"), ("human", "{question}")])

    def join(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    chain = {"context": retriever | join, "question": RunnablePassthrough()} | prompt | model | StrOutputParser()
    assert chain.invoke("which seat does Alice like on flights?") == "ok"
    assert "Alice prefers window seats on flights." in model.last[0].text
    assert "Bob" not in model.last[0].text
