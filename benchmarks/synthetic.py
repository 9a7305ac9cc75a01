"""Synthetic conversations for the speed benchmark, and a cheap, documented way to give them vectors.

Texts: every message is made of two sentences drawn from a pool of template sentences (plans, family,
pets, health, work, food, ...) filled with names, places and dates, so the keyword index sees a
realistic vocabulary. Conversations of ``SESSION_MESSAGES`` turns alternate user and assistant;
``RECORDS_PER_USER`` records belong to each user, so a bigger store means more users.

Vectors: embedding a million texts with all-MiniLM-L6-v2 on 2 CPU cores takes hours, so the stored
records get *pool vectors*: the pool's sentences are embedded for real with the model, and a
message made of pool sentences ``a`` and ``b`` gets ``normalize(e[a] + e[b] + noise)`` (Gaussian
noise, ``NOISE`` per dimension). :func:`fidelity` measures how close these stand-ins are to the
real embeddings of the same texts; the benchmark reports it. Queries are always embedded for real.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SESSION_MESSAGES = 20
"""Turns per conversation (the default window keeps all of them, so nothing is folded)."""
RECORDS_PER_USER = 2000
"""Stored records per user: a store of N records has N // 2000 users."""
NOISE = 0.01
"""Standard deviation of the noise added to each dimension of a pool vector."""

NAMES = ("Maya Lena Omar Ingrid Tomas Priya Jonas Aiko Rafael Chloe Mateo Sana Felix Nora Ravi Elif "
         "Bruno Hana Kofi Lucia Arjun Freya Diego Yuki Samir Clara Emeka Ines Viktor Zoe").split()
PLACES = ("Denver Austin Lisbon Porto Kyoto Nairobi Oslo Lima Dublin Seoul Krakow Montreal Hanoi "
          "Seville Tbilisi Cusco Bergen Marrakesh Tallinn Valparaiso Edinburgh Osaka Hobart Ghent").split()
RELATIONS = "sister brother mother father cousin daughter son aunt uncle neighbour colleague friend".split()
ACTIVITIES = ("cello yoga climbing pottery chess swimming painting running salsa archery rowing "
              "birdwatching woodworking fencing baking gardening photography kayaking sketching").split()
FOODS = "ramen lasagna curry tacos risotto paella dumplings falafel pho gnocchi moussaka ceviche".split()
PETS = "puppy kitten parrot rabbit hamster tortoise goldfish ferret".split()
MONTHS = "January February March April May June July August September October November December".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
PROJECTS = "kitchen renovation|garden shed|wedding|thesis|podcast|startup pitch|marathon plan|album".split("|")
ALLERGIES = "shellfish peanuts gluten lactose pollen cats penicillin sesame".split()

TEMPLATES = (
    "I'm planning a trip to {place} in {month} with my {relation} {name}.",
    "My {relation} {name} just started learning {activity}.",
    "Can you suggest a {food} recipe I could cook on {day}?",
    "I have a meeting with {name} about the {project} next {day}.",
    "We adopted a {pet} called {name} back in {month}.",
    "Our budget for the {project} is about {number} dollars.",
    "Remember that my {relation}'s birthday is on {month} {date}.",
    "I'm allergic to {allergy}, so please keep that in mind.",
    "I've been doing {activity} every {day} morning to relax.",
    "{name} recommended a great {food} place near our hotel in {place}.",
    "The flight to {place} leaves at {hour} o'clock on {day}.",
    "I finally finished the {project} after {number} hours of work.",
    "My doctor told me to cut down on {food} and try {activity}.",
    "Sure, I'll remind you about the {project} deadline on {month} {date}.",
    "That sounds lovely; {place} is beautiful in {month}.",
    "Here is a simple {food} recipe that takes about {number} minutes.",
    "Noted: {name} is your {relation} and lives in {place}.",
    "You mentioned your {pet} {name} does not like the vet.",
    "I moved from {place} to {place2} when I was {age}.",
    "We're hosting {number} guests for the {project} party on {day}.",
)

QUESTIONS = (
    "When is my {relation}'s birthday?",
    "What did I say about the trip to {place}?",
    "Which recipe did you give me for {food}?",
    "What is the budget of the {project}?",
    "What am I allergic to?",
    "Who recommended the {food} place in {place}?",
    "What hobby did {name} pick up?",
    "What is my {pet} called?",
    "When does my flight to {place} leave?",
    "Where did I live before {place}?",
    "How often do I go {activity}?",
    "What did my doctor say about {food}?",
)


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        name=rng.choice(NAMES), place=rng.choice(PLACES), place2=rng.choice(PLACES),
        relation=rng.choice(RELATIONS), activity=rng.choice(ACTIVITIES), food=rng.choice(FOODS),
        pet=rng.choice(PETS), month=rng.choice(MONTHS), day=rng.choice(DAYS),
        project=rng.choice(PROJECTS), allergy=rng.choice(ALLERGIES), number=rng.randint(2, 900),
        date=rng.randint(1, 28), hour=rng.randint(5, 22), age=rng.randint(6, 60),
    )


