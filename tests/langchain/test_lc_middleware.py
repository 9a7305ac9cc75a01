"""MemoryMiddleware driven through real create_agent agents, asserting on what the model was sent."""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from lc_fakes import FACT, OTHER_FACT, RecordingChatModel, assert_tool_pairs_intact, text_of, turn_text

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.langchain import MemoryMiddleware
from agent_memory_plugins.langchain.messages import records_to_messages


def config(thread: str, user: str | None = None) -> Any:
    configurable = {"thread_id": thread}
    if user is not None:
        configurable["user_id"] = user
    return {"configurable": configurable}


def ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def conversation(messages: list[BaseMessage]) -> list[BaseMessage]:
    return [m for m in messages if not isinstance(m, SystemMessage)]


@tool
def lookup(query: str) -> str:
    """Look something up."""
    return f"result for {query}"


def tool_then_answer(messages: list[BaseMessage]) -> AIMessage:
    """Call ``lookup`` for each user message, then answer with the tool's result."""
    last = messages[-1]
    if isinstance(last, HumanMessage):
        calls = sum(1 for m in messages if isinstance(m, AIMessage) and m.tool_calls)
        return AIMessage("", tool_calls=[{"name": "lookup", "args": {"query": last.text},
                                          "id": f"call-{last.id}-{calls}", "type": "tool_call"}])
    assert isinstance(last, ToolMessage)
    return AIMessage(f"done: {last.text}")


def test_fifty_turns_keep_an_early_fact_in_the_prompt_and_never_another_users(window10: MemoryCore) -> None:
    model = RecordingChatModel()
    agent = create_agent(model, system_prompt="You are helpful.", checkpointer=InMemorySaver(),
                         middleware=[MemoryMiddleware(core=window10)])
    agent.invoke(ask(OTHER_FACT), config("bob-thread", "bob"))
    for turn in range(1, 51):
        agent.invoke(ask(turn_text(turn)), config("alice-thread", "alice"))
    window10.flush()
    agent.invoke(ask("Where do I live?"), config("alice-thread", "alice"))

    system, *rest = model.last
    assert isinstance(system, SystemMessage) and system.text.startswith("You are helpful.\n\n")
    assert "Summary of earlier conversation:" in system.text and "Reykjavik" in system.text
    # the window of 10 opens on its first user turn (9 messages); the 2 stored messages before it
    # left the window but are not folded yet, so they are shown too
    assert len(rest) == 11 and rest[-1].text == "Where do I live?" and isinstance(rest[0], HumanMessage)
    assert all("Lisbon" not in text_of(call) for call in model.calls[1:])
    assert "Reykjavik" not in text_of(model.calls[0])
    assert len(window10.messages("alice-thread", user_id="alice")) == 102


def test_a_fact_told_in_one_thread_is_recalled_in_another_of_the_same_user_only(memory: MemoryCore) -> None:
    model = RecordingChatModel()
    agent = create_agent(model, checkpointer=InMemorySaver(), middleware=[MemoryMiddleware(core=memory)])
    agent.invoke(ask("Remember that my favourite colour is teal."), config("a1", "alice"))
    agent.invoke(ask("My favourite colour is mauve."), config("b1", "bob"))
    memory.flush()

    agent.invoke(ask("What is my favourite colour?"), config("a2", "alice"))
    system = model.last[0]
    assert isinstance(system, SystemMessage) and "Relevant memories:" in system.text
    assert "teal" in system.text and "mauve" not in system.text
    assert [m.text for m in model.last[1:]] == ["What is my favourite colour?"]  # a new thread's window

    agent.invoke(ask("What is my favourite colour?"), config("b2", "bob"))
    assert "mauve" in model.last[0].text and "teal" not in text_of(model.last)


