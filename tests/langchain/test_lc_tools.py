"""memory_tools driven by a scripted tool-calling model in create_agent and in LangGraph's ToolNode."""

from __future__ import annotations

import re
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from lc_fakes import RecordingChatModel

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.langchain import MemoryMiddleware, memory_tools

ID = re.compile(r"\b[0-9a-f]{32}\b")


def _config(thread: str, user: str) -> Any:
    return {"configurable": {"thread_id": thread, "user_id": user}}


def _call(name: str, args: dict[str, Any], n: int) -> dict[str, Any]:
    return {"name": name, "args": args, "id": f"call-{n}", "type": "tool_call"}


class Script:
    """A model's turns: each step sees the messages sent and returns the next AIMessage."""

    def __init__(self) -> None:
        self.seen: list[list[BaseMessage]] = []

    def results(self) -> list[str]:
        """The tool results of the latest call, in order."""
        latest = self.seen[-1]
        tail: list[str] = []
        for message in reversed(latest):
            if not isinstance(message, ToolMessage):
                break
            tail.insert(0, message.text)
        return tail


def test_an_agent_uses_every_tool_and_sees_the_results(memory: MemoryCore) -> None:
    script = Script()

    def reply(messages: list[BaseMessage]) -> AIMessage:
        script.seen.append(messages)
        step = len(script.seen)
        if step == 1:
            return AIMessage("", tool_calls=[
                _call("remember", {"text": "Alice is allergic to nuts"}, 1),
                _call("remember", {"text": "vegetarian", "kind": "preference", "key": "diet"}, 2),
                _call("edit_memory_block", {"name": "task", "action": "set", "text": "Plan a dinner for six",
                                            "scope": "session"}, 3),
            ])
        if step == 2:
            return AIMessage("", tool_calls=[_call("search_memory", {"query": "allergic to nuts", "k": 3}, 4)])
        if step == 3:
            fact_id = ID.findall(script.results()[0])[0]
            return AIMessage("", tool_calls=[
                _call("update_memory", {"memory_id": fact_id, "text": "Alice is allergic to peanuts"}, 5),
                _call("edit_memory_block", {"name": "user", "action": "append", "text": "Allergic to peanuts"}, 6),
            ])
        if step == 4:
            new_id = ID.findall(script.results()[0])[-1]
            return AIMessage("", tool_calls=[
                _call("forget_memory", {"memory_id": new_id}, 7),
                _call("edit_memory_block", {"name": "task", "action": "replace", "old": "six",
                                            "text": "eight", "scope": "session"}, 8),
            ])
        return AIMessage("All noted.")

    model = RecordingChatModel(reply=reply)
    agent = create_agent(model, tools=memory_tools(memory), middleware=[MemoryMiddleware(core=memory)])
    result = agent.invoke({"messages": [HumanMessage("I'm allergic to nuts and vegetarian; plan dinner for six")]},
                          _config("t1", "alice"))
    assert result["messages"][-1].text == "All noted."

    remembered, preference, block = (m.text for m in script.seen[1][-3:])
    assert remembered.startswith("Remembered as ") and remembered.endswith(": Alice is allergic to nuts")
    assert preference.endswith(": diet: vegetarian")
    assert block == "Block 'task' (session) is now version 1, 21/2000 characters:\nPlan a dinner for six"
    assert "<task>\nPlan a dinner for six\n</task>" in script.seen[1][0].text  # the next call's system prompt
    assert "fact" in script.seen[2][-1].text and "Alice is allergic to nuts" in script.seen[2][-1].text
    updated = script.seen[3][-2].text
    assert updated.startswith("Updated: ") and "Alice is allergic to peanuts" in updated
    assert script.seen[4][-2].text.startswith("Forgot ")
    assert "Plan a dinner for eight" in script.seen[4][-1].text

    facts = memory.records(user_id="alice", kinds=["fact"])
    assert [f.text for f in facts] == ["Alice is allergic to nuts"]
    assert facts[0].superseded_by is None  # updated, then the update was forgotten: the old one is current again
    assert memory.preferences(user_id="alice") == {"diet": "vegetarian"}
    assert memory.get_block("task", user_id="alice", session_id="t1").text == "Plan a dinner for eight"  # type: ignore[union-attr]
    assert memory.get_block("user", user_id="alice").text == "Allergic to peanuts"  # type: ignore[union-attr]
    assert memory.records(user_id="default") == [] and memory.blocks(user_id="default") == []


