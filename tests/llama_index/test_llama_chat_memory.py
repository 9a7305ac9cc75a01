"""ChatMemory on its own and as the memory of LlamaIndex's chat engines and agent workflows."""

from __future__ import annotations

from pathlib import Path

import pytest
from li_helpers import (
    FACT,
    FILLER,
    OTHER_MARKERS,
    QUESTION,
    RecordingFunctionLLM,
    RecordingLLM,
    assert_bob_reachable,
    open_core,
    recalled,
    weather,
)
from llama_index.core.agent.workflow import FunctionAgent, ReActAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock, ToolCallBlock
from llama_index.core.chat_engine import CondensePlusContextChatEngine, ContextChatEngine, SimpleChatEngine
from llama_index.core.memory.memory import InsertMethod
from llama_index.core.tools import FunctionTool

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.llama_index import ChatMemory, MemoryRetriever


def alice_memory(core: MemoryCore, session_id: str = "s1", **kwargs: object) -> ChatMemory:
    return ChatMemory.from_defaults(core=core, session_id=session_id, user_id="alice", **kwargs)


def long_chat(engine: SimpleChatEngine | CondensePlusContextChatEngine) -> None:
    engine.chat(FACT)
    for line in FILLER:
        engine.chat(line)


async def along_chat(engine: SimpleChatEngine | CondensePlusContextChatEngine) -> None:
    await engine.achat(FACT)
    for line in FILLER:
        await engine.achat(line)


# -- the memory itself -------------------------------------------------------------------------
def test_put_get_all_and_window(memory: MemoryCore) -> None:
    chat = alice_memory(memory)
    chat.put(ChatMessage(role="user", content="first"))
    chat.put_messages([ChatMessage(role="assistant", content="second"), ChatMessage(role="user", content="third")])
    assert [m.content for m in chat.get_all()] == ["first", "second", "third"]
    assert [(m.role, m.content) for m in chat.get()] == [
        (MessageRole.USER, "first"), (MessageRole.ASSISTANT, "second"), (MessageRole.USER, "third"),
    ]
    assert alice_memory(memory, "other").get_all() == []
    assert ChatMemory.from_defaults(core=memory, session_id="s1", user_id="bob").get_all() == []


async def test_async_put_get_set_reset(memory: MemoryCore) -> None:
    chat = alice_memory(memory)
    await chat.aput(ChatMessage(role="user", content="hello"))
    await chat.aput_messages([ChatMessage(role="assistant", content="hi there")])
    assert [m.content for m in await chat.aget_all()] == ["hello", "hi there"]
    assert [m.content for m in await chat.aget()] == ["hello", "hi there"]
    await chat.aset([ChatMessage(role="user", content="replaced")])
    assert [m.content for m in await chat.aget_all()] == ["replaced"]
    await chat.areset()
    assert await chat.aget_all() == []
    assert await chat.aget() == []


def test_set_and_reset_touch_only_this_session(memory: MemoryCore) -> None:
    chat, other = alice_memory(memory), alice_memory(memory, "s2")
    other.put(ChatMessage(role="user", content="keep me"))
    chat.put(ChatMessage(role="user", content="old"))
    chat.set([ChatMessage(role="user", content="new"), ChatMessage(role="assistant", content="ok")])
    assert [m.content for m in chat.get_all()] == ["new", "ok"]
    chat.reset()
    assert chat.get_all() == []
    assert [m.content for m in other.get_all()] == ["keep me"]


def test_from_defaults_chat_history_replaces_the_session(memory: MemoryCore) -> None:
    alice_memory(memory).put(ChatMessage(role="user", content="old"))
    chat = alice_memory(memory, chat_history=[ChatMessage(role="user", content="seeded")])
    assert [m.content for m in chat.get_all()] == ["seeded"]


def test_get_recalls_for_latest_user_message_and_summarizes(memory: MemoryCore) -> None:
    chat = alice_memory(memory)
    chat.put(ChatMessage(role="user", content=FACT))
    for line in FILLER:
        chat.put(ChatMessage(role="user", content=line))
        chat.put(ChatMessage(role="assistant", content="Noted."))
    chat.put(ChatMessage(role="user", content=QUESTION))
    memory.flush()
    messages = chat.get()
    head, window = messages[0], messages[1:]
    assert head.role == MessageRole.SYSTEM
    assert "Relevant memories:" in head.content and FACT in head.content.split("Relevant memories:")[1]
    assert "Summary of earlier conversation:" in head.content
    # the window of 6 opens on its first user turn: 5 messages
    assert len(window) == 5 and window[0].role == MessageRole.USER and window[-1].content == QUESTION
    assert all(FACT not in (m.content or "") for m in window)


def test_input_drives_recall(memory: MemoryCore) -> None:
    chat = alice_memory(memory)
    memory.remember("The user's cat is called Miso.", user_id="alice")
    memory.remember("The user's car is a red Fiat.", user_id="alice")
    chat.put(ChatMessage(role="user", content="What car do I drive?"))
    memory.flush()
    assert "red Fiat" in chat.get()[0].content
    assert "Miso" in chat.get(input="What is my cat called?")[0].content.split("\n")[1]
    assert "Miso" in chat.get(input=ChatMessage(role="user", content="my cat's name?"))[0].content


