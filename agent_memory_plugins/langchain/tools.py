"""Memory tools for LangChain agents: the agent searches, stores, updates and forgets memories and
edits its working-memory blocks itself.

Each tool is a real :class:`~langchain_core.tools.BaseTool` with an argument schema. The user and
session come from the run (as :class:`~agent_memory_plugins.langchain.MemoryMiddleware` finds
them), never from the model's arguments; arguments a tool does not declare are refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..agent_tools import ARGUMENTS, DESCRIPTIONS, MAX_K, Action, Kind, MemoryActions, Scope
from ..core.memory import MemoryCore
from ..errors import AgentMemoryError, InvalidInputError
from .scope import current_context, run_scope

__all__ = ["memory_tools"]


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")  # no user_id=, session_id= or anything else


class SearchArguments(_Arguments):
    """Arguments of ``search_memory``."""

    query: str = Field(description=ARGUMENTS["query"])
    k: int | None = Field(default=None, ge=1, le=MAX_K, description=ARGUMENTS["k"])


class RememberArguments(_Arguments):
    """Arguments of ``remember``."""

    text: str = Field(description=ARGUMENTS["text"])
    kind: Kind = Field(default="fact", description=ARGUMENTS["kind"])
    key: str | None = Field(default=None, description=ARGUMENTS["key"])


class UpdateArguments(_Arguments):
    """Arguments of ``update_memory``."""

    memory_id: str = Field(description=ARGUMENTS["memory_id"])
    text: str = Field(description=ARGUMENTS["text"])


class ForgetArguments(_Arguments):
    """Arguments of ``forget_memory``."""

    memory_id: str = Field(description=ARGUMENTS["memory_id"])


class BlockArguments(_Arguments):
    """Arguments of ``edit_memory_block``."""

    name: str = Field(description=ARGUMENTS["name"])
    action: Action = Field(description=ARGUMENTS["action"])
    text: str = Field(description=ARGUMENTS["text"])
    old: str | None = Field(default=None, description=ARGUMENTS["old"])
    scope: Scope = Field(default="user", description=ARGUMENTS["scope"])


SCHEMAS: dict[str, type[_Arguments]] = {
    "search_memory": SearchArguments,
    "remember": RememberArguments,
    "update_memory": UpdateArguments,
    "forget_memory": ForgetArguments,
    "edit_memory_block": BlockArguments,
}
"""Each tool's argument schema, by tool name (the name of its :class:`MemoryActions` method)."""


def _refused(error: ValidationError) -> str:
    """What the model reads when its arguments do not fit the tool's schema."""
    problems = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors())
    return f"Refused, nothing was done: {problems}"


class MemoryTool(BaseTool):
    """One memory tool: runs the :class:`~agent_memory_plugins.agent_tools.MemoryActions` method
    of its name for the run's user and session. Errors reach the model as the tool's answer."""

    core: MemoryCore = Field(exclude=True)
    session_id: str = "default"
    user_id: str = "default"
    k: int = 5
    handle_tool_error: bool = True
    handle_validation_error: Any = Field(default=_refused, exclude=True)

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def _run(self, **arguments: Any) -> str:
        session, user = run_scope(current_context(), self.session_id, self.user_id)
        actions = MemoryActions(self.core, user, session, self.k)
        arguments.pop("run_manager", None)
        try:
            answer: str = getattr(actions, self.name)(**arguments)
        except AgentMemoryError as error:
            raise ToolException(str(error)) from error
        return answer

    async def _arun(self, **arguments: Any) -> str:
        session, user = run_scope(current_context(), self.session_id, self.user_id)
        actions = MemoryActions(self.core, user, session, self.k)
        arguments.pop("run_manager", None)
        try:
            answer: str = await asyncio.to_thread(getattr(actions, self.name), **arguments)
        except AgentMemoryError as error:
            raise ToolException(str(error)) from error
        return answer


def memory_tools(
    core: MemoryCore,
    *,
    session_id: str = "default",
    user_id: str = "default",
    k: int = 5,
    include: Sequence[str] | None = None,
) -> list[BaseTool]:
    """The memory tools for ``create_agent`` or LangGraph's ``ToolNode``.

    ``search_memory(query, k)``, ``remember(text, kind, key)``, ``update_memory(memory_id, text)``,
    ``forget_memory(memory_id)`` and ``edit_memory_block(name, action, text, old, scope)``
    (``include``: only these, by name). The user and session are the run's
    ``config["configurable"]["user_id"]`` (else ``user_id`` of the runtime context) and
    ``["thread_id"]``, else ``user_id`` / ``session_id`` given here. ``k``: how many memories a
    search returns unless the model asks for another number.

    Usage::

        from langchain.agents import create_agent
        from agent_memory_plugins.langchain import MemoryMiddleware, memory_tools

        agent = create_agent(model, tools=memory_tools(mem), middleware=[MemoryMiddleware(core=mem)])
        agent.invoke({"messages": [...]}, {"configurable": {"thread_id": "t1", "user_id": "alice"}})
    """
    names = list(SCHEMAS) if include is None else list(include)
    unknown = [name for name in names if name not in SCHEMAS]
    if unknown:
        raise InvalidInputError(f"unknown memory tools {unknown}; choose from {', '.join(SCHEMAS)}")
    return [
        MemoryTool(name=name, description=DESCRIPTIONS[name], args_schema=SCHEMAS[name], core=core,
                   session_id=session_id, user_id=user_id, k=k)
        for name in names
    ]
