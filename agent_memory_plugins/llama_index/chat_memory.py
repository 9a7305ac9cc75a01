"""``ChatMemory``: the core as the ``memory=`` of LlamaIndex chat engines and agent workflows."""

from __future__ import annotations

import dataclasses
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock
from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.memory.memory import InsertMethod
from llama_index.core.memory.types import BaseMemory

from ..core.memory import MemoryCore
from ..records import MemoryContext
from .messages import to_chat_message, to_core_message, to_core_messages

__all__ = ["ChatMemory"]


class ChatMemory(BaseMemory):
    """Conversation memory backed by a :class:`~agent_memory_plugins.MemoryCore`.

    ``get()`` returns what the model should see for this turn: one system message with the
    session's running summary and the long-term memories recalled for the input, followed by the
    recent window of messages. Without an input (chat engines and agents call ``get()`` after
    putting the user's message) it recalls for the latest user message. Every message put is
    stored durably and becomes searchable by all adapters that share the core.

    ``insert_method=InsertMethod.USER`` puts the summary and memories at the start of the latest
    user message instead, for hosts that drop a leading system message (``ReActAgent`` without a
    ``system_prompt``).

    Usage::

        from agent_memory_plugins import MemoryCore
        from agent_memory_plugins.llama_index import ChatMemory

        memory = ChatMemory.from_defaults(core=MemoryCore("./memory"), session_id="s1", user_id="alice")
        engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    core: MemoryCore = Field(
        exclude=True, description="The memory core that stores messages, summaries and memories."
    )
    session_id: str = Field(default="default", description="Conversation whose messages this memory holds.")
    user_id: str = Field(
        default="default", description="Owner of the conversation; recall only sees this user's records."
    )
    similarity_top_k: int = Field(
        default=5, ge=0, description="Long-term memories recalled per turn (0 turns recall off)."
    )
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Token budget of what get() returns (summary, recalled memories and window); "
        "None: no budget. A host's initial_token_count is taken off it.",
    )
    insert_method: InsertMethod = Field(
        default=InsertMethod.SYSTEM,
        description="Where get() puts the summary and recalled memories: a system message before the "
        "window (SYSTEM) or the start of the latest user message (USER).",
    )

    @classmethod
    def class_name(cls) -> str:
        """Name used when LlamaIndex serializes the component."""
        return "AgentMemoryChatMemory"

    @classmethod
    def from_defaults(  # type: ignore[override]
        cls,
        *,
        core: MemoryCore,
        session_id: str = "default",
        user_id: str = "default",
        similarity_top_k: int = 5,
        max_tokens: int | None = None,
        insert_method: InsertMethod | str = InsertMethod.SYSTEM,
        chat_history: list[ChatMessage] | None = None,
    ) -> ChatMemory:
        """Create a chat memory; ``chat_history`` replaces the session's stored messages."""
        memory = cls(
            core=core, session_id=session_id, user_id=user_id, similarity_top_k=similarity_top_k,
            max_tokens=max_tokens, insert_method=InsertMethod(insert_method),
        )
        if chat_history is not None:
            memory.set(chat_history)
        return memory

    # -- reads --------------------------------------------------------------------------------
    def get(self, input: str | ChatMessage | None = None, **kwargs: Any) -> list[ChatMessage]:
        """Summary and recalled memories (one system message), then the recent window."""
        context = self.core.context(
            self.session_id, _query_of(input), user_id=self.user_id,
            max_tokens=self._budget(kwargs), k=self.similarity_top_k,
        )
        return _to_messages(context, self.insert_method)

    async def aget(self, input: str | ChatMessage | None = None, **kwargs: Any) -> list[ChatMessage]:
        """Async :meth:`get`."""
        context = await self.core.acontext(
            self.session_id, _query_of(input), user_id=self.user_id,
            max_tokens=self._budget(kwargs), k=self.similarity_top_k,
        )
        return _to_messages(context, self.insert_method)

    def get_all(self) -> list[ChatMessage]:
        """Every stored message of the session, oldest first."""
        return [to_chat_message(r) for r in self.core.messages(self.session_id, user_id=self.user_id)]

    async def aget_all(self) -> list[ChatMessage]:
        """Async :meth:`get_all`."""
        records = await self.core.amessages(self.session_id, user_id=self.user_id)
        return [to_chat_message(r) for r in records]

    # -- writes -------------------------------------------------------------------------------
    def put(self, message: ChatMessage) -> None:
        """Store one message (durable when this returns)."""
        self.core.add_messages(self.session_id, [self._entry(message)], user_id=self.user_id)

    async def aput(self, message: ChatMessage) -> None:
        """Async :meth:`put`."""
        await self.core.aadd_messages(self.session_id, [self._entry(message)], user_id=self.user_id)

    def put_messages(self, messages: list[ChatMessage]) -> None:
        """Store several messages in one transaction."""
        self.core.add_messages(self.session_id, self._entries(messages), user_id=self.user_id)

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`put_messages`."""
        await self.core.aadd_messages(self.session_id, self._entries(messages), user_id=self.user_id)

    def set(self, messages: list[ChatMessage]) -> None:
        """Replace the session's stored messages (and its summary) with ``messages``."""
        self.core.forget(session_id=self.session_id, user_id=self.user_id)
        self.core.add_messages(self.session_id, self._entries(messages), user_id=self.user_id)

    async def aset(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`set`."""
        await self.core.aforget(session_id=self.session_id, user_id=self.user_id)
        await self.core.aadd_messages(self.session_id, self._entries(messages), user_id=self.user_id)

    def reset(self) -> None:
        """Forget the session: its messages, its summary and what was recalled from them."""
        self.core.forget(session_id=self.session_id, user_id=self.user_id)

    async def areset(self) -> None:
        """Async :meth:`reset`."""
        await self.core.aforget(session_id=self.session_id, user_id=self.user_id)

    # -- helpers ------------------------------------------------------------------------------
    def _budget(self, kwargs: dict[str, Any]) -> int | None:
        if self.max_tokens is None:
            return None
        used = kwargs.get("initial_token_count") or 0
        return max(1, self.max_tokens - int(used))

    def _entry(self, message: ChatMessage) -> dict[str, Any]:
        return to_core_message(message, max_metadata_bytes=self.core.settings.max_metadata_bytes)

    def _entries(self, messages: list[ChatMessage]) -> list[dict[str, Any]]:
        return to_core_messages(messages, max_metadata_bytes=self.core.settings.max_metadata_bytes)


def _query_of(input: str | ChatMessage | None) -> str | None:
    """The recall query for a host's input; ``None`` lets the core use the latest user message."""
    if isinstance(input, ChatMessage):
        input = input.content
    return input if isinstance(input, str) and input.strip() else None


def _to_messages(context: MemoryContext, insert_method: InsertMethod) -> list[ChatMessage]:
    messages = [to_chat_message(record) for record in context.window]
    memory_text = dataclasses.replace(context, window=[]).render()
    if not memory_text:
        return messages
    if insert_method == InsertMethod.SYSTEM:
        return [ChatMessage(role=MessageRole.SYSTEM, content=memory_text), *messages]
    latest_user = next((i for i in reversed(range(len(messages))) if messages[i].role == MessageRole.USER), None)
    if latest_user is None:
        return [*messages, ChatMessage(role=MessageRole.USER, content=memory_text)]
    message = messages[latest_user]
    message.blocks = [TextBlock(text=memory_text), *message.blocks]
    return messages
