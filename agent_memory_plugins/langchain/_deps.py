"""Fail early, and say which extra to install, when LangChain or LangGraph is missing."""

from __future__ import annotations

from ..extras import require_extra

LANGCHAIN_MODULES = ("langchain_core", "langchain_classic", "langchain")
LANGGRAPH_MODULES = ("langgraph",)


def require(modules: tuple[str, ...], extra: str) -> None:
    """Raise :class:`MissingDependencyError` (an ``ImportError``) naming ``extra`` if a module is missing."""
    require_extra(modules, extra, "langchain")
