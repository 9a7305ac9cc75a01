"""A MemoryCore on disk, closed and reopened, keeps what every adapter wrote."""

from __future__ import annotations

from pathlib import Path

from langchain.agents import create_agent
from langchain_classic.chains import ConversationChain
from lc_fakes import RecordingChatModel

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.langchain import ConversationMemory, MemoryMiddleware, MemoryRetriever, MemoryStore


def test_everything_survives_close_and_reopen(store_path: Path) -> None:
    agent_config = {"configurable": {"thread_id": "agent", "user_id": "alice"}}
    with MemoryCore(store_path, window_messages=4, fold_batch=2) as core:
        chain = ConversationChain(llm=RecordingChatModel(),
                                  memory=ConversationMemory(core=core, session_id="chain", user_id="alice"))
        chain.invoke({"input": "My brother Sven builds boats in Arendal."})
        for turn in range(3):
            chain.invoke({"input": f"small talk {turn}"})
        agent = create_agent(RecordingChatModel(), middleware=[MemoryMiddleware(core=core)])
        agent.invoke({"messages": [{"role": "user", "content": "I play the cello."}]}, agent_config)
        MemoryStore(core=core).put(("alice", "preference"), "tea", {"text": "Alice likes rooibos tea"})

    with MemoryCore(store_path, window_messages=4, fold_batch=2) as core:
        core.flush()
        model = RecordingChatModel()
        chain = ConversationChain(llm=model,
                                  memory=ConversationMemory(core=core, session_id="chain", user_id="alice"))
        chain.invoke({"input": "what does my brother do?"})
        prompt = model.last[0].text
        assert "Arendal" in prompt and "Human: small talk 2\nAI: ok" in prompt

        agent_model = RecordingChatModel()
        agent = create_agent(agent_model, middleware=[MemoryMiddleware(core=core)])
        agent.invoke({"messages": [{"role": "user", "content": "which instrument do I play?"}]}, agent_config)
        assert [m.text for m in agent_model.last][-3:] == ["I play the cello.", "ok", "which instrument do I play?"]

        item = MemoryStore(core=core).get(("alice", "preference"), "tea")
        assert item is not None and item.value == {"text": "Alice likes rooibos tea"}
        docs = MemoryRetriever(core=core, user_id="alice", k=1).invoke("what tea does Alice like?")
        assert docs[0].page_content == "Alice likes rooibos tea"
