"""Summarizers fold messages that left the window into a session's running summary.

The default is extractive and offline. A LangChain chat model, a LlamaIndex LLM or any callable
``(previous_summary, messages) -> str`` can replace it; they run in the background worker, never
on the write path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ...errors import ConfigurationError
from ...records import MemoryRecord, is_tool_traffic
from ..longterm.salience import is_filler, sentence_salience, split_sentences
from .budget import greedy_fit
from .tokens import TokenCounter, approximate_tokens


@runtime_checkable
class Summarizer(Protocol):
    """Folds new messages into a previous summary, within a token budget."""

    def summarize(self, previous: str, messages: Sequence[MemoryRecord], max_tokens: int) -> str:
        """Return the new running summary."""
        ...


class ExtractiveSummarizer:
    """An offline digest: who said what, and when; the sentences that carry facts.

    The summary is one line per day and speaker, ``[2025-03-05] Maya: sentence. sentence.``, the
    speaker taken from the message metadata (``speaker`` or ``name``) or its role. Kept are the
    sentences that carry names, numbers, dates and first-person facts; small talk ("Wow, thanks
    Mel!") goes. A sentence that only points back ("I ordered a new one for $89.") keeps the
    sentence before it, which names its subject. When the digest would exceed its budget the
    sentences with the fewest facts for their length go first; the rest stay in the order they
    were said.
    """

    def __init__(self, token_counter: TokenCounter = approximate_tokens, min_salience: float = 0.3) -> None:
        self.token_counter = token_counter
        self.min_salience = min_salience

    def summarize(self, previous: str, messages: Sequence[MemoryRecord], max_tokens: int) -> str:
        """Merge the previous digest with the fact-bearing sentences of ``messages``."""
        units = _parse(previous)
        for message in messages:
            if is_tool_traffic(message):  # tool calls and results: plumbing, not facts
                continue
            who = _speaker(message)
            day = message.timestamp.date().isoformat()
            sentences = split_sentences(_without_speaker(message.text, who))
            for position, sentence in enumerate(sentences):
                if not self._worth_keeping(sentence, who):
                    continue
                if position > 0 and _points_back(sentence):
                    before = sentences[position - 1]
                    if not _small_talk(before, who) and (not units or units[-1] != (day, who, before)):
                        units.append((day, who, before))
                units.append((day, who, sentence))
        return _render(self._fit(units, max_tokens))

    def _worth_keeping(self, sentence: str, who: str) -> bool:
        return not _small_talk(sentence, who) and sentence_salience(sentence) >= self.min_salience

    def _fit(self, units: list[Unit], max_tokens: int) -> list[Unit]:
        if self.token_counter(_render(units)) <= max_tokens:
            return units
        worth = [(_fact_count(text) + sentence_salience(text)) / max(1, self.token_counter(text))
                 for _, _, text in units]
        order = sorted(range(len(units)), key=lambda i: (worth[i], i), reverse=True)
        if self.token_counter is approximate_tokens:  # additive: the same result, without re-rendering
            fitted = greedy_fit(units, order, max_tokens, approximate_tokens)
            return [unit for i, unit in enumerate(units) if i in fitted]
        kept: set[int] = set()
        for index in order:
            trial = kept | {index}
            if self.token_counter(_render([u for i, u in enumerate(units) if i in trial])) <= max_tokens:
                kept = trial
        return [unit for i, unit in enumerate(units) if i in kept]


Unit = tuple[str, str, str]
"""One kept sentence: (day as YYYY-MM-DD or "", speaker, sentence)."""
_LINE = re.compile(r"^(?:\[(\d{4}-\d{2}-\d{2})\] )?([^:\n]{1,80}): (.+)$")
_POINTS_BACK = re.compile(r"\b(one|it|that|this|those|these|them|there)\b", re.IGNORECASE)
_FACT = re.compile(r"\d+(?:[.,:]\d+)*|(?<!^)\b[A-Z][a-z]+")


def _parse(previous: str) -> list[Unit]:
    """The sentences of a previous digest (an older summary's plain lines are kept whole)."""
    units: list[Unit] = []
    for line in previous.splitlines():
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if match is None:
            units.append(("", "", line.strip()))
            continue
        day, who, text = match.group(1) or "", match.group(2), match.group(3)
        units.extend((day, who, sentence) for sentence in split_sentences(text))
    return units


def _render(units: Sequence[Unit]) -> str:
    """One line per run of sentences with the same day and speaker."""
    lines: list[str] = []
    current: tuple[str, str] | None = None
    for day, who, text in units:
        if (day, who) == current and lines:
            lines[-1] += " " + text
            continue
        current = (day, who)
        head = f"[{day}] " if day else ""
        lines.append(f"{head}{who}: {text}" if who else f"{head}{text}")
    return "\n".join(lines)


def _without_speaker(text: str, who: str) -> str:
    """The text without a leading ``"Speaker: "`` naming its own speaker (as imports write it)."""
    prefix = f"{who}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _small_talk(sentence: str, who: str) -> bool:
    """Content-free, also when addressed to someone ("Thanks, Melanie!", "Hey Mel!")."""
    return is_filler(sentence.replace(who, ""), vocatives=True)


def _points_back(sentence: str) -> bool:
    """Whether a sentence names its subject only by pointing back ("I ordered a new one")."""
    return _POINTS_BACK.search(sentence) is not None and _fact_count(sentence.split(" ", 1)[-1]) <= 1


def _fact_count(text: str) -> int:
    return len(_FACT.findall(text))


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
