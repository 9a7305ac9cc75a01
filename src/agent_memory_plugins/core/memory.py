"""MemoryCore: the one object every adapter, the CLI and the notebooks stand on."""

from __future__ import annotations

import asyncio
import atexit
import collections
import functools
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from ..errors import EmbeddingMismatchError, IndexingError, InvalidInputError, StoreClosedError
from ..inspector import SearchResults, SessionView, core_html, session_view
from ..records import KINDS, Hit, MemoryContext, MemoryRecord
from ..settings import Settings
from . import validation as check
from .associations import expand_links, rank_superseded
from .consolidator import resolve_consolidator
from .context_index import ContextIndex, Neighbourhood, context_vector
from .embeddings import CachedEmbedder, resolve_embedder
from .longterm import LongTermMemory
from .policy import fit_context, should_fold, window_start
from .query_analysis import find_time
from .ranking import RESCORED, Weights, final_score, fuse, question_factor, time_factor, with_rescored
from .salience import estimate_importance
from .store_sqlite import (
    PURGE_PENDING,
    RESET_PENDING,
    VECTOR_SCHEME,
    Filters,
    SQLiteRecordStore,
    StoredRow,
    match_expression,
)
from .summarizer import resolve_summarizer
from .tokens import resolve_token_counter
from .vectors import SCHEME, ChromaIndex
from .worker import Worker

__all__ = ["MemoryCore"]

log = logging.getLogger("agent_memory_plugins")
P = ParamSpec("P")
T = TypeVar("T")
TOKEN_WINDOW_SCAN = 1000
"""Most messages a token-only window (``window_messages=None``) looks back over."""
FOLD_PASSES = 3
"""Folding passes one drain makes (a fold that raced another process is retried)."""
SUPERSESSION_MARGIN = 10
"""Candidates read beyond ``k`` so that a superseded record moving below its successor is refilled."""
MAX_ID_FILTER = 10_000
"""Most records a ``where`` filter may select for dense search to be limited to exactly them."""
MEMORY_KINDS = tuple(kind for kind in KINDS if kind not in ("message", "summary"))
_OPEN_CORES: weakref.WeakSet[MemoryCore] = weakref.WeakSet()
_DEFAULT: Any = object()
"""Marks a keyword the caller did not pass (so ``None`` can mean "no limit")."""


@atexit.register
def _close_open_cores() -> None:
    """Close cores the program left open: stop workers cleanly and checkpoint SQLite."""
    for core in list(_OPEN_CORES):
        try:
            core.close()
        except Exception:  # best effort at interpreter exit
            log.debug("closing a MemoryCore at exit failed", exc_info=True)


def _in_thread(method: Callable[P, T]) -> Callable[P, Any]:
    """The async twin of a sync method: the same code, run in a worker thread."""

    @functools.wraps(method)
    async def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(method, *args, **kwargs)

    twin.__doc__ = f"Async twin of :meth:`{method.__name__}`."
    return twin


CONTEXT_BATCH = 256
"""Records whose context is built per step (one write transaction, one Chroma write): two steps
follow each indexing batch; a bounded step keeps writers' waits short."""


