"""ConversationMemory driven through ConversationChain and LLMChain, asserting on the prompts sent."""

from __future__ import annotations

import pytest
from langchain_classic.chains import ConversationChain, LLMChain
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate
from lc_fakes import FACT, OTHER_FACT, RecordingChatModel, text_of, turn_text

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.langchain import ConversationMemory


def test_fifty_turns_keep_an_early_fact_in_the_prompt_and_never_another_users(window10: MemoryCore) -> None:
    alice_model, bob_model = RecordingChatModel(), RecordingChatModel()
    alice = ConversationChain(llm=alice_model, memory=ConversationMemory(core=window10, session_id="s1",
                                                                         user_id="alice"))
    bob = ConversationChain(llm=bob_model, memory=ConversationMemory(core=window10, session_id="s1",
                                                                     user_id="bob"))
    bob.invoke({"input": OTHER_FACT})
    for turn in range(1, 51):
        alice.invoke({"input": turn_text(turn)})
    window10.flush()
    result = alice.invoke({"input": "Where do I live?"})
    assert result["response"] == "ok"

    (prompt,) = alice_model.last  # ConversationChain sends one message holding the whole prompt
    text = prompt.text
    assert "Reykjavik" in text
    summary, memories, conversation = text.split("Current conversation:\n", 1)[1].split("\n\n", 2)
    assert summary.startswith("Summary of earlier conversation:") and "Reykjavik" in summary
    assert memories.startswith("Relevant memories:") and "Reykjavik" in memories  # recalled for the question
    window = conversation.split("\nHuman: Where do I live?")[0].splitlines()
    assert len(window) == 10 and window[0].startswith("Human: ") and window[1] == "AI: ok"
    assert all("Lisbon" not in text_of(call) for call in alice_model.calls)
    assert "Reykjavik" not in text_of(bob_model.last)
    assert len(window10.messages("s1", user_id="alice")) == 102


def test_messages_form_for_chat_prompts(memory: MemoryCore) -> None:
    model = RecordingChatModel()
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be kind."), MessagesPlaceholder("history"), ("human", "{input}")]
    )
    chain = ConversationChain(llm=model, prompt=prompt,
                              memory=ConversationMemory(core=memory, session_id="c", return_messages=True))
    chain.invoke({"input": FACT})
    for turn in range(4):
        chain.invoke({"input": f"small talk {turn}"})
    memory.flush()
    chain.invoke({"input": "where do I live?"})
    sent = model.last
    assert sent[0] == SystemMessage("Be kind.")
    assert isinstance(sent[1], SystemMessage) and "Reykjavik" in sent[1].text
    assert all(isinstance(m, (HumanMessage, AIMessage)) for m in sent[2:])
    assert [m.text for m in sent[2:]] == ["small talk 1", "ok", "small talk 2", "ok", "small talk 3", "ok",
                                          "where do I live?"]


async def test_async_chain_records_and_loads(memory: MemoryCore) -> None:
    model = RecordingChatModel()
    chain = ConversationChain(llm=model, memory=ConversationMemory(core=memory, session_id="a", user_id="u"))
    await chain.ainvoke({"input": "I adopted a cat called Miso."})
    await chain.ainvoke({"input": "what is my cat called?"})
    assert "Human: I adopted a cat called Miso.\nAI: ok" in model.last[0].text
    assert [r.text for r in await memory.amessages("a", user_id="u")] == [
        "I adopted a cat called Miso.", "ok", "what is my cat called?", "ok"]
    await chain.memory.aclear()  # type: ignore[union-attr]
    assert await memory.amessages("a", user_id="u") == []


def test_recall_reaches_across_sessions_of_the_same_user_only(memory: MemoryCore) -> None:
    ConversationMemory(core=memory, session_id="old", user_id="u").save_context(
        {"input": "My sister Ingrid lives in Tromso."}, {"response": "nice"})
    ConversationMemory(core=memory, session_id="old", user_id="v").save_context(
        {"input": "My sister Petra lives in Graz."}, {"response": "nice"})
    memory.flush()
    fresh = ConversationMemory(core=memory, session_id="new", user_id="u")
    history = fresh.load_memory_variables({"input": "where does my sister live?"})["history"]
    assert "Relevant memories:" in history and "Tromso" in history and "Graz" not in history


def test_custom_keys_with_llm_chain(memory: MemoryCore) -> None:
    model = RecordingChatModel()
    prompt = PromptTemplate.from_template("{chat_history}\nLanguage: {language}\nQ: {question}\nA:")
    mem = ConversationMemory(core=memory, session_id="k", memory_key="chat_history", input_key="question",
                             human_prefix="User", ai_prefix="Bot", k=0)
    chain = LLMChain(llm=model, prompt=prompt, memory=mem)
    chain.invoke({"question": "I am Tove.", "language": "en"})
    chain.invoke({"question": "who am I?", "language": "en"})
    assert model.last[0].text == "User: I am Tove.\nBot: ok\nLanguage: en\nQ: who am I?\nA:"
    assert mem.memory_variables == ["chat_history"]


def test_save_context_needs_an_output_key_when_ambiguous(memory: MemoryCore) -> None:
    mem = ConversationMemory(core=memory)
    with pytest.raises(ValueError, match="output_key"):
        mem.save_context({"input": "hi"}, {"a": "1", "b": "2"})
    mem.output_key = "b"
    mem.save_context({"input": "hi"}, {"a": "1", "b": "2"})
    assert [r.text for r in memory.messages("default")] == ["hi", "2"]


def test_clear_forgets_only_the_session(memory: MemoryCore) -> None:
    keep = ConversationMemory(core=memory, session_id="keep")
    drop = ConversationMemory(core=memory, session_id="drop")
    keep.save_context({"input": "kept line"}, {"output": "ok"})
    drop.save_context({"input": "dropped line"}, {"output": "ok"})
    drop.clear()
    assert drop.load_memory_variables({})["history"] == ""
    assert "kept line" in keep.load_memory_variables({})["history"]
    assert "dropped line" not in keep.load_memory_variables({"input": "dropped line"})["history"]


def test_token_budget_is_the_cores(memory: MemoryCore) -> None:
    mem = ConversationMemory(core=memory, session_id="b", max_tokens=12, k=0)
    for turn in range(3):
        mem.save_context({"input": f"this is a rather long sentence number {turn}"}, {"output": "fine"})
    history = mem.load_memory_variables({})["history"]
    assert history.endswith("AI: fine") and "number 0" not in history
