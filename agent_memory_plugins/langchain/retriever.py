"""MemoryRetriever: the core's hybrid long-term search as a LangChain retriever."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from ..core.memory import MemoryCore
from ..records import Hit

__all__ = ["MemoryRetriever", "hit_to_document"]


class MemoryRetriever(BaseRetriever):
    """Documents for the memories of one user that best match a query.

    Each ``Document`` has the memory's text as ``page_content``, the record id as ``id``, and
    metadata holding the record's own metadata plus ``id``, ``score``, ``explain`` (the parts of
    the score), ``kind``, ``role``, ``user_id``, ``session_id``, ``timestamp`` (ISO 8601) and
    ``importance``. Ranking (dense + keyword fusion, recency, importance) is the core's.

    Setup::

        from agent_memory_plugins import MemoryCore
        from agent_memory_plugins.langchain import MemoryRetriever

        mem = MemoryCore("./agent_memory")
        retriever = MemoryRetriever(core=mem, user_id="alice", k=4)

    Usage::

        retriever.invoke("where does the user live?")
        retriever.invoke("travel plans", k=2, kinds=["fact", "event"], where={"topic": "travel"})
        # in a chain: {"context": retriever | format_docs, "question": RunnablePassthrough()} | ...

    Async: ``await retriever.ainvoke(query, k=...)`` runs the core's ``asearch``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    core: MemoryCore
    """The memory searched."""
    user_id: str = "default"
    """Whose memories are searched (every search is scoped to one user)."""
    session_id: str | None = None
    """Only this session's records; ``None`` searches all of the user's sessions."""
    k: int = 4
    """How many documents to return."""
    kinds: Sequence[str] | None = None
    """Only these kinds (message, summary, fact, event, preference, skill); ``None``: all."""
    where: dict[str, Any] | None = None
    """Metadata filter in the core's syntax (``{"topic": "travel"}``, ``{"year": {"$gte": 2023}}``)."""

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        kinds: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> list[Document]:
        hits = self.core.search(query, **self._search_args(k, kinds, where, session_id))
        return [hit_to_document(hit) for hit in hits]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        kinds: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> list[Document]:
        hits = await self.core.asearch(query, **self._search_args(k, kinds, where, session_id))
        return [hit_to_document(hit) for hit in hits]

    def _search_args(
        self, k: int | None, kinds: Sequence[str] | None, where: dict[str, Any] | None, session_id: str | None
    ) -> dict[str, Any]:
        chosen_kinds = kinds if kinds is not None else self.kinds
        return {
            "user_id": self.user_id,
            "k": self.k if k is None else k,
            "session_id": session_id if session_id is not None else self.session_id,
            "kinds": list(chosen_kinds) if chosen_kinds is not None else None,
            "where": where if where is not None else self.where,
        }


def hit_to_document(hit: Hit) -> Document:
    """A search hit as a ``Document`` (text as content, record fields and score as metadata)."""
    record = hit.record
    metadata: dict[str, Any] = {
        **record.metadata,
        "id": record.id,
        "score": hit.score,
        "explain": dict(hit.explain),
        "kind": record.kind,
        "role": record.role,
        "user_id": record.user_id,
        "session_id": record.session_id,
        "timestamp": record.timestamp.isoformat(),
        "importance": record.importance,
    }
    return Document(page_content=record.text, metadata=metadata, id=record.id)
