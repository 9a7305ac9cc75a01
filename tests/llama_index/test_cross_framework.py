"""One store, two frameworks: what LangChain records LlamaIndex recalls, and the other way round.

The LangChain side is ``agent_memory_plugins.langchain.ChatHistory`` (and its ``MemoryRetriever``)
when importable; the ``simulated`` variant stands in for it with plain ``core.add_messages`` calls
driven by ``langchain_core`` messages, writing tool calls in the neutral metadata form
(``tool_calls`` / ``tool_call_id``) that the LlamaIndex adapters read and write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from li_helpers import (
    FACT,
    FILLER,
    OTHER_FACT,
    OTHER_MARKERS,
    QUESTION,
    RecordingFunctionLLM,
    RecordingLLM,
    assert_bob_reachable,
    recalled,
    weather,
)
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.tools import FunctionTool

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.llama_index import ChatMemory, MemoryRetriever, RecallMemoryBlock

try:
    from agent_memory_plugins.langchain import ChatHistory
    from agent_memory_plugins.langchain import MemoryRetriever as LangChainRetriever
except ImportError:  # the LangChain adapters are not there (yet, or not installed)
    ChatHistory = None
    LangChainRetriever = None

ROLE_OF = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


class SimulatedChatHistory(BaseChatMessageHistory):
    """What the LangChain adapter does, in plain core calls: LangChain messages in and out."""

    def __init__(self, *, core: MemoryCore, session_id: str = "default", user_id: str = "default") -> None:
        self.core, self.session_id, self.user_id = core, session_id, user_id

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        return [_to_langchain(r) for r in self.core.window(self.session_id, user_id=self.user_id)]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        self.core.add_messages(self.session_id, [_to_core(m) for m in messages], user_id=self.user_id)

    def clear(self) -> None:
        self.core.forget(session_id=self.session_id, user_id=self.user_id)


def _to_core(message: BaseMessage) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    text = message.text
    if isinstance(message, AIMessage) and message.tool_calls:
        metadata["tool_calls"] = [{"id": c["id"], "name": c["name"], "args": c["args"]} for c in message.tool_calls]
        text = text or "called " + "; ".join(f"{c['name']}({json.dumps(c['args'])})" for c in message.tool_calls)
    if isinstance(message, ToolMessage):
        metadata["tool_call_id"] = message.tool_call_id
    return {"role": ROLE_OF[message.type], "content": text, "metadata": metadata}


def _to_langchain(record: Any) -> BaseMessage:
    if record.role == "tool":
        return ToolMessage(content=record.text, tool_call_id=record.metadata.get("tool_call_id", record.id))
    if record.role == "assistant":
        calls = [{"id": c["id"], "name": c["name"], "args": c["args"]} for c in record.metadata.get("tool_calls", [])]
        return AIMessage(content=record.text, tool_calls=calls)
    return SystemMessage(content=record.text) if record.role == "system" else HumanMessage(content=record.text)


class LangChainSide:
    """The LangChain adapters, real or simulated."""

    def __init__(self, real: bool) -> None:
        self.real = real

    def history(self, core: MemoryCore, session_id: str, user_id: str = "alice") -> BaseChatMessageHistory:
        cls = ChatHistory if self.real else SimulatedChatHistory
        return cls(core=core, session_id=session_id, user_id=user_id)

    def search(self, core: MemoryCore, query: str, user_id: str = "alice") -> list[Document]:
        if self.real:
            return LangChainRetriever(core=core, user_id=user_id, k=5).invoke(query)
        return [Document(page_content=h.record.text, id=h.record.id) for h in core.search(query, user_id=user_id)]


@pytest.fixture(params=["ChatHistory", "simulated"])
def langchain(request: pytest.FixtureRequest) -> LangChainSide:
    if request.param == "ChatHistory" and ChatHistory is None:
        pytest.skip("agent_memory_plugins.langchain.ChatHistory is not importable")
    return LangChainSide(real=request.param == "ChatHistory")


def langchain_conversation(langchain: LangChainSide, core: MemoryCore) -> None:
    """Alice tells LangChain her fact, then talks about other things; bob tells his."""
    history = langchain.history(core, "lc")
    history.add_messages([HumanMessage(FACT), AIMessage("Noted.")])
    for line in FILLER:
        history.add_messages([HumanMessage(line), AIMessage("Noted.")])
    langchain.history(core, "lc", user_id="bob").add_messages([HumanMessage(OTHER_FACT), AIMessage("Noted.")])
    core.flush()


def test_langchain_history_is_recalled_by_llama_index(
    langchain: LangChainSide, memory: MemoryCore, llm: RecordingLLM
) -> None:
    langchain_conversation(langchain, memory)
    assert_bob_reachable(memory)
    nodes = MemoryRetriever(core=memory, user_id="alice").retrieve(QUESTION)
    assert nodes[0].node.text == FACT
    engine = SimpleChatEngine.from_defaults(
        llm=llm, memory=ChatMemory.from_defaults(core=memory, session_id="li", user_id="alice")
    )
    engine.chat(QUESTION)
    assert FACT in recalled(llm.last)
    assert not any(marker in llm.everything() for marker in OTHER_MARKERS)
    stored = ChatMemory.from_defaults(core=memory, session_id="lc", user_id="alice").get_all()
    assert stored[:2] == [ChatMessage(role="user", content=FACT), ChatMessage(role="assistant", content="Noted.")]


async def test_langchain_history_is_recalled_by_the_memory_block(
    langchain: LangChainSide, memory: MemoryCore
) -> None:
    langchain_conversation(langchain, memory)
    block = RecallMemoryBlock.from_defaults(core=memory, user_id="alice")
    text = await block.aget([ChatMessage(role="user", content=QUESTION)])
    assert FACT in text
    assert not any(marker in text for marker in OTHER_MARKERS)


async def test_llama_index_agent_continues_a_langchain_tool_call(
    langchain: LangChainSide, memory: MemoryCore, function_llm: RecordingFunctionLLM
) -> None:
    langchain.history(memory, "trip").add_messages([
        HumanMessage("What's the weather in Porto?"),
        AIMessage(content="", tool_calls=[{"id": "call_1", "name": "weather", "args": {"city": "Porto"}}]),
        ToolMessage(content="Sunny in Porto", tool_call_id="call_1"),
        AIMessage("It is sunny in Porto."),
    ])
    chat = ChatMemory.from_defaults(core=memory, session_id="trip", user_id="alice")
    call, result = chat.get_all()[1:3]
    assert call.role == MessageRole.ASSISTANT
    assert [b for b in call.blocks if isinstance(b, ToolCallBlock)] == [
        ToolCallBlock(tool_call_id="call_1", tool_name="weather", tool_kwargs={"city": "Porto"})
    ]
    if langchain.real:  # ChatHistory keeps the original (empty) content; the description stays in the record
        assert not call.content
    assert result.role == MessageRole.TOOL and result.additional_kwargs == {"tool_call_id": "call_1"}
    assert result.content == "Sunny in Porto"
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(weather)], llm=function_llm)
    await agent.run("Thanks! Anything else?", memory=chat)
    sent = function_llm.calls[-1]
    assert any(isinstance(b, ToolCallBlock) and b.tool_call_id == "call_1" for m in sent for b in m.blocks)
    assert any(m.role == MessageRole.TOOL and m.additional_kwargs.get("tool_call_id") == "call_1" for m in sent)


async def test_llama_index_history_is_recalled_by_langchain(
    langchain: LangChainSide, memory: MemoryCore, function_llm: RecordingFunctionLLM
) -> None:
    llm = RecordingLLM()
    engine = SimpleChatEngine.from_defaults(
        llm=llm, memory=ChatMemory.from_defaults(core=memory, session_id="li", user_id="alice")
    )
    for line in [FACT, *FILLER]:
        await engine.achat(line)
    bob = SimpleChatEngine.from_defaults(
        llm=llm, memory=ChatMemory.from_defaults(core=memory, session_id="li", user_id="bob")
    )
    await bob.achat(OTHER_FACT)
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(weather)], llm=function_llm)
    await agent.run("What's the weather there?", memory=ChatMemory.from_defaults(
        core=memory, session_id="li", user_id="alice"))
    await memory.aflush()
    documents = langchain.search(memory, QUESTION)
    assert documents[0].page_content == FACT
    assert not any(marker in d.page_content for d in documents for marker in OTHER_MARKERS)
    window = langchain.history(memory, "li").messages
    assert isinstance(window[-1], AIMessage) and window[-1].text == "Done."
    tool_results = [m for m in window if isinstance(m, ToolMessage)]
    assert [(m.text, m.tool_call_id) for m in tool_results] == [("Sunny in Porto", "call-1")]
    assert any(isinstance(m, HumanMessage) and m.text == "What's the weather there?" for m in window)
    assert not any(marker in m.text for m in window for marker in OTHER_MARKERS)
