"""The server's docs against the code: docs/server.md's Python runs, the README's route table is the API."""

from __future__ import annotations

import re
from pathlib import Path

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.server import create_app

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
ROW = re.compile(r"^\| (GET|POST|DELETE|PUT|PATCH) \| `([^`]+)` \|", re.MULTILINE)


def test_every_python_snippet_of_the_server_doc_runs() -> None:
    blocks = BLOCK.findall((ROOT / "docs" / "server.md").read_text(encoding="utf-8"))
    assert blocks
    for number, block in enumerate(blocks):
        exec(compile(block, f"docs/server.md:{number}", "exec"), {})


def test_the_readme_lists_every_route_of_the_api_and_no_other() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Server and dashboard"):readme.index("## Recall quality")]
    listed = {(method, "/api" + path) for method, path in ROW.findall(section)}
    with MemoryCore(background=False) as core:
        paths = create_app(core).openapi()["paths"]
    served = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert listed == served
