"""A LlamaIndex LLM as the extractor: it is asked through ``complete`` and answers in lines."""

from __future__ import annotations

from li_helpers import RecordingLLM

from agent_memory_plugins import MemoryCore


def test_a_llama_index_llm_extracts_memories() -> None:
    llm = RecordingLLM(respond=lambda prompt: "fact: Lena lives in Porto\nevent: Lena visited on May 3\nok")
    with MemoryCore(extractor=llm, embedder=lambda texts: [[float(len(t)), 1.0] for t in texts],
                    background=False) as core:
        core.add_message("s1", "user", "My sister Lena lives in Porto, she visited on May 3", user_id="alice")
        core.flush()
        kinds = {r.kind: r.text for r in core.records(user_id="alice", kinds=["fact", "event"])}
        assert kinds == {"fact": "Lena lives in Porto", "event": "Lena visited on May 3"}
    assert len(llm.prompts) == 1 and "user: My sister Lena lives in Porto" in llm.prompts[0]