def test_no_recall_when_top_k_is_zero(memory: MemoryCore) -> None:
    memory.remember("The user's cat is called Miso.", user_id="alice")
    memory.flush()
    chat = alice_memory(memory, similarity_top_k=0)
    chat.put(ChatMessage(role="user", content="What is my cat called?"))
    assert [m.role for m in chat.get()] == [MessageRole.USER]


def test_token_budget_takes_the_hosts_tokens_off(memory: MemoryCore) -> None:
    chat = alice_memory(memory, max_tokens=40)
    for i in range(6):
        chat.put(ChatMessage(role="user", content=f"message {i} with a handful of words in it"))
    full = chat.get()
    squeezed = chat.get(initial_token_count=25)
    assert 1 <= len(squeezed) < len(full) <= 6
    assert squeezed[-1].content == full[-1].content == "message 5 with a handful of words in it"


def test_insert_method_user_puts_memories_in_the_latest_user_message(memory: MemoryCore) -> None:
    memory.remember("The user's cat is called Miso.", user_id="alice")
    memory.flush()
    chat = alice_memory(memory, insert_method="user")
    chat.put(ChatMessage(role="user", content="What is my cat called?"))
    (message,) = chat.get()
    assert message.role == MessageRole.USER
    assert "Miso" in message.blocks[0].text
    assert message.blocks[-1] == TextBlock(text="What is my cat called?")
    assert chat.insert_method == InsertMethod.USER
    assert [m.content for m in chat.get_all()] == ["What is my cat called?"]


def test_serializes_without_the_core(memory: MemoryCore) -> None:
    data = alice_memory(memory).to_dict()
    assert data["session_id"] == "s1" and data["user_id"] == "alice" and "core" not in data
    assert data["class_name"] == "AgentMemoryChatMemory"


# -- SimpleChatEngine --------------------------------------------------------------------------
def test_simple_chat_engine_sends_early_fact_but_not_other_users(bob_told: MemoryCore, llm: RecordingLLM) -> None:
    chat_memory = alice_memory(bob_told)
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=chat_memory)
    long_chat(engine)
    bob_told.flush()  # the fact left the window long ago, and is folded now
    engine.chat(QUESTION)
    assert all(m.content != FACT for m in chat_memory.get()[1:])  # not a message of the window
    assert FACT in recalled(llm.last)
    assert_bob_reachable(bob_told)
    assert not any(marker in llm.everything() for marker in OTHER_MARKERS)
    assert [m.content for m in engine.chat_history][:2] == [FACT, "Noted."]


async def test_simple_chat_engine_async(bob_told: MemoryCore, llm: RecordingLLM) -> None:
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=alice_memory(bob_told))
    await along_chat(engine)
    await bob_told.aflush()
    await engine.achat(QUESTION)
    assert FACT in recalled(llm.last)
    assert not any(marker in llm.everything() for marker in OTHER_MARKERS)


def test_new_session_recalls_what_an_old_session_said(memory: MemoryCore, llm: RecordingLLM) -> None:
    long_chat(SimpleChatEngine.from_defaults(llm=llm, memory=alice_memory(memory, "monday")))
    memory.flush()
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=alice_memory(memory, "tuesday"))
    engine.chat(QUESTION)
    assert FACT in recalled(llm.last)
    assert len(engine.chat_history) == 2


def test_restart_keeps_everything(store_path: Path, llm: RecordingLLM) -> None:
    core = open_core(store_path)
    long_chat(SimpleChatEngine.from_defaults(llm=llm, memory=alice_memory(core)))
    core.close()
    reopened = open_core(store_path)
    try:
        reopened.flush()
        engine = SimpleChatEngine.from_defaults(llm=llm, memory=alice_memory(reopened))
        engine.chat(QUESTION)
        assert FACT in recalled(llm.last)
        assert len(engine.chat_history) == 2 * (len(FILLER) + 2)
        assert engine.chat_history[0].content == FACT
    finally:
        reopened.close()


# -- CondensePlusContextChatEngine -------------------------------------------------------------
def condense_engine(core: MemoryCore, llm: RecordingLLM) -> CondensePlusContextChatEngine:
    return CondensePlusContextChatEngine.from_defaults(
        retriever=MemoryRetriever(core=core, user_id="alice", similarity_top_k=2),
        llm=llm, memory=alice_memory(core),
    )


def condensing_llm() -> RecordingLLM:
    """Answers the condense prompt with the question itself, anything else with 'Noted.'."""
    return RecordingLLM(respond=lambda p: QUESTION if "Standalone question" in p else "Noted.")


