"""Long-term memory beyond the conversation: typed memories, consolidation, links, expiry.

A mixin of :class:`~agent_memory_plugins.core.memory.MemoryCore`; it holds the behaviour of
facts, events, preferences and skills, the associations between records and the cleanup of
expired or unimportant ones. Everything is written through the core's record store and removed
through the same path as ``forget``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import InvalidInputError, NotFoundError, VectorIndexUnavailableError
from ...records import CleanupReport, HistoryEvent, Hit, Link, MemoryRecord
from .. import validation as check
from ..indexes.embeddings import cosine
from ..recall.keywords import query_terms
from ..storage.interface import Filters, RecordStore
from .consolidation import Decision, decide, subject_of

if TYPE_CHECKING:
    from collections import deque

    from ...settings import Settings
    from ..indexes.embeddings import CachedEmbedder
    from ..indexes.vectors import ChromaIndex
    from .consolidator import Consolidator

__all__ = ["LongTermMemory"]

log = logging.getLogger("agent_memory_plugins")

CONSOLIDATION_NEIGHBOURS = 20
"""Stored memories (keyword and dense neighbours each) a new fact is compared with."""
CONSOLIDATED_KINDS = ("fact", "preference", "skill")
"""Kinds whose repeats refresh the stored record and whose updates supersede it."""
CLEANUP_KINDS = ("message", "fact", "event", "preference", "skill")
"""Kinds ``cleanup`` considers by default (summaries are rebuilt from their messages)."""


class LongTermMemory:
    """Facts, events, preferences and skills; consolidation, links, history, expiry, cleanup."""

    settings: Settings
    store: RecordStore
    embedder: CachedEmbedder
    index: ChromaIndex
    count_tokens: Any
    consolidator: Consolidator | None
    _index_lock: threading.RLock
    _review: deque[str]
    _paraphrases: deque[str]
    _review_lock: threading.Lock

    # provided by MemoryCore
    _new_record: Callable[..., MemoryRecord]
    _write: Callable[[Sequence[MemoryRecord]], None]
    _forget_ids: Callable[..., int]
    _check_open: Callable[[], None]
    _wake: Callable[[], None]
    search: Callable[..., list[Hit]]

    # -- writing memories ----------------------------------------------------------------------
    def remember(
        self,
        text: str,
        *,
        user_id: str = "default",
        kind: str = "fact",
        key: str | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        timestamp: Any = None,
        metadata: Mapping[str, Any] | None = None,
        importance: float | None = None,
        ttl: Any = None,
        consolidate: bool | None = None,
    ) -> MemoryRecord:
        """Store a long-term memory (a fact by default) for a user. Durable when it returns.

        ``kind``: fact, event, preference or skill. ``key``: the subject it is about (a preference's
        key, a skill's name; for facts it is found from the text when not given). ``ttl``: seconds,
        a timedelta or text like ``"7d"`` after which it expires (default: the ``ttl`` setting).

        Facts, preferences and skills are consolidated: a repeat refreshes the stored record
        (``times_seen``, ``last_seen``) and is returned instead of a copy; a different statement
        about the same key is stored and marks the older one ``superseded_by`` it.
        ``consolidate=False`` stores this one as given (``None``: the ``consolidate`` setting).
        """
        if consolidate not in (None, True, False):
            raise InvalidInputError(f"consolidate must be True, False or None, got {consolidate!r}")
        kind = check.check_kind(kind, ("fact", "event", "preference", "skill"))
        content = check.check_content(text, self.settings.max_content_chars)
        label = None if key is None else check.check_text_field(key, "key").lower()
        if label is None and kind == "fact":
            label = subject_of(content)
        record = self._new_record(
            content, role="system", kind=kind, user=check.check_id(user_id, "user_id"),
            session=check.check_optional_id(session_id, "session_id"),
            agent=check.check_optional_id(agent_id, "agent_id"), timestamp=timestamp,
            metadata=metadata, importance=importance, now=time.time(), ttl=ttl, key=label,
        )
        wanted = self.settings.consolidate if consolidate is None else consolidate
        if not wanted or kind not in CONSOLIDATED_KINDS:
            self._write([record])
            return record
        return self._consolidate(record)

    def _consolidate(self, record: MemoryRecord) -> MemoryRecord:
        # The write path never waits for a model: while the embedding model is still to be loaded,
        # only exact repeats are found here; the background worker decides the rest (paraphrased
        # repeat, update of the same subject) once it has the model (_review_pending).
        deferred = not self.embedder.ready()
        candidates = self._similar_memories(record, with_vectors=not deferred)
        decision = decide(record.text, record.key, candidates, self.settings.consolidation_threshold)
        if deferred and decision.action != "duplicate":
            decision = Decision("new")
        if decision.action == "duplicate" and decision.target is not None:
            self.store.record_repeat(
                decision.target, record.created_at.timestamp(), record.text, record.importance
            )
            return self.store.get([decision.target], None)[decision.target].record
        if decision.action == "supersede":
            self.store.add_superseding((record, self.count_tokens(record.text)), decision.superseded)
        else:
            self.store.add_records([(record, self.count_tokens(record.text))])
        if deferred:
            self._paraphrases.append(record.id)
        if self.consolidator is not None:
            self._review.append(record.id)  # a second opinion, in the background worker
        self._wake()
        return record

    def _review_pending(self) -> None:
        """Fold the paraphrased repeats that the write path could not check without the model, then
        apply the plugged-in consolidator's verdicts on memories written since the last drain.

        One caller at a time: a flush that finds the queues empty while the background worker is
        still applying a verdict it took from them waits for that verdict, so it returns only once
        every memory written before it has been reviewed."""
        with self._review_lock:
            self._review_queued()

    def _review_queued(self) -> None:
        while self._paraphrases:
            record_id = self._paraphrases.popleft()
            with self._index_lock:
                record = self._active(record_id)
                if record is None:
                    continue
                older = [(other, score) for other, score in self._similar_memories(record)
                         if other.id != record.id and other.created_at <= record.created_at]
                decision = decide(record.text, record.key, older, self.settings.consolidation_threshold)
                self._apply(record, decision, {other.id for other, _ in older})
        while self._review and self.consolidator is not None:
            record_id = self._review.popleft()
            with self._index_lock:
                record = self._active(record_id)
                if record is None:
                    continue
                similar = [other for other, _ in self._similar_memories(record) if other.id != record.id]
            if not similar:
                continue
            try:
                verdict = self.consolidator.consolidate(record, similar)  # a model: outside the lock
            except Exception as error:  # a failing model changes nothing
                log.warning("consolidator failed on %s: %s", record.id, error)
                continue
            with self._index_lock:
                self._apply(record, verdict, {other.id for other in similar})

    def _active(self, record_id: str) -> MemoryRecord | None:
        """The record if it is still stored and not superseded (under the index lock)."""
        found = self.store.get([record_id], None)
        if record_id not in found or found[record_id].record.superseded_by is not None:
            return None
        return found[record_id].record

    def _apply(self, record: MemoryRecord, verdict: Decision, allowed: set[str]) -> None:
        if verdict.action == "duplicate" and verdict.target in allowed:
            self.store.record_repeat(verdict.target, record.created_at.timestamp(), record.text, record.importance)
            self._forget_ids([record.id])
        elif verdict.action == "supersede":
            older = [old for old in verdict.superseded if old in allowed]
            if older:
                self.store.mark_superseded(record.id, record.user_id, older, record.created_at.timestamp())

    def _similar_memories(
        self, record: MemoryRecord, with_vectors: bool = True
    ) -> list[tuple[MemoryRecord, float | None]]:
        """Active stored memories of the same user and kind that may say the same thing, with their
        embedding similarity (``with_vectors=False``: by subject and words only, similarity ``None``)."""
        filters = Filters(record.user_id, kinds=(record.kind,))
        ids: dict[str, None] = {}
        if record.key is not None:
            same_key = self.store.active_by_key(record.user_id, record.kind, record.key)
            ids.update((row.record.id, None) for row in same_key)
        similar_words = self.store.keyword_candidates(query_terms(record.text), filters, CONSOLIDATION_NEIGHBOURS)
        ids.update((i, None) for i, _ in similar_words)
        if not with_vectors:
            rows = self.store.get_matching(list(ids), filters)
            return [(row.record, None) for row in rows.values() if row.record.superseded_by is None]
        vector = self.embedder.embed([record.text])[0]
        with contextlib.suppress(VectorIndexUnavailableError):  # Chroma down: the words and the key decide
            if not self.index.is_empty(filters.user_id):
                nearest = self.index.query(vector, filters, CONSOLIDATION_NEIGHBOURS)
                ids.update((i, None) for i, _ in nearest)
        rows = self.store.get_matching(list(ids), filters)
        active = [row.record for row in rows.values() if row.record.superseded_by is None]
        vectors = self.embedder.embed([other.text for other in active]) if active else []
        return [(other, cosine(vector, other_vector)) for other, other_vector in zip(active, vectors, strict=True)]

    def update(self, memory_id: str, text: str, *, user_id: str = "default") -> MemoryRecord:
        """Store ``text`` as the new version of a long-term memory of ``user_id``: a new record of
        the same kind, key, session and metadata that supersedes the old one (the history of both
        says so). Raises ``NotFoundError`` for another user's record, ``InvalidInputError`` for a
        message or summary (their text is the conversation's)."""
        old = self._owned(memory_id, user_id)
        if old.kind not in ("fact", "event", "preference", "skill"):
            raise InvalidInputError(f"record {old.id} is a {old.kind}; only long-term memories can be updated")
        if old.superseded_by is not None:
            raise InvalidInputError(f"record {old.id} was already replaced by {old.superseded_by}; update that one")
        new = self._new_record(
            text, role=old.role, kind=old.kind, user=old.user_id, session=old.session_id, agent=old.agent_id,
            timestamp=None, metadata=old.metadata, importance=None, now=time.time(), key=old.key,
        )
        self.store.add_superseding((new, self.count_tokens(new.text)), [old.id])
        self._wake()
        return new

    def remember_fact(
        self, text: str, *, user_id: str = "default", subject: str | None = None, **fields: Any
    ) -> MemoryRecord:
        """A semantic memory ("Alice is allergic to nuts"). ``subject`` names what it is about, so a
        later fact with the same subject supersedes it (found from the text when not given)."""
        return self.remember(text, user_id=user_id, kind="fact", key=subject, **fields)

    def remember_event(
        self,
        text: str,
        *,
        user_id: str = "default",
        when: Any = None,
        outcome: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> MemoryRecord:
        """An episodic memory: what happened, ``when`` (its timestamp; default now) and its ``outcome``."""
        extra = dict(check.check_metadata(metadata, self.settings.max_metadata_bytes))
        if outcome is not None:
            extra["outcome"] = check.check_content(outcome, self.settings.max_content_chars, "outcome")
        full = text if outcome is None else f"{text} (outcome: {outcome})"
        return self.remember(full, user_id=user_id, kind="event", timestamp=when, metadata=extra, **fields)

    # -- preferences -----------------------------------------------------------------------------
    def set_preference(
        self, key: str, value: str | int | float | bool, *, user_id: str = "default", **fields: Any
    ) -> MemoryRecord:
        """A user's preference under ``key`` ("language" = "French"). Setting a new value supersedes
        the old one; setting the same value again refreshes it."""
        label = check.check_text_field(key, "key")
        if isinstance(value, float) and value != value:
            raise InvalidInputError("a preference value must not be NaN")
        if not isinstance(value, (str, int, float, bool)) or (isinstance(value, str) and not value.strip()):
            raise InvalidInputError(f"a preference value must be non-empty text, a number or a bool, got {value!r}")
        metadata = {**dict(fields.pop("metadata", None) or {}), "value": value}
        return self.remember(
            f"{label}: {value}", user_id=user_id, kind="preference", key=label, metadata=metadata, **fields
        )

    def get_preference(self, key: str, default: Any = None, *, user_id: str = "default") -> Any:
        """The current value of a user's preference, or ``default``."""
        rows = self.store.active_by_key(
            check.check_id(user_id, "user_id"), "preference", check.check_text_field(key, "key").lower()
        )
        return rows[0].record.metadata.get("value", default) if rows else default

    def preferences(self, *, user_id: str = "default") -> dict[str, Any]:
        """Every current preference of a user as ``{key: value}``."""
        rows = self.store.select(Filters(check.check_id(user_id, "user_id"), kinds=("preference",)))
        return {
            row.record.key: row.record.metadata.get("value")
            for row in rows if row.record.superseded_by is None and row.record.key
        }

    # -- skills ------------------------------------------------------------------------------------
    def add_skill(
        self,
        name: str,
        pattern: str,
        *,
        triggers: Sequence[str] = (),
        user_id: str = "default",
        metadata: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> MemoryRecord:
        """A procedural memory: how to do ``name`` (``pattern``: the steps), found again when a query
        contains one of its ``triggers`` or means something close. Re-adding a skill under the same
        name with other steps supersedes the old version."""
        label = check.check_text_field(name, "name")
        if not isinstance(triggers, (list, tuple)) or not all(isinstance(t, str) and t.strip() for t in triggers):
            raise InvalidInputError(f"triggers must be a list of non-empty phrases, got {triggers!r}")
        extra = {**dict(check.check_metadata(metadata, self.settings.max_metadata_bytes)),
                 "triggers": [t.strip() for t in triggers], "successes": 0, "failures": 0}
        text = f"{label}: {pattern}"
        if triggers:
            text += f" (when: {'; '.join(extra['triggers'])})"
        return self.remember(text, user_id=user_id, kind="skill", key=label, metadata=extra, **fields)

    def find_skills(self, query: str, *, user_id: str = "default", k: int = 3) -> list[Hit]:
        """Skills whose trigger phrase occurs in ``query`` first (``explain["trigger"]``), then
        skills close in meaning."""
        user = check.check_id(user_id, "user_id")
        text = check.check_content(query, self.settings.max_content_chars, "query")
        k = check.check_count(k, "k", 1)
        lowered = f" {_words(text)} "
        triggered: list[Hit] = []
        for row in self.store.select(Filters(user, kinds=("skill",))):
            if row.record.superseded_by is not None:
                continue
            for trigger in row.record.metadata.get("triggers", []):
                if f" {_words(trigger)} " in lowered:
                    triggered.append(Hit(row.record, 1.0, {"trigger": trigger, "score": 1.0}))
                    break
        seen = {hit.record.id for hit in triggered}
        rest = [hit for hit in self.search(text, user_id=user, k=k + len(seen), kinds=["skill"])
                if hit.record.id not in seen and hit.record.superseded_by is None]
        return (triggered + rest)[:k]

    def record_skill_outcome(self, skill_id: str, *, success: bool, user_id: str = "default") -> MemoryRecord:
        """Count one more success or failure of a skill; returns the updated record."""
        if not isinstance(success, bool):
            raise InvalidInputError(f"success must be True or False, got {success!r}")
        record = self._owned(skill_id, user_id)
        if record.kind != "skill":
            raise InvalidInputError(f"record {record.id} is a {record.kind}, not a skill")
        metadata = dict(record.metadata)
        field = "successes" if success else "failures"
        metadata[field] = int(metadata.get(field, 0)) + 1
        self.store.update_metadata(record.id, metadata)
        self._wake()
        return self._owned(record.id, user_id)

    # -- associations -------------------------------------------------------------------------------
    def link(
        self, a: str, b: str, relation: str = "related", strength: float = 1.0, *, user_id: str = "default"
    ) -> None:
        """Associate two records of the same user (``a`` -> ``b``; ``related`` sees both ways).

        Linking again with the same relation replaces the strength. Links go when either record goes.
        """
        first, second = self._owned(a, user_id), self._owned(b, user_id)
        if first.id == second.id:
            raise InvalidInputError("a record cannot be linked to itself")
        label = check.check_text_field(relation, "relation", 64)
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
            raise InvalidInputError(f"strength must be a number in [0, 1], got {strength!r}")
        self.store.add_link(first.user_id, first.id, second.id, label, float(strength), time.time())

    def related(
        self, memory_id: str, *, relation: str | None = None, user_id: str = "default", min_strength: float = 0.0
    ) -> list[Link]:
        """The records linked to ``memory_id`` (either direction), strongest first."""
        record = self._owned(memory_id, user_id)
        label = None if relation is None else check.check_text_field(relation, "relation", 64)
        links = self.store.links([record.id], record.user_id, label, min_strength)
        others = self.store.get([b if a == record.id else a for a, b, _, _ in links], record.user_id)
        found = []
        for src, dst, rel, strength in links:
            other = dst if src == record.id else src
            if other in others:
                found.append(Link(others[other].record, rel, strength, "out" if src == record.id else "in"))
        return found

    def history(self, memory_id: str, *, user_id: str = "default") -> list[HistoryEvent]:
        """What happened to a memory since it was written: repeats and supersessions, oldest first."""
        record = self._owned(memory_id, user_id)
        return [HistoryEvent(check.from_epoch(at), event, text, other)
                for at, event, text, other in self.store.history(record.id)]

    def _owned(self, memory_id: str, user_id: str) -> MemoryRecord:
        record_id = check.check_memory_id(memory_id)
        found = self.store.get([record_id], check.check_id(user_id, "user_id"))
        if record_id not in found:
            raise NotFoundError(f"no record {record_id} for user {user_id!r}")
        return found[record_id].record

    # -- expiry and cleanup ---------------------------------------------------------------------------
    def cleanup(
        self,
        *,
        user_id: str | None = None,
        older_than: Any = None,
        min_importance: float | None = None,
        kinds: Sequence[str] | str | None = None,
        dry_run: bool = True,
    ) -> CleanupReport:
        """Remove expired records, and records that are old and unimportant, through ``forget``.

        Always includes records whose time-to-live ran out. With ``older_than`` (seconds, timedelta
        or "30d") and/or ``min_importance``, also the records of ``kinds`` (default: every kind but
        summaries) written before then and/or less important than that. ``user_id=None`` covers
        every user. ``dry_run=True`` (the default) only reports what would go.
        """
        if not isinstance(dry_run, bool):
            raise InvalidInputError(f"dry_run must be True or False, got {dry_run!r}")
        self._check_open()
        user = check.check_optional_id(user_id, "user_id")
        age = check.check_duration(older_than, "older_than")
        floor = check.check_importance(min_importance)
        chosen = check.check_kinds(kinds) or CLEANUP_KINDS
        now = time.time()
        expired = self.store.expired_ids(now, user)
        targets, already = list(expired), set(expired)
        if age is not None or floor is not None:
            before = now - age if age is not None else None
            targets.extend(i for i in self.store.cleanup_ids(user, before, floor, chosen) if i not in already)
        rows = self.store.get(targets, None)
        by_kind: dict[str, int] = {}
        for row in rows.values():
            by_kind[row.record.kind] = by_kind.get(row.record.kind, 0) + 1
        report = CleanupReport(dry_run=dry_run, ids=[i for i in targets if i in rows], by_kind=by_kind,
                               expired=len(expired))
        if not dry_run and report.ids:
            self._forget_ids(report.ids, vacuum=True)
        return report


_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def _words(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()
