"""The peers of the speed benchmark, each over its own Chroma collection, with the same model.

- LangChain: ``VectorStoreRetrieverMemory`` (``langchain_classic``) over ``langchain_chroma.Chroma``.
- LlamaIndex: ``Memory`` with a ``VectorMemoryBlock`` over ``ChromaVectorStore``
  (``llama-index-vector-stores-chroma``).

Both embed with the process's shared all-MiniLM-L6-v2 (the very ``SentenceTransformer`` object the
core uses). Their stores are filled with the same records and the same vectors as ours (through
each framework's own add path, with the vectors given), then timed on the same queries.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from synthetic import SESSION_MESSAGES


def _encode(model: Any, texts: list[str]) -> np.ndarray:
    return np.asarray(model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


class LangChainPeer:
    """``VectorStoreRetrieverMemory`` over ``langchain_chroma.Chroma``, scoped with a user filter."""

    name = "LangChain VectorStoreRetrieverMemory + langchain-chroma"

    def __init__(self, model: Any, client: Any) -> None:
        from langchain_chroma import Chroma
        from langchain_core.embeddings import Embeddings

        class SharedModel(Embeddings):
            """The shared SentenceTransformer as LangChain ``Embeddings``."""

            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [list(map(float, v)) for v in _encode(model, texts)]

            def embed_query(self, text: str) -> list[float]:
                return [float(x) for x in _encode(model, [text])[0]]

        self.store = Chroma("langchain", embedding_function=SharedModel(), client=client,
                            collection_metadata={"hnsw:space": "cosine"})

    def fill(self, sessions: Sequence[tuple[str, Sequence[dict[str, Any]], np.ndarray]]) -> None:
        """Store records with their known vectors (langchain-chroma's layout: document + metadata)."""
        for start in range(0, len(sessions), 100):
            part = sessions[start:start + 100]
            texts = [m["content"] for _, messages, _ in part for m in messages]
            self.store._collection.upsert(  # what Chroma.add_texts does, minus the embedding call
                ids=[uuid.uuid4().hex for _ in texts], embeddings=np.concatenate([v for _, _, v in part]),
                documents=texts, metadatas=[{"user_id": user} for user, messages, _ in part for _ in messages],
            )

    def measure(self, user: str, turns: Sequence[tuple[str, str]], questions: Sequence[str]) -> dict[str, Any]:
        """save_context per turn, load_memory_variables per question."""
        from langchain_classic.memory import VectorStoreRetrieverMemory

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            memory = VectorStoreRetrieverMemory(retriever=self.store.as_retriever(
                search_kwargs={"k": 10, "filter": {"user_id": user}}))
        writes, reads = [], []
        for said, answer in turns:
            start = time.perf_counter()
            memory.save_context({"input": said}, {"output": answer})  # embeds and adds one document
            writes.append(_ms(start))
        for question in questions:
            start = time.perf_counter()
            memory.load_memory_variables({"prompt": question})
            reads.append(_ms(start))
        return {"write_ms": writes, "recall_ms": reads,
                "write_call": "save_context (embeds the turn, adds one document)",
                "recall_call": "load_memory_variables (k=10, user filter)"}


class LlamaIndexPeer:
    """LlamaIndex ``Memory`` with a ``VectorMemoryBlock`` over ``ChromaVectorStore``."""

    name = "LlamaIndex Memory + VectorMemoryBlock + llama-index-vector-stores-chroma"

    def __init__(self, model: Any, client: Any) -> None:
        from llama_index.core.embeddings import BaseEmbedding
        from llama_index.vector_stores.chroma import ChromaVectorStore

        class SharedModel(BaseEmbedding):
            """The shared SentenceTransformer as a LlamaIndex ``BaseEmbedding``."""

            def _get_query_embedding(self, query: str) -> list[float]:
                return [float(x) for x in _encode(model, [query])[0]]

            async def _aget_query_embedding(self, query: str) -> list[float]:
                return self._get_query_embedding(query)

            def _get_text_embedding(self, text: str) -> list[float]:
                return self._get_query_embedding(text)

            def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
                return [list(map(float, v)) for v in _encode(model, texts)]

        self.embed_model = SharedModel(model_name="all-MiniLM-L6-v2")
        collection = client.get_or_create_collection("llamaindex", metadata={"hnsw:space": "cosine"})
        self.store = ChromaVectorStore(chroma_collection=collection)

    def fill(self, sessions: Sequence[tuple[str, Sequence[dict[str, Any]], np.ndarray]]) -> None:
        """Store records as nodes that already carry their vectors (LlamaIndex's own add path)."""
        from llama_index.core.schema import TextNode

        for start in range(0, len(sessions), 100):
            self.store.add([
                TextNode(text=f"<message role='{m['role']}'>{m['content']}</message>",
                         metadata={"session_id": user}, embedding=vector.tolist())
                for user, messages, vectors in sessions[start:start + 100]
                for m, vector in zip(messages, vectors, strict=True)
            ])

    def measure(self, user: str, turns: Sequence[tuple[str, str]], questions: Sequence[str]) -> dict[str, Any]:
        """Memory.put per message (flushing to the vector block as it fills), Memory.get per question."""
        from llama_index.core.llms import ChatMessage
        from llama_index.core.memory import Memory, VectorMemoryBlock

        block = VectorMemoryBlock(vector_store=self.store, embed_model=self.embed_model, similarity_top_k=10)
        # A short-term budget of about one conversation, so messages flush to the block while timed.
        memory = Memory.from_defaults(session_id=user, token_limit=SESSION_MESSAGES * 40,
                                      token_flush_size=SESSION_MESSAGES * 4, memory_blocks=[block])
        writes, reads = [], []

        async def run() -> None:
            for said, answer in turns:
                for role, text in (("user", said), ("assistant", answer)):
                    start = time.perf_counter()
                    await memory.aput(ChatMessage(role=role, content=text))
                    writes.append(_ms(start))
            # Recall from a new conversation of the same user, so the block's query is the question
            # alone (with chat history it embeds the last messages too, a longer text than ours).
            recall = Memory.from_defaults(session_id=user, token_limit=SESSION_MESSAGES * 40, memory_blocks=[block])
            await recall.areset()
            for question in questions:
                start = time.perf_counter()
                await recall.aget(input=question)
                reads.append(_ms(start))

        asyncio.run(run())
        return {"write_ms": writes, "recall_ms": reads,
                "write_call": "Memory.aput (the vector block embeds when the short-term queue flushes)",
                "recall_call": "Memory.aget(input=question) in a new conversation (k=10, session = user)"}
