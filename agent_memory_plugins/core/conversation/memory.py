"""The conversation side of :class:`~agent_memory_plugins.core.memory.MemoryCore`: recording
messages, the window, the running summary, and the context assembled for a model.

A mixin of ``MemoryCore`` (as :class:`~agent_memory_plugins.core.longterm.memories.LongTermMemory`
is for long-term memories); the work behind it is in :class:`.folding.Conversations` and the
policies of :mod:`.policy`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import InvalidInputError
from ...records import Block, Hit, MemoryContext, MemoryRecord
from .. import validation as check
from .policy import fit_context

if TYPE_CHECKING:
    from ...settings import Settings
    from ..storage.interface import RecordStore, StoredRow
    from .folding import Conversations

__all__ = ["ConversationMemory"]


class ConversationMemory:
    """Messages of sessions, their windows and summaries, and the context built from them."""

    settings: Settings
    store: RecordStore
    conversations: Conversations
    count_tokens: Callable[[str], int]

    # provided by MemoryCore
    _new_record: Callable[..., MemoryRecord]
    _write: Callable[[Sequence[MemoryRecord]], None]
    search: Callable[..., list[Hit]]
    blocks: Callable[..., list[Block]]

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
            self.conversations.touched({(user, session)})
        return records

    def window(self, session_id: str, *, user_id: str = "default") -> list[MemoryRecord]:
        """The session's recent messages that the window keeps, oldest first."""
        return [row.record for row in self._window_rows(
            check.check_id(session_id, "session_id"), check.check_id(user_id, "user_id")
        )]

    def _window_rows(self, session: str, user: str) -> list[StoredRow]:
        return self.conversations.window_rows(session, user)

    def recent(self, session_id: str, *, user_id: str = "default") -> list[MemoryRecord]:
        """What a model must see beside the summary, oldest first: the window, preceded by the
        messages that left it and are not folded into the summary yet (the background worker
        folds them in batches of ``fold_batch``; until then they are shown as they were said)."""
        return [row.record for row in self.conversations.shown_rows(
            check.check_id(session_id, "session_id"), check.check_id(user_id, "user_id")
        )]

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

    def context(
        self,
        session_id: str,
        query: str | None = None,
        *,
        user_id: str = "default",
        max_tokens: int | None = None,
        k: int = 5,
    ) -> MemoryContext:
        """Working-memory blocks + summary + recalled memories not already shown + the recent
        messages, within a budget (blocks come first and count in it).

        The recent messages are :meth:`recent`: the window and, before it, the messages that left
        it but are not folded into the summary yet. Recall never repeats what the context holds
        (those messages and the session's summary). ``query=None`` recalls for the latest user
        message; ``k=0`` skips recall.
        """
        session = check.check_id(session_id, "session_id")
        user = check.check_id(user_id, "user_id")
        bad_budget = isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        if max_tokens is not None and bad_budget:
            raise InvalidInputError(f"max_tokens must be a positive integer or None, got {max_tokens!r}")
        check.check_count(k, "k", 0)
        window = self.conversations.shown_rows(session, user)
        blocks = [block for block in self.blocks(user_id=user, session_id=session) if block.text.strip()]
        summary_row = self.store.summary(user, session)
        if query is None:
            query = next((row.record.text for row in reversed(window) if row.record.role == "user"), None)
        hits: list[Hit] = []
        if query and k > 0:
            shown = {row.record.id for row in window}
            hits = [hit for hit in self.search(query, user_id=user, k=k + len(shown) + 1)
                    if not _held(hit.record, shown, session)][:k]
        summary_text = summary_row.record.text if summary_row else ""
        fit = fit_context(
            summary_row.tokens if summary_row else 0,
            [self.count_tokens(hit.record.text) for hit in hits],
            [row.tokens for row in window],
            max_tokens,
            [row.record.role for row in window],
            [self.count_tokens(block.render()) for block in blocks],
            self.settings.window_start_on,
        )
        kept_hits = [hits[i] for i in fit.hit_indexes]
        return MemoryContext(
            session_id=session, user_id=user,
            summary=summary_text if fit.include_summary else "",
            recalled=kept_hits, window=[row.record for row in window[fit.window_start:]],
            tokens=fit.tokens, max_tokens=max_tokens,
            dropped=(len(hits) - len(kept_hits)) + fit.window_start + (len(blocks) - len(fit.block_indexes))
            + (1 if summary_text and not fit.include_summary else 0),
            blocks=[blocks[i] for i in fit.block_indexes],
        )


def _held(record: MemoryRecord, shown: set[str], session: str) -> bool:
    """Whether the context already holds ``record``: one of its messages, or the session's summary
    (any summary of the session: a fold may have replaced the one read a moment ago)."""
    return record.id in shown or (record.kind == "summary" and record.session_id == session)
