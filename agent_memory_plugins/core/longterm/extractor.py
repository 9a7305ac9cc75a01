"""Pluggable extractors: a model that reads a batch of messages and names the memories in it.

``MemoryCore(extractor=...)`` takes a LangChain chat model (structured output when the model
supports it, else plain lines), a LlamaIndex LLM (plain lines through ``complete``), a callable
``(messages) -> str | list`` or an :class:`Extractor`. It runs in the background worker only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ...errors import ConfigurationError
from ...records import MemoryRecord
from ..conversation.summarizer import as_completion
from .extraction import SCHEMA, Extracted, build_prompt, parse_lines, parse_structured

__all__ = ["CallableExtractor", "Extractor", "ModelExtractor", "resolve_extractor"]


@runtime_checkable
class Extractor(Protocol):
    """Names the durable facts, preferences and events in a batch of messages."""

    def extract(self, messages: Sequence[MemoryRecord]) -> list[Extracted]:
        """The memories found in ``messages`` (oldest first); raising means "try again later"."""
        ...


class ModelExtractor:
    """Asks a language model: structured output when ``structured`` is given, else plain lines."""

    def __init__(
        self, complete: Callable[[str], str], structured: Callable[[str], Any] | None, name: str
    ) -> None:
        self.complete = complete
        self.structured = structured
        self.name = name

    def extract(self, messages: Sequence[MemoryRecord]) -> list[Extracted]:
        """One model call over the batch (a second, plain one when a structured answer is empty)."""
        prompt = build_prompt(messages)
        if self.structured is not None:
            answer = self.structured(prompt)
            if isinstance(answer, Mapping) or hasattr(answer, "memories"):
                return parse_structured(answer)
        return parse_lines(self.complete(prompt))


class CallableExtractor:
    """Wraps a function ``(messages) -> str`` (plain lines) or ``-> list`` (structured items)."""

    def __init__(self, function: Callable[[Sequence[MemoryRecord]], Any]) -> None:
        self.function = function

    def extract(self, messages: Sequence[MemoryRecord]) -> list[Extracted]:
        """Call the function and read its answer."""
        answer = self.function(messages)
        return parse_lines(answer) if isinstance(answer, str) else parse_structured(answer)


def resolve_extractor(model: Any) -> Extractor | None:
    """``None`` (no extraction), an :class:`Extractor`, a LlamaIndex LLM, a LangChain chat model or
    runnable, or a callable ``(messages) -> str | list``."""
    if model is None:
        return None
    if isinstance(model, Extractor):
        return model
    complete = as_completion(model)
    if complete is not None:
        llama = hasattr(model, "complete") and hasattr(model, "metadata")
        return ModelExtractor(complete, None if llama else _structured(model), type(model).__name__)
    if callable(model):
        return CallableExtractor(model)
    raise ConfigurationError(
        "extractor must be a LangChain chat model, a LlamaIndex LLM, a callable (messages) -> str or an "
        f"Extractor, got {type(model).__name__}"
    )


def _structured(model: Any) -> Callable[[str], Any] | None:
    """``prompt -> answer`` through the model's structured output, ``None`` when it has none."""
    make = getattr(model, "with_structured_output", None)
    if make is None:
        return None
    try:
        runnable = make(SCHEMA)
    except (NotImplementedError, ValueError, TypeError, AttributeError):  # no tool calling or JSON mode
        return None
    return lambda prompt: runnable.invoke(prompt)
