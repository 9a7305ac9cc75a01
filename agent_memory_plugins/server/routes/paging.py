"""Pages of a listing: read one item more than asked to know whether another page follows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from ..models import Page

T = TypeVar("T")


def page(fetch: Callable[[int, int], Sequence[T]], offset: int, limit: int, total: int | None = None) -> Page[T]:
    """The page at ``offset``: ``fetch(offset, limit + 1)`` reads the items (one more than shown)."""
    found = list(fetch(offset, limit + 1))
    more = len(found) > limit
    return Page[T](items=found[:limit], offset=offset, limit=limit, next_offset=offset + limit if more else None,
                   total=total)


def slice_page(items: Sequence[T], offset: int, limit: int) -> Page[T]:
    """A page of a listing already in memory (its total is known)."""
    return page(lambda start, count: items[start:start + count], offset, limit, len(items))
