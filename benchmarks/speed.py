"""Speed of the write path, bulk import and recall, as figures and as ratios measured in one run.

    python benchmarks/speed.py --quick      # CI-sized: 2k stored records
    python benchmarks/speed.py              # 10k and 100k stored records

Prints a table and writes ``benchmarks/results/speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "alpha river piano garden coffee mountain travel budget doctor lesson concert ticket friend "
    "sister brother Denver Austin Lisbon March April bicycle recipe dinner meeting project deadline "
    "puppy kitten marathon novel camera guitar painting holiday beach forest museum soccer chess"
).split()


def sentence(i: int) -> str:
    """A deterministic, varied sentence."""
    picks = [WORDS[(i * 7 + j * 13) % len(WORDS)] for j in range(8)]
    return f"Message {i}: I talked about {' '.join(picks)} on day {i % 365}."


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def import_time() -> float:
    """Milliseconds to import the package in a fresh interpreter (best of 5)."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import agent_memory_plugins"], check=True)
        best = min(best, time.perf_counter() - start)
    baseline = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        baseline = min(baseline, time.perf_counter() - start)
    return (best - baseline) * 1000


def bench(size: int, results: dict[str, object]) -> None:
    """Fill a store with ``size`` records, then time writes, search and context."""
    from agent_memory_plugins import MemoryCore

    folder = tempfile.mkdtemp(prefix="amp-speed-")
    memory = MemoryCore(folder, index_batch_size=512)
    texts = [sentence(i) for i in range(size)]
    model = memory.embedder.inner._load()  # type: ignore[attr-defined]
    # Bulk import vs the raw model's own encode throughput on the same texts.
    sample = texts[: min(size, 5000)]
    start = time.perf_counter()
    model.encode(sample, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    raw_rate = len(sample) / (time.perf_counter() - start)
    start = time.perf_counter()
    for offset in range(0, len(sample), 500):
        memory.add_messages(f"bulk{offset}", [{"role": "user", "content": t} for t in sample[offset:offset + 500]],
                            user_id=f"u{offset % 7}")
    memory.flush()
    ours_rate = len(sample) / (time.perf_counter() - start)
    for offset in range(len(sample), size, 2000):  # the rest of the store, same path
        memory.add_messages(f"fill{offset}", [{"role": "user", "content": t} for t in texts[offset:offset + 2000]],
                            user_id=f"u{offset % 7}")
    memory.flush()
    # add_message latency with `size` records stored (indexing deferred to the worker).
    latencies = []
    for i in range(300):
        start = time.perf_counter()
        memory.add_message("latency", "user", f"fresh message number {i} about {WORDS[i % len(WORDS)]}", user_id="u1")
        latencies.append((time.perf_counter() - start) * 1000)
    memory.flush()
    # search vs one query embedding + one raw Chroma query on the same collection.
    queries = [f"what did I say about {WORDS[i % len(WORDS)]} and {WORDS[(i * 5) % len(WORDS)]}?" for i in range(60)]
    ours, raw, ctx = [], [], []
    for query in queries:
        memory.embedder._cache.clear()  # type: ignore[attr-defined] - measure a real embedding each time
        start = time.perf_counter()
        memory.search(query, user_id="u1", k=10)
        ours.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        vector = model.encode([query + " "], normalize_embeddings=True, show_progress_bar=False)[0].tolist()
        memory.index.collection.query(query_embeddings=[vector], n_results=10, where={"user_id": "u1"})
        raw.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        memory.context("latency", query, user_id="u1", k=10)
        ctx.append((time.perf_counter() - start) * 1000)
    memory.close()
    disk = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
    figures = {
        "add_message_p50_ms": percentile(latencies, 50), "add_message_p99_ms": percentile(latencies, 99),
        "bulk_import_per_s": ours_rate, "raw_encode_per_s": raw_rate, "bulk_vs_raw": ours_rate / raw_rate,
        "search_p50_ms": percentile(ours, 50), "search_p95_ms": percentile(ours, 95),
        "raw_embed_plus_query_p50_ms": percentile(raw, 50),
        "search_vs_raw": percentile(ours, 50) / percentile(raw, 50),
        "context_p50_ms": percentile(ctx, 50), "context_minus_search_ms": percentile(ctx, 50) - percentile(ours, 50),
        "disk_mb": disk / 1e6,
    }
    results[str(size)] = figures
    print(f"\n== {size:,} records stored ==")
    for key, value in figures.items():
        print(f"  {key:32s} {value:10.3f}")


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small store (for CI)")
    parser.add_argument("--sizes", type=int, nargs="*", help="store sizes to measure")
    args = parser.parse_args()
    sizes = args.sizes or ([2000] if args.quick else [10_000, 100_000])
    results: dict[str, object] = {"import_ms": import_time()}
    print(f"import agent_memory_plugins: {results['import_ms']:.1f} ms (over a bare interpreter)")
    start = time.perf_counter()
    from agent_memory_plugins import MemoryCore

    with MemoryCore() as memory:
        memory.add_message("s", "user", "first message in a fresh process")
        memory.flush()
    results["first_add_and_index_s"] = time.perf_counter() - start
    print(f"first add_message + flush in a fresh process (model load): {results['first_add_and_index_s']:.2f} s")
    for size in sizes:
        bench(size, results)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "speed.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
