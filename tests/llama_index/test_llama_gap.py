"""ChatMemory shows what left the window until it is folded, and opens the window on a user turn."""

from __future__ import annotations

from llama_index.core.base.llms.types import MessageRole

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.llama_index import ChatMemory

FACT = "My locker code is 4417."


def test_chat_memory_shows_unfolded_messages_and_opens_on_a_user_turn() -> None:
    with MemoryCore(window_messages=6, fold_batch=10, background=False) as core:
        core.add_message("s", "user", FACT, user_id="u")
        for turn in range(5):
            core.add_message("s", "assistant", f"sure {turn}", user_id="u")
            core.add_message("s", "user", f"ok {turn}", user_id="u")
        memory = ChatMemory.from_defaults(core=core, session_id="s", user_id="u", similarity_top_k=0)
        messages = memory.get()
        assert any(m.content == FACT for m in messages)
        assert messages[0].role == MessageRole.USER
        core.flush()
        messages = memory.get()
        assert messages[0].role == MessageRole.SYSTEM and FACT in (messages[0].content or "")
        assert all(m.content != FACT for m in messages[1:]) and messages[1].role == MessageRole.USER
