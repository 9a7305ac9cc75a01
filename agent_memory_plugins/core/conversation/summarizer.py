"""Summarizers fold messages that left the window into a session's running summary.

The default is extractive and offline. A LangChain chat model, a LlamaIndex LLM or any callable
``(previous_summary, messages) -> str`` can replace it; they run in the background worker, never
on the write path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ...errors import ConfigurationError
from ...records import MemoryRecord
from ..longterm.salience import sentence_salience, split_sentences
from .tokens import TokenCounter, approximate_tokens


@runtime_checkable
class Summarizer(Protocol):
    """Folds new messages into a previous summary, within a token budget."""

    def summarize(self, previous: str, messages: Sequence[MemoryRecord], max_tokens: int) -> str:
        """Return the new running summary."""
        ...


class ExtractiveSummarizer:
    """Keeps the sentences that carry names, numbers, dates and first-person facts.

    Each kept sentence is prefixed with who said it. When the summary would exceed its budget the
    least salient sentences go first; the survivors stay in the order they were said.
    """

    def __init__(self, token_counter: TokenCounter = approximate_tokens, min_salience: float = 0.3) -> None:
        self.token_counter = token_counter
        self.min_salience = min_salience

    def summarize(self, previous: str, messages: Sequence[MemoryRecord], max_tokens: int) -> str:
        """Merge the previous summary's lines with the salient sentences of ``messages``."""
        lines = [line for line in previous.splitlines() if line.strip()]
        for message in messages:
            who = _speaker(message)
            for sentence in split_sentences(message.text):
                if sentence_salience(sentence) >= self.min_salience:
                    lines.append(f"{who}: {sentence}")
        return self._fit(lines, max_tokens)

    def _fit(self, lines: list[str], max_tokens: int) -> str:
        costs = [self.token_counter(line) for line in lines]
        if sum(costs) <= max_tokens:
            return "\n".join(lines)
        ranked = sorted(
            range(len(lines)),
            key=lambda i: (sentence_salience(lines[i].split(": ", 1)[-1]), i),
            reverse=True,
        )
        kept: set[int] = set()
        used = 0
        for index in ranked:
            if used + costs[index] <= max_tokens:
                kept.add(index)
                used += costs[index]
        return "\n".join(line for i, line in enumerate(lines) if i in kept)


def _speaker(message: MemoryRecord) -> str:
    name = message.metadata.get("speaker") or message.metadata.get("name")
    return str(name) if isinstance(name, str) and name else message.role


PROMPT = (
    "You maintain the running summary of a conversation. Keep every name, number, date, "
    "preference and fact the user stated; drop small talk. Stay under {max_tokens} tokens.\n\n"
    "Current summary:\n{previous}\n\nNew lines of conversation:\n{lines}\n\n"
    "Reply with the updated summary only."
)


class PromptSummarizer:
    """Summarizes with a language model through a function ``prompt -> text``."""

    def __init__(self, complete: Callable[[str], str], name: str) -> None:
        self.complete = complete
        self.name = name

    def summarize(self, previous: str, messages: Sequence[MemoryRecord], max_tokens: int) -> str:
        """Ask the model for the updated summary."""
        lines = "\n".join(f"{_speaker(m)}: {m.text}" for m in messages)
        prompt = PROMPT.format(max_tokens=max_tokens, previous=previous or "(empty)", lines=lines)
        return self.complete(prompt).strip()


class CallableSummarizer:
    """Wraps a plain function ``(previous_summary, messages) -> str``."""

    def __init__(self, function: Callable[[str, Sequence[MemoryRecord]], str]) -> None:
        self.function = function

    def summarize(self, previous: str, messages: Sequence[MemoryRecord], max_tokens: int) -> str:
        """Call the function."""
        return str(self.function(previous, messages))


def resolve_summarizer(summarizer: Any, token_counter: TokenCounter) -> Summarizer:
    """Accept ``None`` (extractive), a :class:`Summarizer`, a LlamaIndex LLM (``complete``),
    a LangChain chat model or runnable (``invoke``), or a callable."""
    if summarizer is None:
        return ExtractiveSummarizer(token_counter)
    if isinstance(summarizer, Summarizer):
        return summarizer
    complete = as_completion(summarizer)
    if complete is not None:
        return PromptSummarizer(complete, type(summarizer).__name__)
    if callable(summarizer):
        return CallableSummarizer(summarizer)
    raise ConfigurationError(
        "summarizer must be a LangChain chat model, a LlamaIndex LLM, a callable "
        f"(previous, messages) -> str or a Summarizer, got {type(summarizer).__name__}"
    )


def as_completion(model: Any) -> Callable[[str], str] | None:
    """``prompt -> text`` for a LlamaIndex LLM (``complete``) or a LangChain chat model or runnable
    (``invoke``); ``None`` for anything else."""
    if hasattr(model, "complete") and hasattr(model, "metadata"):
        return lambda prompt: str(model.complete(prompt).text)
    if hasattr(model, "invoke"):
        return lambda prompt: _text_of(model.invoke(prompt))
    return None


def _text_of(reply: Any) -> str:
    content = getattr(reply, "content", reply)
    if isinstance(content, list):  # LangChain content blocks
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)