def test_condense_plus_context_engine(bob_told: MemoryCore) -> None:
    llm = condensing_llm()
    engine = condense_engine(bob_told, llm)
    long_chat(engine)
    bob_told.flush()
    engine.chat(QUESTION)
    condense_prompt, answer_prompt = llm.prompts[-2:]
    assert "Standalone question" in condense_prompt
    assert FACT in recalled(condense_prompt)  # ChatMemory.get(input=...) recalled it
    assert FACT in answer_prompt.split("relevant documents for the context")[1]  # the retriever found it
    assert not any(marker in llm.everything() for marker in OTHER_MARKERS)
    assert engine.chat_history[-2].content == QUESTION


async def test_condense_plus_context_engine_async(bob_told: MemoryCore) -> None:
    llm = condensing_llm()
    engine = condense_engine(bob_told, llm)
    await along_chat(engine)
    await bob_told.aflush()
    await engine.achat(QUESTION)
    assert FACT in recalled(llm.prompts[-2])
    assert FACT in llm.prompts[-1].split("relevant documents for the context")[1]
    assert not any(marker in llm.everything() for marker in OTHER_MARKERS)


@pytest.mark.parametrize("use_async", [False, True])
async def test_context_chat_engine(bob_told: MemoryCore, llm: RecordingLLM, use_async: bool) -> None:
    engine = ContextChatEngine.from_defaults(
        retriever=MemoryRetriever(core=bob_told, user_id="alice", similarity_top_k=1),
        llm=llm, memory=alice_memory(bob_told),
    )
    for line in [FACT, *FILLER]:
        await engine.achat(line) if use_async else engine.chat(line)
    await bob_told.aflush()
    await engine.achat(QUESTION) if use_async else engine.chat(QUESTION)
    assert FACT in recalled(llm.last)
    assert not any(marker in llm.everything() for marker in OTHER_MARKERS)
    assert engine.chat_history[-2].content == QUESTION


# -- agent workflows ---------------------------------------------------------------------------
async def test_function_agent_remembers_and_keeps_tool_calls(
    bob_told: MemoryCore, function_llm: RecordingFunctionLLM
) -> None:
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(weather)], llm=function_llm,
                          system_prompt="Be brief.")
    chat = alice_memory(bob_told)
    await agent.run(FACT, memory=chat)
    for line in FILLER[:3]:
        await agent.run(line, memory=chat)
    result = await agent.run("What's the weather like there?", memory=chat)
    assert str(result) == "Done."
    stored = chat.get_all()
    call, tool = stored[-3], stored[-2]
    assert isinstance(call.blocks[0], ToolCallBlock) and call.blocks[0].tool_name == "weather"
    assert tool.role == MessageRole.TOOL and tool.additional_kwargs["tool_call_id"] == call.blocks[0].tool_call_id
    assert tool.content == "Sunny in Porto"
    await bob_told.aflush()
    await agent.run(QUESTION, memory=chat)
    sent = function_llm.calls[-1]
    assert sent[0].content == "Be brief." and sent[1].role == MessageRole.SYSTEM
    assert FACT in recalled(sent[1].content)
    assert any(isinstance(b, ToolCallBlock) for m in sent for b in m.blocks)  # the window kept the call
    assert not any(marker in str(m) for call_messages in function_llm.calls for m in call_messages
                   for marker in OTHER_MARKERS)


async def test_react_agent_with_system_prompt(bob_told: MemoryCore) -> None:
    llm = RecordingLLM(reply="Thought: I can answer without using any more tools.\nAnswer: In Porto.")
    agent = ReActAgent(tools=[FunctionTool.from_defaults(weather)], llm=llm, system_prompt="Be brief.")
    chat = alice_memory(bob_told)
    for line in [FACT, *FILLER[:4]]:
        await agent.run(line, memory=chat)
    await bob_told.aflush()
    result = await agent.run(QUESTION, memory=chat)
    assert "In Porto." in str(result)
    assert FACT in recalled(llm.last)
    assert not any(marker in llm.everything() for marker in OTHER_MARKERS)


async def test_react_agent_without_system_prompt_needs_user_insertion(memory: MemoryCore) -> None:
    llm = RecordingLLM(reply="Thought: I can answer without using any more tools.\nAnswer: In Porto.")
    agent = ReActAgent(tools=[FunctionTool.from_defaults(weather)], llm=llm)
    chat = alice_memory(memory, insert_method=InsertMethod.USER)
    for line in [FACT, *FILLER[:4]]:
        await agent.run(line, memory=chat)
    await memory.aflush()
    await agent.run(QUESTION, memory=chat)
    assert FACT in recalled(llm.last)


async def test_agent_restart_keeps_everything(store_path: Path, function_llm: RecordingFunctionLLM) -> None:
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(weather)], llm=function_llm)
    core = open_core(store_path)
    for line in [FACT, *FILLER[:4]]:
        await agent.run(line, memory=alice_memory(core))
    await core.aclose()
    reopened = open_core(store_path)
    try:
        await agent.run(QUESTION, memory=alice_memory(reopened, "new-session"))
        assert FACT in recalled(function_llm.last_text())
    finally:
        reopened.close()


@pytest.mark.parametrize("bad", [{"similarity_top_k": -1}, {"max_tokens": 0}])
def test_invalid_settings_are_refused(memory: MemoryCore, bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        ChatMemory(core=memory, **bad)
