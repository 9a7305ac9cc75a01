"""Translation between LlamaIndex ``ChatMessage`` objects and the core's message records.

A message whose only content is one text block, with a role the core knows and no
``additional_kwargs``, is stored as plain text. Anything else (tool calls, images, extra kwargs,
roles such as ``developer``) is also kept whole under the record's ``metadata["llama_index"]``, so
it comes back as the same ``ChatMessage``; the record's text then describes the non-text parts,
which keeps them searchable and gives an empty tool-call message something to store.

Tool calls are also written in a framework-neutral form, ``metadata["tool_calls"]`` (a list of
``{"id", "name", "args"}``) and ``metadata["tool_call_id"]``, and records written by other
adapters (such as the LangChain ``ChatHistory``) are read back with their tool calls and tool
call ids, so an agent can continue a conversation another framework started.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    DocumentBlock,
    ImageBlock,
    TextBlock,
    ToolCallBlock,
    VideoBlock,
)
from llama_index.core.bridge.pydantic import ValidationError

from ..records import MemoryRecord

__all__ = ["METADATA_KEY", "message_text", "to_chat_message", "to_core_message", "to_core_messages"]

METADATA_KEY = "llama_index"
"""Record metadata key holding the full ``ChatMessage`` when plain text would lose something."""

LANGCHAIN_KEY = "langchain"
"""Record metadata key where the LangChain adapter keeps a message's LangChain fields."""

EMPTY_TEXT = "(empty message)"
"""Stored text of a message with nothing to show (the message itself is kept in metadata)."""

CORE_ROLES = {
    "user": "user", "assistant": "assistant", "system": "system", "tool": "tool",
    "developer": "system", "function": "tool", "chatbot": "assistant", "model": "assistant",
}
MEDIA_BLOCKS = ("image", "audio", "video", "document")
MEDIA_PAYLOAD = {"image": "image", "audio": "audio", "video": "video", "document": "data"}


def message_text(message: ChatMessage) -> str:
    """The searchable text of a message: its text blocks, with tool calls and media described."""
    parts: list[str] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            parts.append(block.text)
        elif isinstance(block, ToolCallBlock):
            parts.append(_describe_call(block.tool_name, block.tool_kwargs))
        elif isinstance(block, ImageBlock):
            parts.append("[image]")
        elif isinstance(block, AudioBlock):
            parts.append("[audio]")
        elif isinstance(block, VideoBlock):
            parts.append("[video]")
        elif isinstance(block, DocumentBlock):
            parts.append(f"[document: {block.title}]" if block.title else "[document]")
    for call in message.additional_kwargs.get("tool_calls") or []:
        parts.append(_describe_legacy_call(call))
    text = "\n".join(part for part in parts if part.strip())
    return text or EMPTY_TEXT


def to_core_message(
    message: ChatMessage,
    *,
    drop_kwargs: Iterable[str] = (),
    max_metadata_bytes: int | None = None,
) -> dict[str, Any]:
    """A ``ChatMessage`` as the message dict ``MemoryCore.add_messages`` takes.

    ``drop_kwargs`` names ``additional_kwargs`` keys that are not part of the message (such as the
    ``session_id`` LlamaIndex's ``Memory`` adds when it flushes messages to its blocks).
    """
    dropped = set(drop_kwargs)
    kwargs = {key: value for key, value in message.additional_kwargs.items() if key not in dropped}
    role = message.role.value
    core_role = CORE_ROLES.get(role, "assistant")
    text = message_text(message)
    importance = {"importance": kwargs["importance"]} if "importance" in kwargs else {}
    if core_role == role and not kwargs and _is_plain(message):
        return {"role": core_role, "content": text}
    dump = _dump(message.model_copy(update={"additional_kwargs": kwargs}))
    if max_metadata_bytes is not None and _size(dump) > max_metadata_bytes:
        dump = _without_inline_media(dump)
    metadata: dict[str, Any] = {METADATA_KEY: dump}
    calls = [_neutral_call(block) for block in message.blocks if isinstance(block, ToolCallBlock)]
    if calls:
        metadata["tool_calls"] = calls
    call_id = kwargs.get("tool_call_id")
    if core_role == "tool" and isinstance(call_id, str):
        metadata["tool_call_id"] = call_id
    return {"role": core_role, "content": text, "metadata": metadata, **importance}


def to_core_messages(
    messages: Iterable[ChatMessage],
    *,
    drop_kwargs: Iterable[str] = (),
    max_metadata_bytes: int | None = None,
) -> list[dict[str, Any]]:
    """Several messages as message dicts, in order."""
    dropped = tuple(drop_kwargs)
    return [to_core_message(m, drop_kwargs=dropped, max_metadata_bytes=max_metadata_bytes) for m in messages]


