"""MemoryRetriever on its own and inside RetrieverQueryEngine and QueryFusionRetriever."""

from __future__ import annotations

from pathlib import Path

import pytest
from li_helpers import FACT, OTHER_MARKERS, QUESTION, RecordingLLM, assert_bob_reachable, open_core
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.llama_index import MemoryRetriever


@pytest.fixture
def told(bob_told: MemoryCore) -> MemoryCore:
    """Alice's conversation, a remembered fact and bob's facts, all indexed."""
    bob_told.add_messages("s1", [
        {"role": "user", "content": FACT},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "I prefer trains to planes."},
    ], user_id="alice")
    bob_told.remember("The user is allergic to peanuts.", user_id="alice", kind="fact", metadata={"source": "form"})
    bob_told.flush()
    return bob_told


def alice_retriever(core: MemoryCore, **kwargs: object) -> MemoryRetriever:
    return MemoryRetriever.from_defaults(core=core, user_id="alice", **kwargs)


def test_nodes_carry_text_score_id_and_explanation(told: MemoryCore) -> None:
    nodes = alice_retriever(told, similarity_top_k=3).retrieve(QUESTION)
    hits = told.search(QUESTION, user_id="alice", k=3)
    assert [n.node.node_id for n in nodes] == [h.record.id for h in hits]
    assert [n.score for n in nodes] == pytest.approx([h.score for h in hits], rel=1e-6)  # recency moves
    best = nodes[0]
    assert isinstance(best, NodeWithScore) and isinstance(best.node, TextNode)
    assert best.node.text == FACT
    meta = best.node.metadata
    assert meta["memory_id"] == best.node.node_id and meta["role"] == "user" and meta["kind"] == "message"
    assert meta["user_id"] == "alice" and meta["session_id"] == "s1"
    assert set(meta["explanation"]) >= {"fusion", "recency", "importance", "score"}
    assert meta["explanation"]["score"] == best.score
    seen_by_llm = best.node.get_content(metadata_mode=MetadataMode.LLM)
    assert FACT in seen_by_llm and "role: user" in seen_by_llm and "explanation" not in seen_by_llm
    assert best.node.get_content(metadata_mode=MetadataMode.EMBED) == FACT


async def test_async_retrieve_matches_sync(told: MemoryCore) -> None:
    retriever = alice_retriever(told)
    sync_nodes = retriever.retrieve(QUESTION)
    async_nodes = await retriever.aretrieve(QueryBundle(QUESTION))
    assert [n.node.node_id for n in async_nodes] == [n.node.node_id for n in sync_nodes]
    assert async_nodes[0].node.text == FACT


def test_never_returns_another_users_records(told: MemoryCore) -> None:
    assert_bob_reachable(told)
    texts = [n.node.text for n in alice_retriever(told, similarity_top_k=20).retrieve(QUESTION)]
    assert FACT in texts
    assert not any(marker in text for text in texts for marker in OTHER_MARKERS)


def test_filters_pass_through(told: MemoryCore) -> None:
    facts = alice_retriever(told, kinds=["fact"]).retrieve("what is the user allergic to?")
    assert [n.node.text for n in facts] == ["The user is allergic to peanuts."]
    assert facts[0].node.metadata["record_metadata"] == {"source": "form"}
    assert alice_retriever(told, session_id="other").retrieve(QUESTION) == []
    sourced = alice_retriever(told, where={"source": "form"}).retrieve("peanuts")
    assert [n.node.text for n in sourced] == ["The user is allergic to peanuts."]


def test_retriever_query_engine_sends_recalled_memories(told: MemoryCore, llm: RecordingLLM) -> None:
    engine = RetrieverQueryEngine.from_args(alice_retriever(told, similarity_top_k=3), llm=llm)
    response = engine.query(QUESTION)
    assert str(response) == "Noted."
    assert FACT in llm.last
    assert response.source_nodes[0].node.text == FACT
    assert not any(marker in llm.everything() for marker in OTHER_MARKERS)


async def test_retriever_query_engine_async(told: MemoryCore, llm: RecordingLLM) -> None:
    engine = RetrieverQueryEngine.from_args(alice_retriever(told, similarity_top_k=3), llm=llm)
    response = await engine.aquery(QUESTION)
    assert FACT in llm.last and response.source_nodes[0].node.text == FACT
    assert not any(marker in llm.everything() for marker in OTHER_MARKERS)


@pytest.mark.parametrize("use_async", [False, True])
async def test_query_fusion_retriever_mixes_memories_with_documents(
    told: MemoryCore, llm: RecordingLLM, use_async: bool
) -> None:
    index = VectorStoreIndex.from_documents(
        [Document(text="Porto is a coastal city in northern Portugal.")], embed_model=MockEmbedding(embed_dim=8),
    )
    fusion = QueryFusionRetriever(
        [alice_retriever(told, similarity_top_k=2), index.as_retriever(similarity_top_k=1)],
        llm=llm, num_queries=1, mode="reciprocal_rerank", use_async=use_async, similarity_top_k=4,
    )
    nodes = await fusion.aretrieve(QUESTION) if use_async else fusion.retrieve(QUESTION)
    texts = [n.node.text for n in nodes]
    assert FACT in texts and "Porto is a coastal city in northern Portugal." in texts
    assert not any(marker in text for text in texts for marker in OTHER_MARKERS)
    engine = RetrieverQueryEngine.from_args(fusion, llm=llm)
    await engine.aquery(QUESTION) if use_async else engine.query(QUESTION)
    assert FACT in llm.last and "coastal city" in llm.last


def test_restart_keeps_everything(store_path: Path, llm: RecordingLLM) -> None:
    core = open_core(store_path)
    core.add_message("s1", "user", FACT, user_id="alice")
    core.close()  # closed before anything was indexed: the next open indexes it
    reopened = open_core(store_path)
    try:
        reopened.flush()
        engine = RetrieverQueryEngine.from_args(alice_retriever(reopened), llm=llm)
        engine.query(QUESTION)
        assert FACT in llm.last
    finally:
        reopened.close()


def test_core_must_be_a_memory_core() -> None:
    with pytest.raises(TypeError):
        MemoryRetriever()  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="MemoryCore"):
        MemoryRetriever(core="not a core")  # type: ignore[arg-type]
