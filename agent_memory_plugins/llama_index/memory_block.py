"""``RecallMemoryBlock``: the core as a long-term block of LlamaIndex's own ``Memory``."""

from __future__ import annotations

import re
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field
from llama_index.core.memory.memory import BaseMemoryBlock

from ..core.memory import MemoryCore
from ..records import Hit, format_recalled, render_blocks
from .messages import to_core_messages

__all__ = ["RecallMemoryBlock"]

SESSION_KWARG = "session_id"
"""The ``additional_kwargs`` key ``Memory`` sets on the messages it flushes to its blocks."""
ENTRY_START = re.compile(r"\n(?=- \[\d{4}-\d{2}-\d{2}\] )")


class RecallMemoryBlock(BaseMemoryBlock[str]):
    """Long-term recall for ``Memory.from_defaults(memory_blocks=[...])``.

    Messages that ``Memory`` flushes out of its short-term queue are recorded in the core (under
    this block's ``session_id``, or the ``Memory``'s own session id). On each ``get`` the block
    returns the user's working-memory blocks (and those of ``session_id`` when set) first, then
    searches the user's records for the latest message and adds the best matches as text, all
    within ``max_tokens``; when ``Memory`` is over its token limit it drops the weakest matches
    first (blocks with ``priority=0`` are never truncated).

    Usage::

        block = RecallMemoryBlock.from_defaults(core=MemoryCore("./memory"), user_id="alice")
        memory = Memory.from_defaults(session_id="s1", token_limit=4000, memory_blocks=[block])
    """

    name: str = Field(default="recalled_memories", description="Name of the block (its tag in the prompt).")
    core: MemoryCore = Field(
        exclude=True, description="The memory core that records flushed messages and recalls them."
    )
    user_id: str = Field(
        default="default", description="Owner of the records; recall only sees this user's records."
    )
    session_id: str | None = Field(
        default=None,
        description="Session flushed messages are recorded under; None: the session id of the Memory "
        "that flushes them.",
    )
    similarity_top_k: int = Field(default=5, ge=1, description="Most memories recalled per get.")
    kinds: list[str] | None = Field(
        default=None,
        description="Recall only these kinds (message, summary, fact, event, preference, skill); None: all.",
    )
    max_tokens: int = Field(default=1024, ge=1, description="Token budget of the recalled text.")
    priority: int = Field(
        default=1,
        description="Truncation order inside Memory when it is over its token limit: 0 is never "
        "truncated; among the others, lower numbers are truncated first.",
    )

    @classmethod
    def from_defaults(
        cls,
        *,
        core: MemoryCore,
        user_id: str = "default",
        session_id: str | None = None,
        **kwargs: Any,
    ) -> RecallMemoryBlock:
        """Create the block; other keywords (``name``, ``similarity_top_k``, ``kinds``, ``max_tokens``,
        ``priority``, ``accept_short_term_memory``) set the fields of the same names."""
        return cls(core=core, user_id=user_id, session_id=session_id, **kwargs)

    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        """Working-memory blocks, then the memories the core recalls for the latest message, as
        text within ``max_tokens``."""
        history = messages or []
        working = render_blocks(await self.core.ablocks(user_id=self.user_id, session_id=self.session_id))
        used = self.core.count_tokens(working) if working else 0
        if used > self.max_tokens:
            working, used = "", 0
        query = _latest_text(history)
        if query is None:
            return working
        shown = {message.content for message in history if message.content}
        hits = await self.core.asearch(
            query, user_id=self.user_id, k=self.similarity_top_k + min(len(shown), 50), kinds=self.kinds
        )
        fresh = [hit for hit in hits if hit.record.text not in shown][: self.similarity_top_k]
        return "\n".join(([working] if working else []) + self._fit(fresh, used))

    async def _aput(self, messages: list[ChatMessage]) -> None:
        """Record the messages ``Memory`` flushed out of its short-term queue."""
        if not messages:
            return
        session = self.session_id or _flushed_session(messages) or "default"
        entries = to_core_messages(
            messages, drop_kwargs=(SESSION_KWARG,),
            max_metadata_bytes=self.core.settings.max_metadata_bytes,
        )
        await self.core.aadd_messages(session, entries, user_id=self.user_id)

    async def atruncate(self, content: str, tokens_to_truncate: int) -> str | None:
        """Drop the weakest recalled memories (the last ones) until enough tokens are freed."""
        entries = ENTRY_START.split(content) if content else []
        saved = 0
        while entries and saved < tokens_to_truncate:
            saved += self.core.count_tokens(entries.pop())
        return "\n".join(entries) or None

    def _fit(self, hits: list[Hit], used: int = 0) -> list[str]:
        entries: list[str] = []
        for hit in hits:
            entry = f"- {format_recalled(hit.record)}"
            if entry in entries:  # a summary line can repeat the message it was made from
                continue
            cost = self.core.count_tokens(entry)
            if used + cost > self.max_tokens:
                break
            entries.append(entry)
            used += cost
        return entries


def _latest_text(messages: list[ChatMessage]) -> str | None:
    """The text of the latest user message, else of the latest message with text."""
    for role in ("user", None):
        for message in reversed(messages):
            text = message.content
            if text and text.strip() and (role is None or message.role.value == role):
                return text
    return None


def _flushed_session(messages: list[ChatMessage]) -> str | None:
    for message in messages:
        session = message.additional_kwargs.get(SESSION_KWARG)
        if isinstance(session, str) and session.strip():
            return session
    return None
