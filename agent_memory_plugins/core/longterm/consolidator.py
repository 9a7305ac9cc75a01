"""Pluggable consolidators: a second opinion on new memories, off the write path.

``MemoryCore(consolidator=...)`` takes a LangChain chat model, a LlamaIndex LLM, a callable
``(new, similar) -> Decision | str`` or a :class:`Consolidator`. The background worker asks it about
each new fact, preference or skill that the offline rules stored as new or as an update, given the
user's similar stored memories; its verdict is applied then (a duplicate is merged into the stored
record and the new one removed; an update marks the stored records superseded). ``remember`` never
waits for it. A verdict that cannot be read, or a consolidator that fails, changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ...errors import ConfigurationError
from ...records import MemoryRecord
from ..conversation.summarizer import as_completion
from .consolidation import Decision

__all__ = ["CallableConsolidator", "Consolidator", "PromptConsolidator", "parse_verdict", "resolve_consolidator"]

PROMPT = """You keep a user's long-term memory tidy. Compare the NEW memory with the STORED ones.
Answer with exactly one line:
NEW - it says something the stored memories do not
DUPLICATE <n> - it says the same as stored memory <n>
UPDATES <n>[,<m>...] - it replaces what stored memory <n> said (a changed value of the same thing)

STORED:
{stored}

NEW: {new}
Answer:"""

_VERDICT = re.compile(r"\b(NEW|DUPLICATE|UPDATES)\b\s*([\d,\s]*)", re.IGNORECASE)


@runtime_checkable
class Consolidator(Protocol):
    """Decides whether a new memory repeats, updates or adds to the similar stored ones."""

    def consolidate(self, new: MemoryRecord, similar: Sequence[MemoryRecord]) -> Decision:
        """Return ``Decision("new")``, ``Decision("duplicate", target=id)`` or
        ``Decision("supersede", superseded=(id, ...))`` naming records of ``similar``."""
        ...


def parse_verdict(text: str, similar: Sequence[MemoryRecord]) -> Decision:
    """Read a model's ``NEW`` / ``DUPLICATE n`` / ``UPDATES n,m`` answer (1-based numbers)."""
    match = _VERDICT.search(text)
    if match is None:
        return Decision("new")
    numbers = [int(n) for n in re.findall(r"\d+", match.group(2))]
    chosen = [similar[n - 1].id for n in numbers if 1 <= n <= len(similar)]
    word = match.group(1).upper()
    if word == "DUPLICATE" and chosen:
        return Decision("duplicate", target=chosen[0])
    if word == "UPDATES" and chosen:
        return Decision("supersede", superseded=tuple(dict.fromkeys(chosen)))
    return Decision("new")


class PromptConsolidator:
    """Asks a language model through a function ``prompt -> text``."""

    def __init__(self, complete: Callable[[str], str], name: str) -> None:
        self.complete = complete
        self.name = name

    def consolidate(self, new: MemoryRecord, similar: Sequence[MemoryRecord]) -> Decision:
        """Ask the model and read its one-line verdict."""
        stored = "\n".join(f"{n}. {record.text}" for n, record in enumerate(similar, start=1))
        return parse_verdict(self.complete(PROMPT.format(stored=stored, new=new.text)), similar)


class CallableConsolidator:
    """Wraps a function ``(new, similar) -> Decision`` or ``-> "UPDATES 1"``-style text."""

    def __init__(self, function: Callable[[MemoryRecord, Sequence[MemoryRecord]], Any]) -> None:
        self.function = function

    def consolidate(self, new: MemoryRecord, similar: Sequence[MemoryRecord]) -> Decision:
        """Call the function and accept a Decision or a verdict line."""
        verdict = self.function(new, similar)
        return verdict if isinstance(verdict, Decision) else parse_verdict(str(verdict), similar)


def resolve_consolidator(consolidator: Any) -> Consolidator | None:
    """``None`` (offline rules only), a :class:`Consolidator`, a model, or a callable."""
    if consolidator is None or isinstance(consolidator, Consolidator):
        return consolidator
    complete = as_completion(consolidator)
    if complete is not None:
        return PromptConsolidator(complete, type(consolidator).__name__)
    if callable(consolidator):
        return CallableConsolidator(consolidator)
    raise ConfigurationError(
        "consolidator must be a LangChain chat model, a LlamaIndex LLM, a callable "
        f"(new, similar) -> Decision or a Consolidator, got {type(consolidator).__name__}"
    )
