"""What a new user waits for, each in a fresh process (the embedding model not loaded yet).

    python benchmarks/first_hour.py

- first ``remember()``: open a store, time the first ``remember`` (and the first ``add_message``);
- ``close()`` right after 300 fresh writes (the worker is loading the model and indexing);
- the CLI: ``agent-memory add`` and ``agent-memory search`` (keyword-only by default) and
  ``search --wait-model`` as whole commands, against a store of 300 messages.

Prints each figure in milliseconds (best of ``--rounds``). Run with ``PYTHONPATH`` pointing at
another checkout to measure that version.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

FIRST = r"""
import sys, time
from agent_memory_plugins import MemoryCore
memory = MemoryCore(sys.argv[1])
start = time.perf_counter()
memory.add_message("s", "user", "I moved to Austin in March.", user_id="u")
message = time.perf_counter() - start
start = time.perf_counter()
memory.remember("I am allergic to shellfish.", user_id="u")
remember = time.perf_counter() - start
for i in range(300):
    memory.add_message("s", "user", f"note {i} about the garden and the bees", user_id="u")
start = time.perf_counter()
memory.close()
close = time.perf_counter() - start
print(message * 1000, remember * 1000, close * 1000)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", ANONYMIZED_TELEMETRY="False")
    return env


def _timed(args: list[str]) -> float:
    """Milliseconds the command took (NaN when it failed: an older version lacks an option)."""
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, env=_env())
    return (time.perf_counter() - start) * 1000 if done.returncode == 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    firsts: list[tuple[float, float, float]] = []
    cli: dict[str, list[float]] = {"add": [], "search": [], "search --wait-model": []}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            out = subprocess.run([sys.executable, "-c", FIRST, os.path.join(folder, "m")], check=True,
                                 capture_output=True, text=True, env=_env()).stdout.split()
            firsts.append((float(out[0]), float(out[1]), float(out[2])))
            command = [sys.executable, "-m", "agent_memory_plugins.cli"]
            where = ["--path", os.path.join(folder, "m"), "--user", "u"]
            cli["add"].append(_timed([*command, "add", "My sister Ines visits on Saturday.", *where]))
            cli["search"].append(_timed([*command, "search", "when does Ines visit?", *where]))
            cli["search --wait-model"].append(
                _timed([*command, "search", "when does Ines visit?", "--wait-model", *where]))
    print(f"first add_message           {min(f[0] for f in firsts):8.1f} ms")
    print(f"first remember              {min(f[1] for f in firsts):8.1f} ms")
    print(f"close after 300 writes      {min(f[2] for f in firsts):8.1f} ms")
    for name, times in cli.items():
        print(f"CLI {name:<24}{min(times):8.1f} ms (whole command)")


if __name__ == "__main__":
    main()
