"""The first hits of a search do not depend on how many were asked for (``k``) or on how far down
the fused ranking a record starts.

Search weighs its best fused candidates only, and reads whole records for the best of those. A
time the query names (×2 for records from then) can lift a record from far down the fused ranking,
and what a text shows (a content-free turn, a summary, an assistant reply to a question about the
asker) moves a record down, so that records below it must be read too.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from agent_memory_plugins import MemoryCore

DECOYS = 70
"""More than the fused candidates search weighs when no time is named."""


COSINES: dict[str, float] = {}
"""Text -> its cosine to every query under :func:`aimed` (filled by each test)."""


def aimed(texts: list[str]) -> list[list[float]]:
    """A deterministic embedder: a text of :data:`COSINES` lies at its cosine from every query
    (any other text is a query)."""
    return [[COSINES.get(text, 1.0), math.sqrt(1.0 - COSINES.get(text, 1.0) ** 2), 0.0] for text in texts]


def epoch(year: int, month: int, day: int) -> float:
    return datetime(year, month, day, 12, tzinfo=timezone.utc).timestamp()


def test_a_record_from_the_named_day_is_found_from_far_down_the_fused_ranking() -> None:
    with MemoryCore(embedder=aimed, keyword_weight=0.0, context_vector_weight=0.0, consolidate=False) as core:
        COSINES.update({f"A note of day {n}": 0.5 + n / 700 for n in range(DECOYS)} | {"A note of the party": 0.35})
        for n in range(DECOYS):  # closer to the query than the answer, said on other days
            core.add_messages(f"d{n}", [{"role": "user", "content": f"A note of day {n}",
                                         "timestamp": epoch(2022, 1, 1) + n * 86400}], user_id="u")
        core.add_messages("answer", [{"role": "user", "content": "A note of the party",
                                      "timestamp": epoch(2023, 5, 3)}], user_id="u")
        core.flush()
        hits = core.search("What happened on 3 May 2023?", user_id="u", k=3)
        core.forget(user_id="u")  # a PostgreSQL store outlives the core: start the next one empty
    assert hits[0].record.text.startswith("A note of the party")
    assert hits[0].explain["time"] == 2.0 and hits[0].explain["dense_rank"] == DECOYS + 1


def test_records_moved_down_by_their_text_make_way_for_the_ones_below() -> None:
    with MemoryCore(embedder=aimed, keyword_weight=0.0, context_vector_weight=0.0, consolidate=False) as core:
        COSINES.update({f"ok {n}": 0.9 for n in range(15)} | {"The party is at Ana's place": 0.7})
        for n in range(15):  # content-free turns, each closer to the query than the answer
            core.add_messages(f"f{n}", [{"role": "user", "content": f"ok {n}"}], user_id="u")
        core.add_messages("answer", [{"role": "user", "content": "The party is at Ana's place"}], user_id="u")
        core.flush()
        one = core.search("Where is the party?", user_id="u", k=1)
        many = core.search("Where is the party?", user_id="u", k=20)
        core.forget(user_id="u")
    assert one[0].record.text.startswith("The party is at Ana's place")
    assert [hit.record.id for hit in one] == [many[0].record.id]
    assert all(hit.explain["filler"] == 0.5 for hit in many[1:])


REPLIES = [f"Being allergic is hard, and many people are allergic to something: tip {n} for anyone allergic "
           f"is to read every label." for n in range(16)]


def test_the_best_hit_is_the_same_for_any_k() -> None:
    with MemoryCore() as core:
        for n, reply in enumerate(REPLIES):
            core.add_messages(f"s{n}", [{"role": "user", "content": f"Tell me something, part {n}."},
                                        {"role": "assistant", "content": reply}], user_id="u")
        core.add_messages("mine", [{"role": "user", "content": "I found out last week that I am allergic to "
                                                               "peanuts, so no satay for me at the party."}],
                          user_id="u")
        core.flush()
        query = "What am I allergic to?"
        one = core.search(query, user_id="u", k=1)
        many = core.search(query, user_id="u", k=40)
        core.forget(user_id="u")  # a PostgreSQL store outlives the core: start the next one empty
    assert "peanuts" in many[0].record.text, "the user's own message is the best hit"
    assert [hit.record.id for hit in one] == [many[0].record.id]
    replies = [hit for hit in many if hit.record.role == "assistant"]
    assert replies and all(hit.explain["role"] == 0.5 for hit in replies)
