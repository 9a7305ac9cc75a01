"""The framework peers of ``locomo.py``, driven through their own public classes, same model.

- LlamaIndex ``VectorMemory`` (each turn one node: ``batch_by_user_message=False``);
- LlamaIndex ``Memory`` + ``VectorMemoryBlock`` (Chroma vector store; a small token limit so turns
  leave the short-term queue for the block in small batches, as in a long chat);
- LangChain ``VectorStoreRetrieverMemory`` over an ``InMemoryVectorStore``, one document per
  input/output pair of consecutive turns.

Every peer embeds with the same all-MiniLM-L6-v2 as ours, through one cache (so a text shared by
two peers is embedded once). Each returns a ranker ``question -> dia_ids`` for ``locomo.evaluate``;
a hit that holds several turns gives each of its turns one rank.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

K = 10
Turn = tuple[str, str, str]  # (session_id, dia_id, "Speaker: text")


class SharedModel:
    """all-MiniLM-L6-v2 with one in-process cache, shared by every peer.

    ``noise`` > 0 degrades every vector on purpose (see :func:`degraded`), to see how each system
    fares when the model matches questions to turns less well than on this data. ``cache_file``
    (a ``.npz``) keeps the model's vectors between runs, keyed by a digest of the text: a second
    run of a benchmark embeds only texts it has not seen (call :meth:`save` to write new ones).
    """

    def __init__(self, noise: float = 0.0, cache_file: str | Path | None = None) -> None:
        from agent_memory_plugins.core.indexes.embeddings import SentenceTransformerEmbedder

        self.inner = SentenceTransformerEmbedder()
        self.noise = noise
        self.cache: dict[str, list[float]] = {}
        self.cache_file = Path(cache_file) if cache_file else None
        self.stored: dict[str, Any] = {}
        self.unsaved = 0
        self.computed = 0
        """Texts the model embedded in this process (not found in any cache)."""
        if self.cache_file is not None and self.cache_file.exists():
            import numpy as np

            with np.load(self.cache_file) as data:
                self.stored = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors of ``texts``, computing only those not seen before (in one batch)."""
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            digests = [_digest(t) for t in missing]
            unknown = [t for t, d in zip(missing, digests, strict=True) if d not in self.stored]
            if unknown:
                computed = self.inner.embed_array(unknown)
                self.computed += len(unknown)
                self.unsaved += len(unknown)
                self.stored.update(zip((_digest(t) for t in unknown), computed, strict=True))
            self.cache.update((t, degraded(t, self.stored[d], self.noise))
                              for t, d in zip(missing, digests, strict=True))
        return [self.cache[t] for t in texts]

    def save(self) -> None:
        """Write the vectors computed in this process to ``cache_file`` (with those it held)."""
        if self.cache_file is None or not self.unsaved:
            return
        import numpy as np

        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.stored)
        partial = self.cache_file.with_suffix(".partial.npz")
        np.savez(partial, keys=np.asarray(keys), vectors=np.stack([self.stored[k] for k in keys]))
        partial.replace(self.cache_file)
        self.unsaved = 0


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def degraded(text: str, vector: Sequence[float], noise: float) -> list[float]:
    """``vector`` plus Gaussian noise of ``noise`` times its length (the same for the same text
    in every run), back at unit length; ``noise=0`` returns it unchanged."""
    import hashlib

    import numpy as np

    if noise <= 0:
        return [float(x) for x in vector]
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    array = np.asarray(vector, dtype=np.float64)
    array = array + noise * np.random.default_rng(seed).standard_normal(len(array)) / np.sqrt(len(array))
    return [float(x) for x in array / np.linalg.norm(array)]


