"""Fail early, and say which extra to install, when an optional dependency is missing."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from .errors import MissingDependencyError

__all__ = ["require_extra"]


def require_extra(modules: Sequence[str], extra: str, package: str) -> None:
    """Raise :class:`MissingDependencyError` (an ``ImportError``) naming ``pip install
    'agent-memory-plugins[extra]'`` when one of ``modules`` cannot be imported by ``package``."""
    missing = [name for name in modules if not _importable(name)]
    if missing:
        raise MissingDependencyError(
            f"agent_memory_plugins.{package} needs {', '.join(missing)}: "
            f"pip install 'agent-memory-plugins[{extra}]'"
        )


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken parent
        return False
