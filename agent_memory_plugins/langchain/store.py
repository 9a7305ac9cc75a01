"""MemoryStore: the core as a LangGraph ``BaseStore`` for long-term memory across threads."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from ._deps import LANGGRAPH_MODULES, require

require(LANGGRAPH_MODULES, "langgraph")

from langgraph.store.base import (  # noqa: E402
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    get_text_at_path,
    validate_op_namespace,
)

from ..core.memory import MemoryCore  # noqa: E402
from ..core.validation import from_epoch  # noqa: E402
from ..errors import InvalidInputError  # noqa: E402
from ..records import MEMORY_KINDS, MemoryRecord  # noqa: E402

__all__ = ["MemoryStore"]

RESERVED = "_lg_"
"""Prefix of the metadata fields the store keeps next to an item's value."""
KEY, NAMESPACE, CREATED, INDEXED = "_lg_key", "_lg_ns", "_lg_created", "_lg_indexed"
TEXT_FIELDS = ("text", "content", "memory")
"""Value fields whose text is embedded when no ``index`` fields are given (first one present)."""


class MemoryStore(BaseStore):
    """A LangGraph store whose items are the core's long-term memories.

    The first label of a namespace is the user: ``("alice", "preference")`` holds memories of user
    ``alice``. The first later label that names a memory kind (``fact``, ``event``,
    ``preference``, ``skill``) is the kind; otherwise items are facts. An item's value is the
    record's metadata (so ``filter`` works on its top-level fields) and its text, which is embedded
    and keyword-indexed, is taken from ``index`` fields, else ``value["text"]``,
    ``value["content"]`` or ``value["memory"]``, else the value as JSON. ``search(query=...)`` is
    the core's hybrid search; the same memories are found by ``MemoryCore.search`` and
    ``MemoryRetriever``. Putting an existing key replaces the item (``created_at`` is kept). A
    numeric ``value["importance"]`` in [0, 1] becomes the record's importance (recall weighs it).

    Setup::

        from agent_memory_plugins import MemoryCore
        from agent_memory_plugins.langchain import MemoryStore

        store = MemoryStore(core=MemoryCore("./agent_memory"))
        agent = create_agent(model, tools, store=store)     # or graph.compile(store=store)

    Usage::

        store.put(("alice", "preference"), "drink", {"text": "Alice drinks green tea", "topic": "food"})
        store.get(("alice", "preference"), "drink").value
        store.search(("alice",), query="what does she drink?", filter={"topic": "food"}, limit=3)
        store.list_namespaces(prefix=("alice",))
        store.delete(("alice", "preference"), "drink")

    Async: ``aget``, ``aput``, ``asearch``, ``adelete``, ``alist_namespaces`` and ``abatch`` run
    the same operations in a worker thread.
    """

    __slots__ = ("core", "index_fields")

    def __init__(self, *, core: MemoryCore, index_fields: Sequence[str] | None = None) -> None:
        self.core = core
        self.index_fields = list(index_fields) if index_fields is not None else None

    # -- BaseStore ----------------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the operations in order; one result per operation."""
        results: list[Result] = []
        for op in ops:
            validate_op_namespace(op)
            if isinstance(op, GetOp):
                results.append(self._get(op.namespace, op.key))
            elif isinstance(op, SearchOp):
                results.append(self._search(op))
            elif isinstance(op, PutOp):
                self._put(op)
                results.append(None)
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op))
            else:
                raise InvalidInputError(f"unknown store operation {op!r}")
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async twin of :meth:`batch` (runs in a worker thread)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # -- operations ---------------------------------------------------------------------------
    def _get(self, namespace: tuple[str, ...], key: str) -> Item | None:
        if not namespace:
            return None
        found = self._find(namespace, key)
        return _item(found[0]) if found else None

    def _put(self, op: PutOp) -> None:
        namespace, key = tuple(op.namespace), str(op.key)
        if not namespace:
            raise InvalidNamespaceError("Namespace cannot be empty.")
        old = self._find(namespace, key)
        if op.value is not None:
            value = dict(op.value)
            clash = [name for name in value if isinstance(name, str) and name.startswith(RESERVED)]
            if clash:
                raise InvalidInputError(f"value fields starting with {RESERVED!r} are reserved: {clash}")
            created = old[0].metadata.get(CREATED) if old else None
            metadata = {
                **value, KEY: key, NAMESPACE: _join(namespace), **_prefixes(namespace),
                CREATED: created if isinstance(created, (int, float)) else time.time(),
                INDEXED: op.index is not False,
            }
            importance = value.get("importance")
            self.core.remember(
                self._text(value, op.index), user_id=namespace[0], kind=_kind(namespace), metadata=metadata,
                importance=importance if isinstance(importance, (int, float)) else None,
                consolidate=False,  # an item is what was put under its key, never merged with another
            )
        for record in old:  # after the new write, so a crash in between never loses the item
            self.core.forget(memory_id=record.id, user_id=namespace[0])

    def _search(self, op: SearchOp) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        wanted = op.offset + op.limit
        if wanted <= 0:
            return []
        found: list[SearchItem] = []
        for user in [prefix[0]] if prefix else self.core.users():
            where = _where(prefix or (user,), op.filter, indexed_only=bool(op.query))
            if op.query:
                hits = self.core.search(op.query, user_id=user, k=wanted, kinds=MEMORY_KINDS, where=where)
                found.extend(_search_item(hit.record, hit.score) for hit in hits)
            else:
                found.extend(_search_item(record) for record in self._select(user, where, wanted))
        if op.query:
            found.sort(key=lambda item: item.score or 0.0, reverse=True)
        else:
            found.sort(key=lambda item: item.updated_at, reverse=True)
        return found[op.offset:wanted]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions = op.match_conditions or ()
        users = self.core.users()
        for condition in conditions:
            if condition.match_type == "prefix" and condition.path and condition.path[0] != "*":
                users = [user for user in users if user == condition.path[0]]
        namespaces: set[tuple[str, ...]] = set()
        for user in users:
            for record in self._select(user, {_prefix_field(1): user}, None):
                namespace = tuple(str(record.metadata[NAMESPACE]).split("."))
                if all(_matches(namespace, condition) for condition in conditions):
                    namespaces.add(namespace[: op.max_depth] if op.max_depth is not None else namespace)
        return sorted(namespaces)[op.offset: op.offset + op.limit]

    # -- helpers ------------------------------------------------------------------------------
    def _find(self, namespace: tuple[str, ...], key: str) -> list[MemoryRecord]:
        """Records holding this key, newest first (more than one only after an interrupted put)."""
        where = {NAMESPACE: _join(namespace), KEY: key}
        return self._select(namespace[0], where, None)

    def _select(self, user: str, where: dict[str, Any], limit: int | None) -> list[MemoryRecord]:
        """Store items of ``user`` matching ``where``, newest first, without a query."""
        return self.core.records(user_id=user, kinds=MEMORY_KINDS, where=where, newest_first=True, limit=limit)

    def _text(self, value: dict[str, Any], index: Literal[False] | list[str] | None) -> str:
        """The text to embed for a value."""
        fields = index if isinstance(index, list) else self.index_fields
        if index is not False and fields:
            parts = [text for path in fields for text in get_text_at_path(value, path) if text.strip()]
            if parts:
                return "\n".join(parts)
        if index is not False:
            for name in TEXT_FIELDS:
                text = value.get(name)
                if isinstance(text, str) and text.strip():
                    return text
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)

    def __repr__(self) -> str:
        return f"MemoryStore(core={self.core!r})"


