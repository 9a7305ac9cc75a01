"""Translate LangChain messages to core records and back, keeping their exact type.

A message is stored as a record whose ``text`` is what gets embedded and summarized (the message's
text, or a line describing its tool calls when it has no text) and whose metadata holds, under the
key ``"langchain"``, the message type and every field that differs from its default: id, name,
``tool_calls``, ``tool_call_id``, ``additional_kwargs``, non-text content blocks and so on. Reading
the record back rebuilds the same message class with the same fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)

from ..core.validation import ROLE_ALIASES
from ..records import ROLES, MemoryRecord

__all__ = ["LANGCHAIN_KEY", "message_id", "record_to_message", "records_to_messages", "to_core_messages"]

LANGCHAIN_KEY = "langchain"
"""Record metadata key under which a message's LangChain fields are kept."""

_DEFAULT_CLASS: dict[str, type[BaseMessage]] = {"user": HumanMessage, "assistant": AIMessage, "system": SystemMessage}


def role_of(message: BaseMessage) -> str:
    """The core role of a LangChain message."""
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, (ToolMessage, FunctionMessage)):
        return "tool"
    if isinstance(message, ChatMessage):
        role = ROLE_ALIASES.get(message.role.lower(), message.role.lower())
        return role if role in ROLES else "user"
    return "user"


def text_of(message: BaseMessage) -> str:
    """The text to embed and summarize: the message's text, else a description of its tool calls."""
    text = message.text
    if text.strip():
        return text
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = [
            f"{call['name']}({json.dumps(call['args'], ensure_ascii=False, sort_keys=True, default=str)})"
            for call in message.tool_calls
        ]
        return "called " + "; ".join(calls)
    if isinstance(message, ToolMessage):
        return f"[{message.name or 'tool'} returned no text]"
    return f"[empty {message.type} message]"


def to_core_message(message: BaseMessage, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A message as the dict :meth:`MemoryCore.add_messages` takes."""
    text = text_of(message)
    data = message_to_dict(message)["data"]
    fields = {
        name: value
        for name, value in data.items()
        if name not in ("type", "content") and value not in (None, {}, [], "")
        and not (name == "status" and value == "success")
    }
    if data.get("content") != text:
        fields["content"] = data.get("content")
    langchain = {"type": message.type, "data": fields}
    # JSON-normalise what LangChain put in (tuples become lists, odd objects their str) so the
    # core stores exactly what we read back.
    normalised = json.loads(json.dumps(langchain, ensure_ascii=False, default=str))
    entry: dict[str, Any] = {
        "role": role_of(message),
        "content": text,
        "metadata": {**(metadata or {}), LANGCHAIN_KEY: normalised},
    }
    if "importance" in message.additional_kwargs:  # the core checks it is a number in [0, 1]
        entry["importance"] = message.additional_kwargs["importance"]
    return entry


def to_core_messages(
    messages: Iterable[BaseMessage], metadata: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Several messages as dicts for :meth:`MemoryCore.add_messages`."""
    return [to_core_message(message, metadata) for message in messages]


def record_to_message(record: MemoryRecord) -> BaseMessage:
    """The LangChain message a record stands for.

    Records written by this module come back as the exact class and fields they were stored with;
    other records become the plain message class of their role, with the record id as message id.
    """
    stored = record.metadata.get(LANGCHAIN_KEY)
    if isinstance(stored, Mapping) and isinstance(stored.get("type"), str):
        data = dict(stored.get("data") or {})
        data.setdefault("content", record.text)
        data.setdefault("id", record.id)
        message: BaseMessage = messages_from_dict([{"type": stored["type"], "data": data}])[0]
        return message
    if record.role == "tool":
        call_id = record.metadata.get("tool_call_id")
        return ToolMessage(content=record.text, tool_call_id=str(call_id or record.id), id=record.id)
    message_class = _DEFAULT_CLASS.get(record.role, HumanMessage)
    return message_class(content=record.text, id=record.id)


def records_to_messages(records: Sequence[MemoryRecord]) -> list[BaseMessage]:
    """Records as LangChain messages, in order."""
    return [record_to_message(record) for record in records]


def message_id(record: MemoryRecord) -> str:
    """The id the record's message has in LangChain (its original id, else the record id)."""
    stored = record.metadata.get(LANGCHAIN_KEY)
    if isinstance(stored, Mapping):
        data = stored.get("data")
        if isinstance(data, Mapping) and isinstance(data.get("id"), str):
            return str(data["id"])
    return record.id
