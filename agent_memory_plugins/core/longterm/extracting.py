"""Extraction off the write path: the background worker reads each session's new messages in
batches, asks the extractor for durable memories and stores them through ``remember``.

Crash safety rests on the record store's extraction state (``RecordStore.extraction_state``), a
compare-and-swap cursor per session. After a model call, one write moves the cursor past the
batch *and* keeps the model's answer as pending work; the answer's memories are then stored one
by one, each write followed by a write of how many are done, and each memory carries a marker
(``metadata["extraction"]``) that a retry looks for first. So a crash before the first write
repeats the model call (nothing was stored), and a crash later resumes the stored answer: no
batch is lost or extracted twice. (A memory that only repeated one already stored leaves no marker:
if the crash falls between storing it and writing the count, its repeat is counted twice.)

A memory is stored only while one of the messages it came from is still stored (checked under the
core's index lock, which ``forget`` holds), so forgetting a session or a user while its batch is
with the model leaves nothing behind.

A failing model is retried with exponential backoff per session and reported in ``stats()``;
the calls per minute are capped by the ``extract_calls_per_minute`` setting.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from ...errors import InvalidInputError
from ..storage.interface import ExtractionState, Filters
from .extraction import sources_of

if TYPE_CHECKING:
    from ..memory import MemoryCore
    from .extractor import Extractor

__all__ = ["Extraction"]

log = logging.getLogger("agent_memory_plugins")

SESSIONS_PER_PASS = 50
"""Sessions one pass of the worker looks at."""
FIRST_RETRY = 1.0
"""Seconds before a failed batch is tried again (doubling with each failure in a row)."""
LAST_RETRY = 300.0
"""Longest wait between tries of a failing batch."""
SCAN_INTERVAL = 10.0
"""Seconds between looks for waiting sessions when this core wrote nothing (for idle batches,
retries and other processes' writes); a write of this core makes the next drain look."""


class Extraction:
    """Runs the extractor over the sessions of a core (see the module's docstring)."""

    def __init__(self, core: MemoryCore, extractor: Extractor) -> None:
        self.core = core
        self.extractor = extractor
        self._lock = threading.Lock()
        self._calls: collections.deque[float] = collections.deque()
        self._failures: dict[tuple[str, str], int] = {}
        self._retry_at: dict[tuple[str, str], float] = {}
        self.counts = {"calls": 0, "memories": 0, "errors": 0}
        self.last_error: str | None = None
        self._touched = True
        self._next_scan = 0.0

    def touched(self) -> None:
        """The core wrote records: the next pass looks for waiting sessions."""
        self._touched = True

    def stats(self) -> dict[str, Any]:
        """Model calls, memories stored and errors since the core opened; the last error; how many
        sessions wait to retry after an error."""
        return {**self.counts, "last_error": self.last_error, "retrying": len(self._retry_at)}

    def run(self, force: bool) -> None:
        """One pass over the sessions with new messages. ``force`` (from ``flush``) also takes a
        batch smaller than ``extract_batch`` and waits for a pass already running."""
        if not (force or self._touched or time.monotonic() >= self._next_scan):
            return
        if not self._lock.acquire(blocking=force):
            return
        self._touched = False
        self._next_scan = time.monotonic() + min(SCAN_INTERVAL, self.core.settings.extract_idle)
        try:
            for user, session in self.core.store.sessions_to_extract(SESSIONS_PER_PASS):
                if self.core._closed or not self._extract_session(user, session, force):
                    return
        finally:
            self._lock.release()

    def _extract_session(self, user: str, session: str, force: bool) -> bool:
        """Extract the session's waiting batches; ``False`` when the call budget is spent."""
        store, settings = self.core.store, self.core.settings
        if time.monotonic() < self._retry_at.get((user, session), 0.0):
            return True
        while True:
            state = store.extraction_state(user, session)
            if state.pending is not None:
                self._store_answer(user, session, state)
                continue
            rows = store.messages_after(user, session, state.cursor, settings.extract_batch)
            full = len(rows) >= settings.extract_batch
            idle = bool(rows) and time.time() - rows[-1].record.created_at.timestamp() >= settings.extract_idle
            if not rows or not (full or force or idle):
                return True
            if not self._may_call():
                return False
            messages = [row.record for row in rows]
            try:
                found = self.extractor.extract(messages)
            except Exception as error:  # a failing model never reaches the writer
                self._failed((user, session), error)
                return True
            self._failures.pop((user, session), None)
            self._retry_at.pop((user, session), None)
            items = [[item.kind, item.text, item.key, sources_of(item, messages)] for item in found]
            answer = json.dumps({"upto": rows[-1].seq, "items": items, "done": 0}) if items else None
            taken = ExtractionState(rows[-1].seq, answer)
            if not store.save_extraction(user, session, state, taken):
                return True  # another process took this batch
            if answer is not None:
                self._store_answer(user, session, taken)
            if not full:
                return True

    def _store_answer(self, user: str, session: str, state: ExtractionState) -> None:
        """Store the pending answer's memories not stored yet, counting each one done."""
        answer = json.loads(state.pending or "{}")
        items = answer.get("items", [])
        for index in range(int(answer.get("done", 0)), len(items)):
            marker = f"{answer['upto']}:{index}"
            with self.core._index_lock:  # a forget of its messages meanwhile wins: nothing is stored
                kind, text, key, sources = items[index]
                stored = self.core.store.existing(sources)
                kept = [i for i in sources if i in stored]
                if kept and not self.core.store.ids_matching(Filters(user, where={"extraction": marker}), 1):
                    self._store_item(user, session, [kind, text, key, kept], marker)
            answer["done"] = index + 1
            following = ExtractionState(state.cursor, json.dumps(answer) if index + 1 < len(items) else None)
            if not self.core.store.save_extraction(user, session, state, following):
                return
            state = following
        if not items:
            self.core.store.save_extraction(user, session, state, ExtractionState(state.cursor))

    def _store_item(self, user: str, session: str, item: list[Any], marker: str) -> None:
        kind, text, key, sources = item
        metadata = {"source": "extraction", "derived_from": sources, "extraction": marker}
        try:
            if kind == "preference":
                self.core.set_preference(key, text, user_id=user, session_id=session, metadata=metadata)
            else:
                self.core.remember(text, user_id=user, kind=kind, session_id=session, metadata=metadata)
        except InvalidInputError as error:  # e.g. a text over max_content_chars: skip that one
            log.warning("agent-memory: an extracted %s was refused: %s", kind, error)
            return
        self.counts["memories"] += 1

    def _may_call(self) -> bool:
        now = time.monotonic()
        while self._calls and now - self._calls[0] >= 60.0:
            self._calls.popleft()
        if len(self._calls) >= self.core.settings.extract_calls_per_minute:
            return False
        self._calls.append(now)
        self.counts["calls"] += 1
        return True

    def _failed(self, scope: tuple[str, str], error: Exception) -> None:
        failures = self._failures.get(scope, 0) + 1
        self._failures[scope] = failures
        self._retry_at[scope] = time.monotonic() + min(LAST_RETRY, FIRST_RETRY * 2 ** (failures - 1))
        self.counts["errors"] += 1
        self.last_error = f"{type(error).__name__}: {error}"
        log.warning("agent-memory: extraction failed for session %r (try %d): %s", scope[1], failures, error)
