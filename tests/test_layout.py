"""The architecture's two boundaries: the core imports nothing above it, and SQL lives only in storage."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import agent_memory_plugins

PACKAGE = Path(agent_memory_plugins.__file__).parent
CORE = PACKAGE / "core"
BELOW_CORE = {"errors", "records", "settings"}
"""Modules of the package the core may import (plain data, errors, settings)."""
SQL = re.compile(
    r"\b(SELECT\s+.+\s+FROM|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|CREATE\s+(TABLE|INDEX|TRIGGER))\b"
)


def _package_imports(path: Path) -> set[str]:
    """Top-level package modules (``errors``, ``inspector``, ``core``...) that ``path`` imports."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    found = set()
    for node in _module_level(ast.parse(path.read_text()).body):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = list(parts[: len(parts) - node.level])
            target = base + (node.module.split(".") if node.module else [])
            names = [alias.name for alias in node.names] if not node.module and not base else []
            found.update([target[0]] if target else names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agent_memory_plugins."):
            found.add((node.module or "").split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("agent_memory_plugins."))
    return found


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run on import (inside ``if``/``try`` too), but not ``if TYPE_CHECKING:``
    blocks; imports inside functions load lazily and are checked by running the core instead."""
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            found.extend(_module_level(node.orelse))
        elif isinstance(node, (ast.If, ast.Try)):
            found.extend(_module_level(node.body + node.orelse + getattr(node, "finalbody", [])))
            for handler in getattr(node, "handlers", []):
                found.extend(_module_level(handler.body))
        else:
            found.append(node)
    return found


def test_the_core_imports_nothing_above_it() -> None:
    offenders = {}
    for path in sorted(CORE.rglob("*.py")):
        above = _package_imports(path) - BELOW_CORE - {"core"}
        if above:
            offenders[str(path.relative_to(PACKAGE))] = sorted(above)
    assert offenders == {}


def test_the_import_scan_sees_imports_between_modules() -> None:
    """The scan above can fail: it resolves relative imports to the package's modules."""
    assert {"core", "records"} <= _package_imports(PACKAGE / "langchain" / "history.py")
    assert {"core", "errors", "records"} <= _package_imports(CORE / "memory.py")
    assert {"core", "errors", "settings"} <= _package_imports(CORE / "lifecycle.py")
    assert {"core", "records"} <= _package_imports(CORE / "longterm" / "memories.py")


def test_using_the_core_loads_no_adapter_and_no_inspector() -> None:
    code = (
        "import sys\n"
        "from agent_memory_plugins.core.memory import MemoryCore\n"
        "with MemoryCore(embedder=lambda texts: [[1.0, float(len(t))] for t in texts]) as memory:\n"
        "    memory.add_message('s', 'user', 'hello')\n"
        "    memory.flush()\n"
        "    memory.search('hello')\n"
        "print(sorted(m for m in sys.modules if m.startswith('agent_memory_plugins.')\n"
        "             and m.split('.')[1] in ('inspector', 'cli', 'langchain', 'llama_index')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.strip() == "[]"


def test_no_sql_outside_the_storage_engines() -> None:
    outside = [
        str(path.relative_to(PACKAGE)) for path in sorted(PACKAGE.rglob("*.py"))
        if "storage" not in path.relative_to(PACKAGE).parts and SQL.search(path.read_text())
    ]
    assert outside == []
    assert SQL.search((CORE / "storage" / "sqlite" / "records.py").read_text())  # the pattern does match SQL
