"""Helpers of the adapter tests: a chat model that records what it was sent, and conversations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

FACT = "My name is Zarathustra and I live in Reykjavik."
"""Alice's fact, told at turn 3 of the long conversations."""
OTHER_FACT = "My name is Bartholomew and I live in Lisbon."
"""Bob's fact: must never reach a prompt made for Alice."""
FILLER = ["tell me more about clouds", "what else is there to say", "go on please",
          "and then what happened", "that sounds interesting to hear"]


def turn_text(turn: int) -> str:
    """What the user says at ``turn`` (1-based) of a long conversation: the fact at turn 3."""
    return FACT if turn == 3 else FILLER[turn % len(FILLER)]


Reply = Callable[[list[BaseMessage]], AIMessage]


class RecordingChatModel(BaseChatModel):
    """Answers with ``reply(messages)`` (default: "ok") and keeps every list of messages sent."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reply: Reply | None = None
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            self.calls.append(list(messages))
        answer = self.reply(list(messages)) if self.reply else AIMessage(content="ok")
        return ChatResult(generations=[ChatGeneration(message=answer)])

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> RecordingChatModel:  # type: ignore[override]
        return self

    @property
    def last(self) -> list[BaseMessage]:
        return self.calls[-1]


def text_of(messages: Sequence[BaseMessage]) -> str:
    """Everything a model was sent, as one string."""
    return "\n".join(f"{m.type}: {m.text}" for m in messages)


def all_text(model: RecordingChatModel) -> str:
    return "\n".join(text_of(call) for call in model.calls)


def assert_tool_pairs_intact(messages: Sequence[BaseMessage]) -> None:
    """Every ToolMessage follows the AIMessage that called it, and every call has its result."""
    called: set[str] = set()
    answered: set[str] = set()
    for message in messages:
        if isinstance(message, AIMessage):
            called.update(call["id"] for call in message.tool_calls if call["id"])
        if isinstance(message, ToolMessage):
            assert message.tool_call_id in called, f"tool result {message.tool_call_id} without its call"
            answered.add(message.tool_call_id)
    assert called <= answered, f"tool calls without results: {called - answered}"
