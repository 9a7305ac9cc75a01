"""Whose memory a LangGraph run touches: the session and user of the current run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.config import get_config

__all__ = ["run_scope"]


def run_scope(context: Any, session_default: str, user_default: str) -> tuple[str, str]:
    """(session, user) of the current run.

    The session is the run's ``config["configurable"]["thread_id"]``; the user is
    ``config["configurable"]["user_id"]``, else ``user_id`` of the runtime ``context`` (a dict or
    an object), else the defaults. Outside a run, the defaults.
    """
    try:
        configurable: Mapping[str, Any] = get_config().get("configurable") or {}
    except RuntimeError:  # called outside a graph run
        configurable = {}
    from_context = context.get("user_id") if isinstance(context, Mapping) else getattr(context, "user_id", None)
    session = configurable.get("thread_id") or session_default
    user = configurable.get("user_id") or from_context or user_default
    return str(session), str(user)


def current_context() -> Any:
    """The runtime context of the current LangGraph run (``None`` outside one, or without one)."""
    try:
        from langgraph.runtime import get_runtime

        runtime = get_runtime()
    except (RuntimeError, KeyError, LookupError):
        return None
    return getattr(runtime, "context", None)
