"""ConversationMemory: the core as a legacy LangChain ``BaseMemory`` for chains."""

from __future__ import annotations

import dataclasses
from typing import Any

from langchain_classic.base_memory import BaseMemory
from langchain_classic.memory.utils import get_prompt_input_key
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, get_buffer_string
from pydantic import ConfigDict

from ..core.memory import MemoryCore
from ..records import MemoryContext
from .messages import records_to_messages, to_core_messages

__all__ = ["ConversationMemory"]


class ConversationMemory(BaseMemory):
    """Summary, recalled memories and recent window for ``ConversationChain`` and ``LLMChain``.

    For each run, ``load_memory_variables`` asks the core for the session's running summary, the
    memories of the user that best match the current input (from any session), and the window of
    recent messages, and hands them to the prompt under ``memory_key``: as one string, or as
    messages when ``return_messages=True`` (summary and memories in a ``SystemMessage``, then the
    window). ``save_context`` records the user's input and the model's output; ``clear`` forgets
    the session. The window size, summarizer and search live in the core.

    Setup::

        from agent_memory_plugins import MemoryCore
        from agent_memory_plugins.langchain import ConversationMemory

        mem = MemoryCore("./agent_memory", window_messages=10, summarizer=llm)

    Usage::

        from langchain_classic.chains import ConversationChain

        # was: memory=ConversationSummaryBufferMemory(llm=llm, max_token_limit=400)
        chain = ConversationChain(llm=llm, memory=ConversationMemory(core=mem, session_id="s1"))
        chain.invoke({"input": "I live in Denver"})

    Async: ``aload_memory_variables``, ``asave_context`` and ``aclear`` (used by ``chain.ainvoke``)
    run the core's async twins.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    core: MemoryCore
    """The memory every read and write goes to."""
    session_id: str = "default"
    """The conversation this memory reads and records."""
    user_id: str = "default"
    """Whose memories are recalled and recorded."""
    memory_key: str = "history"
    """Prompt variable the memory fills."""
    input_key: str | None = None
    """Input holding the user's message (default: the only input that is not a memory key)."""
    output_key: str | None = None
    """Output holding the model's reply (default: the only output)."""
    return_messages: bool = False
    """Give the prompt messages instead of one string."""
    human_prefix: str = "Human"
    """How user lines are labelled in the string form."""
    ai_prefix: str = "AI"
    """How assistant lines are labelled in the string form."""
    k: int = 5
    """How many long-term memories to recall for each input (0: none)."""
    max_tokens: int | None = None
    """Token budget for summary + memories + window (None: the core's window as it is)."""

    @property
    def memory_variables(self) -> list[str]:
        """The one prompt variable this memory fills."""
        return [self.memory_key]

    def load_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Summary + memories recalled for the current input + window, under ``memory_key``."""
        context = self.core.context(
            self.session_id, self._query(inputs), user_id=self.user_id, max_tokens=self.max_tokens, k=self.k
        )
        return {self.memory_key: self._render(context)}

    async def aload_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Async twin of :meth:`load_memory_variables`."""
        context = await self.core.acontext(
            self.session_id, self._query(inputs), user_id=self.user_id, max_tokens=self.max_tokens, k=self.k
        )
        return {self.memory_key: self._render(context)}

    def save_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        """Record the user's input and the model's output as two messages of the session."""
        self.core.add_messages(self.session_id, self._turn(inputs, outputs), user_id=self.user_id)

    async def asave_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        """Async twin of :meth:`save_context`."""
        await self.core.aadd_messages(self.session_id, self._turn(inputs, outputs), user_id=self.user_id)

    def clear(self) -> None:
        """Forget the session (its messages and summary). The user's other sessions stay."""
        self.core.forget(session_id=self.session_id, user_id=self.user_id)

    async def aclear(self) -> None:
        """Async twin of :meth:`clear`."""
        await self.core.aforget(session_id=self.session_id, user_id=self.user_id)

    # -- translation --------------------------------------------------------------------------
    def _input_key(self, inputs: dict[str, Any]) -> str:
        return self.input_key or get_prompt_input_key(inputs, self.memory_variables)

    def _query(self, inputs: dict[str, Any]) -> str | None:
        if not inputs:
            return None  # the core recalls for the latest user message of the window
        value = inputs.get(self._input_key(inputs))
        text = _text(value)
        return text if text.strip() else None

    def _turn(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, Any]]:
        if self.output_key is not None:
            output_key = self.output_key
        elif len(outputs) == 1:
            output_key = next(iter(outputs))
        elif "output" in outputs:
            output_key = "output"
        else:
            raise ValueError(
                f"ConversationMemory got several outputs ({', '.join(outputs)}); set output_key="
            )
        said = inputs[self._input_key(inputs)]
        replied = outputs[output_key]
        human = said if isinstance(said, BaseMessage) else HumanMessage(content=_text(said))
        ai = replied if isinstance(replied, BaseMessage) else AIMessage(content=_text(replied))
        return to_core_messages([human, ai])

    def _render(self, context: MemoryContext) -> str | list[BaseMessage]:
        window = records_to_messages(context.window)
        header = _header(context)
        if self.return_messages:
            return ([SystemMessage(content=header)] if header else []) + window
        conversation = get_buffer_string(window, human_prefix=self.human_prefix, ai_prefix=self.ai_prefix)
        return "\n\n".join(part for part in (header, conversation) if part)


def _header(context: MemoryContext) -> str:
    """Working memory, summary and recalled memories, formatted by the core (without the window)."""
    return dataclasses.replace(context, window=[]).render()


def _text(value: Any) -> str:
    if isinstance(value, BaseMessage):
        return value.text
    return value if isinstance(value, str) else str(value)
