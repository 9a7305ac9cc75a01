"""Speed and scale of the memory core, as figures and as ratios measured side by side in one run.

    python benchmarks/speed.py --quick             # CI-sized (a minute or two): a 2k store
    python benchmarks/speed.py                     # 10k and 100k stores, with the peers
    python benchmarks/speed.py --scale 1000000     # 10k and 1M stores (no peers; takes long)
    python benchmarks/speed.py --conversation [--locomo FILE] [--load]   # issue 18's measurement

Prints every figure with its target and MET / MISSED, and writes ``benchmarks/results/speed.json``
(``speed_scale.json`` for ``--scale``, ``speed_conversation[_locomo].json`` for ``--conversation``,
described in ``speed_conversation.py``); ``benchmarks/plot_speed.py`` draws latency against size.

How each figure is measured:

- import: ``import agent_memory_plugins`` in a fresh interpreter, best of 5, minus a bare one.
- first use: a fresh process opens a store, adds a message (returns at once), then ``flush()``
  (loads the model, embeds) and searches.
- bulk import: ``add_messages`` (sessions of 20) + ``flush()`` into an empty store, against
  ``SentenceTransformer.encode`` of the same texts (batch 64, normalised), in alternating rounds.
- per store size (each in a fresh process, so memory figures belong to that store): the store is
  filled through ``add_messages`` + ``flush`` with synthetic conversations of many users whose
  vectors are stand-ins made from really embedded pool sentences (see ``synthetic.py``; the
  report gives their cosine to the real embeddings). It is then reopened with the real model and
  default settings, and timed: ``add_message`` (the real write path; the background indexer embeds
  the new messages for real meanwhile), ``search(k=10)`` against one query embedding plus one raw
  unfiltered Chroma query (k=10) of the user's own collection (it holds exactly the user's
  vectors: the bare single-user collection issue 18 holds us to), alternating per query, and
  ``context()`` against ``search()`` with the query embedding cached, in alternating order (the
  overhead of context: the median of the paired differences).
  The peers get the same records, vectors and questions (``peers.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import synthetic

RESULTS = Path(__file__).parent / "results"
MODES: dict[str, dict[str, Any]] = {
    "quick": {"sizes": [2000], "bulk": 192, "pool": 200, "queries": 25, "writes": 150, "turns": 10, "peers": True},
    "full": {"sizes": [10_000, 100_000], "bulk": 1536, "pool": 2000, "queries": 100, "writes": 500, "turns": 30,
             "peers": True},
    "scale": {"sizes": [10_000], "bulk": 512, "pool": 2000, "queries": 100, "writes": 500, "turns": 0,
              "peers": False},
}
FILL_CHUNK = 20_000
"""Records whose stand-in vectors are handed to the filling core at once."""


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms_since(start: float) -> float:
    """Milliseconds since ``start`` (a ``perf_counter`` value)."""
    return (time.perf_counter() - start) * 1000


def shared_model() -> Any:
    """The process's shared all-MiniLM-L6-v2 on PyTorch (the raw baselines' model), with the core's
    own default model warmed up too: on the CPU that is ONNX Runtime (its export loaded, its
    sessions for a query and for a batch made), so an import is timed with its model as warm as the
    raw ``encode``'s, as it was when the core ran this very PyTorch object."""
    from agent_memory_plugins.core.indexes.embeddings import SentenceTransformerEmbedder, _shared_model

    core = SentenceTransformerEmbedder()
    core.embed_array(["warm", "up"])
    core.embed_query("warm up")
    return _shared_model("all-MiniLM-L6-v2")


def encoder(model: Any) -> Callable[[list[str]], np.ndarray]:
    """The raw model's encode, as the core calls it (batch 64, normalised)."""
    return lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)


def memory_mb() -> dict[str, float]:
    """Resident memory of this process now and at its peak, in MB."""
    status = Path("/proc/self/status").read_text()
    values = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith("Vm")}
    return {"rss_mb": values.get("VmRSS", 0) / 1024, "peak_rss_mb": values.get("VmHWM", 0) / 1024}


