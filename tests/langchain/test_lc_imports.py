"""The subpackage names the extra to install when LangChain or LangGraph is missing."""

from __future__ import annotations

import subprocess
import sys

import agent_memory_plugins.langchain as adapters


def run_without(modules: list[str], code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where ``modules`` cannot be imported."""
    block = "".join(f"sys.modules[{name!r}] = None\n" for name in modules)
    return subprocess.run([sys.executable, "-c", f"import sys\n{block}{code}"],
                          capture_output=True, text=True, timeout=120, check=False)


def test_exports() -> None:
    assert sorted(adapters.__all__) == ["ChatHistory", "ConversationMemory", "MemoryMiddleware",
                                        "MemoryRetriever", "MemoryStore", "memory_tools"]
    for name in adapters.__all__:
        assert getattr(adapters, name).__name__ == name


def test_missing_langchain_says_which_extra_to_install() -> None:
    result = run_without(["langchain_core", "langchain_classic", "langchain"],
                         "import agent_memory_plugins.langchain")
    assert result.returncode == 1
    assert "ImportError" in result.stderr or "MissingDependencyError" in result.stderr
    assert "pip install 'agent-memory-plugins[langchain]'" in result.stderr


def test_missing_langgraph_says_which_extra_to_install() -> None:
    code = (
        "import agent_memory_plugins.langchain as a\n"
        "from agent_memory_plugins.errors import MissingDependencyError\n"
        "assert a.ChatHistory and a.ConversationMemory and a.MemoryRetriever\n"
        "try:\n    a.MemoryStore\nexcept ImportError as e:\n"
        "    assert isinstance(e, MissingDependencyError)\n    print(e)\n"
    )
    result = run_without(["langgraph"], code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'agent-memory-plugins[langgraph]'" in result.stdout


def test_library_import_stays_cheap() -> None:
    result = run_without([], "import agent_memory_plugins\nprint('langchain_core' in sys.modules)")
    assert result.stdout.strip() == "False"
