"""The demo's own questions put the right fact first, and it cleans up its temporary store."""

from __future__ import annotations

import glob
import os
import tempfile

from agent_memory_plugins import demo


def first_hit_after(lines: list[str], heading: str) -> str:
    start = next(i for i, line in enumerate(lines) if heading in line)
    return next(line for line in lines[start + 1:] if line.startswith("  0.") or line.startswith("  1."))


def test_each_demo_question_puts_the_right_fact_first(tmp_path: object) -> None:
    lines: list[str] = []
    demo.run(str(tmp_path), say=lines.append)
    assert "allergic to shellfish" in first_hit_after(lines, "Recall for maya")
    text = "\n".join(lines)
    memories = text.split("Relevant memories:")[1].split("\n\n")[0].strip().splitlines()
    assert "14 March" in memories[0]  # "when is the demo due?"
    assert "Luis" in text.split("'Who is my manager?' ->")[1].splitlines()[0]
    recalled = text.split("Recall for maya")[1].split("(Sam's")[0]
    assert "Sounds fun." not in recalled and "Probably tacos" not in recalled  # the window shows them


def test_demo_removes_its_temporary_store() -> None:
    pattern = os.path.join(tempfile.gettempdir(), "agent-memory-demo-*")
    before = set(glob.glob(pattern))
    lines: list[str] = []
    demo.run(say=lines.append)
    assert set(glob.glob(pattern)) == before
    assert any(line.startswith("Removed the temporary store") for line in lines)