def folder_bytes(folder: str) -> dict[str, int]:
    """Bytes on disk of the SQLite record store and of the Chroma index under ``folder``."""
    root = Path(folder)
    sqlite = sum(f.stat().st_size for f in root.glob("memory.db*"))
    chroma = sum(f.stat().st_size for f in (root / "chroma").rglob("*") if f.is_file())
    return {"sqlite_bytes": sqlite, "chroma_bytes": chroma}


# -- fresh processes -------------------------------------------------------------------------------
def import_ms() -> float:
    """Milliseconds to import the package in a fresh interpreter, over a bare one (best of 5 each)."""
    def best(code: str) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - start)
        return min(times)

    return (best("import agent_memory_plugins") - best("pass")) * 1000


FIRST_USE = r"""
import json, sys, tempfile, time
start = time.perf_counter()
from agent_memory_plugins import MemoryCore
imported = time.perf_counter()
folder = tempfile.TemporaryDirectory(prefix="amp-first-")
memory = MemoryCore(folder.name)
opened = time.perf_counter()
memory.add_message("s1", "user", "My sister Lena lives in Porto.", user_id="alice")
added = time.perf_counter()
memory.flush()
flushed = time.perf_counter()
memory.search("where does Lena live?", user_id="alice")
searched = time.perf_counter()
memory.close()
folder.cleanup()
json.dump({"import_core_ms": (imported - start) * 1000, "open_ms": (opened - imported) * 1000,
           "first_add_message_ms": (added - opened) * 1000, "first_flush_s": flushed - added,
           "first_search_ms": (searched - flushed) * 1000, "to_first_indexed_s": flushed - start}, sys.stdout)
"""


