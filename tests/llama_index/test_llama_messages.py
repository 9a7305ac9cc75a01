"""ChatMessages round-trip through the core unchanged, whatever they hold."""

from __future__ import annotations

import base64
import datetime

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.llama_index.messages import (
    EMPTY_TEXT,
    METADATA_KEY,
    message_text,
    to_chat_message,
    to_core_message,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def round_trip(core: MemoryCore, message: ChatMessage) -> ChatMessage:
    entry = to_core_message(message, max_metadata_bytes=core.settings.max_metadata_bytes)
    record = core.add_message("s", user_id="u", **entry)
    return to_chat_message(core.get(record.id, user_id="u"))


@pytest.mark.parametrize(
    "message",
    [
        ChatMessage(role="user", content="plain text"),
        ChatMessage(role="assistant", content="I'll check.", additional_kwargs={"name": "helper", "n": [1, 2]}),
        ChatMessage(role="assistant", blocks=[
            ToolCallBlock(tool_call_id="c1", tool_name="weather", tool_kwargs={"city": "Porto"}),
        ]),
        ChatMessage(role="tool", content="Sunny", additional_kwargs={"tool_call_id": "c1", "name": "weather"}),
        ChatMessage(role="developer", content="Be terse."),
        ChatMessage(role="user", blocks=[TextBlock(text="What is this?"), ImageBlock(image=PNG)]),
        ChatMessage(role="assistant", blocks=[ThinkingBlock(content="hmm"), TextBlock(text="Yes.")]),
        ChatMessage(role="user", content="  leading and trailing spaces  "),
    ],
    ids=["plain", "kwargs", "tool-call", "tool-result", "developer", "image", "thinking", "spaces"],
)
def test_messages_round_trip_unchanged(memory: MemoryCore, message: ChatMessage) -> None:
    assert round_trip(memory, message) == message


def test_plain_messages_store_no_metadata() -> None:
    entry = to_core_message(ChatMessage(role="user", content="hello"))
    assert entry == {"role": "user", "content": "hello"}


def test_tool_calls_are_searchable_text_and_neutral_metadata() -> None:
    message = ChatMessage(role="assistant", blocks=[
        ToolCallBlock(tool_call_id="c1", tool_name="weather", tool_kwargs='{"city": "Porto"}'),
    ])
    entry = to_core_message(message)
    assert entry["role"] == "assistant"
    assert entry["content"] == '[tool call weather: {"city": "Porto"}]'
    assert entry["metadata"]["tool_calls"] == [{"id": "c1", "name": "weather", "args": {"city": "Porto"}}]
    result = to_core_message(ChatMessage(role="tool", content="Sunny", additional_kwargs={"tool_call_id": "c1"}))
    assert result["metadata"]["tool_call_id"] == "c1"


def test_legacy_openai_tool_calls_are_described() -> None:
    message = ChatMessage(role="assistant", content="", additional_kwargs={"tool_calls": [
        {"id": "c9", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}},
    ]})
    assert message_text(message) == '[tool call lookup: {"q": "x"}]'


def test_roles_map_to_core_roles_and_back(memory: MemoryCore) -> None:
    for role, core_role in [("developer", "system"), ("function", "tool"), ("chatbot", "assistant"),
                            ("model", "assistant")]:
        message = ChatMessage(role=role, content=f"said by {role}")
        assert to_core_message(message)["role"] == core_role
        assert round_trip(memory, message).role == MessageRole(role)


def test_empty_message_is_stored_and_comes_back_empty(memory: MemoryCore) -> None:
    message = ChatMessage(role="assistant", content="")
    assert to_core_message(message)["content"] == EMPTY_TEXT
    assert round_trip(memory, message) == message


def test_memory_flush_session_id_is_dropped() -> None:
    message = ChatMessage(role="user", content="hi", additional_kwargs={"session_id": "abc"})
    assert to_core_message(message, drop_kwargs=["session_id"]) == {"role": "user", "content": "hi"}


def test_unserialisable_kwargs_are_stored_as_text(memory: MemoryCore) -> None:
    when = datetime.datetime(2024, 5, 1, 12, 0)
    message = ChatMessage(role="assistant", content="ok", additional_kwargs={"when": when, "obj": object()})
    back = round_trip(memory, message)
    assert back.content == "ok"
    assert back.additional_kwargs["when"] == "2024-05-01T12:00:00"
    assert back.additional_kwargs["obj"].startswith("<object object")


def test_inline_media_too_large_for_metadata_is_left_out(memory: MemoryCore) -> None:
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * 80_000
    linked = ImageBlock(image=big, url="https://example.com/cat.png")
    message = ChatMessage(role="user", blocks=[TextBlock(text="Two pictures"), ImageBlock(image=big), linked])
    back = round_trip(memory, message)
    assert back.blocks[0] == TextBlock(text="Two pictures")
    assert back.blocks[1] == TextBlock(text="[image omitted: too large to store]")
    assert isinstance(back.blocks[2], ImageBlock)
    assert str(back.blocks[2].url) == "https://example.com/cat.png"
    assert back.blocks[2].image is None


def test_small_inline_media_keeps_its_bytes(memory: MemoryCore) -> None:
    back = round_trip(memory, ChatMessage(role="user", blocks=[ImageBlock(image=PNG)]))
    assert base64.b64decode(back.blocks[0].image) == PNG


def test_records_written_without_llama_index_metadata_read_as_role_and_text(memory: MemoryCore) -> None:
    record = memory.add_message("s", "assistant", "Hello from elsewhere", user_id="u",
                                metadata={"source": "import"})
    assert to_chat_message(record) == ChatMessage(role="assistant", content="Hello from elsewhere")


def test_corrupt_llama_index_metadata_falls_back_to_text(memory: MemoryCore) -> None:
    record = memory.add_message("s", "user", "still readable", user_id="u",
                                metadata={METADATA_KEY: {"role": "nonsense", "blocks": 3}})
    assert to_chat_message(record) == ChatMessage(role="user", content="still readable")
