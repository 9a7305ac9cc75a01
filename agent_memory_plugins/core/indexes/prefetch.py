"""Embedding ahead of the indexer: the texts of records just written, in few large model calls.

The indexer embeds the outbox in batches of ``index_batch_size`` records in the order they were
written. A sentence-transformers model pads every text of a model batch to the longest one, and it
sorts by length only within one call: on conversation turns of very different lengths, batches of
256 cost a quarter more model time than the same texts embedded in one call. So the core hands the
texts it writes to a :class:`Prefetcher`; before the indexer claims its batches, the prefetcher
embeds those texts sorted by length, in chunks of :data:`CHUNK` (each chunk's model batches hold
texts of about one length), and caches the vectors. The indexer then finds them cached.

Nothing here is durable or needed for correctness: the outbox stays the record of what to index
(hints lost in a crash only cost the speed-up), and a vector is cached only for a record the store
still holds, checked under the index lock that ``forget`` also holds, so a text forgotten while it
was being embedded is not cached again.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable

from ...records import MemoryRecord
from .embeddings import CachedEmbedder

CHUNK = 512
"""Texts per model call of the prefetch (a closing store waits for one chunk at most)."""


class Prefetcher:
    """Remembers the texts of records just written and embeds them ahead of the indexer."""

    def __init__(self, embedder: CachedEmbedder, limit: int) -> None:
        self.embedder = embedder
        self.limit = limit
        """Most texts remembered (the oldest go first): more than the cache holds would be
        embedded again once evicted."""
        self._expected: collections.deque[tuple[str, str]] = collections.deque()
        self._lock = threading.Lock()  # guards _expected
        self._running = threading.Lock()  # one prefetch at a time; others wait for its vectors

    def expect(self, records: Iterable[MemoryRecord]) -> None:
        """Records just written, whose texts the indexer will embed."""
        with self._lock:
            self._expected.extend((record.id, record.text) for record in records)
            while len(self._expected) > self.limit:
                self._expected.popleft()

    def run(self, still_stored: Callable[[list[str]], set[str]], index_lock: threading.RLock,
            stopped: Callable[[], bool]) -> int:
        """Embed the expected texts not cached yet, longest last, and cache the vectors of records
        ``still_stored`` (checked under ``index_lock``); returns how many texts were embedded. A
        second caller waits for the first to finish (then finds its vectors cached)."""
        with self._running:
            with self._lock:
                expected, self._expected = list(self._expected), collections.deque()
            ids_by_text: dict[str, list[str]] = {}
            for record_id, text in expected:
                ids_by_text.setdefault(text, []).append(record_id)
            texts = sorted(self.embedder.uncached(list(ids_by_text)), key=len)
            done = 0
            for first in range(0, len(texts), CHUNK):
                if stopped():
                    break
                chunk = texts[first:first + CHUNK]
                vectors = self.embedder.compute(chunk)
                with index_lock:
                    kept = still_stored([i for text in chunk for i in ids_by_text[text]])
                    self.embedder.keep({text: vector for text, vector in zip(chunk, vectors, strict=True)
                                        if any(i in kept for i in ids_by_text[text])})
                done += len(chunk)
            return done
