"""Messages round-trip through the core as the same LangChain types with the same fields."""

from __future__ import annotations

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.langchain.messages import (
    message_id,
    record_to_message,
    records_to_messages,
    to_core_messages,
)

MESSAGES: list[BaseMessage] = [
    SystemMessage(content="Be brief.", id="m0"),
    HumanMessage(content="What's the weather in Paris?", id="m1", name="alice",
                 additional_kwargs={"source": "web"}),
    AIMessage(content="", id="m2", tool_calls=[
        {"name": "weather", "args": {"city": "Paris", "days": [1, 2]}, "id": "call-1", "type": "tool_call"},
        {"name": "clock", "args": {}, "id": "call-2", "type": "tool_call"},
    ], response_metadata={"model_name": "fake"}),
    ToolMessage(content="18C and sunny", tool_call_id="call-1", name="weather", id="m3"),
    ToolMessage(content=[{"type": "text", "text": "12:00"}], tool_call_id="call-2", name="clock",
                id="m4", status="error", artifact={"raw": [1, 2]}),
    AIMessage(content=[{"type": "text", "text": "Sunny, 18C."}], id="m5"),
    ChatMessage(content="a note", role="critic", id="m6"),
    AIMessageChunk(content="partial", id="m7"),
]


def test_every_message_type_round_trips_exactly(memory: MemoryCore) -> None:
    memory.add_messages("s", to_core_messages(MESSAGES), user_id="u")
    back = records_to_messages(memory.messages("s", user_id="u"))
    assert back == MESSAGES
    assert [type(m) for m in back] == [type(m) for m in MESSAGES]


def test_records_carry_roles_and_searchable_text(memory: MemoryCore) -> None:
    records = memory.add_messages("s", to_core_messages(MESSAGES), user_id="u")
    assert [r.role for r in records] == ["system", "user", "assistant", "tool", "tool", "assistant", "user",
                                         "assistant"]
    assert records[2].text == 'called weather({"city": "Paris", "days": [1, 2]}); clock({})'
    assert records[4].text == "12:00"
    assert [message_id(r) for r in records] == [m.id for m in MESSAGES]


def test_records_of_other_writers_become_plain_messages(memory: MemoryCore) -> None:
    memory.add_message("s", "user", "hello", user_id="u")
    memory.add_message("s", "assistant", "hi", user_id="u")
    memory.add_message("s", "tool", "42", user_id="u", metadata={"tool_call_id": "c9"})
    human, ai, tool = records_to_messages(memory.messages("s", user_id="u"))
    assert isinstance(human, HumanMessage) and human.content == "hello" and human.id
    assert isinstance(ai, AIMessage) and ai.content == "hi"
    assert isinstance(tool, ToolMessage) and tool.tool_call_id == "c9"


def test_caller_metadata_is_kept_next_to_the_message(memory: MemoryCore) -> None:
    (record,) = memory.add_messages("s", to_core_messages([HumanMessage("hi there")], {"topic": "x"}),
                                    user_id="u")
    assert record.metadata["topic"] == "x"
    assert record_to_message(record) == HumanMessage("hi there", id=record.id)


@pytest.mark.parametrize("content", ["", "   "])
def test_empty_messages_still_get_text(memory: MemoryCore, content: str) -> None:
    (record,) = memory.add_messages("s", to_core_messages([HumanMessage(content, id="e")]), user_id="u")
    assert record.text.strip()
    assert record_to_message(record) == HumanMessage(content, id="e")
