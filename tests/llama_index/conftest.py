"""Fixtures for the LlamaIndex adapter tests (fakes and shared data live in ``li_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from li_helpers import OTHER_FACT, RecordingFunctionLLM, RecordingLLM
from llama_index.core import Settings
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM

from agent_memory_plugins import MemoryCore
from engine_matrix import record_engine


@pytest.fixture(autouse=True)
def mock_settings() -> Iterator[None]:
    """LlamaIndex must never reach for OpenAI: its global models are mocks during every test."""
    saved_llm, saved_embed = Settings._llm, Settings._embed_model
    Settings.llm = MockLLM()
    Settings.embed_model = MockEmbedding(embed_dim=8)
    yield
    Settings._llm, Settings._embed_model = saved_llm, saved_embed


@pytest.fixture
def llm() -> RecordingLLM:
    return RecordingLLM()


@pytest.fixture
def function_llm() -> RecordingFunctionLLM:
    return RecordingFunctionLLM()


@pytest.fixture
def bob_told(memory: MemoryCore) -> MemoryCore:
    """The shared core after another user, bob, told it facts that match alice's question."""
    memory.add_message("s1", "user", OTHER_FACT, user_id="bob")
    memory.remember(OTHER_FACT, user_id="bob")
    return memory

__all__ = ["record_engine"]  # every test here runs on SQLite and on PostgreSQL
