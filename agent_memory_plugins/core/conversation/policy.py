"""Pure policy: what the window keeps, what gets folded, and what fits a token budget.

Nothing here touches a store; every function takes plain data and returns plain data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def window_start(
    roles: Sequence[str],
    token_counts: Sequence[int],
    max_messages: int | None,
    max_tokens: int | None,
    start_on: str | None = None,
) -> int:
    """Index of the first message of the window over a session's messages (oldest first).

    The window is the longest run of newest messages within ``max_messages`` and ``max_tokens``;
    the newest message is always in it, even when alone it is over the token budget. A window never
    opens on a tool result whose call fell out: such results leave with their call. With
    ``start_on`` (a role, e.g. ``"user"``) it opens on the first message of that role it holds,
    as LangChain's ``trim_messages(start_on="human")`` does (unless it holds none).
    """
    if len(roles) != len(token_counts):
        raise ValueError("roles and token_counts must have the same length")
    total = len(roles)
    if total == 0:
        return 0
    start = total
    used = 0
    while start > 0:
        candidate = start - 1
        if max_messages is not None and total - candidate > max_messages:
            break
        cost = token_counts[candidate]
        if max_tokens is not None and used + cost > max_tokens and start < total:
            break
        used += cost
        start = candidate
    return opening(roles, start, start_on)


def skip_orphan_tool_results(roles: Sequence[str], start: int) -> int:
    """Move ``start`` past tool results whose call lies before it (never past the last message)."""
    while start < len(roles) - 1 and roles[start] == "tool":
        start += 1
    return start


def opening(roles: Sequence[str], start: int, start_on: str | None) -> int:
    """Where a run of messages from ``start`` may open: past orphan tool results and, with
    ``start_on``, on the first message of that role (``start`` unchanged when none follows)."""
    start = skip_orphan_tool_results(roles, start)
    if start_on is None:
        return start
    first = next((i for i in range(start, len(roles)) if roles[i] == start_on), None)
    return start if first is None else first


def should_fold(pending: int, fold_batch: int, force: bool) -> bool:
    """Fold when ``fold_batch`` messages have left the window, or on ``flush`` (``force``)."""
    return pending > 0 and (force or pending >= fold_batch)


@dataclass(frozen=True)
class ContextFit:
    """Which parts of a context made it into the budget."""

    include_summary: bool
    hit_indexes: list[int]
    window_start: int
    tokens: int
    block_indexes: tuple[int, ...] = ()


def fit_context(
    summary_tokens: int,
    hit_tokens: Sequence[int],
    window_tokens: Sequence[int],
    max_tokens: int | None,
    window_roles: Sequence[str] | None = None,
    block_tokens: Sequence[int] = (),
    start_on: str | None = None,
) -> ContextFit:
    """Fit working-memory blocks + summary + recalled hits + window into ``max_tokens``.

    Priority: the newest message, then the blocks in order, then the summary, then hits in rank
    order, then older window
    messages newest first (the window stays contiguous: once one does not fit, older ones are
    dropped too, and it never opens on a tool result, nor, with ``start_on``, on another role than
    that one: pass ``window_roles`` for that). ``max_tokens=None`` keeps everything.
    """
    if max_tokens is None:
        total = sum(block_tokens) + summary_tokens + sum(hit_tokens) + sum(window_tokens)
        return ContextFit(summary_tokens > 0, list(range(len(hit_tokens))), 0, total, tuple(range(len(block_tokens))))
    used = 0
    start = len(window_tokens)
    if window_tokens:
        used += window_tokens[-1]
        start -= 1
    blocks: list[int] = []
    for index, cost in enumerate(block_tokens):
        if used + cost <= max_tokens:
            blocks.append(index)
            used += cost
    include_summary = summary_tokens > 0 and used + summary_tokens <= max_tokens
    if include_summary:
        used += summary_tokens
    hits: list[int] = []
    for index, cost in enumerate(hit_tokens):
        if used + cost <= max_tokens:
            hits.append(index)
            used += cost
    while start > 0 and used + window_tokens[start - 1] <= max_tokens:
        start -= 1
        used += window_tokens[start]
    if window_roles is not None:  # a tool result never opens the context without its call
        kept = opening(window_roles, start, start_on if start > 0 else None)  # trimmed: re-open
        used -= sum(window_tokens[start:kept])
        start = kept
    return ContextFit(include_summary, hits, start, used, tuple(blocks))
