"""LlamaIndex adapters: the core as a chat memory, a memory block and a retriever.

``ChatMemory`` is a drop-in ``memory=`` for chat engines and agent workflows,
``RecallMemoryBlock`` a long-term block for LlamaIndex's own ``Memory``, ``MemoryRetriever``
serves long-term recall as nodes to query engines, and ``MemoryToolSpec`` gives an agent tools
to manage its memory itself. Needs ``llama-index-core``::

    pip install 'agent-memory-plugins[llama-index]'
"""

from __future__ import annotations

from ..errors import MissingDependencyError

try:
    import llama_index.core  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised in a subprocess by the tests
    raise MissingDependencyError(
        "agent_memory_plugins.llama_index needs llama-index-core: "
        "pip install 'agent-memory-plugins[llama-index]'"
    ) from error

from .chat_memory import ChatMemory
from .memory_block import RecallMemoryBlock
from .retriever import MemoryRetriever
from .tools import MemoryToolSpec

__all__ = ["ChatMemory", "MemoryRetriever", "MemoryToolSpec", "RecallMemoryBlock"]
