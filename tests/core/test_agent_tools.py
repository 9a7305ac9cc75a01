"""MemoryActions, the framework-free behaviour under both frameworks' memory tools."""

from __future__ import annotations

import pytest

from agent_memory_plugins import InvalidInputError, MemoryCore
from agent_memory_plugins.agent_tools import MemoryActions


def test_search_leaves_out_tool_traffic_and_checks_k(memory: MemoryCore) -> None:
    fact = memory.remember("Maya is allergic to peanuts", user_id="maya")
    memory.add_messages("s1", [
        {"role": "assistant", "content": 'called remember({"text": "Maya is allergic to peanuts"})',
         "metadata": {"langchain": {"type": "ai", "data": {"tool_calls": [{"name": "remember"}]}}}},
        {"role": "tool", "content": "Remembered as x: Maya is allergic to peanuts"},
        {"role": "user", "content": "I am allergic to peanuts"},
    ], user_id="maya")
    memory.flush()
    answer = MemoryActions(memory, "maya", "s1").search_memory("allergic to peanuts")
    lines = answer.splitlines()
    assert f"[{fact.id}] fact" in answer and any(line.endswith(": I am allergic to peanuts") for line in lines)
    assert len(lines) == 2 and "Remembered as" not in answer and "called remember" not in answer
    with pytest.raises(InvalidInputError, match="k must be"):
        MemoryActions(memory, "maya", "s1").search_memory("x", k=0)
    assert MemoryActions(memory, "bob", "s1").search_memory("allergic") == "No memories match."


def test_block_and_remember_arguments_are_checked(memory: MemoryCore) -> None:
    actions = MemoryActions(memory, "maya", "s1")
    with pytest.raises(InvalidInputError, match="a preference needs key="):
        actions.remember("tea", kind="preference")
    with pytest.raises(InvalidInputError, match="kind must be one of"):
        actions.remember("x", kind="skill")
    with pytest.raises(InvalidInputError, match="needs old="):
        actions.edit_memory_block("task", "replace", "new")
    with pytest.raises(InvalidInputError, match="action must be one of"):
        actions.edit_memory_block("task", "delete", "x")
    with pytest.raises(InvalidInputError, match="scope must be"):
        actions.edit_memory_block("task", "set", "x", scope="everyone")
    assert memory.blocks(user_id="maya", session_id="s1") == [] and memory.records(user_id="maya") == []
