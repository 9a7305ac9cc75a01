"""ChatHistory driven through RunnableWithMessageHistory, asserting on what the model was sent."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from lc_fakes import FACT, OTHER_FACT, RecordingChatModel, assert_tool_pairs_intact, text_of, turn_text

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.langchain import ChatHistory
from agent_memory_plugins.langchain.history import SUMMARY_ID

PROMPT = ChatPromptTemplate.from_messages(
    [("system", "You are a helpful assistant."), MessagesPlaceholder("history"), ("human", "{input}")]
)


def chain_for(core: MemoryCore, model: RecordingChatModel, user: str) -> RunnableWithMessageHistory:
    return RunnableWithMessageHistory(
        PROMPT | model,
        lambda session_id: ChatHistory(core=core, session_id=session_id, user_id=user),
        input_messages_key="input",
        history_messages_key="history",
    )


def test_fifty_turns_keep_an_early_fact_in_the_prompt_and_never_another_users(window10: MemoryCore) -> None:
    alice_model, bob_model = RecordingChatModel(), RecordingChatModel()
    alice, bob = chain_for(window10, alice_model, "alice"), chain_for(window10, bob_model, "bob")
    config = {"configurable": {"session_id": "s1"}}  # the same session id for both users
    bob.invoke({"input": OTHER_FACT}, config)
    for turn in range(1, 51):
        alice.invoke({"input": turn_text(turn)}, config)
    window10.flush()
    alice.invoke({"input": "Where do I live?"}, config)

    sent = alice_model.last
    assert isinstance(sent[0], SystemMessage) and sent[0].content == "You are a helpful assistant."
    assert isinstance(sent[1], SystemMessage) and "Reykjavik" in sent[1].text  # the running summary
    history = sent[2:-1]
    assert len(history) == 10 and all(isinstance(m, (HumanMessage, AIMessage)) for m in history)
    assert sent[-1] == HumanMessage("Where do I live?")
    assert all("Lisbon" not in text_of(call) for call in alice_model.calls)
    assert "Reykjavik" not in text_of(bob_model.last)
    assert len(window10.messages("s1", user_id="alice")) == 102
    assert len(window10.messages("s1", user_id="bob")) == 2


async def test_async_turns_are_recorded_and_shown(memory: MemoryCore) -> None:
    model = RecordingChatModel()
    chain = chain_for(memory, model, "alice")
    config = {"configurable": {"session_id": "a1"}}
    await chain.ainvoke({"input": FACT}, config)
    await chain.ainvoke({"input": "and my name?"}, config)
    assert [m.content for m in model.last[1:]] == [FACT, "ok", "and my name?"]
    history = ChatHistory(core=memory, session_id="a1", user_id="alice")
    messages = await history.aget_messages()
    assert messages == [HumanMessage(FACT, id=messages[0].id), AIMessage("ok", id=messages[1].id),
                        HumanMessage("and my name?", id=messages[2].id), AIMessage("ok", id=messages[3].id)]
    await history.aclear()
    assert await history.aget_messages() == []


def test_messages_only_mode_records_each_message_once(memory: MemoryCore) -> None:
    """Without history_messages_key the runnable hands history back to add_messages."""
    model = RecordingChatModel()
    chain = RunnableWithMessageHistory(
        model, lambda session_id: ChatHistory(core=memory, session_id=session_id, user_id="u")
    )
    config = {"configurable": {"session_id": "m"}}
    for turn in range(1, 9):
        chain.invoke([HumanMessage(f"I have {turn} blue bicycles")], config)
        memory.flush()  # a summary appearing mid-run would shift the runnable's slicing
    stored = memory.messages("m", user_id="u")
    assert [r.text for r in stored] == [t for turn in range(1, 9) for t in (f"I have {turn} blue bicycles", "ok")]
    sent = model.last
    assert isinstance(sent[0], SystemMessage) and sent[0].id == SUMMARY_ID
    assert "I have 1 blue bicycles" in sent[0].text  # summary of what left the window of 6
    assert [m.text for m in sent[1:]] == ["I have 5 blue bicycles", "ok", "I have 6 blue bicycles", "ok",
                                          "I have 7 blue bicycles", "ok", "I have 8 blue bicycles"]


def test_summary_then_window(memory: MemoryCore) -> None:
    history = ChatHistory(core=memory, session_id="s", user_id="u")
    assert history.messages == []
    for turn in range(1, 6):
        history.add_messages([HumanMessage(f"I was born in 19{turn}0 in Oslo."), AIMessage(f"noted {turn}")])
    memory.flush()
    messages = history.messages
    assert isinstance(messages[0], SystemMessage) and "1910" in messages[0].text
    assert [m.text for m in messages[1:]] == [
        "I was born in 1930 in Oslo.", "noted 3", "I was born in 1940 in Oslo.", "noted 4",
        "I was born in 1950 in Oslo.", "noted 5"]
    assert str(history).count("Oslo") >= 3


def test_tool_calls_and_results_come_back_as_the_same_types(memory: MemoryCore) -> None:
    history = ChatHistory(core=memory, session_id="t", user_id="u")
    turn = [
        HumanMessage("weather in Paris?", id="h1"),
        AIMessage("", id="a1", tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "c1",
                                            "type": "tool_call"}]),
        ToolMessage("18C", tool_call_id="c1", name="weather", id="t1"),
        AIMessage("It is 18C.", id="a2"),
    ]
    history.add_messages(turn)
    history.add_messages(turn)  # given back again: not recorded twice
    assert history.messages == turn
    assert_tool_pairs_intact(history.messages)


def test_clear_forgets_only_this_session(memory: MemoryCore) -> None:
    mine = ChatHistory(core=memory, session_id="a", user_id="u")
    other = ChatHistory(core=memory, session_id="b", user_id="u")
    mine.add_user_message("hello from a")
    other.add_ai_message("hello from b")
    mine.clear()
    assert mine.messages == []
    assert [m.text for m in other.messages] == ["hello from b"]


def test_history_survives_a_restart(store_path: object) -> None:
    turn = [HumanMessage("I keep bees in Ghent.", id="h"), AIMessage("", id="a", tool_calls=[
        {"name": "note", "args": {"what": "bees"}, "id": "c", "type": "tool_call"}]),
        ToolMessage("saved", tool_call_id="c", id="t")]
    with MemoryCore(store_path, window_messages=6) as core:  # type: ignore[arg-type]
        ChatHistory(core=core, session_id="s", user_id="u").add_messages(turn)
    with MemoryCore(store_path, window_messages=6) as core:  # type: ignore[arg-type]
        assert ChatHistory(core=core, session_id="s", user_id="u").messages == turn
