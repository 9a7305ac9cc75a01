"""A short tour of the core on the embedded default: sessions, window, summary, recall, restart."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from .core.memory import MemoryCore

CONVERSATIONS = {
    "monday": [
        ("user", "Hi! I'm Maya, I just moved to Austin from Denver for a job at a robotics startup."),
        ("assistant", "Welcome to Austin, Maya! How is the new job going?"),
        ("user", "Busy. My manager Luis wants the arm demo ready by 14 March."),
        ("assistant", "That is soon. What is left to do?"),
        ("user", "The gripper firmware. Also remember that I'm allergic to shellfish."),
        ("assistant", "Noted: no shellfish. Good luck with the firmware."),
    ],
    "wednesday": [
        ("user", "Ugh, the gripper keeps dropping cups."),
        ("assistant", "Is it the force sensor or the control loop?"),
        ("user", "The force sensor, I think. I ordered a new one for $89."),
        ("assistant", "Hopefully it arrives soon."),
        ("user", "Thanks. By the way my sister Ines visits on Saturday."),
        ("assistant", "Nice! Any plans?"),
        ("user", "Probably tacos on South Congress."),
        ("assistant", "Sounds fun."),
    ],
}


def run(path: str | None = None, say: Callable[[str], None] = print) -> None:
    """Run the demo in ``path`` (a temporary folder by default, removed at the end), writing
    through ``say``."""
    if path is not None:
        _tour(path, say)
        return
    with tempfile.TemporaryDirectory(prefix="agent-memory-demo-") as folder:
        _tour(folder, say)
        say(f"Removed the temporary store {folder} (pass --path to keep one).")


def _tour(folder: str, say: Callable[[str], None]) -> None:
    say(f"Store: {folder} (SQLite + embedded Chroma)\n")
    start = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
    with MemoryCore(folder, window_messages=4, fold_batch=2) as memory:
        for day, (session, turns) in enumerate(CONVERSATIONS.items()):
            for minute, (role, text) in enumerate(turns):
                when = start + timedelta(days=2 * day, minutes=minute)
                memory.add_message(session, role, text, user_id="maya", timestamp=when)
        memory.add_message("other", "user", "I'm Sam and I love shellfish paella.", user_id="sam")
        memory.flush()
        say("Window of 'wednesday' (the last 4 messages):")
        for record in memory.window("wednesday", user_id="maya"):
            say(f"  {record.role}: {record.text}")
        say("\nRunning summary of 'wednesday' (what left the window, offline extractive):")
        summary = memory.summary_record("wednesday", user_id="maya")
        say("  " + (summary.text.replace("\n", "\n  ") if summary else "(none yet)"))
        if summary:
            say(f"  covers {len(summary.covers)} messages")
        query = "what food should I avoid when I book dinner?"
        say(f"\nRecall for maya's next turn in 'wednesday': {query!r}")
        say("  (what the window and summary already show is not repeated; small talk ranks low)")
        for hit in memory.context("wednesday", query, user_id="maya", k=3).recalled:
            parts = ", ".join(
                f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}"
                for key, value in hit.explain.items()
            )
            say(f"  {hit.score:.3f}  [{hit.record.kind}/{hit.record.session_id}] {hit.record.text}")
            say(f"         {parts}")
        say("\n(Sam's shellfish paella never shows up for Maya: every read is scoped to one user.)")
        context = memory.context("wednesday", "when is the demo due?", user_id="maya", max_tokens=200)
        say(f"\nContext for the next turn ({context.tokens} tokens of 200):")
        say("  " + context.render().replace("\n", "\n  "))
    say("\nClosed the store. Reopening it, as a new process would:")
    with MemoryCore(folder, window_messages=4, fold_batch=2) as memory:
        stats = memory.stats(user_id="maya")
        say(f"  maya: {stats['records']} records {stats['by_kind']}, sessions {memory.sessions(user_id='maya')}")
        hit = memory.search("Who is my manager?", user_id="maya", k=1)[0]
        say(f"  'Who is my manager?' -> {hit.record.text}")
    say("\nDone.")
