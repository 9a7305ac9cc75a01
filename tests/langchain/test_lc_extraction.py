"""LangChain chat models as extractors: plain lines from a fake model, structured output when the
model calls tools."""

from __future__ import annotations

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from lc_fakes import RecordingChatModel

from agent_memory_plugins import MemoryCore


def _hash_embedder(texts: list[str]) -> list[list[float]]:
    return [[float(ord(c) % 7) for c in (text + "        ")[:8]] for text in texts]


def test_a_fake_chat_model_answers_in_lines() -> None:
    model = GenericFakeChatModel(messages=iter([
        AIMessage("Sure:\nfact: Ana lives in Porto\npreference: language = Portuguese\nI hope that helps."),
    ]))
    with MemoryCore(embedder=_hash_embedder, extractor=model, background=False) as core:
        core.add_message("s1", "user", "I live in Porto and speak Portuguese", user_id="ana")
        core.add_message("s1", "assistant", "Lovely city!", user_id="ana")
        core.flush()
        assert [r.text for r in core.records(user_id="ana", kinds=["fact"])] == ["Ana lives in Porto"]
        assert core.preferences(user_id="ana") == {"language": "Portuguese"}
        (fact,) = core.records(user_id="ana", kinds=["fact"])
        said = core.messages("s1", user_id="ana")[0]
        assert fact.metadata["derived_from"] == [said.id]


def test_a_tool_calling_model_answers_with_structured_output() -> None:
    prompts: list[str] = []

    def reply(messages: list[BaseMessage]) -> AIMessage:
        prompts.append(messages[-1].text)
        return AIMessage("", tool_calls=[{
            "name": "extracted_memories", "id": "call-1", "type": "tool_call",
            "args": {"memories": [{"kind": "event", "text": "Ana moved to Porto in May"},
                                  {"kind": "preference", "text": "window seat", "key": "seat"}]},
        }])

    with MemoryCore(embedder=_hash_embedder, extractor=RecordingChatModel(reply=reply), background=False) as core:
        core.add_message("s1", "user", "I moved to Porto in May; I always take a window seat", user_id="ana")
        core.flush()
        assert [r.text for r in core.records(user_id="ana", kinds=["event"])] == ["Ana moved to Porto in May"]
        assert core.preferences(user_id="ana") == {"seat": "window seat"}
    assert len(prompts) == 1 and "user: I moved to Porto in May" in prompts[0]
