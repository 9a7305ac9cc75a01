"""MemoryCore: the one object every adapter, the CLI and the notebooks stand on."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ..errors import IndexingError, InvalidInputError, StoreClosedError, VectorIndexUnavailableError
from ..records import MemoryRecord, SearchResults
from . import validation as check
from .conversation.folding import Conversations
from .conversation.memory import ConversationMemory
from .conversation.summarizer import resolve_summarizer
from .conversation.tokens import resolve_token_counter
from .filters import check_where
from .indexes.collections import STORE_ID
from .indexes.embeddings import CachedEmbedder, resolve_embedder
from .indexes.indexer import Indexer
from .indexes.passages import passage_texts
from .indexes.worker import Worker
from .lifecycle import BY_FOLDER, DEFAULT, OPEN_CORES, held_core, open_index, release, settings_for, weak_drain
from .longterm.consolidator import resolve_consolidator
from .longterm.extracting import Extraction
from .longterm.extractor import resolve_extractor
from .longterm.memories import LongTermMemory
from .longterm.salience import estimate_importance
from .recall.rerank import resolve_reranker
from .recall.search import Recall
from .storage import Filters, open_record_store
from .working.blocks import WorkingMemory

if TYPE_CHECKING:
    from ..inspector import SessionView

__all__ = ["MemoryCore"]

log = logging.getLogger("agent_memory_plugins")
P = ParamSpec("P")
T = TypeVar("T")
FOLD_PASSES = 3
"""Folding passes one drain makes (a fold that raced another process is retried)."""


def _in_thread(method: Callable[P, T]) -> Callable[P, Any]:
    """The async twin of a sync method: the same code, run in a worker thread."""

    @functools.wraps(method)
    async def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(method, *args, **kwargs)

    twin.__doc__ = f"Async twin of :meth:`{method.__name__}`."
    return twin


class MemoryCore(ConversationMemory, LongTermMemory, WorkingMemory):
    """Durable conversation memory: per-session windows, running summaries, long-term recall.

    Setup::

        mem = MemoryCore("./agent_memory")   # SQLite + embedded Chroma under this folder
        mem = MemoryCore()                   # nothing on disk (tests, notebooks)

    Usage::

        mem.add_message("s1", "user", "I live in Denver", user_id="alice")
        mem.flush()                          # wait for background indexing (optional)
        mem.search("where does the user live?", user_id="alice")
        mem.context("s1", "where do I live?", user_id="alice").render()
        mem.set_block("task", "Plan the Lisbon trip", user_id="alice", session_id="s1")  # always in context

    Async: every public method has an ``a``-prefixed twin (``aadd_message``, ``asearch``, ...).
    Writes commit to SQLite before returning; embedding and summarizing happen in a background
    worker, never on the write path. Every read and delete is scoped to one user.
    """

    def __new__(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> MemoryCore:
        """A folder this process already has open comes back as the core that holds it (a notebook
        cell or a Streamlit script run again), when asked for with the same settings."""
        held = held_core(path, kwargs)
        if held is not None:
            held._opens += 1
            return held
        return super().__new__(cls)

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        window_messages: int | None = DEFAULT,
        window_tokens: int | None = DEFAULT,
        embedder: Any = None,
        summarizer: Any = None,
        consolidator: Any = None,
        extractor: Any = None,
        token_counter: Any = None,
        chroma_client: Any = None,
        reranker: Any = None,
        reindex: bool = False,
        background: bool = True,
        **settings: Any,
    ) -> None:
        if getattr(self, "_opens", 0):  # the open core of this folder, handed back by __new__
            return
        self._opens = 1
        self.settings = settings_for(path, window_messages, window_tokens, settings)
        folder = self.settings.path
        if folder is not None:
            os.makedirs(folder, exist_ok=True)
        self.count_tokens = resolve_token_counter(token_counter)
        self.embedder = CachedEmbedder(
            resolve_embedder(embedder, self.settings.embedding_model, self.settings),
            self.settings.embedding_cache_size,
        )
        self.summarizer = resolve_summarizer(summarizer, self.count_tokens)
        self.consolidator = resolve_consolidator(consolidator)
        found = resolve_extractor(extractor)
        ranker = resolve_reranker(reranker)
        self.extraction = Extraction(self, found) if found is not None else None
        self._review: collections.deque[str] = collections.deque()
        self._paraphrases: collections.deque[str] = collections.deque()
        self._review_lock = threading.Lock()  # a flush waits for a review the worker has in hand
        self._ttl_by_kind = self.settings.ttl_by_kind()
        self._next_sweep = 0.0
        self._closed = False
        self._last_error: BaseException | None = None
        self.index = open_index(self.settings, chroma_client)
        try:
            self.store = open_record_store(self.settings)
            self._location = self.store.location()
        except BaseException:
            self.index.close()
            raise
        try:
            self.indexer = Indexer(self.store, self.index, self.embedder, self.settings)
            self._index_lock = self.indexer.lock
            self.conversations = Conversations(self.store, self.summarizer, self.count_tokens, self.settings,
                                               self._index_lock, lambda: self._closed)
            self.recall = Recall(self.store, self.index, self.embedder, self.settings, ranker)
            self.index.key = self.store.secret("vector_key").encode()
            self.index.attach(self.store.secret(STORE_ID), self.store.existing, self.indexer.requeue_lost)
            if self.indexer.check_embedder(reindex):
                self.flush()
            self.indexer.resume()
        except BaseException:
            self.index.close()
            self.store.close()
            raise
        OPEN_CORES.add(self)
        if folder is not None and self.index.mode == "embedded":
            BY_FOLDER[folder] = self
        # The worker holds the core weakly, so a core the program dropped (a notebook cell run
        # again) is collected, and the finalizer releases its folder for the next one.
        self._worker = Worker(weak_drain(self), self.settings.index_interval) if background else None
        self._finalizer = weakref.finalize(
            self, release, self.indexer, self._worker, self._index_lock, self.index, self.store
        )
        if self._worker is not None:
            self._worker.start()
            if self.indexer.pending() or self.store.sessions_to_fold(1):
                self._worker.wake()

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self, *, flush: bool = False) -> None:
        """Stop the background worker and close the stores; a second call does nothing.

        Every write is already durable. ``close()`` is quick and bounded: it waits for the batch
        the worker is writing (at most ``index_batch_size`` records; a model that is still loading
        is not waited for) and leaves the rest queued: indexing and folding resume when the
        folder is opened again. ``close(flush=True)`` first indexes and folds everything written
        so far (as :meth:`flush`; it waits for the embedding model).
        """
        if self._closed:
            return
        if flush:
            self.flush()
        self._opens -= 1
        if self._opens > 0:  # handed out again by MemoryCore(same folder): the last close closes
            return
        self._closed = True
        self._finalizer()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this MemoryCore is closed; create a new one")

    def __enter__(self) -> MemoryCore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.settings.path or ("in memory" if self.settings.database_url is None else self._location)
        state = "closed" if self._closed else f"{self.store.count()} records"
        return f"MemoryCore({where!r}, {state}, chroma={self.index.mode})"

    def _repr_html_(self) -> str:
        """The store in Jupyter: per-user and per-session counts, latest activity (see inspector)."""
        from ..inspector import core_html

        return core_html(self)

    def inspect(self, session_id: str, *, user_id: str = "default") -> SessionView:
        """One session as a :class:`SessionView`: window, summary and what it covers, a timeline."""
        from ..inspector import session_view

        return session_view(self, session_id, user_id=user_id)

    # -- writes -------------------------------------------------------------------------------
    def _new_record(
        self, content: Any, *, role: str, kind: str, user: str, session: str | None,
        agent: str | None, timestamp: Any, metadata: Any, importance: Any, now: float,
        ttl: Any = None, key: str | None = None,
    ) -> MemoryRecord:
        text = check.check_content(content, self.settings.max_content_chars)
        weight = check.check_importance(importance)
        lifetime = check.check_duration(ttl, "ttl")
        if lifetime is None:
            lifetime = self._ttl_by_kind.get(kind)
        return MemoryRecord(
            id=uuid.uuid4().hex, text=text, role=role, kind=kind, user_id=user, session_id=session,
            timestamp=check.from_epoch(check.to_epoch(timestamp, now)), created_at=check.from_epoch(now),
            importance=estimate_importance(text) if weight is None else weight,
            metadata=check.check_metadata(metadata, self.settings.max_metadata_bytes),
            agent_id=agent, key=key,
            expires_at=check.from_epoch(now + lifetime) if lifetime is not None else None,
        )

    def _write(self, records: Sequence[MemoryRecord]) -> None:
        if not records:
            return
        self.store.add_records([(record, self.count_tokens(record.text)) for record in records])
        self.indexer.prefetcher.expect(records)
        if self.extraction is not None:
            self.extraction.touched()
        self._wake()

    def _wake(self) -> None:
        if self._worker is not None:
            self._worker.wake()

    # -- reads --------------------------------------------------------------------------------
    def get(self, memory_id: str, *, user_id: str = "default") -> MemoryRecord:
        """One record by id, if it belongs to ``user_id`` (``NotFoundError`` otherwise)."""
        return self._owned(memory_id, user_id)

    def search(
        self,
        query: str,
        *,
        user_id: str = "default",
        k: int = 5,
        session_id: str | None = None,
        kinds: Sequence[str] | str | None = None,
        where: Mapping[str, Any] | None = None,
        agent_id: str | None = None,
        follow_links: bool = False,
    ) -> SearchResults:
        """Long-term recall: the ``k`` records of ``user_id`` that best match ``query``.

        Fuses dense (Chroma) and keyword (FTS5 BM25) scores, then weighs recency, importance, the
        time the query names and whether a record only asks a question.
        A record superseded by a newer one ranks below it (``explain["superseded_by"]``).
        ``follow_links=True`` brings, after each hit, the records linked to it with at least the
        ``link_threshold`` strength (``explain["linked_from"]``; these come on top of ``k``).
        ``Hit.explain`` holds each part of the score. The result is a ``list`` of hits that also
        renders in Jupyter (:class:`SearchResults`).
        """
        self._check_open()
        text = check.check_content(query, self.settings.max_content_chars, "query")
        check.check_count(k, "k", 1)
        filters = _checked_filters(user_id, session_id, kinds, where, agent_id)
        hits = self.recall.search(text, filters, k, follow_links)
        return SearchResults(hits, query=text, user_id=filters.user_id)

    def export(self, *, user_id: str = "default") -> list[MemoryRecord]:
        """Every record of one user (messages, summaries, memories), oldest first."""
        return self.records(user_id=user_id)

    def sessions(self, *, user_id: str = "default") -> list[str]:
        """The user's session ids, most recently active first."""
        return self.store.sessions(check.check_id(user_id, "user_id"))

    def users(self) -> list[str]:
        """Every user id with stored records (for operators; not scoped)."""
        return self.store.users()

    def stats(self, *, user_id: str | None = None) -> dict[str, Any]:
        """Counts of records by kind, sessions, pending indexing work and the store's setup; with an
        extractor, ``"extraction"``: its model calls, memories stored, errors and the last error."""
        user = check.check_optional_id(user_id, "user_id")
        self._check_open()
        found = {
            "path": self.settings.path, "database": self.store.location(), "chroma": self.index.mode,
            "embedder": self.embedder.name,
            "records": self.store.count(user), "by_kind": self.store.count_by_kind(user),
            "sessions": len(self.store.sessions(user)) if user else self.store.session_count(),
            "users": len(self.store.users()) if user is None else 1,
            "pending_index": self.indexer.pending(), "vectors": self._vector_count(user),
        }
        if self.extraction is not None:  # calls, memories, errors, last_error, retrying
            found["extraction"] = self.extraction.stats()
        return found

    def _vector_count(self, user_id: str | None) -> int | None:
        """Vectors in the index (of ``user_id``, or of every user), ``None`` while a Chroma server
        is unreachable."""
        try:
            return self.index.count(user_id)
        except VectorIndexUnavailableError:
            return None

    # -- deletes ------------------------------------------------------------------------------
    def forget(
        self,
        *,
        memory_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        """Remove records everywhere (SQLite, FTS5, Chroma, summaries built from them).

        ``memory_id``: one record (of ``user_id`` when given); ``session_id``: a session of
        ``user_id`` (default "default") with its working-memory blocks; ``user_id`` alone:
        everything of that user, blocks included. Summaries that covered a removed message are
        rebuilt from the messages that remain. Returns how many records were removed.
        """
        if memory_id is None and session_id is None and user_id is None:
            raise InvalidInputError("forget needs memory_id=, session_id= or user_id=")
        user = check.check_optional_id(user_id, "user_id")
        self._check_open()
        with self._index_lock:
            if memory_id is not None:
                record_id = check.check_memory_id(memory_id)
                targets = list(self.store.get([record_id], user))
            else:
                session = check.check_optional_id(session_id, "session_id")
                owner = user or "default" if session else user
                targets = self.store.ids_of(owner, session)
                if owner is not None and self.store.forget_scope(owner, session) and not targets:
                    self.store.compact(vacuum=True)
            removed = self._forget_ids(targets, vacuum=memory_id is None)
            if memory_id is None and session_id is None and user is not None:
                with contextlib.suppress(VectorIndexUnavailableError):  # down: its deletions wait in the outbox
                    self.index.drop_user(user)  # nothing of the user left in Chroma's files
            return removed

    def _forget_ids(self, targets: list[str], vacuum: bool = False) -> int:
        """Remove records everywhere; summaries that covered them are rebuilt without them.

        ``vacuum`` rewrites every page of the database afterwards (for many records at once)."""
        if not targets:
            return 0
        with self._index_lock:
            target_set = set(targets)
            stale = [row for row in self.store.summaries_covering(target_set) if row.record.id not in target_set]
            refold = [i for row in stale for i in row.record.covers if i not in target_set]
            texts = [row.record.text for row in self.store.get(targets, None).values()]
            removed = self.store.forget(targets + [row.record.id for row in stale], refold)
            gone = texts + [row.record.text for row in stale]
            self.embedder.forget_texts(gone + passage_texts(gone, self.settings.passage_words,
                                                                self.settings.passage_skip_words))
            self.indexer.apply_deletes()
            self.store.compact(vacuum=vacuum)
            self.conversations.touched({(row.record.user_id, row.record.session_id or "") for row in stale})
        if stale:
            self._wake()
        return len([record_id for record_id in removed if record_id in target_set])

    def records(
        self,
        *,
        user_id: str = "default",
        kinds: Sequence[str] | str | None = None,
        session_id: str | None = None,
        where: Mapping[str, Any] | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[MemoryRecord]:
        """A user's records, filtered by kind, session and metadata ``where``, in time order.

        ``limit`` and ``offset`` page through that order (``offset`` records are skipped first).
        """
        count = None if limit is None else check.check_count(limit, "limit", 1)
        skip = check.check_count(offset, "offset", 0, 2**62)
        filters = _checked_filters(user_id, session_id, kinds, where)
        rows = self.store.select(filters, newest_first=newest_first, limit=count, offset=skip)
        return [row.record for row in rows]

    def compact(self) -> None:
        """Make forgotten records leave the storage files now: SQLite rewrites its file
        (``VACUUM``) and truncates its write log; PostgreSQL rewrites its tables (``VACUUM FULL``,
        which holds each table's lock while it runs). A forget already compacts what it removed;
        this finishes a compaction that a busy store postponed. Write-ahead logs a PostgreSQL server
        archives or streams to replicas keep what they hold until they are recycled."""
        self._check_open()
        with self._index_lock:
            self.store.compact(vacuum=True)

    def reindex(self) -> int:
        """Rebuild the vector index from SQLite with the current embedder; returns records queued.

        Crash-safe: the records are queued and the reset is recorded before the index is emptied,
        so a reindex cut short resumes on the next open.
        """
        queued = self.indexer.reindex()
        self.flush()
        return queued

    # -- background work ----------------------------------------------------------------------
    def flush(self) -> None:
        """Return when every record written before the call is indexed and due summaries folded.

        Writes that other threads or processes make meanwhile are indexed by the background worker
        (or the next flush), so a steady stream of writes cannot keep ``flush`` from returning.
        """
        self._drain(force=True)
        if self._last_error is not None:
            error, self._last_error = self._last_error, None
            raise IndexingError(f"background indexing failed: {error}") from error

    def _background_drain(self) -> None:
        try:
            self._drain(force=False)
        except Exception as error:
            if self._closed:  # closed while this batch waited for a model: the rest stays queued
                return
            if not isinstance(error, VectorIndexUnavailableError):  # the index warns once per outage
                log.warning("agent-memory background indexing failed: %s", error)
            self._last_error = error
            raise

    def _drain(self, force: bool) -> None:
        """Sweep expired records when due, index what is queued now, review new memories, fold due
        summaries, index those; a bounded amount of work."""
        self._check_open()
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self.settings.expiry_interval
            self._forget_ids(self.store.expired_ids(time.time()))
        for _ in range(FOLD_PASSES):  # another pass only when a fold raced another process
            self.indexer.index_pending(self.store.outbox_position())
            self.indexer.drain_context()
            self._review_pending()
            if not self.conversations.fold_due(force):
                break
        if self.extraction is not None:
            self.extraction.run(force)
        upto = self.store.outbox_position()
        self.indexer.index_pending(upto)
        self.indexer.drain_context()
        if force:
            self.indexer.await_others(upto)
        self._last_error = None

    # -- async twins --------------------------------------------------------------------------
    aadd_message = _in_thread(ConversationMemory.add_message)
    aadd_messages = _in_thread(ConversationMemory.add_messages)
    aremember = _in_thread(LongTermMemory.remember)
    aremember_fact = _in_thread(LongTermMemory.remember_fact)
    aupdate = _in_thread(LongTermMemory.update)
    aremember_event = _in_thread(LongTermMemory.remember_event)
    aset_preference = _in_thread(LongTermMemory.set_preference)
    aget_preference = _in_thread(LongTermMemory.get_preference)
    apreferences = _in_thread(LongTermMemory.preferences)
    aadd_skill = _in_thread(LongTermMemory.add_skill)
    afind_skills = _in_thread(LongTermMemory.find_skills)
    arecord_skill_outcome = _in_thread(LongTermMemory.record_skill_outcome)
    alink = _in_thread(LongTermMemory.link)
    arelated = _in_thread(LongTermMemory.related)
    ahistory = _in_thread(LongTermMemory.history)
    acleanup = _in_thread(LongTermMemory.cleanup)
    arecords = _in_thread(records)
    aget = _in_thread(get)
    awindow = _in_thread(ConversationMemory.window)
    arecent = _in_thread(ConversationMemory.recent)
    asummary = _in_thread(ConversationMemory.summary)
    asummary_record = _in_thread(ConversationMemory.summary_record)
    amessages = _in_thread(ConversationMemory.messages)
    asearch = _in_thread(search)
    acontext = _in_thread(ConversationMemory.context)
    asessions = _in_thread(sessions)
    aexport = _in_thread(export)
    astats = _in_thread(stats)
    aforget = _in_thread(forget)
    aset_block = _in_thread(WorkingMemory.set_block)
    aget_block = _in_thread(WorkingMemory.get_block)
    aappend_block = _in_thread(WorkingMemory.append_block)
    areplace_in_block = _in_thread(WorkingMemory.replace_in_block)
    ablocks = _in_thread(WorkingMemory.blocks)
    ablock_history = _in_thread(WorkingMemory.block_history)
    ainspect = _in_thread(inspect)
    areindex = _in_thread(reindex)
    acompact = _in_thread(compact)
    aflush = _in_thread(flush)
    aclose = _in_thread(close)


def _checked_filters(
    user_id: object, session_id: object, kinds: object, where: object, agent_id: object = None
) -> Filters:
    """The scope and filters of a read, each argument checked (errors name the argument)."""
    return Filters(
        user_id=check.check_id(user_id, "user_id"),
        session_id=check.check_optional_id(session_id, "session_id"),
        kinds=check.check_kinds(kinds),
        agent_id=check.check_optional_id(agent_id, "agent_id"),
        where=check_where(dict(where) if isinstance(where, Mapping) else where),
    )
