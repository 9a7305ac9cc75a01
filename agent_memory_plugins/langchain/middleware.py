"""MemoryMiddleware: memory for ``langchain.agents.create_agent`` agents."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelCallResult, ModelRequest, ModelResponse
from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from ..core.conversation.policy import opening, window_start
from ..core.memory import MemoryCore
from ..records import Block, Hit, MemoryContext, MemoryRecord
from .messages import message_id, record_to_message, role_of, text_of, to_core_messages
from .scope import run_scope

_NO_USER = "\x00no user"
"""Stands for "the run names no user" (no user id can hold a control character)."""

__all__ = ["MemoryMiddleware"]

class MemoryMiddleware(AgentMiddleware[AgentState[Any], Any]):
    """Windows, running summaries and long-term recall for a ``create_agent`` agent.

    Before each model call the model is shown the working-memory blocks of the user and of the
    session, the session's running summary and the user's
    memories that best match the latest user message (from every thread of that user) in its
    system prompt, and only the recent window of the conversation (an ``AIMessage`` with tool
    calls always keeps its ``ToolMessage`` results). When the agent finishes, the run's new
    messages are recorded. The window size, the summarizer and the search are the core's;
    ``k`` memories are recalled, of the ``kinds`` given (``None``: every kind).

    The session is the run's ``config["configurable"]["thread_id"]``; the user is
    ``config["configurable"]["user_id"]``, else ``user_id`` of the runtime context (a dict or an
    object), else the ``session_id`` / ``user_id`` given here. A run with no user from any of them
    is stored under ``"default"`` and warns once (pass ``user_id="default"`` for a single-user
    app). One instance serves every user and thread; memories never cross users. Works with or
    without a checkpointer: without one, earlier turns come from the core (pass only the new
    messages each run). The model sees the core's window (opening on a user turn) and, before
    it, the messages that left it but are not folded into the summary yet.

    Setup::

        from agent_memory_plugins import MemoryCore
        from agent_memory_plugins.langchain import MemoryMiddleware
        from langchain.agents import create_agent

        mem = MemoryCore("./agent_memory", window_messages=20)
        agent = create_agent(model, tools=[...], middleware=[MemoryMiddleware(core=mem)])

    Usage::

        config = {"configurable": {"thread_id": "t1", "user_id": "alice"}}
        agent.invoke({"messages": [{"role": "user", "content": "I live in Denver"}]}, config)

    Async: ``agent.ainvoke`` / ``astream`` use ``awrap_model_call`` and ``aafter_agent``, which
    run the core's async twins.
    """

    def __init__(
        self,
        *,
        core: MemoryCore,
        session_id: str = "default",
        user_id: str | None = None,
        k: int = 5,
        kinds: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.core = core
        self.session_id = session_id
        self.user_id = user_id
        self._warned = False
        self.k = k
        self.kinds = list(kinds) if kinds is not None else None

    # -- before the model ---------------------------------------------------------------------
    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelCallResult[Any]:
        """Show the model summary + recalled memories (system prompt) and the window."""
        session, user = self._scope(request.runtime)
        shown = self._shown(request.messages, self.core.recent(session, user_id=user))
        query = _latest_user_text(shown)
        hits = self._recall(query, user, len(shown))
        summary = self.core.summary(session, user_id=user)
        blocks = self.core.blocks(user_id=user, session_id=session)
        return handler(self._request(request, session, user, shown, summary, hits, blocks))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelCallResult[Any]:
        """Async twin of :meth:`wrap_model_call`."""
        session, user = self._scope(request.runtime)
        shown = self._shown(request.messages, await self.core.arecent(session, user_id=user))
        query = _latest_user_text(shown)
        hits = await self._arecall(query, user, len(shown))
        summary = await self.core.asummary(session, user_id=user)
        blocks = await self.core.ablocks(user_id=user, session_id=session)
        return await handler(self._request(request, session, user, shown, summary, hits, blocks))

    def _recall(self, query: str | None, user: str, shown: int) -> list[Hit]:
        """The memories for the latest user message (``shown`` more, as some are in the window)."""
        if not query or not self.k:
            return []
        return self.core.search(query, user_id=user, k=self.k + shown + 1, kinds=self.kinds)

    async def _arecall(self, query: str | None, user: str, shown: int) -> list[Hit]:
        """Async twin of :meth:`_recall`."""
        if not query or not self.k:
            return []
        hits: list[Hit] = await self.core.asearch(query, user_id=user, k=self.k + shown + 1, kinds=self.kinds)
        return hits

    # -- after the agent ----------------------------------------------------------------------
    def after_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Record the run's new messages in the session."""
        session, user = self._scope(runtime)
        messages = _conversation(state["messages"])
        if messages:
            recent = self.core.messages(session, user_id=user, limit=len(messages))
            new = _unrecorded(messages, recent)
            if new:
                self.core.add_messages(session, to_core_messages(new), user_id=user)
        return None

    async def aafter_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async twin of :meth:`after_agent`."""
        session, user = self._scope(runtime)
        messages = _conversation(state["messages"])
        if messages:
            recent = await self.core.amessages(session, user_id=user, limit=len(messages))
            new = _unrecorded(messages, recent)
            if new:
                await self.core.aadd_messages(session, to_core_messages(new), user_id=user)
        return None

    # -- translation --------------------------------------------------------------------------
    def _scope(self, runtime: Runtime[Any] | None) -> tuple[str, str]:
        """(session, user) of the current run."""
        session, user = run_scope(getattr(runtime, "context", None), self.session_id, self.user_id or _NO_USER)
        if user == _NO_USER:
            user = "default"
            if not self._warned:
                self._warned = True
                warnings.warn(
                    'MemoryMiddleware: this run names no user (config["configurable"]["user_id"], the '
                    'runtime context\'s user_id or MemoryMiddleware(user_id=...)); its memory is stored '
                    'under user "default". Pass user_id="default" to mean that.',
                    UserWarning, stacklevel=2,
                )
        return session, user

    def _shown(self, messages: Sequence[AnyMessage], stored: Sequence[MemoryRecord]) -> list[AnyMessage]:
        """Earlier turns the state lacks (from the core) + the state, trimmed to the core's window;
        ``stored`` (:meth:`MemoryCore.recent`) also stay: they are not in the summary yet."""
        in_state = {message.id for message in messages if message.id}
        earlier: list[AnyMessage] = [
            record_to_message(record) for record in stored if message_id(record) not in in_state  # type: ignore[misc]
        ]
        merged = earlier + list(messages)
        settings = self.core.settings
        roles = [role_of(message) for message in merged]
        start = window_start(
            roles,
            [self.core.count_tokens(text_of(message)) for message in merged],
            settings.window_messages,
            settings.window_tokens,
            settings.window_start_on,
        )
        unfolded = {message_id(record) for record in stored}
        if start > 0 and merged[start - 1].id in unfolded:  # left the window, not folded yet
            while start > 0 and merged[start - 1].id in unfolded:
                start -= 1
            start = opening(roles, start, settings.window_start_on)
        return merged[start:]

    def _request(
        self,
        request: ModelRequest[Any],
        session: str,
        user: str,
        shown: list[AnyMessage],
        summary: str,
        hits: list[Hit],
        blocks: list[Block],
    ) -> ModelRequest[Any]:
        visible = {message.id for message in shown if message.id}
        recalled = [
            hit for hit in hits
            if hit.record.id not in visible and message_id(hit.record) not in visible
            and not (hit.record.kind == "summary" and hit.record.session_id == session)
        ][: self.k]
        memory = MemoryContext(
            session_id=session, user_id=user, summary=summary, recalled=recalled, window=[], tokens=0,
            blocks=blocks,
        ).render()
        return request.override(messages=shown, system_message=_with_memory(request.system_message, memory))


def _latest_user_text(messages: Sequence[BaseMessage]) -> str | None:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            text = message.text
            return text if text.strip() else None
    return None


def _conversation(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The messages worth recording: everything but system instructions."""
    return [message for message in messages if not isinstance(message, SystemMessage)]


def _unrecorded(messages: Sequence[AnyMessage], recent: Sequence[MemoryRecord]) -> list[AnyMessage]:
    known = {message_id(record) for record in recent}
    return [message for message in messages if not message.id or message.id not in known]


def _with_memory(system: SystemMessage | None, memory: str) -> SystemMessage | None:
    """The agent's system message with the memory block appended."""
    if not memory:
        return system
    if system is None:
        return SystemMessage(content=memory)
    if isinstance(system.content, str):
        content: str | list[str | dict[Any, Any]] = f"{system.content}\n\n{memory}" if system.content else memory
    else:
        content = [*system.content, {"type": "text", "text": memory}]
    return system.model_copy(update={"content": content})
