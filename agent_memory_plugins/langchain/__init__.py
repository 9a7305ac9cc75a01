"""LangChain and LangGraph adapters: each one only translates types; the behaviour is the core's.

- :class:`ConversationMemory`: legacy ``BaseMemory`` for ``ConversationChain`` / ``LLMChain``.
- :class:`ChatHistory`: ``BaseChatMessageHistory`` for ``RunnableWithMessageHistory``.
- :class:`MemoryRetriever`: ``BaseRetriever`` over the core's hybrid search.
- :class:`MemoryMiddleware`: ``AgentMiddleware`` for ``langchain.agents.create_agent``.
- :func:`memory_tools`: tools an agent uses to search, store, update and forget memories and to
  edit its working-memory blocks (``create_agent``, LangGraph's ``ToolNode``).
- :class:`MemoryStore`: LangGraph ``BaseStore`` (needs ``pip install 'agent-memory-plugins[langgraph]'``).

Needs ``pip install 'agent-memory-plugins[langchain]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._deps import LANGCHAIN_MODULES, LANGGRAPH_MODULES, require

require(LANGCHAIN_MODULES, "langchain")

from .history import ChatHistory  # noqa: E402
from .memory import ConversationMemory  # noqa: E402
from .retriever import MemoryRetriever  # noqa: E402

if TYPE_CHECKING:
    from .middleware import MemoryMiddleware
    from .store import MemoryStore
    from .tools import memory_tools

__all__ = ["ChatHistory", "ConversationMemory", "MemoryMiddleware", "MemoryRetriever", "MemoryStore", "memory_tools"]


def __getattr__(name: str) -> Any:
    """Load the LangGraph-based adapters on first use, naming the extra when LangGraph is missing."""
    if name == "MemoryStore":
        require(LANGGRAPH_MODULES, "langgraph")
        from .store import MemoryStore

        return MemoryStore
    if name == "MemoryMiddleware":
        require(LANGGRAPH_MODULES, "langchain")  # langchain's agents run on langgraph
        from .middleware import MemoryMiddleware

        return MemoryMiddleware
    if name == "memory_tools":
        require(LANGGRAPH_MODULES, "langchain")  # the tools find the run's user through langgraph
        from .tools import memory_tools

        return memory_tools
    raise AttributeError(f"module 'agent_memory_plugins.langchain' has no attribute {name!r}")
