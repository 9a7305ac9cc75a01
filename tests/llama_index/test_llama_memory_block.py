"""RecallMemoryBlock inside LlamaIndex's own Memory, driven by a real chat engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from li_helpers import (
    FACT,
    FILLER,
    OTHER_FACT,
    OTHER_MARKERS,
    QUESTION,
    RecordingLLM,
    assert_bob_reachable,
    open_core,
)
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.memory import Memory

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.llama_index import RecallMemoryBlock


def block_memory(core: MemoryCore, user_id: str = "alice", session_id: str = "s1", **block: object) -> Memory:
    """A Memory whose short-term queue holds only a few turns, so older ones flush to the block."""
    recall = RecallMemoryBlock.from_defaults(core=core, user_id=user_id, **block)
    return Memory.from_defaults(
        session_id=session_id, token_limit=200, chat_history_token_ratio=0.5, token_flush_size=40,
        memory_blocks=[recall],
    )


def recalled_block(prompt: str) -> str:
    assert "<recalled_memories>" in prompt, "the block added nothing to this prompt"
    return prompt.split("<recalled_memories>", 1)[1].split("</recalled_memories>", 1)[0]


def test_flushed_messages_are_recorded_under_the_memorys_session(memory: MemoryCore, llm: RecordingLLM) -> None:
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=block_memory(memory, session_id="chat-7"))
    for line in [FACT, *FILLER]:
        engine.chat(line)
    records = memory.messages("chat-7", user_id="alice")
    assert records and records[0].text == FACT and records[1].text == "Noted."
    assert all(record.metadata == {} for record in records)  # Memory's session_id kwarg is not kept
    assert len(records) < 2 * (len(FILLER) + 1)  # the newest turns are still in Memory's queue
    assert memory.messages("chat-7", user_id="default") == []


def test_block_session_id_overrides_the_memorys(memory: MemoryCore, llm: RecordingLLM) -> None:
    chat = Memory.from_defaults(
        session_id="x", token_limit=200, chat_history_token_ratio=0.5, token_flush_size=40,
        memory_blocks=[RecallMemoryBlock.from_defaults(core=memory, user_id="alice", session_id="archive")],
    )
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=chat)
    for line in [FACT, *FILLER]:
        engine.chat(line)
    assert memory.messages("archive", user_id="alice")[0].text == FACT
    assert memory.messages("x", user_id="alice") == []


def test_recall_reaches_the_prompt_but_other_users_never_do(bob_told: MemoryCore, llm: RecordingLLM) -> None:
    bob = SimpleChatEngine.from_defaults(llm=RecordingLLM(), memory=block_memory(bob_told, user_id="bob"))
    for line in [OTHER_FACT, *FILLER]:
        bob.chat(line)
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=block_memory(bob_told))
    for line in [FACT, *FILLER]:
        engine.chat(line)
    bob_told.flush()
    engine.chat(QUESTION)
    assert FACT in recalled_block(llm.last)
    assert FACT not in llm.last.split("</memory>", 1)[1]  # no longer in Memory's own queue
    assert_bob_reachable(bob_told)
    assert not any(marker in llm.everything() for marker in OTHER_MARKERS)


async def test_recall_async(bob_told: MemoryCore, llm: RecordingLLM) -> None:
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=block_memory(bob_told))
    for line in [FACT, *FILLER]:
        await engine.achat(line)
    await bob_told.aflush()
    await engine.achat(QUESTION)
    assert FACT in recalled_block(llm.last)
    assert not any(marker in llm.everything() for marker in OTHER_MARKERS)


async def test_recalls_for_the_latest_user_message(memory: MemoryCore) -> None:
    memory.remember("The user's cat is called Miso.", user_id="alice")
    memory.remember("The user's car is a red Fiat.", user_id="alice")
    memory.flush()
    block = RecallMemoryBlock.from_defaults(core=memory, user_id="alice", similarity_top_k=1)
    text = await block.aget([
        ChatMessage(role="user", content="What car do I drive?"),
        ChatMessage(role="assistant", content="Let me think about your cat."),
    ])
    assert "red Fiat" in text and "Miso" not in text
    assert await block.aget([]) == ""
    assert await block.aget(None) == ""


async def test_memories_already_in_the_queue_are_not_repeated(memory: MemoryCore) -> None:
    memory.add_message("elsewhere", "user", FACT, user_id="alice")
    memory.flush()
    block = RecallMemoryBlock.from_defaults(core=memory, user_id="alice")
    assert FACT in await block.aget([ChatMessage(role="user", content=QUESTION)])
    assert FACT not in await block.aget([
        ChatMessage(role="user", content=FACT), ChatMessage(role="user", content=QUESTION),
    ])


async def test_recalled_text_stays_within_the_blocks_budget(memory: MemoryCore) -> None:
    for i in range(8):
        memory.remember(f"The user's hobby number {i} is collecting stamps from country {i}.", user_id="alice")
    memory.flush()
    question = [ChatMessage(role="user", content="What hobbies does the user have?")]
    wide = await RecallMemoryBlock.from_defaults(core=memory, user_id="alice", similarity_top_k=8).aget(question)
    narrow = RecallMemoryBlock.from_defaults(core=memory, user_id="alice", similarity_top_k=8, max_tokens=40)
    text = await narrow.aget(question)
    assert len(wide.splitlines()) == 8
    assert 1 <= len(text.splitlines()) < 8 and memory.count_tokens(text) <= 40
    assert wide.startswith(text)  # the best matches are kept


@pytest.mark.parametrize("priority", [0, 1])
async def test_memory_truncates_the_block_by_priority(memory: MemoryCore, priority: int) -> None:
    for i in range(6):
        memory.remember(f"The user's hobby number {i} is collecting stamps from country {i}.", user_id="alice")
    memory.flush()
    recall = RecallMemoryBlock.from_defaults(core=memory, user_id="alice", priority=priority, similarity_top_k=6)
    chat = Memory.from_defaults(session_id="t", token_limit=80, memory_blocks=[recall])
    await chat.aput(ChatMessage(role="user", content="What hobbies does the user have?"))
    entries = recalled_block(str((await chat.aget())[0].content)).strip().splitlines()
    if priority == 0:
        assert len(entries) == 6  # never truncated
    else:
        assert 1 <= len(entries) < 6
        assert "hobby number" in entries[0]


async def test_truncate_drops_the_weakest_entries_first(memory: MemoryCore) -> None:
    block = RecallMemoryBlock.from_defaults(core=memory)
    first = "- [2024-01-01] first line\nof a two-line memory"
    second, third = "- [2024-01-02] second", "- [2024-01-03] third"
    content = "\n".join([first, second, third])
    last = memory.count_tokens(third)
    assert await block.atruncate(content, last) == f"{first}\n{second}"
    assert await block.atruncate(content, last + 1) == first
    assert await block.atruncate(content, 10_000) is None


async def test_block_that_refuses_short_term_memory_only_recalls(memory: MemoryCore, llm: RecordingLLM) -> None:
    memory.remember(FACT, user_id="alice")
    memory.flush()
    engine = SimpleChatEngine.from_defaults(
        llm=llm, memory=block_memory(memory, accept_short_term_memory=False),
    )
    for line in FILLER:
        await engine.achat(line)
    await engine.achat(QUESTION)
    assert memory.messages("s1", user_id="alice") == []
    assert FACT in recalled_block(llm.last)


def test_restart_keeps_everything(store_path: Path, llm: RecordingLLM) -> None:
    core = open_core(store_path)
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=block_memory(core))
    for line in [FACT, *FILLER]:
        engine.chat(line)
    core.close()
    reopened = open_core(store_path)
    try:
        engine = SimpleChatEngine.from_defaults(llm=llm, memory=block_memory(reopened, session_id="s2"))
        engine.chat(QUESTION)
        assert FACT in recalled_block(llm.last)
    finally:
        reopened.close()


def test_block_serializes_without_the_core(memory: MemoryCore) -> None:
    data = RecallMemoryBlock.from_defaults(core=memory, user_id="alice").model_dump()
    assert data["user_id"] == "alice" and data["name"] == "recalled_memories" and "core" not in data


async def test_block_recalls_only_its_kinds_and_passes_importance(memory: MemoryCore) -> None:
    memory.set_preference("car colour", "red", user_id="alice")
    memory.add_message("old", "user", "My car broke down on the highway", user_id="alice")
    memory.flush()
    block = RecallMemoryBlock.from_defaults(core=memory, user_id="alice", kinds=["preference"], session_id="s9")
    text = await block.aget([ChatMessage(role="user", content="Which car colour do I like?")])
    assert "car colour: red" in text and "broke down" not in text
    await block.aput([ChatMessage(role="user", content="Note this", additional_kwargs={"importance": 0.85})])
    assert [r.importance for r in memory.messages("s9", user_id="alice")] == [0.85]
