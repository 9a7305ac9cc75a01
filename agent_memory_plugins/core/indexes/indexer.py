"""The indexer: keeps the vector index (and the context index) in step with the record store.

Writes only queue work (the record store's outbox); the indexer applies it off the write path, in
bounded batches: deletes are applied, new records embedded and upserted, their neighbourhoods
rebuilt (keyword rows by the record store, vectors in context here). It also finishes, on open,
what a crash interrupted (a reindex, the purge after a forget) and guards the embedder a store was
built with.

``lock`` is the index lock: held for one batch at a time, and by ``forget``, folding, ``reindex``
and ``close``, so none of them waits for more than one batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ...errors import EmbeddingMismatchError, VectorIndexUnavailableError
from ...records import MemoryRecord
from ...settings import Settings
from ..storage.interface import (
    DIMENSION,
    EMBEDDER,
    VECTOR_SCHEME,
    ContextBatch,
    Neighbourhood,
    OutboxItem,
    RecordStore,
)
from .context_vectors import context_vector, own_weight
from .embeddings import CachedEmbedder
from .passages import passage_id, split_passages
from .prefetch import Prefetcher
from .vectors import SCHEME, ChromaIndex

log = logging.getLogger("agent_memory_plugins")
CONTEXT_BATCH = 256
"""Records whose context is built per step (one write transaction, one Chroma write): two steps
follow each indexing batch; a bounded step keeps writers' waits short."""