def test_another_users_memory_cannot_be_reached_through_arguments(memory: MemoryCore) -> None:
    secret = memory.remember("Bob's door code is QZ-4411", user_id="bob")
    script = Script()

    def reply(messages: list[BaseMessage]) -> AIMessage:
        script.seen.append(messages)
        if len(script.seen) == 1:
            return AIMessage("", tool_calls=[
                _call("forget_memory", {"memory_id": secret.id}, 1),
                _call("update_memory", {"memory_id": secret.id, "text": "changed"}, 2),
                _call("search_memory", {"query": "door code", "user_id": "bob"}, 3),
                _call("remember", {"text": "planted", "user_id": "bob"}, 4),
                _call("edit_memory_block", {"name": "user", "action": "set", "text": "x", "session_id": "b"}, 5),
            ])
        return AIMessage("done")

    model = RecordingChatModel(reply=reply)
    agent = create_agent(model, tools=memory_tools(memory))
    agent.invoke({"messages": [HumanMessage("hack")]}, _config("t1", "alice"))
    forget, update, search, remember, block = (m for m in script.seen[1] if isinstance(m, ToolMessage))
    assert f"no record {secret.id} for user 'alice'" in forget.text and forget.status == "error"
    assert f"no record {secret.id} for user 'alice'" in update.text
    for refused, argument in ((search, "user_id"), (remember, "user_id"), (block, "session_id")):
        assert "Refused, nothing was done" in refused.text and argument in refused.text
    assert memory.get(secret.id, user_id="bob").text == "Bob's door code is QZ-4411"
    assert memory.history(secret.id, user_id="bob") == []
    assert [r.text for r in memory.records(user_id="bob")] == ["Bob's door code is QZ-4411"]
    assert memory.records(user_id="alice") == [] and memory.blocks(user_id="alice") == []


def test_the_user_comes_from_the_runtime_context_too(memory: MemoryCore) -> None:
    def reply(messages: list[BaseMessage]) -> AIMessage:
        if isinstance(messages[-1], HumanMessage):
            return AIMessage("", tool_calls=[_call("remember", {"text": "Carol plays the cello"}, 1)])
        return AIMessage("ok")

    agent = create_agent(RecordingChatModel(reply=reply), tools=memory_tools(memory), context_schema=dict)
    agent.invoke({"messages": [HumanMessage("note it")]}, {"configurable": {"thread_id": "t"}},
                 context={"user_id": "carol"})
    assert [r.text for r in memory.records(user_id="carol")] == ["Carol plays the cello"]


def test_tools_in_a_langgraph_tool_node(memory: MemoryCore) -> None:
    memory.remember("Dana lives in Oslo", user_id="dana")

    def model_node(state: MessagesState) -> dict[str, Any]:
        if isinstance(state["messages"][-1], ToolMessage):
            return {"messages": [AIMessage("done")]}
        return {"messages": [AIMessage("", tool_calls=[
            _call("search_memory", {"query": "where does Dana live"}, 1),
            _call("edit_memory_block", {"name": "user", "action": "set", "text": "Dana lives in Oslo"}, 2),
        ])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", model_node)
    graph.add_node("tools", ToolNode(memory_tools(memory)))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", lambda s: "tools" if s["messages"][-1].tool_calls else END)
    graph.add_edge("tools", "model")
    result = graph.compile().invoke({"messages": [HumanMessage("hi")]}, _config("g1", "dana"))
    search, block = (m for m in result["messages"] if isinstance(m, ToolMessage))
    assert "Dana lives in Oslo" in search.text and search.text.startswith("[")
    assert block.text.startswith("Block 'user' (user) is now version 1")
    assert memory.get_block("user", user_id="dana").text == "Dana lives in Oslo"  # type: ignore[union-attr]


async def test_tools_async_in_create_agent(memory: MemoryCore) -> None:
    def reply(messages: list[BaseMessage]) -> AIMessage:
        if isinstance(messages[-1], HumanMessage):
            return AIMessage("", tool_calls=[_call("remember", {"text": "Eve met Frank in May", "kind": "event"}, 1)])
        return AIMessage("ok")

    agent = create_agent(RecordingChatModel(reply=reply), tools=memory_tools(memory),
                         middleware=[MemoryMiddleware(core=memory)])
    await agent.ainvoke({"messages": [HumanMessage("log it")]}, _config("t", "eve"))
    (event,) = memory.records(user_id="eve", kinds=["event"])
    assert event.text == "Eve met Frank in May" and event.session_id == "t"
    assert event.metadata == {"source": "agent"}


def test_include_picks_tools_and_rejects_unknown_names(memory: MemoryCore) -> None:
    import pytest

    from agent_memory_plugins.errors import InvalidInputError

    assert [t.name for t in memory_tools(memory, include=["search_memory"])] == ["search_memory"]
    with pytest.raises(InvalidInputError, match="unknown memory tools"):
        memory_tools(memory, include=["delete_everything"])
