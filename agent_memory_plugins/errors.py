"""The error tree of agent-memory-plugins.

Every error the library raises on purpose is an :class:`AgentMemoryError`, so one ``except``
catches them all. The tree::

    AgentMemoryError
    ├── InvalidInputError (also ValueError)      bad arguments; nothing was stored or changed
    │   ├── InvalidContentError                  empty, non-string or unencodable text
    │   ├── ContentTooLargeError                 text over ``max_content_chars``
    │   ├── BlockLimitError                      a working-memory block over its limit
    │   ├── InvalidRoleError                     role not in user/assistant/system/tool
    │   ├── InvalidKindError                     kind not one of the memory kinds
    │   ├── InvalidIdError                       bad memory, session, user or agent id
    │   ├── InvalidMetadataError                 metadata not a JSON object, or too large
    │   ├── InvalidTimestampError                timestamp not a datetime, epoch or ISO 8601
    │   └── InvalidFilterError                   a ``where`` filter we cannot apply
    ├── ConfigurationError (also ValueError)     a setting or a plugged-in part is wrong
    │   ├── EmbeddingMismatchError               store built by another embedding model
    │   └── StoreVersionError                    store written by a newer release
    ├── MissingDependencyError (also ImportError) an optional extra is not installed
    ├── StoreClosedError                         the MemoryCore was closed
    ├── StoreInUseError                          embedded Chroma is open in another process
    ├── StoreUnavailableError                    the database cannot be reached
    ├── NotFoundError (also KeyError)            no record with that id for that user
    ├── RerankerError                            the plugged-in reranker failed or answered wrongly
    └── IndexingError                            the background indexer keeps failing
        └── VectorIndexUnavailableError          the Chroma server cannot be reached right now
"""

from __future__ import annotations

__all__ = [
    "AgentMemoryError",
    "BlockLimitError",
    "ConfigurationError",
    "ContentTooLargeError",
    "EmbeddingMismatchError",
    "IndexingError",
    "InvalidContentError",
    "InvalidFilterError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidKindError",
    "InvalidMetadataError",
    "InvalidRoleError",
    "InvalidTimestampError",
    "MissingDependencyError",
    "NotFoundError",
    "RerankerError",
    "StoreClosedError",
    "StoreInUseError",
    "StoreUnavailableError",
    "StoreVersionError",
    "VectorIndexUnavailableError",
]


class AgentMemoryError(Exception):
    """Root of every error raised on purpose by agent-memory-plugins."""


class InvalidInputError(AgentMemoryError, ValueError):
    """An argument was refused. Nothing was stored or changed."""


class BlockLimitError(InvalidInputError):
    """A working-memory block would hold more characters than its limit. The block is unchanged."""


class InvalidContentError(InvalidInputError):
    """Content is empty, not a string, or not encodable as UTF-8 (lone surrogates)."""


class ContentTooLargeError(InvalidInputError):
    """Content is longer than the store's ``max_content_chars`` setting."""


class InvalidRoleError(InvalidInputError):
    """A message role is not one of ``user``, ``assistant``, ``system``, ``tool``."""


class InvalidKindError(InvalidInputError):
    """A memory kind is not one of the kinds the store knows."""


class InvalidIdError(InvalidInputError):
    """A memory, session, user or agent id is malformed."""


class InvalidMetadataError(InvalidInputError):
    """Metadata is not a JSON-serialisable object with string keys, or is too large."""


class InvalidTimestampError(InvalidInputError):
    """A timestamp is not a datetime, a number of seconds since the epoch, or ISO 8601 text."""


class InvalidFilterError(InvalidInputError):
    """A ``where`` filter uses an operator or value the store cannot apply."""


class ConfigurationError(AgentMemoryError, ValueError):
    """A setting or a plugged-in component (embedder, summarizer, client) is unusable."""


class EmbeddingMismatchError(ConfigurationError):
    """The store was built with another embedding model; call ``reindex`` to rebuild it."""


class StoreVersionError(ConfigurationError):
    """The store's schema is newer than this release knows; upgrade agent-memory-plugins to open it."""


class MissingDependencyError(AgentMemoryError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""


class StoreClosedError(AgentMemoryError):
    """The MemoryCore was closed; open a new one to continue."""


class StoreInUseError(AgentMemoryError):
    """Embedded Chroma under this folder is open in another process (use Chroma server mode)."""


class StoreUnavailableError(AgentMemoryError):
    """The database could not be reached (or the connection broke during the call).

    A write that raises it may not have been stored; nothing acknowledged before is lost."""


class NotFoundError(AgentMemoryError, KeyError):
    """No record with that id exists for that user."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class RerankerError(AgentMemoryError):
    """The reranker plugged in with ``reranker=`` raised or returned something unusable (not one
    finite score per text); the search fails with it, nothing stored changes."""


class IndexingError(AgentMemoryError):
    """The background indexer failed repeatedly; records stay queued and durable."""


class VectorIndexUnavailableError(IndexingError):
    """The Chroma server cannot be reached. Writes go on (their vectors wait in the outbox and are
    built when it is back); ``search`` answers from keywords alone; ``flush`` and ``reindex`` raise
    this until it is back."""