def langchain_embeddings(model: SharedModel) -> Any:
    """The shared model as a LangChain ``Embeddings``."""
    from langchain_core.embeddings import Embeddings

    class Shared(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return model.embed(texts)

        def embed_query(self, text: str) -> list[float]:
            return model.embed([text])[0]

    return Shared()


def llama_embeddings(model: SharedModel) -> Any:
    """The shared model as a LlamaIndex ``BaseEmbedding``."""
    from llama_index.core.embeddings import BaseEmbedding

    class Shared(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return model.embed([query])[0]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return model.embed([query])[0]

        def _get_text_embedding(self, text: str) -> list[float]:
            return model.embed([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return model.embed(texts)

    return Shared(model_name="all-MiniLM-L6-v2", embed_batch_size=64)


def llama_vector_memory(turns: Sequence[Turn], model: SharedModel) -> Callable[[str], list[str]]:
    """LlamaIndex ``VectorMemory``: one node per turn, retrieved by similarity."""
    from llama_index.core.llms import ChatMessage
    from llama_index.core.memory import VectorMemory

    model.embed([text for _, _, text in turns])  # warm the cache in one batch
    memory = VectorMemory.from_defaults(
        vector_store=None, embed_model=llama_embeddings(model), retriever_kwargs={"similarity_top_k": K}
    )
    memory.batch_by_user_message = False
    for _, dia, text in turns:
        memory.put(ChatMessage(role="user", content=text, additional_kwargs={"dia_id": dia}))

    def rank(question: str) -> list[str]:
        return [m.additional_kwargs["dia_id"] for m in memory.get(question)]

    return rank


_MESSAGE = re.compile(r"<message role='[^']*'>(.*?)</message>", re.DOTALL)


def llama_memory_block(turns: Sequence[Turn], model: SharedModel) -> Callable[[str], list[str]]:
    """LlamaIndex ``Memory`` with a ``VectorMemoryBlock``: turns flushed from the short-term queue
    are embedded (a few per node) into Chroma; the block retrieves nodes for the question."""
    import chromadb
    from chromadb.config import Settings
    from llama_index.core.llms import ChatMessage
    from llama_index.core.memory import Memory, VectorMemoryBlock
    from llama_index.vector_stores.chroma import ChromaVectorStore

    client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))
    collection = client.create_collection(f"li-block-{uuid.uuid4().hex[:8]}", metadata={"hnsw:space": "cosine"})
    block = VectorMemoryBlock(
        name="recall", vector_store=ChromaVectorStore(chroma_collection=collection),
        embed_model=llama_embeddings(model), similarity_top_k=K,
    )
    memory = Memory.from_defaults(
        session_id=f"locomo-{uuid.uuid4().hex[:8]}", token_limit=200, chat_history_token_ratio=0.7,
        token_flush_size=40, memory_blocks=[block],
    )
    by_text: dict[str, list[str]] = {}
    messages = []
    for index, (_, dia, text) in enumerate(turns):
        by_text.setdefault(text, []).append(dia)
        messages.append(ChatMessage(role="user" if index % 2 == 0 else "assistant", content=text))
    for message in messages:
        memory.put_messages([message])

    def rank(question: str) -> list[str]:
        text = asyncio.run(block.aget(messages=[ChatMessage(role="user", content=question)]))
        out: list[str] = []
        for content in _MESSAGE.findall(text):
            out.extend(by_text.get(content.strip(), []))
        return list(dict.fromkeys(out))

    return rank


def langchain_pairs(turns: Sequence[Turn], model: SharedModel) -> Callable[[str], list[str]]:
    """LangChain ``VectorStoreRetrieverMemory``: ``save_context`` for each input/output pair of
    consecutive turns of a session; the memory's retriever returns the nearest pairs."""
    import warnings

    from langchain_core.vectorstores import InMemoryVectorStore

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_classic.memory import VectorStoreRetrieverMemory

    pairs: list[tuple[tuple[str, str], list[str]]] = []
    index = 0
    while index < len(turns):
        session, dia, text = turns[index]
        if index + 1 < len(turns) and turns[index + 1][0] == session:
            pairs.append(((text, turns[index + 1][2]), [dia, turns[index + 1][1]]))
            index += 2
        else:
            pairs.append(((text, ""), [dia]))
            index += 1
    contents = {f"input: {a}\noutput: {b}": dias for (a, b), dias in pairs}
    model.embed(list(contents))  # warm the cache in one batch
    store = InMemoryVectorStore(langchain_embeddings(model))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = VectorStoreRetrieverMemory(
            retriever=store.as_retriever(search_kwargs={"k": K}), return_docs=True, input_key="input"
        )
    for (a, b), _ in pairs:
        memory.save_context({"input": a}, {"output": b})

    def rank(question: str) -> list[str]:
        docs = memory.load_memory_variables({"input": question})["history"]
        return [dia for doc in docs for dia in contents[doc.page_content]]

    return rank
