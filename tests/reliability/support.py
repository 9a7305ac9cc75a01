"""Helpers shared by the reliability tests and the child processes they start.

Child processes import this file by path (``sys.path.insert(0, HERE)``; ``import support``), so it
must not import anything from the test packages.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent_memory_plugins import MemoryCore
    from agent_memory_plugins.records import MemoryRecord

HERE = str(Path(__file__).resolve().parent)
_WORD = re.compile(r"\w+")


class HashEmbedder:
    """A deterministic bag-of-words embedder (384 dimensions, like all-MiniLM-L6-v2).

    The storage tests kill and restart processes dozens of times; loading the real model in each
    would cost seconds per process and hide nothing this embedder shows: every text gets a real
    384-dimensional vector that Chroma stores, and a text is nearest to itself. Identical in every
    process (no salted ``hash()``), so a store built by one process is readable by the next.
    """

    name = "tests/hash-384"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text."""
        vectors = []
        for text in texts:
            vector = [0.0] * 384
            for word in _WORD.findall(text.lower()):
                digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
                vector[digest % 384] += 1.0 if (digest >> 32) & 1 else -1.0
            norm = sum(x * x for x in vector) ** 0.5
            vectors.append([x / norm for x in vector] if norm else [1.0] + [0.0] * 383)
        return vectors


def scan(folder: Path, needles: Iterable[str]) -> dict[str, list[str]]:
    """Which of ``needles`` occur in which files under ``folder``, as raw bytes.

    Each needle is looked for as UTF-8, as UTF-16 (little and big endian) and in lower case, so
    neither an encoding nor FTS5's case folding hides a copy.
    """
    found: dict[str, list[str]] = {}
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()]
    contents = {str(path.relative_to(folder)): path.read_bytes() for path in files}
    for needle in needles:
        forms = {needle, needle.lower()}
        patterns = [form.encode(codec) for form in forms for codec in ("utf-8", "utf-16-le", "utf-16-be")]
        where = [name for name, data in contents.items() if any(pattern in data for pattern in patterns)]
        if where:
            found[needle] = where
    return found


def child_env() -> dict[str, str]:
    """The environment for a child Python: this package first, offline, no telemetry."""
    env = dict(os.environ)
    source = str(Path(HERE).parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join([source, HERE, env.get("PYTHONPATH", "")])
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", ANONYMIZED_TELEMETRY="False")
    return env


def python(code: str, *args: str) -> subprocess.Popen[str]:
    """Start ``python -c code args...`` with piped text stdout and stderr."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=child_env(),
    )


def expected_vector(memory: MemoryCore, record: MemoryRecord) -> Any:
    """The vector Chroma should hold for a record: a message's in its current neighbourhood
    (its own embedding blended with its neighbours'), any other record's own embedding."""
    from agent_memory_plugins.core.indexes.context_vectors import context_vector

    embed = memory.embedder.embed
    found = memory.store.neighbourhoods([record.id])
    if not found:
        return embed([record.text])[0]
    around = found[0]
    return context_vector(embed([around.text])[0], embed(around.before) if around.before else [],
                          embed(around.after) if around.after else [], memory.settings.context_vector_weight)
