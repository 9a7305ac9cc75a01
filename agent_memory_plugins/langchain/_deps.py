"""Fail early, and say which extra to install, when LangChain or LangGraph is missing."""

from __future__ import annotations

import importlib.util

from ..errors import MissingDependencyError

LANGCHAIN_MODULES = ("langchain_core", "langchain_classic", "langchain")
LANGGRAPH_MODULES = ("langgraph",)


def require(modules: tuple[str, ...], extra: str) -> None:
    """Raise :class:`MissingDependencyError` (an ``ImportError``) naming ``extra`` if a module is missing."""
    missing = [name for name in modules if not _importable(name)]
    if missing:
        raise MissingDependencyError(
            f"agent_memory_plugins.langchain needs {', '.join(missing)}: "
            f"pip install 'agent-memory-plugins[{extra}]'"
        )


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken parent
        return False
