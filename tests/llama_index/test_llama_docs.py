"""Every Python snippet in docs/llama_index.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "llama_index.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_doc_has_a_snippet_per_adapter() -> None:
    for adapter in ("ChatMemory", "RecallMemoryBlock", "MemoryRetriever"):
        assert any(f"from agent_memory_plugins.llama_index import {adapter}" in s for s in SNIPPETS), adapter


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet-{i}" for i in range(len(SNIPPETS))])
def test_snippet_runs(snippet: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    # Each snippet gets its own folder, all in one process: spell it absolute, because embedded
    # Chroma caches its clients by path string and "./memory" would reach the previous folder.
    code = snippet.replace('"./memory"', repr(str(tmp_path / "memory")))
    exec(compile(code, str(DOC), "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.strip()  # each snippet shows its result
