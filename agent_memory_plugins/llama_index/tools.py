"""Memory tools for LlamaIndex agents: a ``BaseToolSpec`` whose tools search, store, update and
forget memories and edit working-memory blocks, for one user and session fixed by the caller.

(No ``from __future__ import annotations`` here: LlamaIndex reads the tools' argument schemas
from the methods' real annotations.)
"""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from llama_index.core.tools.tool_spec.base import BaseToolSpec
from llama_index.core.tools.types import ToolMetadata
from llama_index.core.tools.utils import create_schema_from_function

from ..agent_tools import ARGUMENTS, DESCRIPTIONS, Action, Kind, MemoryActions, Scope
from ..core import validation as check
from ..core.memory import MemoryCore
from ..errors import AgentMemoryError

__all__ = ["MemoryToolSpec"]


class MemoryToolSpec(BaseToolSpec):
    """The memory tools for ``FunctionAgent``, ``ReActAgent`` or any LlamaIndex agent.

    ``search_memory(query, k)``, ``remember(text, kind, key)``, ``update_memory(memory_id, text)``,
    ``forget_memory(memory_id)`` and ``edit_memory_block(name, action, text, old, scope)``, each
    with a sync and an async function. The user and session are the ones given here: no argument
    a model can pass names another user, and another user's memory id is answered as unknown.
    A refused call answers ``Error: <what to fix>`` to the model.

    Usage::

        from llama_index.core.agent.workflow import FunctionAgent
        from agent_memory_plugins.llama_index import MemoryToolSpec

        tools = MemoryToolSpec(mem, user_id="alice", session_id="s1").to_tool_list()
        agent = FunctionAgent(tools=tools, llm=llm)
    """

    spec_functions: list[str | tuple[str, str]] = [  # noqa: RUF012 - BaseToolSpec declares it so
        ("search_memory", "asearch_memory"),
        ("remember", "aremember"),
        ("update_memory", "aupdate_memory"),
        ("forget_memory", "aforget_memory"),
        ("edit_memory_block", "aedit_memory_block"),
    ]

    def __init__(self, core: MemoryCore, *, user_id: str = "default", session_id: str = "default", k: int = 5) -> None:
        self.actions = MemoryActions(core, check.check_id(user_id, "user_id"),
                                     check.check_id(session_id, "session_id"), k)

    def get_metadata_from_fn_name(
        self, fn_name: str, spec_functions: list[Any] | None = None
    ) -> ToolMetadata | None:
        """The tool's name, description (shared with the LangChain tools) and argument schema."""
        schema = create_schema_from_function(fn_name, getattr(self, fn_name))
        return ToolMetadata(name=fn_name, description=DESCRIPTIONS[fn_name], fn_schema=schema)

    def search_memory(
        self, query: Annotated[str, ARGUMENTS["query"]], k: Annotated[int | None, ARGUMENTS["k"]] = None
    ) -> str:
        return _answer(self.actions.search_memory, query=query, k=k)

    def remember(
        self,
        text: Annotated[str, ARGUMENTS["text"]],
        kind: Annotated[Kind, ARGUMENTS["kind"]] = "fact",
        key: Annotated[str | None, ARGUMENTS["key"]] = None,
    ) -> str:
        return _answer(self.actions.remember, text=text, kind=kind, key=key)

    def update_memory(
        self, memory_id: Annotated[str, ARGUMENTS["memory_id"]], text: Annotated[str, ARGUMENTS["text"]]
    ) -> str:
        return _answer(self.actions.update_memory, memory_id=memory_id, text=text)

    def forget_memory(self, memory_id: Annotated[str, ARGUMENTS["memory_id"]]) -> str:
        return _answer(self.actions.forget_memory, memory_id=memory_id)

    def edit_memory_block(
        self,
        name: Annotated[str, ARGUMENTS["name"]],
        action: Annotated[Action, ARGUMENTS["action"]],
        text: Annotated[str, ARGUMENTS["text"]],
        old: Annotated[str | None, ARGUMENTS["old"]] = None,
        scope: Annotated[Scope, ARGUMENTS["scope"]] = "user",
    ) -> str:
        return _answer(self.actions.edit_memory_block, name=name, action=action, text=text, old=old, scope=scope)

    async def asearch_memory(self, query: str, k: int | None = None) -> str:
        return await asyncio.to_thread(self.search_memory, query, k)

    async def aremember(self, text: str, kind: Kind = "fact", key: str | None = None) -> str:
        return await asyncio.to_thread(self.remember, text, kind, key)

    async def aupdate_memory(self, memory_id: str, text: str) -> str:
        return await asyncio.to_thread(self.update_memory, memory_id, text)

    async def aforget_memory(self, memory_id: str) -> str:
        return await asyncio.to_thread(self.forget_memory, memory_id)

    async def aedit_memory_block(
        self, name: str, action: Action, text: str, old: str | None = None, scope: Scope = "user"
    ) -> str:
        return await asyncio.to_thread(self.edit_memory_block, name, action, text, old, scope)


for _name, _description in DESCRIPTIONS.items():  # the tools' descriptions, shared with LangChain's
    getattr(MemoryToolSpec, _name).__doc__ = _description
    getattr(MemoryToolSpec, "a" + _name).__doc__ = f"Async twin of :meth:`{_name}`."


def _answer(method: Callable[..., str], /, **arguments: Any) -> str:
    """The method's answer, or ``Error: ...`` saying what to fix (nothing was changed)."""
    try:
        return method(**arguments)
    except AgentMemoryError as error:
        return f"Error: {error}"
