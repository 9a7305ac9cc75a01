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


def test_docs_lead_with_create_agent_and_keep_classic_chains_as_migration() -> None:
    text = DOC.read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert "create_agent" in sections[0]
    classic = next(i for i, title in enumerate(sections) if title.startswith("Classic chains"))
    assert text.index("### ConversationMemory") > text.index(f"## {sections[classic]}")
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    langchain = readme[readme.index("## LangChain"):readme.index("## LlamaIndex")]
    assert langchain.index("create_agent") < langchain.index("ConversationChain")
    assert "Migrating from classic chains" in langchain
