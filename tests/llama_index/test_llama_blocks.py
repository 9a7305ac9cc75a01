"""Working-memory blocks reach the model through ChatMemory and RecallMemoryBlock."""

from __future__ import annotations

from li_helpers import RecordingFunctionLLM, RecordingLLM
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.memory import Memory

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.llama_index import ChatMemory, RecallMemoryBlock


def test_chat_memory_shows_blocks_first(memory: MemoryCore, llm: RecordingLLM) -> None:
    memory.set_block("user", "Lena is vegetarian", user_id="alice")
    memory.set_block("task", "Find a restaurant in Porto", user_id="alice", session_id="s1")
    memory.set_block("user", "Bob's secret block", user_id="bob")
    chat = ChatMemory.from_defaults(core=memory, session_id="s1", user_id="alice")
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=chat)
    engine.chat("Any ideas?")
    prompt = llm.last
    assert "<user>\nLena is vegetarian\n</user>\n<task>\nFind a restaurant in Porto\n</task>" in prompt
    assert prompt.index("Working memory:") < prompt.index("Any ideas?")
    assert "Bob" not in prompt


async def test_chat_memory_blocks_in_a_function_agent(memory: MemoryCore) -> None:
    memory.set_block("persona", "Answer like a pirate", user_id="alice")
    llm = RecordingFunctionLLM()
    agent = FunctionAgent(tools=[], llm=llm)
    chat = ChatMemory.from_defaults(core=memory, session_id="s1", user_id="alice")
    await agent.run("hello", memory=chat)
    assert "Answer like a pirate" in "\n".join(str(m) for m in llm.calls[0])


def test_recall_memory_block_returns_blocks_then_memories(memory: MemoryCore, llm: RecordingLLM) -> None:
    memory.set_block("user", "Lena is vegetarian", user_id="alice")
    memory.set_block("task", "Session task", user_id="alice", session_id="s1")
    block = RecallMemoryBlock.from_defaults(core=memory, user_id="alice", session_id="s1")
    chat = Memory.from_defaults(session_id="s1", token_limit=2000, memory_blocks=[block])
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=chat)
    engine.chat("hello")
    assert "<recalled_memories>" in llm.last
    inside = llm.last.split("<recalled_memories>", 1)[1].split("</recalled_memories>", 1)[0]
    assert "Working memory:\n<user>\nLena is vegetarian\n</user>\n<task>\nSession task\n</task>" in inside
