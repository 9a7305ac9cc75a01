"""Every Python snippet of docs/langchain.md runs, in order, as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "langchain.md"


def test_doc_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 7
    namespace: dict[str, object] = {"__name__": "docs_langchain"}
    try:
        for number, block in enumerate(blocks, 1):
            exec(compile(block, f"{DOC.name} snippet {number}", "exec"), namespace)
    finally:
        mem = namespace.get("mem")
        if mem is not None:
            mem.close()  # type: ignore[attr-defined]
