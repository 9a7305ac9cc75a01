"""``MemoryRetriever``: the core's long-term recall as a LlamaIndex retriever."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle

from ..core.memory import MemoryCore
from ..errors import InvalidInputError
from .nodes import to_node

__all__ = ["MemoryRetriever"]


class MemoryRetriever(BaseRetriever):
    """Recall a user's memories (messages, facts, events...) as ``NodeWithScore``.

    Each node is a ``TextNode`` with the record's text and id, scored by the core's hybrid search
    (dense + keyword, weighed by recency and importance); ``metadata["explanation"]`` holds the
    parts of the score. Works wherever LlamaIndex takes a retriever, such as
    ``RetrieverQueryEngine``, ``QueryFusionRetriever`` and ``CondensePlusContextChatEngine``.

    Args:
        core: the memory core to search.
        user_id: whose records are searched (recall never crosses users).
        session_id: only this session's records; ``None`` searches all of the user's sessions.
        similarity_top_k: how many nodes to return.
        kinds: only these kinds of record (``message``, ``summary``, ``fact``, ``event``,
            ``preference``, ``skill``); ``None``: all.
        where: a metadata filter, as ``MemoryCore.search`` takes it.
        callback_manager: LlamaIndex callbacks.

    Usage::

        retriever = MemoryRetriever.from_defaults(core=MemoryCore("./memory"), user_id="alice")
        nodes = retriever.retrieve("where does the user live?")
    """

    def __init__(
        self,
        *,
        core: MemoryCore,
        user_id: str = "default",
        session_id: str | None = None,
        similarity_top_k: int = 5,
        kinds: Sequence[str] | str | None = None,
        where: Mapping[str, Any] | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if not isinstance(core, MemoryCore):
            raise InvalidInputError(f"core must be a MemoryCore, got {type(core).__name__}")
        self.core = core
        self.user_id = user_id
        self.session_id = session_id
        self.similarity_top_k = similarity_top_k
        self.kinds = kinds
        self.where = dict(where) if where is not None else None
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @classmethod
    def from_defaults(
        cls,
        *,
        core: MemoryCore,
        user_id: str = "default",
        session_id: str | None = None,
        similarity_top_k: int = 5,
        kinds: Sequence[str] | str | None = None,
        where: Mapping[str, Any] | None = None,
        callback_manager: CallbackManager | None = None,
    ) -> MemoryRetriever:
        """Create a retriever over ``core`` for ``user_id``."""
        return cls(
            core=core, user_id=user_id, session_id=session_id, similarity_top_k=similarity_top_k,
            kinds=kinds, where=where, callback_manager=callback_manager,
        )

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.core.search(query_bundle.query_str, **self._search_kwargs())
        return [to_node(hit) for hit in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = await self.core.asearch(query_bundle.query_str, **self._search_kwargs())
        return [to_node(hit) for hit in hits]

    def _search_kwargs(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id, "k": self.similarity_top_k, "session_id": self.session_id,
            "kinds": self.kinds, "where": self.where,
        }
