"""The README's Python examples for the core run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def test_core_and_long_term_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    core_blocks = BLOCK.findall(_section("The core"))
    long_term_blocks = BLOCK.findall(_section("Long-term memory"))
    assert core_blocks and len(long_term_blocks) == 3
    namespace: dict[str, object] = {}
    exec(compile(core_blocks[0], "README:core", "exec"), namespace)
    from agent_memory_plugins import MemoryCore

    with MemoryCore() as mem:
        namespace = {"mem": mem}
        for number, block in enumerate(long_term_blocks):
            exec(compile(block, f"README:long-term-{number}", "exec"), namespace)
        texts = [h.record.text for h in mem.search("where does the user live?", user_id="maya", k=2)]
        assert texts == ["I moved to Austin", "I live in Denver"]
        assert mem.get_preference("language", user_id="maya") == "French"


def test_working_memory_example_runs() -> None:
    blocks = BLOCK.findall(_section("Agents that manage their own memory"))
    assert len(blocks) == 2  # the blocks example (run here) and the tools sketch (tested in the adapters)
    from agent_memory_plugins import MemoryCore

    with MemoryCore() as mem:
        exec(compile(blocks[0], "README:working-memory", "exec"), {"mem": mem})
        assert mem.get_block("task", user_id="maya", session_id="s1").text == "Plan a dinner for eight"  # type: ignore[union-attr]
        assert mem.context("s1", user_id="maya").render().startswith(
            "Working memory:\n<user>\nMaya is vegetarian\nMaya is allergic to nuts\n</user>")
