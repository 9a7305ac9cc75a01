"""The package's surface: its exports, and the error when llama-index-core is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import agent_memory_plugins.llama_index as adapters
from agent_memory_plugins import MissingDependencyError


def test_exports_exactly_the_four_adapters() -> None:
    assert sorted(adapters.__all__) == ["ChatMemory", "MemoryRetriever", "MemoryToolSpec", "RecallMemoryBlock"]
    assert all(getattr(adapters, name).__module__.startswith(adapters.__name__) for name in adapters.__all__)


def test_import_without_llama_index_names_the_extra() -> None:
    script = textwrap.dedent("""
        import sys
        sys.modules["llama_index"] = None  # as if llama-index-core were not installed
        sys.modules["llama_index.core"] = None
        import agent_memory_plugins  # the core itself still imports
        try:
            import agent_memory_plugins.llama_index
        except ImportError as error:
            print(type(error).__name__, error)
        else:
            print("imported")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MissingDependencyError ")
    assert "pip install 'agent-memory-plugins[llama-index]'" in result.stdout
    assert issubclass(MissingDependencyError, ImportError)
