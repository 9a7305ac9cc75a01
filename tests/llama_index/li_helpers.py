"""Fake models and shared data for the LlamaIndex adapter tests.

The hosts are LlamaIndex's real classes; only the models are fakes. The fake models record what
they were sent, so the tests assert on the prompt the model saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.llms.mock import MockFunctionCallingLLM

from agent_memory_plugins import MemoryCore

FACT = "My sister Lena lives in Porto."
QUESTION = "Where does my sister Lena live?"
OTHER_FACT = "My sister Marta lives in Reykjavik, my secret code is QZ-4411."
OTHER_MARKERS = ("Reykjavik", "QZ-4411")  # not digits alone: those can be in a timestamp
FILLER = [f"Tell me about unrelated topic number {i}, such as weather or sport." for i in range(6)]


class RecordingLLM(CustomLLM):
    """A completion model that answers ``reply`` (or ``respond(prompt)``) and keeps every prompt.

    Chat calls reach ``complete`` through ``messages_to_prompt``, so ``prompts`` holds everything
    the model was sent, chat or completion.
    """

    reply: str = Field(default="Noted.", description="What the model answers.")
    respond: Callable[[str], str] | None = Field(default=None, description="Answers per prompt.")
    prompts: list[str] = Field(default_factory=list, description="Every prompt received, in order.")

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="recording")

    def _answer(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.respond(prompt) if self.respond is not None else self.reply

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._answer(prompt))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        text = self._answer(prompt)

        def gen() -> CompletionResponseGen:
            yield CompletionResponse(text=text, delta=text)

        return gen()

    @property
    def last(self) -> str:
        return self.prompts[-1]

    def everything(self) -> str:
        return "\n".join(self.prompts)


class RecordingFunctionLLM(MockFunctionCallingLLM):
    """A function-calling model that keeps the messages of every call.

    When the latest user message mentions the weather and no tool result followed it, it calls
    the ``weather`` tool; otherwise it answers ``reply``.
    """

    reply: str = Field(default="Done.", description="What the model answers.")
    calls: list[list[ChatMessage]] = Field(default_factory=list, description="Messages of each call.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.response_generator = self._generate

    def _generate(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        self.calls.append([message.model_copy(deep=True) for message in messages])
        users = [i for i, message in enumerate(messages) if message.role.value == "user"]
        latest = messages[users[-1]] if users else None
        answered = users and any(m.role.value == "tool" for m in messages[users[-1]:])
        if latest is not None and "weather" in (latest.content or "") and not answered:
            return ChatMessage(role="assistant", blocks=[ToolCallBlock(
                tool_call_id=f"call-{len(self.calls)}", tool_name="weather", tool_kwargs={"city": "Porto"},
            )])
        return ChatMessage(role="assistant", content=self.reply)

    def last_text(self) -> str:
        return "\n".join(str(message) for message in self.calls[-1])


def weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def open_core(path: Any) -> MemoryCore:
    """An on-disk core configured like the ``memory`` fixture."""
    return MemoryCore(path, window_messages=6, fold_batch=2)


def assert_bob_reachable(core: MemoryCore) -> None:
    """Bob's fact does match alice's question: only user scoping keeps it out of her prompts."""
    assert any("Reykjavik" in hit.record.text for hit in core.search(QUESTION, user_id="bob"))


def recalled(prompt: str) -> str:
    """The 'Relevant memories' section of a prompt (the memories recalled for this turn)."""
    assert "Relevant memories:" in prompt, "nothing was recalled into this prompt"
    return prompt.split("Relevant memories:", 1)[1].split("\n\n", 1)[0]
