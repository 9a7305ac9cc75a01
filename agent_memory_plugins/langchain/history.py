"""ChatHistory: a persistent LangChain chat message history backed by the core."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, SystemMessage

from ..core.memory import MemoryCore
from ..records import MemoryContext, MemoryRecord
from .messages import message_id, records_to_messages, to_core_messages

__all__ = ["ChatHistory"]

SUMMARY_PREFIX = "Summary of earlier conversation:\n"
SUMMARY_ID = "agent-memory-summary"
"""Id of the summary ``SystemMessage``; never recorded back when a caller returns it."""


class ChatHistory(BaseChatMessageHistory):
    """One session's chat history, kept by a :class:`~agent_memory_plugins.MemoryCore`.

    ``messages`` is what a model should see: the session's running summary as a
    ``SystemMessage`` (once messages have left the window), then the recent messages: the window
    (opened on a user turn) and, before it, those that left it but are not summarized yet.
    Everything ever added stays in the store: it is summarized and searchable, and survives
    restarts when the core lives on disk. Tool calls (``AIMessage.tool_calls``) and
    ``ToolMessage`` results come back as the same types with the same fields.

    Setup::

        from agent_memory_plugins import MemoryCore
        from agent_memory_plugins.langchain import ChatHistory

        mem = MemoryCore("./agent_memory", window_messages=20)

    Usage::

        from langchain_core.runnables.history import RunnableWithMessageHistory

        chain_with_history = RunnableWithMessageHistory(
            prompt | model,
            lambda session_id: ChatHistory(core=mem, session_id=session_id, user_id="alice"),
            input_messages_key="input",
            history_messages_key="history",
        )
        chain_with_history.invoke({"input": "hi"}, {"configurable": {"session_id": "s1"}})

    Async: ``aget_messages``, ``aadd_messages`` and ``aclear`` run the core's async twins.
    """

    def __init__(self, *, core: MemoryCore, session_id: str = "default", user_id: str = "default") -> None:
        super().__init__()
        self.core = core
        self.session_id = session_id
        self.user_id = user_id

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The summary (as a ``SystemMessage``) followed by the window, oldest first."""
        return _to_messages(self.core.context(self.session_id, user_id=self.user_id, k=0))

    async def aget_messages(self) -> list[BaseMessage]:
        """Async twin of :attr:`messages`."""
        return _to_messages(await self.core.acontext(self.session_id, user_id=self.user_id, k=0))

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Record messages (in one transaction); ones this history already holds are skipped."""
        if not messages:
            return
        new = self._new(messages, self.core.messages(self.session_id, user_id=self.user_id, limit=len(messages)))
        if new:
            self.core.add_messages(self.session_id, to_core_messages(new), user_id=self.user_id)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async twin of :meth:`add_messages`."""
        if not messages:
            return
        recent = await self.core.amessages(self.session_id, user_id=self.user_id, limit=len(messages))
        new = self._new(messages, recent)
        if new:
            await self.core.aadd_messages(self.session_id, to_core_messages(new), user_id=self.user_id)

    def clear(self) -> None:
        """Forget the session: its messages and its summary."""
        self.core.forget(session_id=self.session_id, user_id=self.user_id)

    async def aclear(self) -> None:
        """Async twin of :meth:`clear`."""
        await self.core.aforget(session_id=self.session_id, user_id=self.user_id)

    def _new(self, messages: Sequence[BaseMessage], recent: Sequence[MemoryRecord]) -> list[BaseMessage]:
        """Drop the messages that are already stored (given back by a caller, same id)."""
        known = {message_id(record) for record in recent} | {SUMMARY_ID}
        return [m for m in messages if m.id is None or m.id not in known]

    def __repr__(self) -> str:
        return f"ChatHistory(session_id={self.session_id!r}, user_id={self.user_id!r})"


def _to_messages(context: MemoryContext) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    if context.summary:
        messages.append(SystemMessage(content=SUMMARY_PREFIX + context.summary, id=SUMMARY_ID))
    messages.extend(records_to_messages(context.window))
    return messages
