"""A message that says something before it asks is not taken for a bare question
(``question_statement_words``): its facts rank as a statement's would."""

from __future__ import annotations

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.recall.ranking import states

ASKS = "I adopted a grey cat called Miso last spring and she loves the sofa. Any tips for keeping her fur off it?"


def test_states_counts_the_words_before_the_last_sentence() -> None:
    assert states(ASKS, 8)
    assert not states("Hey! How was the trip?", 8)
    assert not states(ASKS, 0)


def test_a_long_question_keeps_its_full_score_and_a_bare_one_does_not() -> None:
    for words, penalised in ((0, True), (8, False)):
        with MemoryCore(question_statement_words=words) as memory:
            memory.add_messages("s", [{"role": "user", "content": ASKS},
                                      {"role": "user", "content": "What is the name of your cat?"}])
            memory.flush()
            hits = {h.record.text: h for h in memory.search("what is my cat called", k=5, kinds=["message"])}
            assert ("question" in hits[ASKS].explain) is penalised
            assert "question" in hits["What is the name of your cat?"].explain
            memory.forget(user_id="default")  # a PostgreSQL store outlives the core: start the next one empty


WORKSHOP = ("I went to a two-day photography workshop downtown last month and paid $200 for it, which felt "
            "steep, but the teacher was great and I learned a lot about light and framing. "
            "Do you know any good books on portrait lighting?")


def test_by_default_a_message_that_tells_something_before_it_asks_ranks_as_a_statement() -> None:
    said = [WORKSHOP, "The photography workshop list for spring is on the community centre website."]
    for settings, first in (({}, WORKSHOP), ({"question_statement_words": 0}, said[1])):
        with MemoryCore(dense_weight=0.0, **settings) as memory:  # type: ignore[arg-type]
            memory.add_messages("s", [{"role": "user", "content": text} for text in said])
            memory.flush()
            hits = memory.search("How much did I pay for the photography workshop?", k=2, kinds=["message"])
            assert hits[0].record.text == first
            assert ("question" in hits[[h.record.text for h in hits].index(WORKSHOP)].explain) is bool(settings)
            memory.forget(user_id="default")  # a PostgreSQL store outlives the core: start the next one empty


def test_a_question_weight_of_zero_drops_bare_questions_and_keeps_long_ones() -> None:
    with MemoryCore(question_weight=0.0, question_statement_words=8) as memory:
        memory.add_messages("s", [{"role": "user", "content": ASKS},
                                  {"role": "user", "content": "What is the name of your cat?"}])
        memory.flush()
        hits = {h.record.text: h for h in memory.search("what is my cat called", k=5, kinds=["message"])}
        memory.forget(user_id="default")  # a PostgreSQL store outlives the core: start the next one empty
    assert "question" not in hits[ASKS].explain and hits[ASKS].score > 0
    assert hits["What is the name of your cat?"].score == 0.0
