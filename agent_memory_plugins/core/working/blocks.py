"""Working-memory blocks: named texts (``persona``, ``user``, ``task``) always in the context.

A mixin of :class:`~agent_memory_plugins.core.memory.MemoryCore`. A block belongs to a user
(``session_id=None``; it outlives sessions) or to one session of a user (the session's working
memory). Each change is a new version (compare-and-swap in the record store, so concurrent
writers lose nothing); a block never holds more characters than its limit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...errors import AgentMemoryError, BlockLimitError, InvalidContentError, InvalidInputError, NotFoundError
from ...records import Block
from .. import validation as check

if TYPE_CHECKING:
    from ...settings import Settings
    from ..storage.interface import RecordStore

__all__ = ["WorkingMemory", "check_block_name"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
SWAP_ATTEMPTS = 100
"""How often a change is tried again when another writer changed the block meanwhile."""


def check_block_name(name: object) -> str:
    """A block name: a letter, then up to 63 letters, digits, ``_``, ``.`` or ``-``."""
    if isinstance(name, str) and _NAME.match(name):
        return name
    raise InvalidInputError(
        f"block name must start with a letter and hold up to 64 letters, digits, '_', '.' or '-', got {name!r}"
    )


def _check_block_text(text: object, what: str = "text") -> str:
    """Text for a block: any str UTF-8 can store (empty clears a block)."""
    if not isinstance(text, str):
        raise InvalidContentError(f"{what} must be a str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidContentError(f"{what} holds a lone surrogate at position {error.start}") from None
    return text


class WorkingMemory:
    """Named text blocks per user and per session, versioned, within a character limit each."""

    settings: Settings
    store: RecordStore
    _check_open: Callable[[], None]

    def set_block(
        self,
        name: str,
        text: str,
        *,
        user_id: str = "default",
        session_id: str | None = None,
        limit: int | None = None,
    ) -> Block:
        """Write a block (a new version), creating it if needed. Durable when it returns.

        ``session_id=None``: a user block, shown in every session of the user; otherwise the block
        of that session only. ``limit``: the most characters the block may hold from now on
        (default: its current limit, or the ``block_limit`` setting for a new block); text over
        the limit raises :class:`~agent_memory_plugins.errors.BlockLimitError` and changes nothing.
        ``text=""`` empties the block (an empty block is not shown).
        """
        value = _check_block_text(text)
        return self._change_block(name, user_id, session_id, limit, lambda _current: value)

    def append_block(
        self,
        name: str,
        text: str,
        *,
        user_id: str = "default",
        session_id: str | None = None,
        limit: int | None = None,
    ) -> Block:
        """Add ``text`` on a new line at the end of a block (created when missing)."""
        addition = check.check_content(_check_block_text(text), self.settings.max_content_chars, "text")
        return self._change_block(
            name, user_id, session_id, limit, lambda current: f"{current}\n{addition}" if current else addition
        )

    def replace_in_block(
        self,
        name: str,
        old: str,
        new: str,
        *,
        user_id: str = "default",
        session_id: str | None = None,
    ) -> Block:
        """Replace every occurrence of ``old`` in a block by ``new`` (``""`` deletes it).

        Raises :class:`~agent_memory_plugins.errors.NotFoundError` when there is no such block
        and :class:`~agent_memory_plugins.errors.InvalidInputError` when ``old`` is not in it.
        """
        target = check.check_content(_check_block_text(old, "old"), self.settings.max_content_chars, "old")
        replacement = _check_block_text(new, "new")

        def edit(current: str) -> str:
            if target not in current:
                raise InvalidInputError(f"block {name!r} does not contain {check_preview(target)!r}; "
                                        "read it with get_block and quote its text exactly")
            return current.replace(target, replacement)

        if self.get_block(name, user_id=user_id, session_id=session_id) is None:
            raise NotFoundError(f"no block {name!r} for user {user_id!r}"
                                + (f" in session {session_id!r}" if session_id is not None else ""))
        return self._change_block(name, user_id, session_id, None, edit)

    def get_block(self, name: str, *, user_id: str = "default", session_id: str | None = None) -> Block | None:
        """The current version of a block, or ``None`` when it does not exist."""
        user, session = check.check_id(user_id, "user_id"), check.check_optional_id(session_id, "session_id")
        return self.store.get_block(user, session, check_block_name(name))

    def blocks(self, *, user_id: str = "default", session_id: str | None = None) -> list[Block]:
        """The blocks in effect: the user's own blocks, then (with ``session_id``) the session's;
        each list sorted by name. This is what :meth:`context` shows, in this order."""
        user, session = check.check_id(user_id, "user_id"), check.check_optional_id(session_id, "session_id")
        found = self.store.list_blocks(user, None)
        if session is not None:
            found += self.store.list_blocks(user, session)
        return found

    def block_history(
        self, name: str, *, user_id: str = "default", session_id: str | None = None
    ) -> list[Block]:
        """Every version of a block, oldest first (empty when there is no such block)."""
        user, session = check.check_id(user_id, "user_id"), check.check_optional_id(session_id, "session_id")
        return self.store.block_history(user, session, check_block_name(name))

    def _change_block(
        self, name: str, user_id: str, session_id: str | None, limit: int | None, edit: Callable[[str], str]
    ) -> Block:
        label = check_block_name(name)
        user, session = check.check_id(user_id, "user_id"), check.check_optional_id(session_id, "session_id")
        wanted = None if limit is None else check.check_count(limit, "limit", 1, self.settings.max_content_chars)
        self._check_open()
        for _ in range(SWAP_ATTEMPTS):
            current = self.store.get_block(user, session, label)
            text = edit(current.text if current else "")
            cap = wanted or (current.limit if current else self.settings.block_limit)
            if len(text) > cap:
                raise BlockLimitError(
                    f"block {label!r} would hold {len(text)} characters, over its limit of {cap}; "
                    "shorten the text (replace_in_block can remove old lines) or pass a larger limit="
                )
            if current is not None and current.text == text and current.limit == cap:
                return current  # nothing changes: no new version
            version = current.version if current else 0
            block = Block(name=label, text=text, user_id=user, session_id=session, limit=cap,
                          version=version + 1, updated_at=check.from_epoch(time.time()))
            if self.store.put_block(block, version):
                return block
        raise AgentMemoryError(f"block {label!r} is being changed by too many writers at once; try again")


def check_preview(text: str, limit: int = 60) -> str:
    """The start of ``text`` for an error message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
