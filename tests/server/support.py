"""A real uvicorn server on a free 127.0.0.1 port, in a thread, and a store to serve."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.server import serve_in_thread

KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@dataclass(frozen=True)
class Running:
    """A server that is up: where it listens and the core behind it."""

    url: str
    core: MemoryCore

    def client(self, key: str | None = KEY) -> httpx.Client:
        """An HTTP client for the server (with the key unless ``None``)."""
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(core: MemoryCore, *, api_key: str | None = KEY, read_only: bool = False) -> Iterator[Running]:
    """Serve ``core`` with uvicorn in a thread, on a free port, until the block ends."""
    with serve_in_thread(core, api_key=api_key, read_only=read_only) as server:
        yield Running(server.url, core)


def seed(core: MemoryCore) -> dict[str, str]:
    """Two users with sessions, a running summary, facts with a supersession, a repeat and a link.

    Returns ids by name: ``denver`` (superseded), ``austin`` (its successor), ``hiking`` (seen
    twice), ``bob_fact``.
    """
    alice = [("user", "I just got back from a hiking trip in the Rockies"),
             ("assistant", "That sounds wonderful! How long were you there?"),
             ("user", "Five days. We camped by a lake every night"),
             ("assistant", "Camping by a lake is great."),
             ("user", "My sister Maya came along, she loves photography"),
             ("assistant", "Did she take many pictures?"),
             ("user", "Hundreds. She wants to print a photo book"),
             ("assistant", "A photo book is a lovely keepsake."),
             ("user", "Next month I start a new job as a nurse in Austin"),
             ("assistant", "Congratulations on the new job!")]
    core.add_messages("trip", [{"role": r, "content": c} for r, c in alice], user_id="alice")
    core.add_messages("cooking", [{"role": "user", "content": "How do I make a sourdough starter?"},
                                  {"role": "assistant", "content": "Mix flour and water and feed it daily."}],
                      user_id="alice")
    denver = core.remember("I live in Denver", user_id="alice", session_id="trip")
    austin = core.remember("I moved to Austin", user_id="alice", session_id="trip")
    hiking = core.remember("Alice loves hiking in the mountains", user_id="alice", importance=0.9)
    core.remember("Alice loves hiking in the mountains", user_id="alice")
    core.link(hiking.id, austin.id, relation="related", user_id="alice")
    core.add_messages("work", [{"role": "user", "content": "Bob here: I live in Lisbon and fix bikes"}],
                      user_id="bob")
    bob_fact = core.remember("Bob owns a bike repair shop in Lisbon", user_id="bob")
    core.flush()
    return {"denver": denver.id, "austin": austin.id, "hiking": hiking.id, "bob_fact": bob_fact.id}
