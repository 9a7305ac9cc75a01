"""Content-free turns ("ok 14", "Sounds fun.") rank below the facts they sit next to."""

from __future__ import annotations

import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.longterm.salience import is_filler
from agent_memory_plugins.core.recall.ranking import Weights, filler_factor


@pytest.mark.parametrize("text", ["ok 14", "Sounds fun.", "Thanks, that's great!", "Wow!", "Noted."])
def test_content_free_turns(text: str) -> None:
    assert is_filler(text)
    assert filler_factor(text, Weights(filler=0.5)) == 0.5
    assert filler_factor(text, Weights(filler=1.0)) == 1.0


@pytest.mark.parametrize("text", ["14", "I am 14", "no shellfish", "Probably tacos on South Congress.", "I love it"])
def test_turns_with_content(text: str) -> None:
    assert not is_filler(text)


def test_a_filler_next_to_a_fact_ranks_below_it() -> None:
    with MemoryCore(window_messages=4) as core:
        for turn in range(12):
            core.add_message("s", "user", f"ok {turn}", user_id="u")
            if turn == 6:
                core.add_message("s", "user", "I'm allergic to peanuts, remember that.", user_id="u")
        core.flush()
        hits = core.search("what can't I eat?", user_id="u", k=5, kinds="message")
        assert hits[0].record.text.startswith("I'm allergic to peanuts")
        fillers = [hit for hit in hits if hit.record.text.startswith("ok ")]
        assert fillers and all(hit.explain["filler"] == 0.5 for hit in fillers)
