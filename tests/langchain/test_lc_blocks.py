"""Working-memory blocks reach the model through MemoryMiddleware and ConversationMemory."""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_classic.chains import ConversationChain
from langchain_core.messages import SystemMessage
from lc_fakes import RecordingChatModel

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.langchain import ConversationMemory, MemoryMiddleware


def _config(thread: str, user: str) -> Any:
    return {"configurable": {"thread_id": thread, "user_id": user}}


def test_middleware_shows_the_users_and_the_threads_blocks_only(memory: MemoryCore) -> None:
    memory.set_block("user", "Alice is vegetarian", user_id="alice")
    memory.set_block("task", "Plan a dinner for six", user_id="alice", session_id="t1")
    memory.set_block("task", "Other thread's task", user_id="alice", session_id="t2")
    memory.set_block("user", "Bob eats everything", user_id="bob")
    model = RecordingChatModel()
    agent = create_agent(model, system_prompt="You are helpful.", middleware=[MemoryMiddleware(core=memory)])
    agent.invoke({"messages": [{"role": "user", "content": "What should I cook?"}]}, _config("t1", "alice"))
    system = model.last[0]
    assert isinstance(system, SystemMessage)
    assert system.text.startswith("You are helpful.\n\nWorking memory:\n<user>\nAlice is vegetarian\n</user>\n"
                                  "<task>\nPlan a dinner for six\n</task>")
    assert "Other thread" not in system.text and "Bob" not in system.text
    memory.append_block("user", "Alice is allergic to nuts", user_id="alice")
    agent.invoke({"messages": [{"role": "user", "content": "And dessert?"}]}, _config("t1", "alice"))
    assert "Alice is allergic to nuts" in model.last[0].text  # a change shows on the next call


async def test_middleware_async_shows_blocks(memory: MemoryCore) -> None:
    memory.set_block("persona", "I am a chef", user_id="alice")
    model = RecordingChatModel()
    agent = create_agent(model, middleware=[MemoryMiddleware(core=memory)])
    await agent.ainvoke({"messages": [{"role": "user", "content": "hi"}]}, _config("t1", "alice"))
    assert "<persona>\nI am a chef\n</persona>" in model.last[0].text


def test_conversation_memory_puts_blocks_before_the_conversation(memory: MemoryCore) -> None:
    memory.set_block("user", "Alice lives in Porto", user_id="alice")
    model = RecordingChatModel()
    chain = ConversationChain(llm=model, memory=ConversationMemory(core=memory, session_id="s1", user_id="alice"))
    chain.invoke({"input": "hello"})
    chain.invoke({"input": "where am I?"})
    prompt = model.last[0].text
    working = prompt.index("Working memory:\n<user>\nAlice lives in Porto\n</user>")
    assert working < prompt.index("Human: hello")
    loaded = ConversationMemory(core=memory, session_id="s1", user_id="alice", return_messages=True)
    first = loaded.load_memory_variables({})["history"][0]
    assert isinstance(first, SystemMessage) and first.text.startswith("Working memory:")