class Indexer:
    """Applies the record store's queued changes to Chroma and builds messages' context."""

    def __init__(self, store: RecordStore, index: ChromaIndex, embedder: CachedEmbedder, settings: Settings) -> None:
        self.store = store
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.lock = threading.RLock()
        self._context_lock = threading.Lock()  # one context drain at a time (they would repeat each other)
        self.stopped = False
        self.context_layout = repr(float(settings.context_vector_weight))
        if settings.context_vector_words:  # (a store built before the setting keeps its layout name)
            self.context_layout += f"/{settings.context_vector_words}"
        if settings.context_neighbour_words:
            self.context_layout += f"/n{settings.context_neighbour_words}"
        """What shapes context rows and vectors besides ``context_turns``: a change rebuilds them."""
        store.open_context_index(settings.context_turns, self.context_layout, settings.context_neighbour_words)
        self.prefetcher = Prefetcher(embedder, max(1, settings.embedding_cache_size // 2))
        """Embeds the texts of records just written ahead of the batches (see ``prefetch.py``)."""

    def stop(self) -> None:
        """Finish the current batch and start no other (the store is closing)."""
        self.stopped = True

    def pending(self) -> int:
        """Changes and context rows waiting to be applied."""
        return self.store.outbox_size() + self.store.context_pending()

    # -- opening a store ------------------------------------------------------------------------
    def check_embedder(self, reindex: bool) -> bool:
        """Refuse an embedder other than the one that built the store, unless ``reindex``: then
        queue every record again (True: the caller flushes)."""
        built_with = self.store.meta(EMBEDDER)
        if built_with is None:
            self.store.set_meta(EMBEDDER, self.embedder.name)
            return False
        if built_with == self.embedder.name:
            dimension = self.store.meta(DIMENSION)
            self.embedder.dimension = int(dimension) if dimension else None
            return False
        if not reindex:
            raise EmbeddingMismatchError(
                f"this store was built with the embedder {built_with!r} but was opened with "
                f"{self.embedder.name!r}. Open it with the original embedder, or rebuild its "
                "vectors with the new one: MemoryCore(path, embedder=..., reindex=True), "
                "which calls reindex()"
            )
        self.reindex()
        return True

    def resume(self) -> None:
        """Finish what a crash interrupted: a reindex (reset the vectors; the outbox refills them)
        and the purge after a forget (drop the vectors, compact). Also re-lays out vectors stored
        by an older version."""
        if self.store.meta(VECTOR_SCHEME) != SCHEME and self.store.count():
            self.store.begin_reindex(self.embedder.name, SCHEME)
        elif self.store.meta(VECTOR_SCHEME) != SCHEME:
            self.store.set_meta(VECTOR_SCHEME, SCHEME)
        if self.store.reset_pending():
            self.index.reset()
            self.store.vectors_reset()
        if self.store.purge_pending():
            self.apply_deletes()
            self.store.compact(vacuum=True)

    def requeue_lost(self) -> None:
        """The store's Chroma collection was just made anew although the store has records (the
        store was pointed at another Chroma, or Chroma's data was lost): queue every record again,
        unless a reindex that will refill it is under way. Runs under the vector index's lock."""
        if self.store.count() and not self.store.reset_pending():
            # under the store's own embedder: opening the store with another one is still refused
            queued = self.store.begin_reindex(self.store.meta(EMBEDDER) or self.embedder.name, SCHEME)
            self.store.vectors_reset()  # the collection is empty already
            log.warning("the Chroma collection %s holds none of this store's vectors: rebuilding them "
                        "for %d records in the background", self.index.name, queued)

    def reindex(self) -> int:
        """Queue every record and empty the vector index (crash-safe: the queue and the reset mark
        are committed first); returns how many records were queued. The caller flushes."""
        with self.lock:
            queued = self.store.begin_reindex(self.embedder.name, SCHEME)
            self.index.reset()
            self.store.vectors_reset()
            self.embedder.dimension = None
        return queued

    # -- the drain ------------------------------------------------------------------------------
    def index_pending(self, upto: int) -> None:
        """Index queued changes up to outbox position ``upto``, one batch per hold of the lock."""
        batch_size = self.settings.index_batch_size
        if self.store.outbox_size():
            self.embedder.warm()  # outside the lock: a closing store does not wait for a model to load
            self.prefetcher.run(self.store.existing, self.lock, lambda: self.stopped)
        while not self.stopped:
            with self.lock:
                if self.stopped:
                    return
                items = self.store.claim_outbox(batch_size, upto=upto)
                if not items:
                    return
                self._delete([item for item in items if item.op == "delete"])
                upserts = [item.record_id for item in items if item.op == "upsert"]
                if upserts:
                    rows = self.store.get(upserts, None)
                    records = [rows[i].record for i in dict.fromkeys(upserts) if i in rows]
                    vectors = self.embedder.embed([record.text for record in records])
                    self._remember_dimension()
                    # a message's vector is written in its context, right after this batch (its
                    # embedding waits in the cache); writing its own first would cost a second write
                    others = [(r, v) for r, v in zip(records, vectors, strict=True) if r.kind != "message"]
                    self.upsert_vectors([r for r, _ in others], [v for _, v in others])
                    self.index_passages(records)
                    self.store.queue_context([record.id for record in records])
                self.store.ack_outbox([item.seq for item in items])
            self.store.maintain()  # here, so that no writer pays for it
            time.sleep(0)  # let a waiting forget / reindex / close take the lock between batches
            self.drain_context(max_batches=2)  # newest first: this batch, its embeddings still cached

    def await_others(self, upto: int) -> None:
        """Wait while other instances hold claimed work (outbox items up to ``upto``, context
        rows), taking over what their expired leases free; bounded by ``claim_lease_seconds``
        (plus a little), so a steady stream of other instances' work cannot hold a flush."""
        deadline = time.monotonic() + self.settings.claim_lease_seconds + 5.0
        while not self.stopped and self.store.claimed_elsewhere(upto) and time.monotonic() < deadline:
            time.sleep(0.05)
            self.index_pending(upto)
            self.drain_context()

    def drain_context(self, max_batches: int | None = None) -> int:
        """Neighbour context for queued records, newest first: keyword rows (by the record store)
        and vectors in context; returns how many queued records were processed. One thread at a
        time: two would claim the same batch and do its work twice."""
        with self._context_lock:
            return drain_context(self.store, CONTEXT_BATCH, self._index_in_context, max_batches)

    def _index_in_context(self, batch: list[Neighbourhood]) -> bool:
        """Replace each message's vector by its vector in context (with ``context_vector_weight``
        0, its own). The neighbourhoods are read again under the index lock, so a text forgotten
        meanwhile is neither embedded nor cached again; the embeddings come from the cache the
        indexing just filled (or the model, off the write path). False (nothing written, the batch
        stays queued) once the store is closing."""
        weight = self.settings.context_vector_weight
        with self.lock:
            if self.stopped:
                return False
            current = self.store.neighbourhoods([n.record_id for n in batch])
            texts = list(dict.fromkeys(t for n in current for t in (n.text, *n.before, *n.after)))
            embedded = dict(zip(texts, self.embedder.embed(texts), strict=True)) if texts else {}
            rows = self.store.get([n.record_id for n in current], None)
            present = [n for n in current if n.record_id in rows]
            self.upsert_vectors(
                [rows[n.record_id].record for n in present],
                [context_vector(embedded[n.text], [embedded[t] for t in n.before], [embedded[t] for t in n.after],
                                own_weight(n.text, weight, self.settings.context_vector_words)) for n in present],
            )
        return True

    def upsert_vectors(self, records: Sequence[MemoryRecord], vectors: Sequence[Any]) -> None:
        """Write the vectors of ``records``, then drop those of records another process forgot
        meanwhile (its Chroma delete could have run before our upsert). Under the index lock."""
        self.index.upsert(records, vectors)
        kept = self.store.existing([record.id for record in records])
        for record in records:
            if record.id not in kept:
                self.index.delete([record.id], record.user_id)

    def index_passages(self, records: Sequence[MemoryRecord]) -> None:
        """Replace the passage vectors of these records: one per passage of each long message
        (see :mod:`.passages`; none with ``passage_words`` 0). Under the index lock."""
        cut = [(record, split_passages(record.text, self.settings.passage_words,
                                              self.settings.passage_skip_words))
               for record in records if record.kind == "message"]
        replaced: dict[str, list[str]] = {}
        for record, passages in cut:
            if passages:
                replaced.setdefault(record.user_id, []).append(record.id)
        for user_id, ids in replaced.items():  # an edited message's old ones, one call per user
            self.index.delete_passages(ids, user_id)
        pieces = [(record, number, text) for record, passages in cut for number, text in enumerate(passages)]
        if not pieces:
            return
        vectors = self.embedder.embed([text for _, _, text in pieces])
        self.index.upsert([replace(record, id=passage_id(record.id, number)) for record, number, _ in pieces],
                          vectors, parents=[record.id for record, _, _ in pieces])
        parents = {record.id: record for record, _, _ in pieces}
        kept = self.store.existing(list(parents))
        for record_id, record in parents.items():
            if record_id not in kept:  # forgotten meanwhile by another process
                self.index.delete([record_id], record.user_id)

    def apply_deletes(self) -> None:
        """Apply every queued vector deletion now (a forget does not wait for the worker); while a
        Chroma server cannot be reached they stay queued (searches never show a record the store
        no longer has: hits are read from the store)."""
        items = self.store.claim_outbox(1_000_000, op="delete")
        if items:
            try:
                self._delete(items)
            except VectorIndexUnavailableError:  # Chroma server down: the worker applies them later
                return
            self.store.ack_outbox([item.seq for item in items])

    def _delete(self, items: Sequence[OutboxItem]) -> None:
        """Apply queued deletions, each in its record's user's collection."""
        by_user: dict[str | None, list[str]] = {}
        for item in items:
            by_user.setdefault(item.user_id, []).append(item.record_id)
        for user_id, ids in by_user.items():
            self.index.delete(ids, user_id)

    def _remember_dimension(self) -> None:
        dimension = self.embedder.dimension
        if dimension is None:
            return
        stored = self.store.meta(DIMENSION)
        if not stored:
            self.store.set_meta(DIMENSION, str(dimension))
        elif int(stored) != dimension:
            raise EmbeddingMismatchError(
                f"the embedder returns {dimension}-dimensional vectors but this store holds "
                f"{stored}-dimensional ones; call reindex() to rebuild with the new embedder"
            )


def drain_context(
    store: RecordStore,
    batch: int = CONTEXT_BATCH,
    on_batch: Callable[[list[Neighbourhood]], bool] | None = None,
    max_batches: int | None = None,
) -> int:
    """Claim queued context work from ``store`` in batches (at most ``max_batches``) and finish
    each; returns how many queued records were processed.

    ``on_batch`` gets each batch's neighbourhoods after their keyword rows are written; the batch
    leaves the queue only when it returns True (when it returns False the drain stops; when it
    raises, or the process dies, the batch stays queued).
    """
    done = 0
    while max_batches is None or max_batches > 0:
        claimed: ContextBatch | None = store.claim_context(batch)
        if claimed is None:
            return done
        if on_batch is not None and claimed.neighbourhoods and not on_batch(claimed.neighbourhoods):
            return done
        store.finish_context(claimed)
        store.maintain()  # the worker's, so that no writer pays for it
        done += claimed.size
        if max_batches is not None:
            max_batches -= 1
    return done
