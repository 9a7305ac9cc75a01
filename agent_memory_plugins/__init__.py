"""agent-memory-plugins: memory that lasts for LLM agents, as a drop-in for LangChain and LlamaIndex.

``import agent_memory_plugins`` is cheap: the core (and with it chromadb and sqlite set-up) loads on
first use of :class:`MemoryCore`, and torch only when the default embedder first embeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AgentMemoryError,
    BlockLimitError,
    ConfigurationError,
    ContentTooLargeError,
    EmbeddingMismatchError,
    IndexingError,
    InvalidContentError,
    InvalidFilterError,
    InvalidIdError,
    InvalidInputError,
    InvalidKindError,
    InvalidMetadataError,
    InvalidRoleError,
    InvalidTimestampError,
    MissingDependencyError,
    NotFoundError,
    RerankerError,
    StoreClosedError,
    StoreInUseError,
    StoreUnavailableError,
    StoreVersionError,
    VectorIndexUnavailableError,
)
from .records import Block, CleanupReport, HistoryEvent, Hit, Link, MemoryContext, MemoryRecord, SearchResults
from .settings import Settings

if TYPE_CHECKING:
    from .core.memory import MemoryCore
    from .inspector import SessionView

__version__ = "0.1.0"

__all__ = [
    "AgentMemoryError",
    "Block",
    "BlockLimitError",
    "CleanupReport",
    "ConfigurationError",
    "ContentTooLargeError",
    "EmbeddingMismatchError",
    "HistoryEvent",
    "Hit",
    "IndexingError",
    "InvalidContentError",
    "InvalidFilterError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidKindError",
    "InvalidMetadataError",
    "InvalidRoleError",
    "InvalidTimestampError",
    "Link",
    "MemoryContext",
    "MemoryCore",
    "MemoryRecord",
    "MissingDependencyError",
    "NotFoundError",
    "RerankerError",
    "SearchResults",
    "SessionView",
    "Settings",
    "StoreClosedError",
    "StoreInUseError",
    "StoreUnavailableError",
    "StoreVersionError",
    "VectorIndexUnavailableError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "MemoryCore":
        from .core.memory import MemoryCore

        return MemoryCore
    if name == "SessionView":
        from .inspector import SessionView

        return SessionView
    raise AttributeError(f"module 'agent_memory_plugins' has no attribute {name!r}")