def to_chat_message(record: MemoryRecord) -> ChatMessage:
    """The ``ChatMessage`` a message record stands for (whoever wrote the record)."""
    dump = record.metadata.get(METADATA_KEY)
    if isinstance(dump, Mapping):
        try:
            return ChatMessage.model_validate(dict(dump))
        except ValidationError:
            pass  # written by an incompatible version: fall back to the text
    return _foreign_message(record)


def _foreign_message(record: MemoryRecord) -> ChatMessage:
    """A record another adapter wrote (or plain text): its role and text, plus its tool calls."""
    langchain = record.metadata.get(LANGCHAIN_KEY)
    data = langchain.get("data") if isinstance(langchain, Mapping) else None
    data = data if isinstance(data, Mapping) else {}
    if record.role == "tool":
        call_id = record.metadata.get("tool_call_id") or data.get("tool_call_id")
        kwargs = {"tool_call_id": call_id} if isinstance(call_id, str) else {}
        return ChatMessage(role="tool", content=record.text, additional_kwargs=kwargs)
    calls = record.metadata.get("tool_calls") or data.get("tool_calls")
    blocks = [_tool_call_block(call) for call in calls] if isinstance(calls, list) else []
    blocks = [block for block in blocks if block is not None]
    if not blocks:
        return ChatMessage(role=record.role, content=record.text)
    content = data.get("content", record.text)
    text = _langchain_text(content) if LANGCHAIN_KEY in record.metadata else record.text
    text_blocks: list[Any] = [TextBlock(text=text)] if text.strip() else []
    return ChatMessage(role=record.role, blocks=[*text_blocks, *blocks])


def _is_plain(message: ChatMessage) -> bool:
    blocks = message.blocks
    if len(blocks) != 1 or not isinstance(blocks[0], TextBlock) or not blocks[0].text.strip():
        return False
    return blocks[0] == TextBlock(text=blocks[0].text)


def _dump(message: ChatMessage) -> dict[str, Any]:
    try:
        return message.model_dump(mode="json", fallback=str)
    except TypeError:  # pydantic < 2.11 has no fallback=
        return message.model_dump(mode="json")


def _size(dump: Mapping[str, Any]) -> int:
    return len(json.dumps(dump, ensure_ascii=False).encode("utf-8"))


def _without_inline_media(dump: dict[str, Any]) -> dict[str, Any]:
    """The dump with inline media bytes removed: media with a url or path keep only that."""
    blocks: list[dict[str, Any]] = []
    for block in dump.get("blocks", []):
        kind = block.get("block_type")
        if kind not in MEDIA_BLOCKS:
            blocks.append(block)
        elif block.get("url") or block.get("path"):
            blocks.append({**block, MEDIA_PAYLOAD[kind]: None})
        else:
            blocks.append({"block_type": "text", "text": f"[{kind} omitted: too large to store]"})
    return {**dump, "blocks": blocks}


def _describe_call(name: str, arguments: Any) -> str:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False, default=str, sort_keys=True)
    return f"[tool call {name}: {arguments}]"


def _describe_legacy_call(call: Any) -> str:
    """An OpenAI-style ``additional_kwargs["tool_calls"]`` entry (a dict or an SDK object)."""
    function = call.get("function") if isinstance(call, Mapping) else getattr(call, "function", None)
    if isinstance(function, Mapping):
        return _describe_call(str(function.get("name", "?")), function.get("arguments", ""))
    if function is not None:
        return _describe_call(str(getattr(function, "name", "?")), getattr(function, "arguments", ""))
    return "[tool call]"


def _neutral_call(block: ToolCallBlock) -> dict[str, Any]:
    args = block.tool_kwargs
    if isinstance(args, str):
        with contextlib.suppress(ValueError):
            args = json.loads(args)
    call: dict[str, Any] = json.loads(json.dumps(
        {"id": block.tool_call_id, "name": block.tool_name, "args": args}, ensure_ascii=False, default=str
    ))
    return call


def _tool_call_block(call: Any) -> ToolCallBlock | None:
    """A neutral or LangChain tool call (``{"id", "name", "args"}``) as a ``ToolCallBlock``."""
    if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
        return None
    args = call.get("args")
    call_id = call.get("id")
    return ToolCallBlock(
        tool_call_id=call_id if isinstance(call_id, str) else None,
        tool_name=call["name"],
        tool_kwargs=args if isinstance(args, (dict, str)) else {},
    )


def _langchain_text(content: Any) -> str:
    """The text of LangChain message content (a str, or a list of str and content blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part if isinstance(part, str) else part.get("text", "") for part in content
                 if isinstance(part, (str, Mapping))]
        return "".join(part for part in parts if isinstance(part, str))
    return ""