def first_use() -> dict[str, float]:
    """A fresh process: open a store, first add_message, flush (model load), first search."""
    done = subprocess.run([sys.executable, "-c", FIRST_USE], check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- bulk import -----------------------------------------------------------------------------------
def bulk_import(model: Any, count: int) -> dict[str, float]:
    """``add_messages`` + ``flush`` into an empty store vs raw ``encode`` of the same texts.

    The baseline is ``encode`` before the store opens, on a thread of its own (what a user would
    otherwise run; see ``speed_conversation.timed_apart``): opening embedded Chroma turns on the
    heap scrub for the rest of the process (``core/indexes/heap.py``), and an ``encode`` after
    that, interleaved with the import rounds, pays its ``memset`` too; that ratio is reported
    beside (``bulk_vs_raw_same_process``)."""
    from speed_conversation import timed_apart

    from agent_memory_plugins import MemoryCore
    from agent_memory_plugins.core.indexes import heap

    encode = encoder(model)
    texts = synthetic.fresh_texts(count, seed=5)
    unscrubbed = not heap.heap_scrubbed()
    user_raw_s = timed_apart(lambda: encode(texts), warm=lambda: encode(texts[:16]))
    rounds = 4
    size = count // rounds
    raw_s = ours_s = 0.0
    folder = tempfile.mkdtemp(prefix="amp-bulk-")
    with MemoryCore(folder) as memory:
        for r in range(rounds):
            part = texts[r * size:(r + 1) * size]

            def raw(part: list[str] = part) -> float:
                return timed_apart(lambda: encode(part), warm=lambda: encode(part[:16]))

            def ours(part: list[str] = part, r: int = r) -> float:
                start = time.perf_counter()
                for first in range(0, len(part), synthetic.SESSION_MESSAGES):
                    memory.add_messages(f"import{r}-{first}", [
                        {"role": "user" if i % 2 == 0 else "assistant", "content": text}
                        for i, text in enumerate(part[first:first + synthetic.SESSION_MESSAGES])
                    ], user_id="importer")
                memory.flush()
                return time.perf_counter() - start

            if r % 2 == 0:
                raw_s += raw()
                ours_s += ours()
            else:
                ours_s += ours()
                raw_s += raw()
        stored = memory.stats()["vectors"]
    shutil.rmtree(folder, ignore_errors=True)
    done = size * rounds
    user_raw_s *= done / len(texts)
    return {"texts": done, "vectors_stored": stored, "heap_scrub": heap.heap_scrubbed(),
            "raw_before_is_unscrubbed": unscrubbed, "raw_encode_per_s": done / user_raw_s,
            "raw_encode_same_process_per_s": done / raw_s, "bulk_import_per_s": done / ours_s,
            "bulk_vs_raw": user_raw_s / ours_s, "bulk_vs_raw_same_process": raw_s / ours_s,
            "raw_after_vs_before": raw_s / user_raw_s - 1}


# -- one store size (in its own process) -----------------------------------------------------------
def fill(folder: str, size: int, pool: synthetic.Pool, model: Any, peers: list[Any]) -> dict[str, Any]:
    """Fill a store (and the peers) with ``size`` synthetic records through ``add_messages`` + ``flush``."""
    from agent_memory_plugins import MemoryCore

    embedder = synthetic.PrecomputedEmbedder("sentence-transformers/all-MiniLM-L6-v2", encoder(model))
    start = time.perf_counter()
    peer_s = 0.0
    with MemoryCore(folder, embedder=embedder, durability="normal", embedding_cache_size=FILL_CHUNK + 1000,
                    index_batch_size=1000) as memory:
        for chunk in range(0, size, FILL_CHUNK):
            embedder.known = {}
            batch: list[tuple[str, list[dict[str, Any]], np.ndarray]] = []
            for user, session, messages, vectors in synthetic.conversations(pool, chunk, min(size, chunk + FILL_CHUNK)):
                embedder.known.update(zip((m["content"] for m in messages), vectors, strict=True))
                memory.add_messages(session, messages, user_id=user)
                batch.append((user, messages, vectors))
            memory.flush()
            peer_start = time.perf_counter()
            for peer in peers:
                peer.fill(batch)
            peer_s += time.perf_counter() - peer_start
            if chunk and chunk % 200_000 == 0:
                print(f"    filled {chunk:,} records ({time.perf_counter() - start:.0f} s)", flush=True)
        records = memory.store.count()
    ours_s = time.perf_counter() - start - peer_s
    return {"records": records, "fill_s": ours_s, "fill_per_s": records / ours_s, "peers_fill_s": peer_s,
            "fill_fallback_embeddings": embedder.fallback_texts}


def measure_size(size: int, config: dict[str, Any], pool_file: str) -> dict[str, Any]:
    """Every per-size figure for a store of ``size`` records (runs in a fresh process)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from agent_memory_plugins import MemoryCore

    model = shared_model()
    encode = encoder(model)
    encode(["warm up"])
    with np.load(pool_file) as saved:
        pool = synthetic.Pool([str(t) for t in saved["texts"]], saved["vectors"])
    base = memory_mb()
    folder = tempfile.mkdtemp(prefix=f"amp-speed-{size}-")
    peer_folder = tempfile.mkdtemp(prefix=f"amp-peers-{size}-")
    peers: list[Any] = []
    if config["peers"]:
        from peers import LangChainPeer, LlamaIndexPeer

        client = chromadb.PersistentClient(peer_folder, settings=ChromaSettings(anonymized_telemetry=False))
        peers = [LangChainPeer(model, client), LlamaIndexPeer(model, client)]
    figures: dict[str, Any] = {"size": size, **fill(folder, size, pool, model, peers)}

    user = synthetic.user_of(0)
    start = time.perf_counter()
    memory = MemoryCore(folder)  # the real model, default settings
    figures["open_ms"] = ms_since(start)

    # add_message with `size` records stored; the indexer embeds them for real in the background.
    # Beside each write, the disk's floor for a durable write: a 4 KiB write + fdatasync in the same folder.
    fresh = synthetic.fresh_texts(config["writes"] + 2 * config["turns"], seed=17)
    writes, syncs = [], []
    floor = os.open(os.path.join(folder, "fsync-floor.bin"), os.O_RDWR | os.O_CREAT)
    for i, text in enumerate(fresh[:config["writes"]]):
        start = time.perf_counter()
        memory.add_message("bench-latency", "user" if i % 2 == 0 else "assistant", text, user_id=user)
        writes.append(ms_since(start))
        start = time.perf_counter()
        os.pwrite(floor, b"x" * 4096, (i % 64) * 4096)
        os.fdatasync(floor)
        syncs.append(ms_since(start))
    os.close(floor)
    os.remove(os.path.join(folder, "fsync-floor.bin"))
    start = time.perf_counter()
    memory.flush()
    figures["flush_after_writes_s"] = time.perf_counter() - start

    # search vs (one query embedding + one unfiltered k=10 query of a Chroma collection holding just
    # the user's vectors: the user's own collection, queried raw), alternating.
    questions = synthetic.queries(config["queries"])
    ours, raw = [], []
    own_collection = memory.index._user(memory.index.scope(user), create=False)
    for i, question in enumerate(questions):
        def raw_query(question: str = question) -> None:
            start = time.perf_counter()
            vector = encode([question])[0].tolist()
            own_collection.query(query_embeddings=[vector], n_results=10)
            raw.append(ms_since(start))

        if i % 2:
            raw_query()
        start = time.perf_counter()
        memory.search(question, user_id=user, k=10)
        ours.append(ms_since(start))
        if not i % 2:
            raw_query()

    # context() vs search() on the same question, the query vectors now cached, in alternating order:
    # context's own cost is the median of the paired differences (steadier than a difference of medians).
    warm_search, warm_context = [], []
    for i, question in enumerate(questions):
        for call in ("search", "context") if i % 2 == 0 else ("context", "search"):
            start = time.perf_counter()
            if call == "search":
                memory.search(question, user_id=user, k=10)
                warm_search.append(ms_since(start))
            else:
                memory.context("bench-latency", question, user_id=user, k=10)
                warm_context.append(ms_since(start))
    paired = [c - s for c, s in zip(warm_context, warm_search, strict=True)]
    figures.update({
        "add_message_p50_ms": percentile(writes, 50), "add_message_p99_ms": percentile(writes, 99),
        "add_message_max_ms": max(writes),
        "fdatasync_p50_ms": percentile(syncs, 50), "fdatasync_p99_ms": percentile(syncs, 99),
        "search_p50_ms": percentile(ours, 50), "search_p95_ms": percentile(ours, 95),
        "raw_embed_plus_query_p50_ms": percentile(raw, 50), "raw_embed_plus_query_p95_ms": percentile(raw, 95),
        "search_vs_raw": percentile(ours, 50) / percentile(raw, 50),
        "search_cached_embedding_p50_ms": percentile(warm_search, 50),
        "context_cached_embedding_p50_ms": percentile(warm_context, 50),
        "context_overhead_ms": percentile(paired, 50),
        **memory_mb(),
        "baseline_rss_mb": base["rss_mb"],
    })
    memory.close()
    figures.update(folder_bytes(folder))
    figures["disk_mb_per_million"] = (figures["sqlite_bytes"] + figures["chroma_bytes"]) / size
    figures["store_rss_mb_per_million"] = (figures["rss_mb"] - base["rss_mb"]) * 1e6 / size

    if peers:
        turns = list(zip(fresh[config["writes"]::2], fresh[config["writes"] + 1::2], strict=False))
        figures["peers"] = {}
        for peer in peers:
            timed = peer.measure(user, turns, questions)
            figures["peers"][peer.name] = {
                "write_p50_ms": percentile(timed["write_ms"], 50), "write_p99_ms": percentile(timed["write_ms"], 99),
                "recall_p50_ms": percentile(timed["recall_ms"], 50),
                "recall_p95_ms": percentile(timed["recall_ms"], 95),
                "write_call": timed["write_call"], "recall_call": timed["recall_call"],
            }
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(peer_folder, ignore_errors=True)
    return figures


def run_size(size: int, config: dict[str, Any], pool_file: str) -> dict[str, Any]:
    """``measure_size`` in a fresh interpreter (so its memory figures are its own)."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        subprocess.run([sys.executable, __file__, "--child", str(size), json.dumps(config), pool_file, out.name],
                       check=True)
        return dict(json.loads(Path(out.name).read_text()))


