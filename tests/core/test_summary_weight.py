"""A session summary that retells a fact ranks below the turn that states it (``summary_weight``)."""

from __future__ import annotations

import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.errors import ConfigurationError

TURNS = ["I'm allergic to peanuts, remember that.", "We booked the flight to Oslo for March.",
         "My sister Ana plays the cello.", "The dentist appointment is on Friday.",
         "I started learning Portuguese.", "Our cat is called Miso."]


def hits_for(weight: float | None) -> list[tuple[str, float, dict[str, object]]]:
    options = {} if weight is None else {"summary_weight": weight}
    with MemoryCore(window_messages=2, fold_batch=2, **options) as core:
        core.add_messages("s", [{"role": "user", "content": text} for text in TURNS], user_id="u")
        core.flush()
        assert core.records(user_id="u", kinds="summary"), "the session was folded into a summary"
        hits = core.search("which food am I allergic to? peanuts", user_id="u", k=4)
        found = [(hit.record.kind, hit.score, hit.explain) for hit in hits]
        core.forget(user_id="u")  # a PostgreSQL store outlives the core: start the next one empty
    return found


def test_the_turn_that_states_a_fact_ranks_above_the_summary_that_retells_it() -> None:
    default, off = hits_for(None), hits_for(1.0)
    assert default[0][0] == "message"
    summaries = [(score, explain) for kind, score, explain in default if kind == "summary"]
    assert summaries and all(explain["summary"] == 0.5 for _, explain in summaries)
    unweighted = [(score, explain) for kind, score, explain in off if kind == "summary"]
    assert unweighted and all("summary" not in explain for _, explain in unweighted)
    assert summaries[0][0] == pytest.approx(0.5 * unweighted[0][0])


@pytest.mark.parametrize("weight", [-0.1, 1.5, "half"])
def test_summary_weight_is_checked(weight: object) -> None:
    with pytest.raises(ConfigurationError, match="summary_weight"):
        MemoryCore(summary_weight=weight)