def _join(namespace: Sequence[str]) -> str:
    """A namespace as one string (labels cannot contain periods, so this is unambiguous)."""
    return ".".join(namespace)


def _prefix_field(depth: int) -> str:
    return f"{NAMESPACE}{depth}"


def _prefixes(namespace: tuple[str, ...]) -> dict[str, str]:
    """One field per namespace prefix, so prefix search is an equality filter."""
    return {_prefix_field(depth): _join(namespace[:depth]) for depth in range(1, len(namespace) + 1)}


def _kind(namespace: tuple[str, ...]) -> str:
    return next((label for label in namespace[1:] if label in MEMORY_KINDS), "fact")


def _where(prefix: tuple[str, ...], filter: Mapping[str, Any] | None, indexed_only: bool) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{_prefix_field(len(prefix)): _join(prefix)}]
    if indexed_only:
        parts.append({INDEXED: True})
    if filter:
        parts.append(dict(filter))
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _matches(namespace: tuple[str, ...], condition: MatchCondition) -> bool:
    path = tuple(condition.path)
    if len(path) > len(namespace):
        return False
    part = namespace[: len(path)] if condition.match_type == "prefix" else namespace[len(namespace) - len(path):]
    return all(want in ("*", have) for want, have in zip(path, part, strict=True))


def _item(record: MemoryRecord) -> Item:
    """A record as a LangGraph item: its metadata without our fields is the value."""
    metadata = record.metadata
    created = metadata.get(CREATED)
    created_at: datetime = from_epoch(float(created)) if isinstance(created, (int, float)) else record.created_at
    return Item(
        value={name: field for name, field in metadata.items() if not name.startswith(RESERVED)},
        key=str(metadata[KEY]), namespace=tuple(str(metadata[NAMESPACE]).split(".")),
        created_at=created_at, updated_at=record.created_at,
    )


def _search_item(record: MemoryRecord, score: float | None = None) -> SearchItem:
    item = _item(record)
    return SearchItem(
        namespace=item.namespace, key=item.key, value=item.value,
        created_at=item.created_at, updated_at=item.updated_at, score=score,
    )
