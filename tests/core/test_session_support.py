"""A session whose turns match a query together lends weight to each of them (``session_weight``)."""

from __future__ import annotations

import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.recall.sessions import session_factors
from agent_memory_plugins.errors import ConfigurationError


def test_session_factors_follow_each_session_share_of_the_score() -> None:
    scores = {"a1": 0.5, "a2": 0.5, "b1": 0.8, "loose": 0.9}
    sessions = {"a1": "a", "a2": "a", "b1": "b", "loose": None}
    factors = session_factors(scores, sessions, 0.5)
    assert factors == {"a1": 1.5, "a2": 1.5, "b1": pytest.approx(1.4)}  # "loose" has no session
    assert session_factors(scores, sessions, 0.0) == {}
    assert session_factors({"x": 0.0}, {"x": "s"}, 0.5) == {}


def test_the_turns_of_the_best_matching_session_are_lifted_by_its_share() -> None:
    trip = ["We are planning the trip to Lisbon in May", "The flights to Lisbon are booked",
            "The hotel near the river in Lisbon is paid", "I packed a hat for the trip"]
    stray = "My cousin packed a hat for her trip to the beach"
    scores: dict[float, dict[str, float]] = {}
    for weight in (0.0, 1.0):
        with MemoryCore(session_weight=weight, keyword_weight=0.0, context_vector_weight=0.0) as memory:
            memory.add_messages("trip", [{"role": "user", "content": t} for t in trip])
            memory.add_messages("other", [{"role": "user", "content": stray}])
            memory.flush()
            hits = memory.search("what did I pack for the Lisbon trip", k=5, kinds=["message"])
            scores[weight] = {h.record.text: h.score for h in hits}
            if weight:
                assert {h.explain["session"] for h in hits if h.record.session_id == "trip"} == {2.0}
                assert 1.0 < next(h.explain["session"] for h in hits if h.record.text == stray) < 1.5
            else:
                assert all("session" not in h.explain for h in hits)
            memory.forget(user_id="default")  # a PostgreSQL store outlives the core: start the next one empty
    assert all(scores[1.0][t] == pytest.approx(2 * scores[0.0][t]) for t in trip)
    assert scores[1.0][stray] / scores[0.0][stray] < 1.5


def test_session_weight_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="session_weight"):
        MemoryCore(session_weight=-0.1)
