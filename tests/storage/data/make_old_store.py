"""The store fixture ``store-f81578e.tar.gz``: made by the release before numbered migrations.

It was built by this script running the package as of commit f81578e (the last layout without a
schema version), from a git worktree of that commit:

    git worktree add ../base f81578e
    PYTHONPATH=../base/src HF_HUB_OFFLINE=1 python tests/storage/data/make_old_store.py build OUT_FOLDER
    tar --sort=name --owner=0 --group=0 --numeric-owner -C OUT_FOLDER -czf store-f81578e.tar.gz \
        chroma chroma.lock expected.json memory.db

``build`` makes ``MemoryCore(OUT_FOLDER)`` with default settings (window_messages=20, the default
embedder all-MiniLM-L6-v2, embedded Chroma in the folder), writes deterministic content (every
record has an explicit 2023 UTC timestamp, so recency is ~0 and scores do not drift with the wall
clock), flushes, writes ``OUT_FOLDER/expected.json`` (:func:`answers`, read through the public
API) and closes. ``answers FOLDER OUT.json`` re-reads a store. ``tests/storage/test_migrations.py``
opens the fixture with the current code and compares its answers with ``expected.json``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import agent_memory_plugins
from agent_memory_plugins import MemoryCore

UTC = timezone.utc
WHERE = ("path", "database")
"""Statistics that name where the store lives (its folder differs between runs)."""

# -- content -------------------------------------------------------------------------------------
# alice / s1: 26 messages on 2023-05-02 (the default window keeps 20, so 6 are folded into the summary
# on flush); alice / s2: 14 messages on 2023-06-12; bob / b1: 6 messages on 2023-07-03.
ALICE_S1 = [
    ("user", "Hi! My name is Alice Moreau and I'm 34 years old."),
    ("assistant", "Nice to meet you, Alice. How can I help today?"),
    ("user", "I live in Denver, Colorado, in a small flat near Washington Park."),
    ("assistant", "Denver is lovely. Do you like living there?"),
    ("user", "Mostly, although the winters are long. I work as a nurse at Denver Health."),
    ("assistant", "Nursing is demanding work. Do you do night shifts?"),
    ("user", "Yes, three night shifts a week, usually Monday to Wednesday."),
    ("assistant", "That must be tiring. How do you unwind?"),
    ("user", "I walk my dog Rex, a three year old border collie, every morning."),
    ("assistant", "Border collies need a lot of exercise. Does Rex have any favourite places?"),
    ("user", "He loves the trails at Cherry Creek and chasing frisbees."),
    ("assistant", "Sounds like a happy dog."),
    ("user", "I'm planning a trip to Lisbon in May 2023 with my sister Claire."),
    ("assistant", "Lisbon is beautiful in spring. What dates?"),
    ("user", "We fly out on May 18 and come back on May 28."),
    ("assistant", "Who will look after Rex while you are away?"),
    ("user", "My neighbour Tom will keep Rex for the ten days."),
    ("assistant", "Good. Anything you want to see in Lisbon?"),
    ("user", "The Belem tower, the tram 28 and lots of pasteis de nata."),
    ("assistant", "Be careful with food if you have allergies."),
    ("user", "Good point: I am allergic to peanuts and mildly allergic to shellfish."),
    ("assistant", "I will remember that. Do you carry an epinephrine pen?"),
    ("user", "Always, since an accident at a restaurant in 2019."),
    ("assistant", "Sensible. Anything else for the trip?"),
    ("user", "Could you remind me to renew my passport before April 30?"),
    ("assistant", "Noted: renew the passport before April 30."),
]
ALICE_S2 = [
    ("user", "I'm back from Lisbon! The trip in May was wonderful."),
    ("assistant", "Welcome back! What was the highlight?"),
    ("user", "A sunset at the Miradouro da Senhora do Monte with Claire."),
    ("assistant", "That view is famous. How was the food, given your allergies?"),
    ("user", "Fine, I avoided the seafood stews and asked about peanuts everywhere."),
    ("assistant", "Glad it went well. How is Rex?"),
    ("user", "Rex was spoiled by Tom and gained a kilo."),
    ("assistant", "Ha, a few extra walks will fix that."),
    ("user", "Big news: I got a job offer at St. David's hospital in Austin."),
    ("assistant", "Congratulations! Will you move?"),
    ("user", "Yes, I moved to Austin in June; the new flat is in South Congress."),
    ("assistant", "How does Rex like Austin?"),
    ("user", "He hates the heat, so we walk at 6 am now."),
    ("assistant", "Smart. Let me know if you want tips for hot-weather dog walks."),
]
BOB_B1 = [
    ("user", "Hello, I'm Bob. I teach chemistry at a high school in Portland."),
    ("assistant", "Nice to meet you, Bob. What brings you here?"),
    ("user", "I need help planning a chemistry lab about titration for my juniors."),
    ("assistant", "Happy to help. How long is the class period?"),
    ("user", "Fifty minutes, and I have twenty-eight students."),
    ("assistant", "Then pairs of students and pre-measured solutions will save time."),
]

QUERIES = {
    "alice": [
        "Where does Alice live?",
        "Where do I live now?",
        "Did I move to another city?",
        "What is the name of her dog?",
        "What is Alice allergic to?",
        "When did Alice go to Lisbon?",
        "What did Alice do in May 2023?",
        "Where does Alice work?",
        "Who looked after Rex during the trip?",
        "How should I plan a dog walk in hot weather?",
        "Which language does Alice prefer?",
    ],
    "bob": [
        "What does Bob teach?",
        "Where does Bob work?",
        "How many students are in the class?",
        "titration lab plan",
        "Where does Alice live?",
        "What is the name of her dog?",
        "class period length",
        "What does Bob prefer?",
    ],
}


def at(day: str, minute: int = 0) -> datetime:
    """A fixed UTC moment: 09:00 on ``day`` plus ``minute`` minutes."""
    return datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC) + timedelta(minutes=minute)


def build(folder: Path) -> dict[str, str]:
    """Write the content into a new store at ``folder``; returns label -> record id."""
    names: dict[str, str] = {}
    memory = MemoryCore(folder)
    try:
        for session, day, turns, user in (("s1", "2023-05-02", ALICE_S1, "alice"),
                                          ("s2", "2023-06-12", ALICE_S2, "alice"),
                                          ("b1", "2023-07-03", BOB_B1, "bob")):
            messages = [{"role": role, "content": text, "timestamp": at(day, minute)}
                        for minute, (role, text) in enumerate(turns)]
            memory.add_messages(session, messages, user_id=user)

        def fact(label: str, text: str, when: datetime, user: str = "alice", **fields: Any) -> Any:
            record = memory.remember(text, user_id=user, timestamp=when, **fields)
            names[label] = record.id
            return record

        fact("fact_denver", "I live in Denver", at("2023-05-02", 30), session_id="s1")
        fact("fact_nurse", "Alice works as a nurse at Denver Health", at("2023-05-02", 31), session_id="s1")
        fact("fact_rex", "Alice has a border collie named Rex", at("2023-05-02", 32), session_id="s1")
        fact("fact_peanuts", "Alice is allergic to peanuts", at("2023-05-02", 33), session_id="s1")
        fact("fact_shellfish", "Alice is mildly allergic to shellfish", at("2023-05-02", 34), session_id="s1")
        event = memory.remember_event(
            "Trip to Lisbon with her sister Claire, May 18 to May 28, 2023", user_id="alice",
            when=at("2023-05-18"), outcome="wonderful; sunset at Senhora do Monte",
            metadata={"place": "Lisbon"}, session_id="s2")
        names["event_lisbon"] = event.id
        # a repeat: refreshes fact_peanuts (times_seen 2, a "seen" history event) instead of a copy
        repeat = memory.remember("Alice is allergic to peanuts.", user_id="alice", timestamp=at("2023-06-12", 4),
                                 session_id="s2")
        names["fact_peanuts_repeat_returned"] = repeat.id
        # an update: same subject (self:residence) -> supersedes fact_denver
        fact("fact_austin", "I moved to Austin", at("2023-06-12", 10), session_id="s2")
        pref = memory.set_preference("language", "English", user_id="alice", timestamp=at("2023-05-02", 40))
        names["pref_language"] = pref.id
        pref = memory.set_preference("units", "metric", user_id="alice", timestamp=at("2023-05-02", 41))
        names["pref_units_metric"] = pref.id
        pref = memory.set_preference("units", "imperial", user_id="alice", timestamp=at("2023-06-12", 20))
        names["pref_units_imperial"] = pref.id
        skill = memory.add_skill(
            "hot weather dog walk",
            "walk before 7 am or after sunset, carry water, check the pavement with your hand",
            triggers=["dog walk", "hot weather"], user_id="alice", timestamp=at("2023-06-12", 14))
        names["skill_dog_walk"] = skill.id
        memory.link(names["fact_rex"], names["skill_dog_walk"], "about", 0.8, user_id="alice")
        memory.link(names["event_lisbon"], names["fact_peanuts"], "related", 1.0, user_id="alice")
        fact("fact_bob_teacher", "Bob teaches chemistry at a high school in Portland", at("2023-07-03", 10),
             user="bob", session_id="b1")
        memory.flush()
        write_answers(memory, names, folder / "expected.json")
    finally:
        memory.close()
    return names


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def record_dump(record: Any) -> dict[str, Any]:
    return {
        "id": record.id, "kind": record.kind, "role": record.role, "session_id": record.session_id,
        "text": record.text, "timestamp": iso(record.timestamp), "key": record.key,
        "times_seen": record.times_seen, "superseded_by": record.superseded_by,
        "covers": list(record.covers), "metadata": record.metadata, "importance": record.importance,
    }


def answers(memory: MemoryCore, names: dict[str, str]) -> dict[str, Any]:
    """Everything a migration test can compare, read through the old public API."""
    out: dict[str, Any] = {
        "made_by": {"package_version": agent_memory_plugins.__version__},
        "names": names, "users": {},
    }
    for user, queries in QUERIES.items():
        sessions = memory.sessions(user_id=user)
        entry: dict[str, Any] = {
            "search": [
                {"query": q, "k": 5,
                 "hits": [{"id": h.record.id, "score": round(h.score, 4)} for h in memory.search(q, user_id=user, k=5)]}
                for q in queries
            ],
            "sessions": sessions,
            "window": {s: [r.id for r in memory.window(s, user_id=user)] for s in sessions},
            "summary": {s: memory.summary(s, user_id=user) for s in sessions},
            "summary_covers": {s: list(r.covers) if (r := memory.summary_record(s, user_id=user)) else []
                               for s in sessions},
            "records": [r.id for r in memory.records(user_id=user)],
            "preferences": memory.preferences(user_id=user),
            "stats": {k: v for k, v in memory.stats(user_id=user).items() if k not in WHERE},
            "records_full": [record_dump(r) for r in memory.records(user_id=user)],
        }
        entry["find_skills"] = [h.record.id for h in memory.find_skills("any tips for a dog walk?", user_id=user)]
        history: dict[str, Any] = {}
        related: dict[str, Any] = {}
        for record_id in entry["records"]:
            events = memory.history(record_id, user_id=user)
            if events:
                history[record_id] = [{"at": iso(e.at), "event": e.event, "text": e.text, "other_id": e.other_id}
                                      for e in events]
            links = memory.related(record_id, user_id=user)
            if links:
                related[record_id] = [{"id": link.record.id, "relation": link.relation,
                                       "strength": link.strength, "direction": link.direction} for link in links]
        entry["history"] = history
        entry["related"] = related
        out["users"][user] = entry
    out["stats"] = {k: v for k, v in memory.stats().items() if k not in WHERE}
    return out


def write_answers(memory: MemoryCore, names: dict[str, str], target: Path) -> None:
    target.write_text(json.dumps(answers(memory, names), indent=1, sort_keys=True) + "\n")


def main() -> None:
    mode, folder = sys.argv[1], Path(sys.argv[2])
    if mode == "build":
        if folder.exists() and any(folder.iterdir()):
            sys.exit(f"{folder} is not empty")
        build(folder)
        print(f"built {folder}")
    elif mode == "answers":
        names = json.loads((folder / "expected.json").read_text())["names"]
        memory = MemoryCore(folder)
        try:
            memory.flush()
            write_answers(memory, names, Path(sys.argv[3]))
        finally:
            memory.close()
        print(f"wrote {sys.argv[3]}")
    else:
        sys.exit("usage: make_old_store.py build FOLDER | answers FOLDER OUT.json")


if __name__ == "__main__":
    main()
