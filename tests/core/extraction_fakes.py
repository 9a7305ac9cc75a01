"""A 40-turn conversation and a deterministic fake extractor for the extraction tests.

Imported by the tests and by the subprocesses they kill (so both use the same embedder name).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

from agent_memory_plugins.records import MemoryRecord


def hash_embedder(texts: list[str]) -> list[list[float]]:
    """A fast deterministic embedder (identical texts, identical vectors)."""
    return [[b / 255.0 for b in hashlib.sha256(text.encode()).digest()[:16]] for text in texts]


def user_turn(turn: int) -> str:
    """What the user says at ``turn`` (1-based) of the 40-turn conversation."""
    if turn == 10:
        return "I prefer tea in the morning"
    if turn == 30:
        return "Actually I prefer coffee in the morning now"
    if turn == 20:
        return "I ran the Porto marathon on May 3"
    if turn == 36:
        return "I have a cat named Rex8"  # says the fact of turn 8 again
    if turn % 4 == 0:
        return f"I have a cat named Rex{turn}"
    return f"tell me something about clouds, part {turn}"


def conversation(turns: int = 40) -> list[dict[str, str]]:
    """``turns`` user messages, each followed by the assistant's reply."""
    messages: list[dict[str, str]] = []
    for turn in range(1, turns + 1):
        messages.append({"role": "user", "content": user_turn(turn)})
        messages.append({"role": "assistant", "content": f"Noted, reply {turn}."})
    return messages


EXPECTED_FACTS = {f"The user has a cat named Rex{t}" for t in range(4, 41, 4) if t not in (20, 36)}
"""The distinct facts the fake extractor finds in the 40 turns (turn 20 is the event, 36 a repeat)."""
EXPECTED_EVENT = "The user ran the Porto marathon on May 3"
_CAT = re.compile(r"^I have a cat named (Rex\d+)$")
_PREFER = re.compile(r"I prefer (\w+) in the morning")


def answer_for(messages: Sequence[MemoryRecord]) -> str:
    """What a chatty model would answer: the memories as lines between lines to ignore."""
    lines = ["Here is what I found:"]
    for message in messages:
        if message.role != "user":
            continue
        if cat := _CAT.match(message.text):
            lines.append(f"fact: The user has a cat named {cat.group(1)}")
        elif prefer := _PREFER.search(message.text):
            lines.append(f"- preference: morning drink = {prefer.group(1)}")
        elif "marathon" in message.text:
            lines.append(f"event: {EXPECTED_EVENT}")
    lines.append("That is all, hope it helps!")
    return "\n".join(lines)


class FakeExtractor:
    """A callable extractor answering :func:`answer_for`; counts its calls; ``hook(call)`` runs
    first on each call (to fail, to block, or to signal)."""

    def __init__(self, hook: Callable[[int], None] | None = None) -> None:
        self.calls = 0
        self.batches: list[list[str]] = []
        self.hook = hook

    def __call__(self, messages: Sequence[MemoryRecord]) -> str:
        self.calls += 1
        if self.hook is not None:
            self.hook(self.calls)
        self.batches.append([message.id for message in messages])
        return answer_for(messages)
