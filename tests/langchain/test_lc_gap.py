"""Every LangChain adapter that renders summary + window shows what left the window until it is folded,
and opens the conversation on a user turn."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage, SystemMessage
from lc_fakes import RecordingChatModel

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.langchain import ChatHistory, ConversationMemory, MemoryMiddleware

FACT = "My locker code is 4417."


def told(core: MemoryCore) -> None:
    core.add_message("s", "user", FACT, user_id="u")
    core.add_message("s", "assistant", "Noted.", user_id="u")
    for turn in range(5):
        core.add_message("s", "user", f"ok {turn}", user_id="u")
        core.add_message("s", "assistant", f"sure {turn}", user_id="u")


def test_chat_history_shows_unfolded_messages(unfolded: MemoryCore) -> None:
    told(unfolded)
    messages = ChatHistory(core=unfolded, session_id="s", user_id="u").messages
    assert any(m.text == FACT for m in messages) and isinstance(messages[0], HumanMessage)


def test_conversation_memory_shows_unfolded_messages(unfolded: MemoryCore) -> None:
    told(unfolded)
    memory = ConversationMemory(core=unfolded, session_id="s", user_id="u", k=0)
    assert FACT in memory.load_memory_variables({"input": "hi"})["history"]


def test_middleware_shows_unfolded_messages_and_opens_on_a_user_turn(unfolded: MemoryCore) -> None:
    told(unfolded)
    unfolded.add_message("s", "user", "one more", user_id="u")
    unfolded.add_message("s", "assistant", "fine", user_id="u")
    model = RecordingChatModel()
    agent = create_agent(model, middleware=[MemoryMiddleware(core=unfolded, k=0)])
    config: Any = {"configurable": {"thread_id": "s", "user_id": "u"}}
    agent.invoke({"messages": [{"role": "user", "content": "what is my code?"}]}, config)
    sent = [m for m in model.last if not isinstance(m, SystemMessage)]
    assert any(m.text == FACT for m in sent)
    assert isinstance(sent[0], HumanMessage)
    unfolded.flush()
    agent.invoke({"messages": [{"role": "user", "content": "and now?"}]}, config)
    sent = [m for m in model.last if not isinstance(m, SystemMessage)]
    assert all(m.text != FACT for m in sent) and isinstance(sent[0], HumanMessage)
    assert FACT in model.last[0].text  # in the summary


def test_a_run_without_a_user_warns_once(unfolded: MemoryCore) -> None:
    agent = create_agent(RecordingChatModel(), middleware=[MemoryMiddleware(core=unfolded)])
    config: Any = {"configurable": {"thread_id": "t"}}
    with pytest.warns(UserWarning, match='stored under user "default"'):
        agent.invoke({"messages": [{"role": "user", "content": "hello"}]}, config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agent.invoke({"messages": [{"role": "user", "content": "again"}]}, config)  # once only
        named = create_agent(RecordingChatModel(), middleware=[MemoryMiddleware(core=unfolded, user_id="default")])
        named.invoke({"messages": [{"role": "user", "content": "quiet"}]}, config)
    assert len(unfolded.messages("t", user_id="default")) == 6