class MemoryCore(LongTermMemory):
    """Durable conversation memory: per-session windows, running summaries, long-term recall.

    Setup::

        mem = MemoryCore("./agent_memory")   # SQLite + embedded Chroma under this folder
        mem = MemoryCore()                   # nothing on disk (tests, notebooks)

    Usage::

        mem.add_message("s1", "user", "I live in Denver", user_id="alice")
        mem.flush()                          # wait for background indexing (optional)
        mem.search("where does the user live?", user_id="alice")
        mem.context("s1", "where do I live?", user_id="alice").render()

    Async: every public method has an ``a``-prefixed twin (``aadd_message``, ``asearch``, ...).
    Writes commit to SQLite before returning; embedding and summarizing happen in a background
    worker, never on the write path. Every read and delete is scoped to one user.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        window_messages: int | None = _DEFAULT,
        window_tokens: int | None = _DEFAULT,
        embedder: Any = None,
        summarizer: Any = None,
        consolidator: Any = None,
        token_counter: Any = None,
        chroma_client: Any = None,
        reindex: bool = False,
        background: bool = True,
        **settings: Any,
    ) -> None:
        overrides: dict[str, Any] = dict(settings)
        if path is not None:
            overrides["path"] = os.path.abspath(os.fspath(path))  # Chroma caches clients by path text
        if window_messages is not _DEFAULT:  # None switches the count limit off
            overrides["window_messages"] = window_messages
        if window_tokens is not _DEFAULT:
            overrides["window_tokens"] = window_tokens
        self.settings = Settings.from_env(overrides)
        folder = self.settings.path
        if folder is not None:
            os.makedirs(folder, exist_ok=True)
        self.count_tokens = resolve_token_counter(token_counter)
        self.embedder = CachedEmbedder(
            resolve_embedder(embedder, self.settings.embedding_model), self.settings.embedding_cache_size
        )
        self.summarizer = resolve_summarizer(summarizer, self.count_tokens)
        self.consolidator = resolve_consolidator(consolidator)
        self._review: collections.deque[str] = collections.deque()
        self.weights = Weights.from_settings(self.settings)
        self._ttl_by_kind = self.settings.ttl_by_kind()
        self._next_sweep = 0.0
        self.index = ChromaIndex(
            folder, self.settings.chroma_collection, self.settings.chroma_url, chroma_client
        )
        try:
            self.store = SQLiteRecordStore(
                os.path.join(folder, "memory.db") if folder else None, self.settings.durability
            )
            self.context_index = ContextIndex(self.store, self.settings.context_turns,
                                              self.settings.context_vector_weight)
        except BaseException:
            self.index.close()
            raise
        self._index_lock = threading.RLock()
        self._context_lock = threading.Lock()  # one context drain at a time (they would repeat each other)
        self._dirty: set[tuple[str, str]] = set()
        self._dirty_lock = threading.Lock()
        self._closed = False
        self._last_error: BaseException | None = None
        try:
            self.index.key = self.store.secret("vector_key").encode()
            self._check_embedder(reindex)
            self._resume()
        except BaseException:
            self.index.close()
            self.store.close()
            raise
        _OPEN_CORES.add(self)
        self._worker = Worker(self._background_drain, self.settings.index_interval) if background else None
        if self._worker is not None:
            self._worker.start()
            if self.store.outbox_size() or self.store.sessions_to_fold(1) or self.context_index.pending():
                self._worker.wake()

    # -- lifecycle ----------------------------------------------------------------------------
    def _check_embedder(self, reindex: bool) -> None:
        built_with = self.store.meta("embedder")
        if built_with is None:
            self.store.set_meta("embedder", self.embedder.name)
            return
        if built_with == self.embedder.name:
            dimension = self.store.meta("dimension")
            self.embedder.dimension = int(dimension) if dimension else None
            return
        if not reindex:
            raise EmbeddingMismatchError(
                f"this store was built with the embedder {built_with!r} but was opened with "
                f"{self.embedder.name!r}. Open it with the original embedder, or rebuild its "
                "vectors with the new one: MemoryCore(path, embedder=..., reindex=True), "
                "which calls reindex()"
            )
        self.reindex()

    def _resume(self) -> None:
        """Finish what a crash interrupted: a reindex (reset the vectors; the outbox refills them)
        and the purge after a forget (drop the vectors, compact SQLite). Also re-lays out vectors
        stored by an older version."""
        if self.store.meta(VECTOR_SCHEME) != SCHEME and self.store.count():
            self.store.begin_reindex(self.embedder.name, SCHEME)
        elif self.store.meta(VECTOR_SCHEME) != SCHEME:
            self.store.set_meta(VECTOR_SCHEME, SCHEME)
        if self.store.meta(RESET_PENDING):
            self.index.reset()
            self.store.vectors_reset()
        if self.store.meta(PURGE_PENDING):
            self._apply_deletes()
            self.store.compact(vacuum=True)

    def close(self) -> None:
        """Stop the worker and close the stores. Queued indexing resumes on the next open."""
        if self._closed:
            return
        self._closed = True
        if self._worker is not None:
            self._worker.stop()
        with self._index_lock:
            self.index.close()
            self.store.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this MemoryCore is closed; create a new one")

    def __enter__(self) -> MemoryCore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.settings.path or "in memory"
        state = "closed" if self._closed else f"{self.store.count()} records"
        return f"MemoryCore({where!r}, {state}, chroma={self.index.mode})"

    def _repr_html_(self) -> str:
        """The store in Jupyter: per-user and per-session counts, latest activity (see inspector)."""
        return core_html(self)

    def inspect(self, session_id: str, *, user_id: str = "default") -> SessionView:
        """One session as a :class:`SessionView`: window, summary and what it covers, a timeline."""
        return session_view(self, session_id, user_id=user_id)

    # -- writes -------------------------------------------------------------------------------
    def add_message(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        user_id: str = "default",
        agent_id: str | None = None,
        timestamp: Any = None,
        metadata: Mapping[str, Any] | None = None,
        importance: float | None = None,
        ttl: Any = None,
    ) -> MemoryRecord:
        """Record one message of a conversation. Durable when it returns.

        ``ttl`` (seconds, timedelta or "7d"): the message expires then (default: the ``ttl`` setting).
        """
        message = {"role": role, "content": content, "timestamp": timestamp, "metadata": metadata,
                   "importance": importance, "ttl": ttl}
        return self.add_messages(session_id, [message], user_id=user_id, agent_id=agent_id)[0]

    def add_messages(
        self,
        session_id: str,
        messages: Iterable[Mapping[str, Any]],
        *,
        user_id: str = "default",
        agent_id: str | None = None,
    ) -> list[MemoryRecord]:
        """Record many messages in one transaction (for imports): all are stored, or none.

        Each message is a dict with ``role`` and ``content`` and optional ``timestamp``,
        ``metadata``, ``importance`` and ``ttl``.
        """
        session = check.check_id(session_id, "session_id")
        user = check.check_id(user_id, "user_id")
        agent = check.check_optional_id(agent_id, "agent_id")
        if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable):
            raise InvalidInputError(f"messages must be a list of dicts, got {type(messages).__name__}")
        now = time.time()
        records = []
        for position, message in enumerate(messages):
            if not isinstance(message, Mapping):
                raise InvalidInputError(f"messages[{position}] must be a dict with role and content")
            records.append(self._new_record(
                message.get("content"), role=check.check_role(message.get("role")), kind="message",
                user=user, session=session, agent=agent, timestamp=message.get("timestamp"),
                metadata=message.get("metadata"), importance=message.get("importance"), now=now,
                ttl=message.get("ttl"),
            ))
        self._write(records)
        if records:
            with self._dirty_lock:
                self._dirty.add((user, session))
        return records

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
        self.store.insert([(record, self.count_tokens(record.text)) for record in records])
        self._wake()

    def _wake(self) -> None:
        if self._worker is not None:
            self._worker.wake()

    # -- reads --------------------------------------------------------------------------------
    def get(self, memory_id: str, *, user_id: str = "default") -> MemoryRecord:
        """One record by id, if it belongs to ``user_id``."""
        from ..errors import NotFoundError

        record_id = check.check_memory_id(memory_id)
        found = self.store.get([record_id], check.check_id(user_id, "user_id"))
        if record_id not in found:
            raise NotFoundError(f"no record {record_id} for user {user_id!r}")
        return found[record_id].record

    def window(self, session_id: str, *, user_id: str = "default") -> list[MemoryRecord]:
        """The session's recent messages that the window keeps, oldest first."""
        return [row.record for row in self._window_rows(
            check.check_id(session_id, "session_id"), check.check_id(user_id, "user_id")
        )]

    def _window_rows(self, session: str, user: str) -> list[StoredRow]:
        limit = self.settings.window_messages or TOKEN_WINDOW_SCAN
        tail = self.store.session_tail(user, session, limit)
        start = window_start(
            [row.record.role for row in tail], [row.tokens for row in tail],
            self.settings.window_messages, self.settings.window_tokens,
        )
        return tail[start:]

    def summary(self, session_id: str, *, user_id: str = "default") -> str:
        """The session's running summary ('' until something has left the window)."""
        row = self.store.summary(check.check_id(user_id, "user_id"), check.check_id(session_id, "session_id"))
        return row.record.text if row else ""

    def summary_record(self, session_id: str, *, user_id: str = "default") -> MemoryRecord | None:
        """The session's summary as a record (with ``covers``), or ``None``."""
        row = self.store.summary(check.check_id(user_id, "user_id"), check.check_id(session_id, "session_id"))
        return row.record if row else None

    def messages(self, session_id: str, *, user_id: str = "default", limit: int | None = None) -> list[MemoryRecord]:
        """Every stored message of a session, oldest first (``limit``: only the newest ones)."""
        return [row.record for row in self.store.session_tail(
            check.check_id(user_id, "user_id"), check.check_id(session_id, "session_id"),
            None if limit is None else check.check_count(limit, "limit", 0),
        )]

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
        limit = max(k, self.settings.candidates)
        dense: list[tuple[str, float]] = []
        allowed = self.store.ids_matching(filters, MAX_ID_FILTER + 1) if filters.where else None
        if allowed is not None and len(allowed) > MAX_ID_FILTER:
            allowed, limit = None, limit * 4  # too many to list: filter the nearest ones afterwards
        if self.settings.dense_weight > 0 and not self.index.is_empty() and allowed != []:
            vector = self.embedder.embed_query(text)
            dense = self.index.query(vector, self.index.where(filters), limit, allowed)
        dense_complete = len(dense) < limit  # every vector in scope came back
        match = match_expression(text)
        keyword = self._keyword_search(match, filters, limit) if match else []
        if dense:  # keyword favourites that the approximate dense search missed: score them exactly
            seen = {record_id for record_id, _ in dense}
            missed = [record_id for record_id, _ in keyword[:RESCORED] if record_id not in seen]
            dense = with_rescored(dense, self.index.similarities(vector, missed))
        parts = fuse(dense, keyword, self.weights, dense_complete)
        fields = self.store.scoring_fields(list(parts), filters)  # the record store has the last word
        span = find_time(text, lambda: self._newest(filters.user_id)) if self.weights.time > 0 else None
        now = time.time()
        explains = {}
        for record_id, (importance, said, asks) in fields.items():
            explain = {**parts[record_id], **final_score(parts[record_id]["fusion"], importance, now - said,
                                                         self.weights)}
            when = time_factor(span, said, self.weights)
            if when != 1.0:
                explain["time"], explain["score"] = when, explain["score"] * when
            question = question_factor(asks, self.weights)
            if question != 1.0:
                explain["question"], explain["score"] = question, explain["score"] * question
            explains[record_id] = explain
        best = sorted(explains, key=lambda record_id: explains[record_id]["score"], reverse=True)
        rows = self.store.get_filtered(best[: k + SUPERSESSION_MARGIN], filters)  # whole records: the best only
        hits = [Hit(rows[i].record, explains[i]["score"], explains[i]) for i in best if i in rows]

        def scoped(ids: list[str]) -> dict[str, MemoryRecord]:
            return {i: row.record for i, row in self.store.get_filtered(ids, filters).items()}

        hits = rank_superseded(hits, scoped, self.settings.superseded_weight)[:k]
        if follow_links is True:
            hits = expand_links(
                hits,
                lambda ids: self.store.links(ids, filters.user_id, None, self.settings.link_threshold),
                lambda ids: {i: row.record for i, row in self.store.get(ids, filters.user_id).items()},
            )
        elif follow_links is not False:
            raise InvalidInputError(f"follow_links must be True or False, got {follow_links!r}")
        return SearchResults(hits, query=text, user_id=filters.user_id)

    def _keyword_search(self, match: str, filters: Filters, limit: int) -> list[tuple[str, float]]:
        if self.settings.context_weight > 0:
            return self.context_index.search(match, filters, limit, self.settings.context_weight)
        return self.store.keyword_search(match, filters, limit)

    def _newest(self, user: str) -> float | None:
        """When the user's newest record was said: "last week" is read from there."""
        rows = self.store.read("SELECT MAX(ts) FROM records WHERE user_id = ?", (user,))
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def context(
        self,
        session_id: str,
        query: str | None = None,
        *,
        user_id: str = "default",
        max_tokens: int | None = None,
        k: int = 5,
    ) -> MemoryContext:
        """Summary + recalled memories not already in the window + the window, within a budget.

        ``query=None`` recalls for the latest user message of the window; ``k=0`` skips recall.
        """
        session = check.check_id(session_id, "session_id")
        user = check.check_id(user_id, "user_id")
        bad_budget = isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        if max_tokens is not None and bad_budget:
            raise InvalidInputError(f"max_tokens must be a positive integer or None, got {max_tokens!r}")
        check.check_count(k, "k", 0)
        window = self._window_rows(session, user)
        summary_row = self.store.summary(user, session)
        if query is None:
            query = next((row.record.text for row in reversed(window) if row.record.role == "user"), None)
        hits: list[Hit] = []
        if query and k > 0:
            shown = {row.record.id for row in window}
            if summary_row is not None:
                shown.add(summary_row.record.id)
            hits = [hit for hit in self.search(query, user_id=user, k=k + len(shown))
                    if hit.record.id not in shown][:k]
        summary_text = summary_row.record.text if summary_row else ""
        fit = fit_context(
            summary_row.tokens if summary_row else 0,
            [self.count_tokens(hit.record.text) for hit in hits],
            [row.tokens for row in window],
            max_tokens,
            [row.record.role for row in window],
        )
        kept_hits = [hits[i] for i in fit.hit_indexes]
        return MemoryContext(
            session_id=session, user_id=user,
            summary=summary_text if fit.include_summary else "",
            recalled=kept_hits, window=[row.record for row in window[fit.window_start:]],
            tokens=fit.tokens, max_tokens=max_tokens,
            dropped=(len(hits) - len(kept_hits)) + fit.window_start
            + (1 if summary_text and not fit.include_summary else 0),
        )

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
        """Counts of records by kind, sessions, pending indexing work and the store's setup."""
        user = check.check_optional_id(user_id, "user_id")
        self._check_open()
        return {
            "path": self.settings.path, "chroma": self.index.mode, "embedder": self.embedder.name,
            "records": self.store.count(user), "by_kind": self.store.count_by_kind(user),
            "sessions": len(self.store.sessions(user)) if user else self.store.session_count(),
            "users": len(self.store.users()) if user is None else 1,
            "pending_index": self.store.outbox_size() + self.context_index.pending(), "vectors": self.index.count(),
        }

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
        ``user_id`` (default "default"); ``user_id`` alone: everything of that user. Summaries that
        covered a removed message are rebuilt from the messages that remain. Returns how many
        records were removed.
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
                targets = self.store.ids_of(user or "default", session) if session else self.store.ids_of(user, None)
            return self._forget_ids(targets, vacuum=memory_id is None)

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
            self.embedder.forget_texts(texts + [row.record.text for row in stale])
            self._apply_deletes()
            self.store.compact(vacuum=vacuum)
            with self._dirty_lock:
                self._dirty.update((row.record.user_id, row.record.session_id or "") for row in stale)
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
    ) -> list[MemoryRecord]:
        """A user's records, filtered by kind, session and metadata ``where``, in time order."""
        count = None if limit is None else check.check_count(limit, "limit", 1)
        filters = _checked_filters(user_id, session_id, kinds, where)
        order = "ts DESC, seq DESC" if newest_first else "ts, seq"
        return [row.record for row in self.store.select(filters, order=order, limit=count)]

    def reindex(self) -> int:
        """Rebuild the vector index from SQLite with the current embedder; returns records queued.

        Crash-safe: the records are queued and the reset is recorded before the index is emptied,
        so a reindex cut short resumes on the next open.
        """
        with self._index_lock:
            queued = self.store.begin_reindex(self.embedder.name, SCHEME)
            self.index.reset()
            self.store.vectors_reset()
            self.embedder.dimension = None
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
            self._index_pending(self.store.outbox_last())
            self._drain_context()
            self._review_pending()
            if not self._fold_due(force):
                break
        self._index_pending(self.store.outbox_last())
        self._drain_context()
        self._last_error = None

    def _index_pending(self, upto: int) -> None:
        """Index queued changes up to outbox position ``upto``, one batch per hold of the lock
        (so ``forget``, ``reindex`` and ``close`` never wait for more than one batch)."""
        batch_size = self.settings.index_batch_size
        while not self._closed:
            with self._index_lock:
                items = self.store.outbox(batch_size, upto=upto)
                if not items:
                    return
                deletes = [item.record_id for item in items if item.op == "delete"]
                upserts = [item.record_id for item in items if item.op == "upsert"]
                if deletes:
                    self.index.delete(deletes)
                if upserts:
                    rows = self.store.get(upserts, None)
                    records = [rows[i].record for i in dict.fromkeys(upserts) if i in rows]
                    vectors = self.embedder.embed([record.text for record in records])
                    self._remember_dimension()
                    # a message's vector is written in its context, right after this batch (its
                    # embedding waits in the cache); writing its own first would cost a second write
                    others = [(r, v) for r, v in zip(records, vectors, strict=True) if r.kind != "message"]
                    self._upsert_vectors([r for r, _ in others], [v for _, v in others])
                    self.context_index.queue([record.id for record in records])
                self.store.ack([item.seq for item in items])
            time.sleep(0)  # let a waiting forget / reindex / close take the lock between batches
            self._drain_context(max_batches=2)  # newest first: this batch, its embeddings still cached

    def _drain_context(self, max_batches: int | None = None) -> None:
        """Neighbour context for queued messages: keyword rows, and vectors in context (one thread
        at a time: two would read the same queued batch and do its work twice)."""
        with self._context_lock:
            self.context_index.drain(CONTEXT_BATCH, on_batch=self._index_in_context, max_batches=max_batches)

    def _index_in_context(self, batch: list[Neighbourhood]) -> bool:
        """Replace each message's vector by its vector in context (see :func:`context_vector`;
        with ``context_vector_weight=0``, its own). The neighbourhoods are read again under the
        index lock, so a text forgotten meanwhile is neither embedded nor cached again; the
        embeddings come from the cache the indexing just filled (or the model, off the write path).
        False (nothing written, the batch stays queued) once the store is closing."""
        weight = self.settings.context_vector_weight
        with self._index_lock:
            if self._closed:
                return False
            current = self.context_index.neighbourhoods([n.record_id for n in batch])
            texts = list(dict.fromkeys(t for n in current for t in (n.text, *n.before, *n.after)))
            embedded = dict(zip(texts, self.embedder.embed(texts), strict=True)) if texts else {}
            rows = self.store.get([n.record_id for n in current], None)
            present = [n for n in current if n.record_id in rows]
            self._upsert_vectors(
                [rows[n.record_id].record for n in present],
                [context_vector(embedded[n.text], [embedded[t] for t in n.before], [embedded[t] for t in n.after],
                                weight) for n in present],
            )
        return True

    def _upsert_vectors(self, records: Sequence[MemoryRecord], vectors: Sequence[Any]) -> None:
        """Write the vectors of ``records``, then drop those of records another process forgot
        meanwhile (its Chroma delete could have run before our upsert). Under the index lock."""
        self.index.upsert(records, vectors)
        kept = self.store.existing([record.id for record in records])
        gone = [record.id for record in records if record.id not in kept]
        if gone:
            self.index.delete(gone)

    def _apply_deletes(self) -> None:
        items = self.store.outbox(1_000_000, op="delete")
        if items:
            self.index.delete([item.record_id for item in items])
            self.store.ack([item.seq for item in items])

    def _remember_dimension(self) -> None:
        dimension = self.embedder.dimension
        if dimension is None:
            return
        stored = self.store.meta("dimension")
        if not stored:
            self.store.set_meta("dimension", str(dimension))
        elif int(stored) != dimension:
            raise EmbeddingMismatchError(
                f"the embedder returns {dimension}-dimensional vectors but this store holds "
                f"{stored}-dimensional ones; call reindex() to rebuild with the new embedder"
            )

    def _fold_due(self, force: bool) -> bool:
        """Fold the summaries that are due; True when something was folded."""
        with self._dirty_lock:
            sessions = set(self._dirty)
            self._dirty.clear()
        if force:
            floor = (self.settings.window_messages or 0) + 1
            sessions.update(self.store.sessions_to_fold(floor))
        folded = False
        for user, session in sorted(sessions):
            with self._index_lock:  # one session at a time, so a forget waits for one fold at most
                if self._closed:
                    break
                folded |= self._fold(user, session, force)
        return folded

    def _fold(self, user: str, session: str, force: bool) -> bool:
        # Unfolded messages first, the window second: a message written in between only moves the
        # window on, so nothing still in the window can be folded (the other order could fold the
        # newest messages when they arrived between the two reads).
        unfolded = self.store.unsummarized(user, session)
        in_window = {row.record.id for row in self._window_rows(session, user)}
        pending = [row for row in unfolded if row.record.id not in in_window]
        if not should_fold(len(pending), self.settings.fold_batch, force):
            if pending:
                with self._dirty_lock:
                    self._dirty.add((user, session))
            return False
        previous = self.store.summary(user, session)
        messages = [row.record for row in pending]
        text = self.summarizer.summarize(
            previous.record.text if previous else "", messages, self.settings.summary_tokens
        ).strip()
        covers = (previous.record.covers if previous else ()) + tuple(m.id for m in messages)
        if not text:
            text = previous.record.text if previous else ""
        if not text:
            self.store.mark_summarized([m.id for m in messages])
            return False
        now = time.time()
        summary = MemoryRecord(
            id=uuid.uuid4().hex, text=text, role="system", kind="summary", user_id=user,
            session_id=session, timestamp=messages[-1].timestamp, created_at=check.from_epoch(now),
            importance=0.7, metadata={"messages": len(covers)}, covers=covers,
        )
        if not self.store.replace_summary(
            previous.record.id if previous else None, (summary, self.count_tokens(text)),
            [m.id for m in messages],
        ):  # another process folded this session meanwhile: fold again from what is stored now
            with self._dirty_lock:
                self._dirty.add((user, session))
        return True

    # -- async twins --------------------------------------------------------------------------
    aadd_message = _in_thread(add_message)
    aadd_messages = _in_thread(add_messages)
    aremember = _in_thread(LongTermMemory.remember)
    aremember_fact = _in_thread(LongTermMemory.remember_fact)
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
    awindow = _in_thread(window)
    asummary = _in_thread(summary)
    asummary_record = _in_thread(summary_record)
    amessages = _in_thread(messages)
    asearch = _in_thread(search)
    acontext = _in_thread(context)
    asessions = _in_thread(sessions)
    aexport = _in_thread(export)
    astats = _in_thread(stats)
    aforget = _in_thread(forget)
    ainspect = _in_thread(inspect)
    areindex = _in_thread(reindex)
    aflush = _in_thread(flush)
    aclose = _in_thread(close)


def _checked_filters(
    user_id: object, session_id: object, kinds: object, where: object, agent_id: object = None
) -> Filters:
    """The scope and filters of a read, each argument checked (errors name the argument)."""
    from .filters import check_where

    return Filters(
        user_id=check.check_id(user_id, "user_id"),
        session_id=check.check_optional_id(session_id, "session_id"),
        kinds=check.check_kinds(kinds),
        agent_id=check.check_optional_id(agent_id, "agent_id"),
        where=check_where(dict(where) if isinstance(where, Mapping) else where),
    )
