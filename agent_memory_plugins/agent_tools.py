"""What the memory tools of both frameworks do, framework-free: one :class:`MemoryActions` per
scope, whose methods take the model's arguments and answer with text for the model.

The LangChain tools (:func:`agent_memory_plugins.langchain.memory_tools`) and the LlamaIndex tool
spec (:class:`agent_memory_plugins.llama_index.MemoryToolSpec`) only translate: they fix the user
and session (from the run, or from the caller) and turn an
:class:`~agent_memory_plugins.errors.AgentMemoryError` into the error the framework shows the
model. No argument a model can set names a user or a session, so a model never reaches another
user's memory; an id of another user's record is answered as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .errors import InvalidInputError
from .records import Block, MemoryRecord, is_tool_traffic

if TYPE_CHECKING:
    from .core.memory import MemoryCore

__all__ = [
    "BLOCK_ACTIONS",
    "DESCRIPTIONS",
    "REMEMBER_KINDS",
    "MemoryActions",
]

REMEMBER_KINDS = ("fact", "preference", "event")
"""The kinds of memory a model may store with the remember tool."""
BLOCK_ACTIONS = ("set", "append", "replace")
"""What the block tool can do to a working-memory block."""
Kind = Literal["fact", "preference", "event"]
Action = Literal["set", "append", "replace"]
Scope = Literal["user", "session"]

DESCRIPTIONS = {
    "search_memory": (
        "Search the long-term memory of the user you are talking to (facts, preferences, events and "
        "earlier conversations, from every session). Returns the best matches, one a line, each with "
        "its memory id, kind and date. Use it before answering questions about the user or the past."
    ),
    "remember": (
        "Store something worth remembering about the user for future conversations: a fact ('Ana is "
        "allergic to nuts'), a preference (give key, e.g. key='language', text='French') or an event "
        "('Ana moved to Porto in May'). A repeat of a known fact is merged; a new statement about the "
        "same subject replaces the old one. Returns the memory id."
    ),
    "update_memory": (
        "Replace the text of one long-term memory, found by its id (from search_memory or remember), "
        "when it is wrong or out of date. The old version is kept in its history."
    ),
    "forget_memory": (
        "Delete one memory for good, by its id (from search_memory or remember), e.g. when the user "
        "asks you to forget it."
    ),
    "edit_memory_block": (
        "Edit a working-memory block: a short named note that is shown to you at the start of every "
        "turn (e.g. 'user' for who the user is, 'task' for what you are doing now). action='set' "
        "replaces the block's text, 'append' adds a line, 'replace' swaps the exact text old for text. "
        "scope='user' keeps the block across all conversations with this user, 'session' only in this one. "
        "Blocks have a character limit; keep them short and current."
    ),
}
"""What each tool tells the model it does (shared by both frameworks)."""

ARGUMENTS = {
    "query": "What to look for, in plain words.",
    "k": "How many memories to return (1 to 20).",
    "text": "The memory (or the block text), one self-contained statement.",
    "kind": "fact, preference or event.",
    "key": "For a preference: what it is about (e.g. 'language'); otherwise optional.",
    "memory_id": "The 32-character id of the memory, as search_memory or remember gave it.",
    "name": "The block's name: a letter then letters, digits, '_', '.' or '-' (e.g. 'user', 'task').",
    "action": "set, append or replace.",
    "old": "For action='replace': the exact text in the block to replace.",
    "scope": "'user' (every conversation with this user) or 'session' (this conversation only).",
}
"""What each argument of the tools means (shared by both frameworks)."""
MAX_K = 20


@dataclass(frozen=True)
class MemoryActions:
    """The memory tools' behaviour for one user and one session of a core.

    Each method takes what a model passes and returns the text the model reads; bad input raises
    an :class:`~agent_memory_plugins.errors.AgentMemoryError` whose message says what to fix.
    """

    core: MemoryCore
    user_id: str
    session_id: str
    k: int = 5

    def search_memory(self, query: str, k: int | None = None) -> str:
        """The best matches for ``query``, one a line with id, kind and date (tool calls and tool
        results recorded from earlier turns are left out: they echo what the memories say)."""
        count = self.k if k is None else k
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_K:
            raise InvalidInputError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
        found = self.core.search(query, user_id=self.user_id, k=count * 3)
        hits = [hit for hit in found if not is_tool_traffic(hit.record)][:count]
        if not hits:
            return "No memories match."
        return "\n".join(describe(hit.record) for hit in hits)

    def remember(self, text: str, kind: str = "fact", key: str | None = None) -> str:
        """Store a memory of ``kind``; a preference needs ``key``."""
        if kind not in REMEMBER_KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(REMEMBER_KINDS)}, got {kind!r}")
        if kind == "preference":
            if key is None:
                raise InvalidInputError("a preference needs key= (what it is about, e.g. 'language')")
            record = self.core.set_preference(key, text, user_id=self.user_id, session_id=self.session_id,
                                              metadata={"source": "agent"})
        else:
            record = self.core.remember(text, user_id=self.user_id, kind=kind, key=key,
                                        session_id=self.session_id, metadata={"source": "agent"})
        return f"Remembered as {record.id}: {record.text}"

    def update_memory(self, memory_id: str, text: str) -> str:
        """Supersede a memory of this user by a new text."""
        record = self.core.update(memory_id, text, user_id=self.user_id)
        return f"Updated: {memory_id} is replaced by {record.id}: {record.text}"

    def forget_memory(self, memory_id: str) -> str:
        """Delete one record of this user."""
        self.core.get(memory_id, user_id=self.user_id)  # NotFoundError for another user's id
        self.core.forget(memory_id=memory_id, user_id=self.user_id)
        return f"Forgot {memory_id}."

    def edit_memory_block(
        self, name: str, action: str, text: str, old: str | None = None, scope: str = "user"
    ) -> str:
        """Set, append to or replace within a block of the user or of this session."""
        if scope not in ("user", "session"):
            raise InvalidInputError(f"scope must be 'user' or 'session', got {scope!r}")
        session = self.session_id if scope == "session" else None
        if action == "set":
            block = self.core.set_block(name, text, user_id=self.user_id, session_id=session)
        elif action == "append":
            block = self.core.append_block(name, text, user_id=self.user_id, session_id=session)
        elif action == "replace":
            if old is None:
                raise InvalidInputError("action='replace' needs old= (the exact text to replace)")
            block = self.core.replace_in_block(name, old, text, user_id=self.user_id, session_id=session)
        else:
            raise InvalidInputError(f"action must be one of {', '.join(BLOCK_ACTIONS)}, got {action!r}")
        return block_state(block)


def describe(record: MemoryRecord) -> str:
    """One line for a model: ``[id] kind, date: text``."""
    old = " (replaced by a newer memory)" if record.superseded_by else ""
    text = " ".join(record.text.split())  # one line, however many the record has
    return f"[{record.id}] {record.kind}, {record.timestamp:%Y-%m-%d}: {text}{old}"


def block_state(block: Block) -> str:
    """What a model is told after editing a block: its version, size and text."""
    scope = "user" if block.session_id is None else "session"
    return (f"Block {block.name!r} ({scope}) is now version {block.version}, "
            f"{len(block.text)}/{block.limit} characters:\n{block.text}")