# -- targets ---------------------------------------------------------------------------------------
def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure with a target: name, value, target text and whether it is met."""
    rows: list[dict[str, Any]] = []

    def check(name: str, value: float, target: str, met: bool) -> None:
        rows.append({"figure": name, "value": value, "target": target, "met": met})

    check("import agent_memory_plugins (ms)", results["import_ms"], "< 150", results["import_ms"] < 150)
    bulk = results["bulk"]
    check("bulk import / raw encode throughput", bulk["bulk_vs_raw"], ">= 0.85", bulk["bulk_vs_raw"] >= 0.85)
    for size, figures in results["sizes"].items():
        label = f"@{int(size):,}"
        check(f"add_message p50 (ms) {label}", figures["add_message_p50_ms"], "<= 2",
              figures["add_message_p50_ms"] <= 2)
        check(f"add_message p99 (ms) {label}", figures["add_message_p99_ms"], "<= 10",
              figures["add_message_p99_ms"] <= 10)
        check(f"search p50 / (embed + raw Chroma) {label}", figures["search_vs_raw"], "<= 1.3",
              figures["search_vs_raw"] <= 1.3)
        check(f"context() overhead (ms) {label}", figures["context_overhead_ms"], "<= 3",
              figures["context_overhead_ms"] <= 3)
    sizes = sorted(int(s) for s in results["sizes"])
    if 10_000 in sizes and sizes[-1] >= 1_000_000:
        big, small = results["sizes"][str(sizes[-1])], results["sizes"]["10000"]
        ratio = big["search_p95_ms"] / small["search_p95_ms"]
        check(f"search p95 @{sizes[-1]:,} / p95 @10,000", ratio, "<= 1.5", ratio <= 1.5)
    return rows


def report(results: dict[str, Any]) -> None:
    """Print the figures, the targets and the peers."""
    first = results["first_use"]
    print(f"\nmachine: {results['machine']['cpus']} cores, GPU: {results['machine']['gpu']}, "
          f"load average at start {results['machine']['load_start']}, at end {results['machine']['load_end']}")
    print(f"first use in a fresh process: import+core {first['import_core_ms']:.0f} ms, "
          f"open {first['open_ms']:.0f} ms, "
          f"first add_message {first['first_add_message_ms']:.1f} ms, first flush (model load + embed) "
          f"{first['first_flush_s']:.2f} s, first search {first['first_search_ms']:.0f} ms")
    bulk = results["bulk"]
    print(f"bulk import: {bulk['bulk_import_per_s']:.1f} msg/s vs raw encode {bulk['raw_encode_per_s']:.1f} texts/s "
          f"before the store opened, {bulk.get('raw_encode_same_process_per_s', 0.0):.1f} texts/s after "
          f"(heap scrub {'on' if bulk.get('heap_scrub') else 'off'}) ({bulk['texts']} texts)")
    for size, figures in results["sizes"].items():
        print(f"\n== {int(size):,} records stored (fill {figures['fill_per_s']:.0f} records/s, "
              f"open {figures['open_ms']:.0f} ms) ==")
        for key, value in figures.items():
            if isinstance(value, float):
                print(f"  {key:34s} {value:12.3f}")
        for name, peer in figures.get("peers", {}).items():
            print(f"  peer {name}: write p50 {peer['write_p50_ms']:.2f} ms / p99 {peer['write_p99_ms']:.2f} ms, "
                  f"recall p50 {peer['recall_p50_ms']:.2f} ms / p95 {peer['recall_p95_ms']:.2f} ms")
    print(f"\n{'figure':48s} {'value':>10s} {'target':>9s}  status")
    for row in results["targets"]:
        print(f"{row['figure']:48s} {row['value']:10.3f} {row['target']:>9s}  {'MET' if row['met'] else 'MISSED'}")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import chromadb
    import sentence_transformers
    import torch

    return {"cpus": os.cpu_count(), "gpu": torch.cuda.is_available(), "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(), "chromadb": chromadb.__version__,
            "sentence_transformers": sentence_transformers.__version__, "torch": torch.__version__,
            "load_start": [round(x, 2) for x in os.getloadavg()]}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the results it wrote."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized: one 2k store")
    parser.add_argument("--scale", type=int, metavar="N", help="measure a store of N records (and 10k beside it)")
    parser.add_argument("--sizes", type=int, nargs="+", help="store sizes to measure (overrides the mode's)")
    parser.add_argument("--no-peers", action="store_true", help="skip LangChain and LlamaIndex")
    for name in ("bulk", "pool", "queries", "writes", "turns"):
        parser.add_argument(f"--{name}", type=int, help=f"override the mode's {name} count")
    parser.add_argument("--conversation", action="store_true",
                        help="6,000 conversation turns of one user: import vs raw encode, search vs a bare collection")
    parser.add_argument("--locomo", type=Path, metavar="FILE", help="--conversation: LoCoMo's turns as the texts")
    parser.add_argument("--load", action="store_true", help="--conversation: search again beside a busy process")
    parser.add_argument("--out", type=Path, help="results file (default benchmarks/results/speed[_scale].json)")
    args = parser.parse_args(argv)
    if args.conversation:
        return conversation(args.locomo, args.load, args.out)
    mode = "quick" if args.quick else "scale" if args.scale else "full"
    config = dict(MODES[mode])
    if args.scale:
        config["sizes"] = [*config["sizes"], args.scale]
    if args.sizes:
        config["sizes"] = args.sizes
    if args.no_peers:
        config["peers"] = False
    for name in ("bulk", "pool", "queries", "writes", "turns"):
        if getattr(args, name) is not None:
            config[name] = getattr(args, name)
    out = args.out or RESULTS / ("speed_scale.json" if mode == "scale" else "speed.json")

    results: dict[str, Any] = {"mode": mode, "config": config, "machine": machine()}
    results["import_ms"] = import_ms()
    print(f"import agent_memory_plugins: {results['import_ms']:.1f} ms (over a bare interpreter)", flush=True)
    results["first_use"] = first_use()
    print(f"first add_message in a fresh process: {results['first_use']['first_add_message_ms']:.1f} ms; "
          f"first flush (model load): {results['first_use']['first_flush_s']:.2f} s", flush=True)
    model = shared_model()
    results["bulk"] = bulk_import(model, config["bulk"])
    print(f"bulk import / raw encode: {results['bulk']['bulk_vs_raw']:.3f} "
          f"(vs raw encode in the same process after the store opened: "
          f"{results['bulk']['bulk_vs_raw_same_process']:.3f})", flush=True)
    pool = synthetic.Pool.build(config["pool"], encoder(model))
    results["stand_in_vectors"] = {
        "pool_sentences": config["pool"], "noise": synthetic.NOISE,
        "median_cosine_to_real_embedding": synthetic.fidelity(pool, encoder(model)),
    }
    results["sizes"] = {}
    with tempfile.TemporaryDirectory(prefix="amp-pool-") as tmp:
        pool_file = os.path.join(tmp, "pool.npz")
        np.savez(pool_file, texts=np.array(pool.texts), vectors=pool.vectors)
        for size in config["sizes"]:
            print(f"measuring a store of {size:,} records ...", flush=True)
            results["sizes"][str(size)] = run_size(size, config, pool_file)
    results["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = verdicts(results)
    report(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")
    return results


def conversation(locomo: Path | None, load: bool, out: Path | None) -> dict[str, Any]:
    """The ``--conversation`` mode (``speed_conversation.py``); returns the results it wrote."""
    import speed_conversation

    results = {"mode": "conversation", "machine": machine(),
               **speed_conversation.run(shared_model(), locomo, load)}
    results["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    speed_conversation.report(results)
    out = out or RESULTS / ("speed_conversation_locomo.json" if locomo else "speed_conversation.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")
    return results


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        figures = measure_size(int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4])
        Path(sys.argv[5]).write_text(json.dumps(figures))
    else:
        main()