def test_tool_calls_stay_with_their_results_and_round_trip(memory: MemoryCore) -> None:
    model = RecordingChatModel(reply=tool_then_answer)
    agent = create_agent(model, tools=[lookup], checkpointer=InMemorySaver(),
                         middleware=[MemoryMiddleware(core=memory)])
    for turn in range(1, 7):
        agent.invoke(ask(f"question {turn}"), config("t", "u"))
        memory.flush()  # what left the window is folded
    assert len(model.calls) == 12
    for call in model.calls:
        assert_tool_pairs_intact(call)
        assert len(conversation(call)) <= 6 + 3  # the stored window + this run's question, call, result
    question, call, result = model.last[-3:]
    assert question.text == "question 6" and result.text == "result for question 6"
    assert isinstance(call, AIMessage) and call.tool_calls[0]["args"] == {"query": "question 6"}
    state = agent.get_state(config("t", "u")).values["messages"]
    assert records_to_messages(memory.messages("t", user_id="u")) == state  # same types, ids, tool calls


def test_without_a_checkpointer_earlier_turns_come_from_the_core(memory: MemoryCore) -> None:
    model = RecordingChatModel()
    agent = create_agent(model, middleware=[MemoryMiddleware(core=memory)])
    agent.invoke(ask("I have a dog called Rex."), config("n", "u"))
    agent.invoke(ask("What is my dog called?"), config("n", "u"))
    assert [(type(m), m.text) for m in conversation(model.last)] == [
        (HumanMessage, "I have a dog called Rex."), (AIMessage, "ok"), (HumanMessage, "What is my dog called?")]
    assert [r.text for r in memory.messages("n", user_id="u")] == [
        "I have a dog called Rex.", "ok", "What is my dog called?", "ok"]


def test_user_from_runtime_context_and_defaults(memory: MemoryCore) -> None:
    model = RecordingChatModel()
    agent = create_agent(model, middleware=[MemoryMiddleware(core=memory, user_id="fallback")])
    agent.invoke(ask("hello from carol"), config("c"), context={"user_id": "carol"})
    agent.invoke(ask("hello from nobody"))
    assert [r.text for r in memory.messages("c", user_id="carol")] == ["hello from carol", "ok"]
    assert [r.text for r in memory.messages("default", user_id="fallback")] == ["hello from nobody", "ok"]
    assert memory.messages("c", user_id="fallback") == []


def test_no_system_message_when_there_is_nothing_to_add(memory: MemoryCore) -> None:
    model = RecordingChatModel()
    agent = create_agent(model, middleware=[MemoryMiddleware(core=memory)])
    agent.invoke(ask("first words"), config("s", "u"))
    assert [type(m) for m in model.last] == [HumanMessage]


async def test_async_agent_records_recalls_and_trims(memory: MemoryCore) -> None:
    model = RecordingChatModel(reply=tool_then_answer)
    agent = create_agent(model, tools=[lookup], system_prompt="Base.", checkpointer=InMemorySaver(),
                         middleware=[MemoryMiddleware(core=memory)])
    await agent.ainvoke(ask(FACT), config("x1", "alice"))
    for turn in range(3):
        await agent.ainvoke(ask(f"async question {turn}"), config("x1", "alice"))
        await memory.aflush()  # what left the window is folded
    await agent.ainvoke(ask("where do I live?"), config("x2", "alice"))
    assert "Reykjavik" in model.last[0].text and model.last[0].text.startswith("Base.\n\n")
    for call in model.calls:
        assert_tool_pairs_intact(call)
        assert len(conversation(call)) <= 6 + 3  # the stored window + this run's question, call, result
    stored = await memory.amessages("x1", user_id="alice")
    assert len(stored) == 16 and stored[0].text == FACT


def test_recall_of_chosen_kinds_and_importance_from_messages(memory: MemoryCore) -> None:
    memory.remember_fact("The user's dog is called Biscuit", user_id="alice")
    memory.add_message("old", "user", "Biscuit chewed my shoes again", user_id="alice")
    memory.flush()
    model = RecordingChatModel()
    agent = create_agent(model, checkpointer=InMemorySaver(),
                         middleware=[MemoryMiddleware(core=memory, kinds=["fact"])])
    agent.invoke({"messages": [HumanMessage("What is Biscuit?", additional_kwargs={"importance": 0.9})]},
                 config("t1", "alice"))
    system = model.last[0]
    assert "dog is called Biscuit" in system.text and "chewed my shoes" not in system.text
    asked = [r for r in memory.messages("t1", user_id="alice") if r.role == "user"]
    assert [r.importance for r in asked] == [0.9]
