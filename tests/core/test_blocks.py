"""Working-memory blocks on the core: limits, versions, scope, durability, context, forget."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent_memory_plugins import Block, BlockLimitError, InvalidInputError, MemoryCore, NotFoundError
from agent_memory_plugins.errors import InvalidContentError


def test_set_append_replace_version_each_change(memory: MemoryCore) -> None:
    memory.set_block("persona", "I am a travel agent.", user_id="ana")
    memory.append_block("persona", "I answer briefly.", user_id="ana")
    block = memory.replace_in_block("persona", "briefly", "in one sentence", user_id="ana")
    assert block.text == "I am a travel agent.\nI answer in one sentence."
    assert block.version == 3 and block.session_id is None
    assert memory.get_block("persona", user_id="ana") == block
    assert [b.text for b in memory.block_history("persona", user_id="ana")] == [
        "I am a travel agent.", "I am a travel agent.\nI answer briefly.", block.text,
    ]
    assert memory.set_block("persona", block.text, user_id="ana").version == 3  # no change: no version


def test_limit_is_enforced_with_a_clear_error_and_nothing_changes(memory: MemoryCore) -> None:
    memory.set_block("task", "book flights", user_id="ana", limit=20)
    with pytest.raises(BlockLimitError, match=r"'task' would hold 30 characters, over its limit of 20"):
        memory.append_block("task", "and the hotel too", user_id="ana")
    with pytest.raises(BlockLimitError):
        memory.set_block("fresh", "x" * 2001, user_id="ana")  # the block_limit setting (2000)
    assert memory.get_block("task", user_id="ana").text == "book flights"  # type: ignore[union-attr]
    assert memory.get_block("fresh", user_id="ana") is None
    grown = memory.append_block("task", "and the hotel too", user_id="ana", limit=100)
    assert grown.limit == 100 and memory.set_block("task", "y", user_id="ana").limit == 100  # the limit stays


def test_bad_arguments_are_refused(memory: MemoryCore) -> None:
    with pytest.raises(InvalidInputError, match="block name"):
        memory.set_block("has space", "x")
    with pytest.raises(InvalidContentError):
        memory.set_block("ok", 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="limit"):
        memory.set_block("ok", "x", limit=0)
    with pytest.raises(NotFoundError):
        memory.replace_in_block("missing", "a", "b")
    memory.set_block("ok", "alpha")
    with pytest.raises(InvalidInputError, match="does not contain 'beta'"):
        memory.replace_in_block("ok", "beta", "gamma")
    assert memory.block_history("ok") == [memory.get_block("ok")]


def test_user_and_session_blocks_are_scoped(memory: MemoryCore) -> None:
    memory.set_block("user", "Ana is vegetarian", user_id="ana")
    memory.set_block("task", "Plan Lisbon", user_id="ana", session_id="trip")
    memory.set_block("user", "Bob likes meat", user_id="bob")
    assert [b.name for b in memory.blocks(user_id="ana")] == ["user"]
    assert [(b.name, b.session_id) for b in memory.blocks(user_id="ana", session_id="trip")] == [
        ("user", None), ("task", "trip")]
    assert [b.name for b in memory.blocks(user_id="ana", session_id="other")] == ["user"]
    assert memory.get_block("task", user_id="bob", session_id="trip") is None
    assert [b.text for b in memory.blocks(user_id="bob", session_id="trip")] == ["Bob likes meat"]


def test_context_renders_blocks_first_and_counts_them(memory: MemoryCore) -> None:
    memory.set_block("user", "Ana is vegetarian", user_id="ana")
    memory.set_block("task", "Plan a dinner in Lisbon", user_id="ana", session_id="s1")
    memory.set_block("empty", "", user_id="ana")
    memory.add_message("s1", "user", "Where should we eat?", user_id="ana")
    context = memory.context("s1", user_id="ana", k=0)
    assert [b.name for b in context.blocks] == ["user", "task"]
    text = context.render()
    assert text.startswith("Working memory:\n<user>\nAna is vegetarian\n</user>\n<task>\nPlan a dinner in Lisbon")
    assert text.index("</task>") < text.index("Recent conversation")
    plain = memory.context("s1", user_id="bob", k=0)
    assert context.tokens == sum(memory.count_tokens(b.render()) for b in context.blocks) + memory.count_tokens(
        "Where should we eat?") and plain.tokens == 0
    newest = memory.count_tokens("Where should we eat?")
    budget = newest + memory.count_tokens(context.blocks[0].render())
    tight = memory.context("s1", user_id="ana", k=0, max_tokens=budget)
    assert [b.name for b in tight.blocks] == ["user"] and tight.dropped == 1


@pytest.mark.sqlite_only  # scans the SQLite file (PostgreSQL's tables: tests/storage/test_postgres.py)
def test_blocks_are_durable_and_forgotten_with_their_session_or_user(store_path: Path) -> None:
    with MemoryCore(store_path) as memory:
        memory.set_block("user", "Ana is vegetarian", user_id="ana")
        memory.set_block("task", "Plan Lisbon", user_id="ana", session_id="trip")
        memory.set_block("task", "Bob's task", user_id="bob", session_id="trip")
    with MemoryCore(store_path) as memory:
        assert [b.text for b in memory.blocks(user_id="ana", session_id="trip")] == ["Ana is vegetarian", "Plan Lisbon"]
        memory.forget(session_id="trip", user_id="ana")
        assert [b.text for b in memory.blocks(user_id="ana", session_id="trip")] == ["Ana is vegetarian"]
        assert memory.block_history("task", user_id="ana", session_id="trip") == []
        memory.forget(user_id="ana")
        assert memory.blocks(user_id="ana") == [] and memory.block_history("user", user_id="ana") == []
        assert [b.text for b in memory.blocks(user_id="bob", session_id="trip")] == ["Bob's task"]
    raw = (store_path / "memory.db").read_bytes()
    assert b"Ana is vegetarian" not in raw and b"Plan Lisbon" not in raw


def test_async_twins(memory: MemoryCore) -> None:
    async def run() -> list[Block]:
        await memory.aset_block("task", "one", user_id="ana")
        await memory.aappend_block("task", "two", user_id="ana")
        await memory.areplace_in_block("task", "one", "1", user_id="ana")
        assert (await memory.aget_block("task", user_id="ana")).text == "1\ntwo"  # type: ignore[union-attr]
        assert len(await memory.ablocks(user_id="ana")) == 1
        return await memory.ablock_history("task", user_id="ana")

    assert [b.version for b in asyncio.run(run())] == [1, 2, 3]


def test_the_inspector_shows_the_blocks_of_a_session(memory: MemoryCore) -> None:
    memory.set_block("user", "Ana <b>is</b> vegetarian", user_id="ana")
    memory.set_block("task", "Plan Lisbon", user_id="ana", session_id="trip", limit=50)
    view = memory.inspect("trip", user_id="ana")  # a session with blocks only is still a session
    assert [b.name for b in view.blocks] == ["user", "task"]
    assert "block task (session, v1, 11/50 chars): Plan Lisbon" in str(view)
    html = view._repr_html_()
    assert "Working memory" in html and "Ana &lt;b&gt;is&lt;/b&gt; vegetarian" in html and "11/50" in html