def pool_sentences(count: int, seed: int = 7) -> list[str]:
    """``count`` distinct template sentences (deterministic)."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < count:
        seen.setdefault(_fill(rng.choice(TEMPLATES), rng))
    return list(seen)


def queries(count: int, seed: int = 11) -> list[str]:
    """``count`` distinct questions a user might ask of their memory."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < count:
        question = _fill(rng.choice(QUESTIONS), rng)
        seen.setdefault(question if question not in seen else f"{question[:-1]}, again?")
    return list(seen)


def fresh_texts(count: int, seed: int = 3) -> list[str]:
    """``count`` distinct messages not built from the pool (for timing real embeddings)."""
    rng = random.Random(seed)
    return [f"{_fill(rng.choice(TEMPLATES), rng)} {_fill(rng.choice(TEMPLATES), rng)} ({i})" for i in range(count)]


@dataclass(frozen=True)
class Pool:
    """Pool sentences with their real embeddings (normalised, float32)."""

    texts: list[str]
    vectors: np.ndarray

    @classmethod
    def build(cls, count: int, encode: Callable[[list[str]], np.ndarray]) -> Pool:
        """Embed ``count`` pool sentences with ``encode`` (the real model)."""
        texts = pool_sentences(count)
        return cls(texts, np.asarray(encode(texts), dtype=np.float32))

    def message(self, index: int) -> tuple[str, np.ndarray]:
        """The text and stand-in vector of synthetic message ``index`` (deterministic)."""
        rng = np.random.default_rng(index)
        a, b = (int(x) for x in rng.integers(0, len(self.texts), size=2))
        vector = self.vectors[a] + self.vectors[b] + rng.normal(0.0, NOISE, self.vectors.shape[1]).astype(np.float32)
        vector /= np.linalg.norm(vector)
        return f"{self.texts[a]} {self.texts[b]}", vector


def conversations(pool: Pool, start: int, stop: int) -> Iterator[tuple[str, str, list[dict[str, Any]], np.ndarray]]:
    """Sessions covering synthetic messages ``start`` to ``stop``: (user, session, messages, vectors).

    Message ``i`` belongs to user ``i // RECORDS_PER_USER`` and session ``i // SESSION_MESSAGES``;
    timestamps spread over the year before 2026-01-01.
    """
    for first in range(start, stop, SESSION_MESSAGES):
        last = min(stop, first + SESSION_MESSAGES)
        messages, vectors = [], []
        for i in range(first, last):
            text, vector = pool.message(i)
            messages.append({
                "role": "user" if i % 2 == 0 else "assistant", "content": text,
                "timestamp": 1_735_689_600.0 + (i * 7919 % 31_536_000),
            })
            vectors.append(vector)
        yield user_of(first), f"s{first // SESSION_MESSAGES}", messages, np.stack(vectors)


def user_of(index: int) -> str:
    """The user that synthetic message ``index`` belongs to."""
    return f"user{index // RECORDS_PER_USER}"


def fidelity(pool: Pool, encode: Callable[[list[str]], np.ndarray], sample: int = 48) -> float:
    """Median cosine between stand-in vectors and the real embeddings of the same texts."""
    picked = [pool.message(i) for i in range(0, sample * 997, 997)]
    real = np.asarray(encode([text for text, _ in picked]), dtype=np.float32)
    cosines = [float(np.dot(r, v)) for r, (_, v) in zip(real, picked, strict=True)]
    return float(np.median(cosines))


class PrecomputedEmbedder:
    """An embedder that hands out known vectors and embeds anything else with ``fallback``.

    Used only to fill a store: it bears the real model's ``name``, so the store it builds opens
    later with the real embedder.
    """

    def __init__(self, name: str, fallback: Callable[[list[str]], np.ndarray]) -> None:
        self.name = name
        self._fallback = fallback
        self.known: dict[str, np.ndarray] = {}
        self.fallback_texts = 0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Known vectors, or real embeddings for texts never seen."""
        missing = [t for t in texts if t not in self.known]
        if missing:
            self.fallback_texts += len(missing)
            for text, vector in zip(missing, np.asarray(self._fallback(missing)), strict=True):
                self.known[text] = vector
        return [self.known[t].tolist() for t in texts]


def conversation_turns(count: int, seed: int = 23) -> list[str]:
    """``count`` conversation-shaped turns ``"Speaker: text (note i)"``: two speakers taking turns,
    each turn one or two template sentences (deterministic)."""
    rng = random.Random(seed)
    speakers = ("Maya", "Jonas")
    turns = []
    for i in range(count):
        sentences = [_fill(rng.choice(TEMPLATES), rng) for _ in range(rng.choice((1, 2)))]
        turns.append(f"{speakers[i % 2]}: {' '.join(sentences)} (note {i})")
    return turns
