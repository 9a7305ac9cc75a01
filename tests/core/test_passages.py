"""Long messages are also indexed as passages: a fact deep in a long reply matches its question,
each passage maps back to its message, and passages leave with their message (no vector left)."""

from __future__ import annotations

from typing import Any

import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.indexes.passages import (
    MAX_PASSAGES,
    collapse,
    parent_of,
    passage_id,
    split_passages,
)
from agent_memory_plugins.errors import ConfigurationError

FILLER = [
    "The weather in the valley changes quickly during spring and hikers should pack layers.",
    "Trail maintenance crews work on the northern loop every other weekend in the summer months.",
    "Water sources along the ridge are seasonal, so carrying two litres is a sensible default.",
    "Most visitors start early to avoid the afternoon heat on the exposed sections of the path.",
]
FACT = "Your locker combination at the gym is 4417 and the spare key is under the blue flowerpot."


def long_reply() -> str:
    """Five paragraphs about hiking (over 500 words); the fifth ends with the one fact asked for."""
    paragraphs = [" ".join(FILLER[(i + j) % 4] for j in range(7)) for i in range(5)]
    paragraphs[4] += " " + FACT
    return "\n\n".join(paragraphs)


def ingest(memory: MemoryCore, user: str = "default") -> str:
    """A long assistant reply among short unrelated turns; returns the reply's id."""
    kept = {"kept": True}
    memory.add_messages("trip", [{"role": "user", "content": "Tell me about hiking in the valley", "metadata": kept},
                                 {"role": "assistant", "content": long_reply(), "metadata": kept}], user_id=user)
    for i in range(12):
        memory.add_messages("cooking", [{"role": "user", "content": f"Recipe idea {i}: pasta with a tomato sauce",
                                         "metadata": kept}], user_id=user)
    memory.flush()
    return next(r.id for r in memory.export(user_id=user) if r.text == long_reply())


def vector_ids(memory: MemoryCore) -> list[str]:
    return list(memory.index.stored(None))


def test_a_fact_in_the_fifth_paragraph_of_a_long_reply_is_found_by_meaning() -> None:
    question = "Where did I hide the spare key, and what opens my gym locker?"
    with MemoryCore(keyword_weight=0.0, passage_words=120) as memory:  # dense alone: words do not help here
        reply = ingest(memory)
        hits = memory.search(question, k=3)
        assert hits[0].record.id == reply
        assert hits[0].explain["dense_passage"] == 4  # the last passage (the fifth paragraph)
        assert hits[0].explain["dense_rank"] == 1
        assert memory.stats()["vectors"] == memory.stats()["records"]  # passages are not records
        assert len(vector_ids(memory)) > memory.stats()["records"]
        memory.forget(user_id="default")  # a PostgreSQL store outlives the core: start the next one empty
    with MemoryCore(keyword_weight=0.0) as memory:  # the default: no passages, the one vector sees the start only
        reply = ingest(memory)
        own = memory.search(question, k=14)
        assert [h.record.id for h in own].index(reply) > 0
        assert "dense_passage" not in own[0].explain
        assert len(vector_ids(memory)) == memory.stats()["records"]


def test_passages_match_within_a_where_filter_and_a_session() -> None:
    with MemoryCore(keyword_weight=0.0, passage_words=120) as memory:
        reply = ingest(memory)
        question = "the code for my locker and where the spare key is"
        assert memory.search(question, k=1, session_id="trip")[0].record.id == reply
        assert memory.search(question, k=1, kinds=["message"], where={"kept": True})[0].record.id == reply


@pytest.mark.parametrize("how", ["memory_id", "session_id", "user_id"])
def test_passage_vectors_leave_with_their_message(how: str) -> None:
    with MemoryCore(passage_words=120) as memory:
        reply = ingest(memory, user="ann")
        ingest(memory, user="bob")
        assert any(parent_of(i) == reply and i != reply for i in vector_ids(memory))
        forget: dict[str, Any] = {"memory_id": {"memory_id": reply, "user_id": "ann"},
                                  "session_id": {"session_id": "trip", "user_id": "ann"},
                                  "user_id": {"user_id": "ann"}}[how]
        memory.forget(**forget)
        memory.flush()
        left = vector_ids(memory)
        assert not any(parent_of(i) == reply for i in left)
        bob = next(r.id for r in memory.export(user_id="bob") if r.text == long_reply())
        assert passage_id(bob, 0) in left  # the other user's passages stay
        assert memory.stats()["vectors"] == memory.stats()["records"]
        assert all(h.record.user_id == "ann" for h in memory.search("spare key", user_id="ann", k=5))


def test_split_passages_cuts_at_sentences_keeps_every_word_and_is_bounded() -> None:
    text = long_reply()
    passages = split_passages(text, 120)
    assert 1 < len(passages) <= MAX_PASSAGES
    assert " ".join(passages).split() == text.split()
    assert all(p.rstrip().endswith(".") for p in passages)  # whole sentences
    assert FACT in passages[-1]
    assert split_passages("A short message about one thing.", 120) == []
    assert split_passages(text, 0) == []
    tail = split_passages(text, 120, skip=190)  # what the message's own vector reads is left out
    assert tail == [p for p in passages if len(" ".join(passages[: passages.index(p) + 1]).split()) > 190]
    assert 0 < len(tail) < len(passages) and tail[-1] == passages[-1]
    one_sentence = " ".join(f"word{i}" for i in range(5000))
    cut = split_passages(one_sentence, 100)
    assert len(cut) == MAX_PASSAGES and " ".join(cut).split() == one_sentence.split()


def test_collapse_keeps_each_message_best_score_and_names_the_passage() -> None:
    ranking = [(passage_id("m1", 3), 0.9), ("m2", 0.8), ("m1", 0.5), (passage_id("m2", 0), 0.7),
               ("odd~pX", 0.1)]
    merged, passages = collapse(ranking)
    assert merged == [("m1", 0.9), ("m2", 0.8), ("odd~pX", 0.1)]
    assert passages == {"m1": 3}


def test_passage_words_is_checked() -> None:
    for bad in (-1, 1.5, True, "100"):
        with pytest.raises(ConfigurationError, match="passage_words"):
            MemoryCore(passage_words=bad)
