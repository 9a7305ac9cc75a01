"""The offline summary is a readable digest: when, who, and the facts with their subject."""

from __future__ import annotations

from datetime import datetime, timezone

from agent_memory_plugins.core.conversation.summarizer import ExtractiveSummarizer
from agent_memory_plugins.core.conversation.tokens import approximate_tokens
from agent_memory_plugins.records import MemoryRecord

DAY = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)


def said(speaker: str, text: str, day: datetime = DAY) -> MemoryRecord:
    return MemoryRecord(id=f"{speaker}-{text[:8]}", text=f"{speaker}: {text}", role="user", kind="message",
                        user_id="u", session_id="s", timestamp=day, created_at=day, importance=0.5,
                        metadata={"speaker": speaker})


def test_one_line_per_day_and_speaker_without_small_talk() -> None:
    summary = ExtractiveSummarizer().summarize("", [
        said("Kim", "Hey Lou!"),
        said("Lou", "Hi Kim! I adopted a puppy named Max on Saturday."),
        said("Kim", "Wow, Lou! Thanks, Lou!"),
        said("Kim", "My sister Ines lives in Porto. She works at a bakery since 2019."),
    ], 400)
    assert summary.splitlines() == [
        "[2023-05-08] Lou: I adopted a puppy named Max on Saturday.",
        "[2023-05-08] Kim: My sister Ines lives in Porto. She works at a bakery since 2019.",
    ]


def test_a_sentence_that_points_back_keeps_its_subject() -> None:
    summary = ExtractiveSummarizer().summarize("", [
        said("Maya", "The force sensor, I think. I ordered a new one for $89."),
    ], 400)
    assert summary == "[2023-05-08] Maya: The force sensor, I think. I ordered a new one for $89."


def test_folds_merge_with_the_previous_digest_and_stay_within_budget() -> None:
    summarizer = ExtractiveSummarizer()
    first = summarizer.summarize("", [said("Kim", "I moved to Lisbon in March 2021.")], 400)
    later = datetime(2023, 6, 1, tzinfo=timezone.utc)
    second = summarizer.summarize(first, [said("Kim", "I start at Siemens on 3 July.", later)], 400)
    assert second.splitlines() == [
        "[2023-05-08] Kim: I moved to Lisbon in March 2021.", "[2023-06-01] Kim: I start at Siemens on 3 July.",
    ]
    many = [said("Kim", f"My colleague Ana{i} flies to Oslo on day {i} of June.") for i in range(60)]
    tight = summarizer.summarize(second, many, 80)
    assert approximate_tokens(tight) <= 80 and tight.startswith("[2023-")
    assert summarizer.summarize("user: I like tea", [], 400) == "user: I like tea"  # an older summary's lines


def test_the_fast_budget_fit_keeps_exactly_what_re_rendering_keeps() -> None:
    import random
    from datetime import timedelta

    rng = random.Random(5)
    words = "Porto puppy Max 2019 bakery sister Ines Saturday adopted hiking 42 Kyoto ramen".split()
    for trial in range(40):
        messages = [said(rng.choice(("Kim", "Lou", "Ana")),
                         " ".join(f"I {rng.choice(words)} {rng.choice(words)} {rng.choice(words)}."
                                  for _ in range(rng.randint(1, 3))),
                         DAY + timedelta(days=rng.randint(0, 2)))
                    for _ in range(rng.randint(5, 60))]
        budget = rng.randint(5, 300)
        fast = ExtractiveSummarizer().summarize("", messages, budget)
        slow = ExtractiveSummarizer(token_counter=lambda text: approximate_tokens(text)).summarize(
            "", messages, budget)
        assert fast == slow, trial
        assert approximate_tokens(fast) <= budget
