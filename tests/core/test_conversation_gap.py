"""No fact falls between the window and the summary, and the window opens on a user turn."""

from __future__ import annotations

import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.conversation.policy import fit_context, window_start
from agent_memory_plugins.errors import ConfigurationError

FACT = "My locker code is 4417."


def chat(core: MemoryCore, turns: int, session: str = "s") -> None:
    core.add_message(session, "user", FACT, user_id="u")
    core.add_message(session, "assistant", "Noted.", user_id="u")
    for turn in range(turns):
        core.add_message(session, "user", f"ok {turn}", user_id="u")
        core.add_message(session, "assistant", f"sure {turn}", user_id="u")


def test_a_message_that_left_the_window_is_shown_until_it_is_folded(unfolded: MemoryCore) -> None:
    chat(unfolded, 5)  # 12 messages: the fact left the window of 6, fewer than fold_batch left
    assert FACT not in [r.text for r in unfolded.window("s", user_id="u")]
    context = unfolded.context("s", user_id="u", k=0)
    assert unfolded.summary("s", user_id="u") == ""
    assert context.window[0].text == FACT and FACT in context.render()
    assert [r.text for r in unfolded.recent("s", user_id="u")] == [r.text for r in context.window]
    unfolded.flush()  # folded: now in the summary, and no longer repeated verbatim
    context = unfolded.context("s", user_id="u", k=0)
    assert FACT in context.summary
    assert FACT not in [r.text for r in context.window]
    assert context.window == unfolded.window("s", user_id="u")


def test_recall_never_repeats_the_unfolded_messages_or_the_summary(unfolded: MemoryCore) -> None:
    chat(unfolded, 5)
    context = unfolded.context("s", "what is my locker code?", user_id="u", k=5)
    shown = {r.id for r in context.window}
    assert all(hit.record.id not in shown for hit in context.recalled)
    unfolded.flush()
    context = unfolded.context("s", "what is my locker code?", user_id="u", k=5)
    assert context.summary and all(hit.record.kind != "summary" for hit in context.recalled)


def test_the_window_opens_on_a_user_turn(unfolded: MemoryCore) -> None:
    chat(unfolded, 5)
    unfolded.add_message("s", "user", "and one more", user_id="u")  # the last 6 open on "sure 2"
    window = unfolded.window("s", user_id="u")
    assert window[0].role == "user" and len(window) == 5
    unfolded.flush()
    context = unfolded.context("s", user_id="u", k=0, max_tokens=12)
    assert context.window and context.window[0].role == "user"


def test_window_start_on_none_keeps_the_old_window() -> None:
    with MemoryCore(window_messages=6, window_start_on=None, background=False) as core:
        chat(core, 5)
        core.add_message("s", "user", "and one more", user_id="u")
        window = core.window("s", user_id="u")
        assert window[0].role == "assistant" and len(window) == 6
    with pytest.raises(ConfigurationError, match="window_start_on"):
        MemoryCore(window_start_on="human")


def test_policy_start_on() -> None:
    roles = ["user", "assistant"] * 4
    assert window_start(roles, [1] * 8, 5, None) == 3
    assert window_start(roles, [1] * 8, 5, None, "user") == 4
    assert window_start(["assistant", "assistant"], [1, 1], 5, None, "user") == 0  # no user turn: unchanged
    fit = fit_context(0, [], [1] * 6, 3, ["user", "assistant"] * 3, start_on="user")
    assert fit.window_start == 4 and fit.tokens == 2
