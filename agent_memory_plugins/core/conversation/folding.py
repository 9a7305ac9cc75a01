"""The conversation of each session: the window of recent messages, and folding what leaves it
into the session's running summary.

What the window keeps is decided by :func:`.policy.window_start` over the session's newest
messages; folding runs in the background worker (never on the write path): the messages that
left the window and are not summarized yet are handed to the summarizer with the previous
summary, and the new summary replaces the old one by compare-and-swap in the record store (a
fold that raced another process is simply done again from fresh data).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from ...records import MemoryRecord
from ...settings import Settings
from ..storage.interface import RecordStore, StoredRow
from ..validation import from_epoch
from .policy import should_fold, window_start
from .summarizer import Summarizer

TOKEN_WINDOW_SCAN = 1000
"""Most messages a token-only window (``window_messages=None``) looks back over."""
UNFOLDED_SCAN = 200
"""Most messages that left the window and are not folded yet that :meth:`Conversations.shown_rows`
shows (more only wait during a bulk import; the oldest of them reach the summary first)."""


class Conversations:
    """Windows and summaries of every session of one record store."""

    def __init__(
        self,
        store: RecordStore,
        summarizer: Summarizer,
        count_tokens: Callable[[str], int],
        settings: Settings,
        lock: threading.RLock,
        is_closed: Callable[[], bool],
    ) -> None:
        self.store = store
        self.summarizer = summarizer
        self.count_tokens = count_tokens
        self.settings = settings
        self._lock = lock  # the index lock: a forget waits for one fold at most
        self._is_closed = is_closed
        self._dirty: set[tuple[str, str]] = set()
        self._dirty_lock = threading.Lock()

    def window_rows(self, session: str, user: str) -> list[StoredRow]:
        """The session's messages that the window keeps, oldest first."""
        tail = self.store.session_tail(user, session, self.settings.window_messages or TOKEN_WINDOW_SCAN)
        return tail[self._window_start(tail):]

    def shown_rows(self, session: str, user: str) -> list[StoredRow]:
        """What a model must see beside the summary, oldest first: the window, preceded by the
        messages that left it but are not folded into the summary yet (so no message is ever in
        neither; they leave as soon as the worker folds them)."""
        scan = self.settings.window_messages or TOKEN_WINDOW_SCAN
        tail = self.store.session_tail(user, session, scan + 1)  # the window and the message before it
        start = self._window_start(tail)
        if len(tail) > scan and (start == 0 or not tail[start - 1].summarized):
            # messages wait to be folded (a bulk import): read those before the window too. Usually
            # the message before the window is folded and the window alone is read (not 200 more)
            tail = self.store.session_tail(user, session, scan + UNFOLDED_SCAN)
            start = self._window_start(tail)
        while start > 0 and not tail[start - 1].summarized:
            start -= 1
        return tail[start:]

    def _window_start(self, tail: list[StoredRow]) -> int:
        return window_start(
            [row.record.role for row in tail], [row.tokens for row in tail],
            self.settings.window_messages, self.settings.window_tokens, self.settings.window_start_on,
        )

    def touched(self, sessions: set[tuple[str, str]]) -> None:
        """Sessions that gained (or lost) messages: the next drain checks whether they fold."""
        with self._dirty_lock:
            self._dirty.update(sessions)

    def fold_due(self, force: bool) -> bool:
        """Fold the summaries that are due (``force``: every session with messages outside its
        window, however few); True when something was folded."""
        with self._dirty_lock:
            sessions = set(self._dirty)
            self._dirty.clear()
        if force:
            floor = (self.settings.window_messages or 0) + 1
            sessions.update(self.store.sessions_to_fold(floor))
        folded = False
        for user, session in sorted(sessions):
            with self._lock:  # one session at a time, so a forget waits for one fold at most
                if self._is_closed():
                    break
                folded |= self.fold(user, session, force)
        return folded

    def fold(self, user: str, session: str, force: bool) -> bool:
        """Fold the session's messages that left the window into its summary, when due."""
        # Unfolded messages first, the window second: a message written in between only moves the
        # window on, so nothing still in the window can be folded (the other order could fold the
        # newest messages when they arrived between the two reads).
        unfolded = self.store.unsummarized(user, session)
        in_window = {row.record.id for row in self.window_rows(session, user)}
        pending = [row for row in unfolded if row.record.id not in in_window]
        if not should_fold(len(pending), self.settings.fold_batch, force):
            if pending:
                self.touched({(user, session)})
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
        summary = MemoryRecord(
            id=uuid.uuid4().hex, text=text, role="system", kind="summary", user_id=user,
            session_id=session, timestamp=messages[-1].timestamp, created_at=from_epoch(time.time()),
            importance=0.7, metadata={"messages": len(covers)}, covers=covers,
        )
        if not self.store.replace_summary(
            previous.record.id if previous else None, (summary, self.count_tokens(text)),
            [m.id for m in messages],
        ):  # another process folded this session meanwhile: fold again from what is stored now
            self.touched({(user, session)})
        return True
