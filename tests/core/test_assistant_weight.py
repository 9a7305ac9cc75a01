"""A question about the one who asks ranks their own messages above assistant replies (``assistant_weight``)."""

from __future__ import annotations

from typing import Any

import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.recall.query_analysis import asks_about_asker
from agent_memory_plugins.errors import ConfigurationError

CHAT = [
    {"role": "user", "content": "Could you help me plan my week at the new job? I start in marketing on "
                                "Monday; I graduated in business administration, so the work is new to me."},
    {"role": "assistant", "content": "Congratulations on graduating! Which degree you graduate with matters "
                                     "less than you think: graduates with any degree learn marketing on the job."},
    {"role": "user", "content": "The weather is lovely today, we walked to the lake."},
    {"role": "assistant", "content": "Walks by the lake are a lovely way to spend a sunny day."},
    {"role": "user", "content": "My sister plays the cello in an orchestra."},
    {"role": "assistant", "content": "The cello has a warm sound; orchestras need good cellists."},
]


def ranked(query: str, **options: Any) -> list[tuple[str, dict[str, Any]]]:
    with MemoryCore(**options) as core:
        core.add_messages("s", CHAT, user_id="u")
        core.flush()
        found = [(hit.record.role or "", hit.explain) for hit in core.search(query, user_id="u", k=4)]
        core.forget(user_id="u")  # a PostgreSQL store outlives the core: start the next one empty
    return found


def test_a_question_about_the_asker_ranks_their_own_message_first() -> None:
    off = ranked("What degree did I graduate with?", assistant_weight=1.0)
    assert off[0][0] == "assistant", "without the weight the wordier reply wins (the case this setting is for)"
    assert all("role" not in explain for _, explain in off)
    on = ranked("What degree did I graduate with?")
    assert on[0][0] == "user"
    assert [explain["role"] for role, explain in on if role == "assistant"] == [0.5, 0.5]


@pytest.mark.parametrize("query", ["What degree did you say I should graduate with?", "Which degree was that?"])
def test_a_question_to_the_assistant_or_about_no_one_leaves_replies_alone(query: str) -> None:
    assert all("role" not in explain for _, explain in ranked(query))


@pytest.mark.parametrize(("query", "about_asker"), [
    ("What degree did I graduate with?", True),
    ("I'm planning a trip to Denver soon. Any suggestions?", True),
    ("how long have i had my cat?", True),
    ("Who gave me a stand mixer?", True),
    ("Can you remind me what you recommended?", False),
    ("I was wondering if your list had a venue in Portland", False),
    ("What has Melanie painted?", False),
    ("Imagine a mine of ideas", False),
])
def test_asks_about_asker(query: str, about_asker: bool) -> None:
    assert asks_about_asker(query) is about_asker


@pytest.mark.parametrize("weight", [-0.1, 1.5, "half", True])
def test_assistant_weight_is_checked(weight: object) -> None:
    with pytest.raises(ConfigurationError, match="assistant_weight"):
        MemoryCore(assistant_weight=weight)
