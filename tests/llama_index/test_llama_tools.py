"""MemoryToolSpec driven by scripted models in LlamaIndex's FunctionAgent and ReActAgent."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from li_helpers import RecordingLLM
from llama_index.core.agent.workflow import FunctionAgent, ReActAgent
from llama_index.core.base.llms.types import ChatMessage, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.llama_index import ChatMemory, MemoryToolSpec

ID = re.compile(r"\b[0-9a-f]{32}\b")


def _calls(*calls: tuple[str, dict[str, Any]]) -> ChatMessage:
    return ChatMessage(role="assistant", blocks=[
        ToolCallBlock(tool_call_id=f"call-{n}", tool_name=name, tool_kwargs=args)
        for n, (name, args) in enumerate(calls)
    ])


class ScriptedLLM(MockFunctionCallingLLM):
    """A function-calling model whose n-th call answers ``steps[n](messages)``; keeps what it saw."""

    def __init__(self, steps: Sequence[Any]) -> None:
        super().__init__()
        self._steps = list(steps)
        self._seen: list[list[ChatMessage]] = []
        self.response_generator = self._next

    def _next(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        self._seen.append([m.model_copy(deep=True) for m in messages])
        step = self._steps[min(len(self._seen), len(self._steps)) - 1]
        reply: ChatMessage = step(messages)
        return reply

    @property
    def seen(self) -> list[list[ChatMessage]]:
        return self._seen


def _tool_results(messages: Sequence[ChatMessage]) -> list[str]:
    return [str(m.content) for m in messages if m.role.value == "tool"]


async def test_a_function_agent_uses_every_tool(memory: MemoryCore) -> None:
    llm = ScriptedLLM([
        lambda m: _calls(("remember", {"text": "Lena lives in Porto"}),
                         ("edit_memory_block", {"name": "task", "action": "set", "text": "Book a table",
                                                "scope": "session"})),
        lambda m: _calls(("search_memory", {"query": "where does Lena live"})),
        lambda m: _calls(("update_memory", {"memory_id": ID.findall(_tool_results(m)[-1])[0],
                                            "text": "Lena lives in Braga"})),
        lambda m: _calls(("forget_memory", {"memory_id": ID.findall(_tool_results(m)[-1])[-1]}),
                         ("edit_memory_block", {"name": "task", "action": "append", "text": "for two",
                                                "scope": "session"})),
        lambda m: ChatMessage(role="assistant", content="All set."),
    ])
    tools = MemoryToolSpec(memory, user_id="alice", session_id="s1").to_tool_list()
    agent = FunctionAgent(tools=tools, llm=llm)
    result = await agent.run("Lena lives in Porto; book us a table",
                             memory=ChatMemory.from_defaults(core=memory, session_id="s1", user_id="alice"))
    assert "All set." in str(result)
    first = sorted(_tool_results(llm.seen[1]))  # the agent runs a step's calls concurrently
    assert first[1].startswith("Remembered as ") and first[1].endswith("Lena lives in Porto")
    assert first[0] == "Block 'task' (session) is now version 1, 12/2000 characters:\nBook a table"
    assert "Lena lives in Porto" in _tool_results(llm.seen[2])[-1]
    assert "Lena lives in Braga" in _tool_results(llm.seen[3])[-1]
    block, forgot = sorted(_tool_results(llm.seen[4])[-2:])
    assert forgot.startswith("Forgot ") and block.endswith("Book a table\nfor two")
    (fact,) = memory.records(user_id="alice", kinds=["fact"])
    assert fact.text == "Lena lives in Porto" and fact.superseded_by is None  # the update was forgotten
    assert memory.get_block("task", user_id="alice", session_id="s1").text == "Book a table\nfor two"  # type: ignore[union-attr]
    assert "Book a table" in "\n".join(str(m.content) for m in llm.seen[1])  # the block is in the next prompt


async def test_another_users_id_is_refused_and_scope_cannot_be_passed(memory: MemoryCore) -> None:
    secret = memory.remember("Bob's PIN is QZ-4411", user_id="bob")
    llm = ScriptedLLM([
        lambda m: _calls(("forget_memory", {"memory_id": secret.id}),
                         ("update_memory", {"memory_id": secret.id, "text": "hacked"}),
                         ("search_memory", {"query": "PIN", "user_id": "bob"})),
        lambda m: ChatMessage(role="assistant", content="done"),
    ])
    agent = FunctionAgent(tools=MemoryToolSpec(memory, user_id="alice").to_tool_list(), llm=llm)
    await agent.run("try it")
    results = _tool_results(llm.seen[1])
    refused = [r for r in results if r == f"Error: no record {secret.id} for user 'alice'"]
    (search,) = [r for r in results if r not in refused]
    assert len(refused) == 2 and "user_id" in search and "QZ-4411" not in search
    assert [r.text for r in memory.records(user_id="bob")] == ["Bob's PIN is QZ-4411"]
    assert memory.records(user_id="alice") == []


async def test_a_react_agent_remembers_and_searches(memory: MemoryCore) -> None:
    def respond(prompt: str) -> str:
        if "Observation: Remembered" not in prompt:
            args = json.dumps({"text": "Lena's birthday is on May 3", "kind": "event"})
            return f"Thought: I should store this.\nAction: remember\nAction Input: {args}"
        if "Observation: [" not in prompt:
            return 'Thought: Check it.\nAction: search_memory\nAction Input: {"query": "Lena birthday"}'
        return "Thought: I can answer without using any more tools.\nAnswer: Noted, May 3."

    llm = RecordingLLM(respond=respond)
    agent = ReActAgent(tools=MemoryToolSpec(memory, user_id="alice", session_id="r1").to_tool_list(), llm=llm)
    result = await agent.run("Lena's birthday is May 3")
    assert "Noted, May 3." in str(result)
    (event,) = memory.records(user_id="alice", kinds=["event"])
    assert event.text == "Lena's birthday is on May 3" and event.session_id == "r1"
    assert f"[{event.id}] event" in llm.last
