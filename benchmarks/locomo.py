"""LoCoMo turn-level retrieval: our recall beside the components people use today, same model.

    python benchmarks/locomo.py --data ../shared/data/locomo-dev.json

For each conversation: a fresh store, one user, every turn one message ("Speaker: text" plus the
image caption), sessions in order, timestamped with the session date, ``dia_id`` in metadata. For
each question with evidence: ``search(question, k=10)``. recall@k is the share of evidence turns
among the first k turns returned (a summary hit counts the covered turns it quotes, one rank each).
Evidence written as "D8:6; D9:17" counts as two turns.

Held-out figure (``--folds``, on by default): our free ranking parameters (keyword weight,
neighbour-context weight) are chosen on all conversations but one and measured on that one, in turn
(leave-one-conversation-out); the table also prints, per system, the spread of recall@10 over
conversations. Ablation rows switch one part of our search off at a time.
Writes ``benchmarks/results/locomo.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.recall.ranking import Weights
from agent_memory_plugins.importers import locomo_sessions
from agent_memory_plugins.settings import Settings

GRID = [{"dense_weight": dense, "keyword_weight": round(1 - dense, 2), "question_weight": question}
        for dense in (0.4, 0.5, 0.6, 0.7) for question in (1.0, 0.85, 0.7)]
"""The free parameters the held-out figure tunes on the other conversations."""
ABLATIONS = {
    "ours without neighbour words (keyword)": {"context_weight": 0.0},
    "ours without time expressions": {"time_boost": 0.0},
    "ours without the question weight": {"question_weight": 1.0},
    "ours, keyword only": {"dense_weight": 0.0},
    "ours, dense only": {"keyword_weight": 0.0},
}
INGEST_ABLATIONS = {
    "ours without context vectors (dense)": {"context_vector_weight": 0.0},
}
"""Variants that need their own store (the setting shapes what indexing writes)."""

K = 10
Ranker = Callable[[str], list[str]]  # question -> dia_ids, best first


def turns_of(conversation: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every (session_id, message) of a conversation, in order."""
    return [(session, m) for session, messages in locomo_sessions(conversation) for m in messages]


def ours(conversation: dict[str, Any], settings: dict[str, Any]) -> tuple[Ranker, float, MemoryCore]:
    """Our MemoryCore: ingest, flush, and a ranker over search() (with the core, to re-tune)."""
    return ingest_ours(locomo_sessions(conversation), settings, lambda meta: str(meta["dia_id"]), "locomo")


def ingest_ours(
    sessions: Iterable[tuple[str, list[dict[str, Any]]]], settings: dict[str, Any],
    key: Callable[[dict[str, Any]], str], user: str, k: int = K,
) -> tuple[Ranker, float, MemoryCore]:
    """A fresh MemoryCore holding ``sessions`` (one user), flushed, with a ranker over
    ``search(k=k)`` that names each hit by ``key(metadata)`` (a summary hit: the covered turns it
    quotes, one rank each), and the ingest rate in turns per second."""
    memory = MemoryCore(**settings)
    start = time.perf_counter()
    for session, messages in sessions:
        memory.add_messages(session, messages, user_id=user)
    memory.flush()
    records = memory.export(user_id=user)
    by_id = {r.id: key(r.metadata) for r in records if r.kind == "message"}
    rate = len(by_id) / (time.perf_counter() - start)
    texts = {r.id: r.text for r in records}

    def rank(question: str) -> list[str]:
        out: list[str] = []
        for hit in memory.search(question, user_id=user, k=k):
            record = hit.record
            if record.kind == "message":
                out.append(by_id[record.id])
            elif record.kind == "summary":  # the covered turns it quotes, one rank each
                out.extend(by_id[i] for i in record.covers if i in by_id
                           and texts[i].split(": ", 1)[-1][:60] in record.text)
        return out

    return rank, rate, memory


def named_json(specs: Sequence[str]) -> dict[str, Any]:
    """``["name=<JSON>", ...]`` (command-line options) -> ``{name: value}``."""
    out = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep:
            raise SystemExit(f"expected NAME=JSON, got {spec!r}")
        out[name] = json.loads(value)
    return out


def tuned(memory: MemoryCore, rank: Ranker, changes: dict[str, Any]) -> Ranker:
    """The same store searched with other ranking settings (nothing is re-ingested)."""

    def ranker(question: str) -> list[str]:
        recall = memory.recall
        saved = recall.settings, recall.weights
        recall.settings = recall.settings.replace(**changes)
        recall.weights = Weights.from_settings(recall.settings)
        try:
            return rank(question)
        finally:
            recall.settings, recall.weights = saved

    return ranker


class DenseIndex:
    """Chroma with our model, dense only (the 'Chroma, dense only' row)."""

    def __init__(self, docs: Sequence[tuple[str, str]], embed: Callable[[list[str]], list[list[float]]],
                 depth: int = K) -> None:
        import uuid

        import chromadb
        from chromadb.config import Settings

        client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))
        self.collection = client.create_collection(f"bench-{uuid.uuid4().hex[:8]}", embedding_function=None,
                                                   metadata={"hnsw:space": "cosine"})
        self.embed = embed
        self.depth = depth
        ids = [f"{i}" for i in range(len(docs))]
        self.dia = {f"{i}": dia for i, (dia, _) in enumerate(docs)}
        vectors = embed([text for _, text in docs])
        for start in range(0, len(ids), 5000):  # below Chroma's largest batch
            self.collection.add(ids=ids[start:start + 5000], embeddings=vectors[start:start + 5000])

    def __call__(self, question: str) -> list[str]:
        result = self.collection.query(query_embeddings=self.embed([question]),
                                       n_results=min(self.depth, len(self.dia)))
        return [self.dia[i] for i in result["ids"][0]]


STOP = set("a an and are as at be but by did do does for from had has have how i if in into is it its me my of on "
           "or our she he her his so than that the their them then there these they this to was we were what when "
           "where which who whom why will with you your".split())


class BM25:
    """Okapi BM25 (k1=1.5, b=0.75) over plain word tokens, or stemmed without stop words."""

    def __init__(self, docs: Sequence[tuple[str, str]], stem: bool, depth: int = K) -> None:
        self.stem = stem
        self.depth = depth
        if stem:
            from nltk.stem import PorterStemmer

            self.stemmer = PorterStemmer()
        self.dia = [dia for dia, _ in docs]
        self.docs = [Counter(self.tokens(text)) for _, text in docs]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lengths) / len(self.lengths)
        df: Counter[str] = Counter()
        for doc in self.docs:
            df.update(doc.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def tokens(self, text: str) -> list[str]:
        words = re.findall(r"\w+", text.lower())
        if not self.stem:
            return words
        return [self.stemmer.stem(w) for w in words if w not in STOP]

    def __call__(self, question: str) -> list[str]:
        terms = self.tokens(question)
        scores = []
        for index, doc in enumerate(self.docs):
            norm = 1.5 * (1 - 0.75 + 0.75 * self.lengths[index] / self.avg)
            score = sum(self.idf.get(t, 0) * doc[t] * 2.5 / (doc[t] + norm) for t in terms if t in doc)
            if score > 0:
                scores.append((score, index))
        scores.sort(reverse=True)
        return [self.dia[i] for _, i in scores[: self.depth]]


def evaluate(ranker: Ranker, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """recall@5, recall@10, hit@10, nDCG@10 overall and per category, and query latency."""
    per_cat: dict[str, list[dict[str, float]]] = defaultdict(list)
    latencies = []
    for qa in questions:
        evidence = {part.strip() for e in qa["evidence"] for part in e.split(";") if part.strip()}
        start = time.perf_counter()
        ranked = ranker(qa["question"])[:K]
        latencies.append((time.perf_counter() - start) * 1000)
        seen: list[str] = list(dict.fromkeys(ranked))
        gains = [1.0 if d in evidence else 0.0 for d in seen]
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(evidence), K)))
        row = {
            "recall@5": len(evidence & set(seen[:5])) / len(evidence),
            "recall@10": len(evidence & set(seen[:10])) / len(evidence),
            "hit@10": float(bool(evidence & set(seen[:10]))),
            "ndcg@10": sum(g / math.log2(i + 2) for i, g in enumerate(gains)) / ideal,
        }
        per_cat[str(qa["category"])].append(row)
        per_cat["all"].append(row)
    table = {cat: {m: sum(r[m] for r in rows) / len(rows) for m in rows[0]} | {"n": len(rows)}
             for cat, rows in per_cat.items()}
    latencies.sort()
    table["all"]["p50_ms"] = latencies[len(latencies) // 2]
    table["all"]["p95_ms"] = latencies[int(len(latencies) * 0.95)]
    return table


def merge(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-conversation tables -> one table weighted by questions, with the spread of recall@10."""
    merged: dict[str, Any] = {}
    for cat in sorted({c for t in tables for c in t}):
        rows = [(t[cat], t[cat]["n"]) for t in tables if cat in t]
        total = sum(n for _, n in rows)
        merged[cat] = {m: sum(r[m] * n for r, n in rows) / total for m in ("recall@5", "recall@10", "hit@10",
                                                                           "ndcg@10")}
        merged[cat]["n"] = total
    merged["all"]["p50_ms"] = sorted(t["all"]["p50_ms"] for t in tables)[len(tables) // 2]
    merged["all"]["p95_ms"] = max(t["all"]["p95_ms"] for t in tables)
    per_conversation = [t["all"]["recall@10"] for t in tables]
    merged["all"]["recall@10_by_conversation"] = per_conversation
    merged["all"]["recall@10_min"] = min(per_conversation)
    merged["all"]["recall@10_max"] = max(per_conversation)
    return merged


def held_out(grid_tables: list[list[dict[str, Any]]], names: list[str]) -> dict[str, Any]:
    """Leave one conversation out: pick the grid point best on the others, score it on this one."""
    folds = []
    rows: list[tuple[dict[str, Any], int]] = []
    for held in range(len(names)):
        def on_others(point: int, held: int = held) -> float:
            pairs = [(t["all"]["recall@10"], t["all"]["n"]) for c, t in enumerate(grid_tables[point]) if c != held]
            return float(sum(r * n for r, n in pairs) / max(1, sum(n for _, n in pairs)))

        best = max(range(len(GRID)), key=on_others) if len(names) > 1 else GRID.index(DEFAULT_POINT)
        # (a single conversation has no others to tune on: the defaults stand)
        table = grid_tables[best][held]
        rows.append((table, table["all"]["n"]))
        folds.append({"held_out": names[held], "chosen": GRID[best], "tuned_recall@10": on_others(best),
                      "held_out_recall@10": table["all"]["recall@10"]})
    cats = sorted({c for t, _ in rows for c in t})
    recall = {c: sum(t[c]["recall@10"] * t[c]["n"] for t, _ in rows if c in t)
              / sum(t[c]["n"] for t, _ in rows if c in t) for c in cats}
    return {"recall@10": recall, "folds": folds}


DEFAULT_POINT = {"dense_weight": Settings.dense_weight, "keyword_weight": Settings.keyword_weight,
                 "question_weight": Settings.question_weight}


def _close(memory: MemoryCore, database_url: str | None) -> None:
    """Close a store; a PostgreSQL one is emptied first (the next conversation starts from nothing)."""
    if database_url:
        memory.forget(user_id="locomo")
    memory.close()


def main() -> None:
    """Run every system on every conversation and print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="LoCoMo-format JSON (e.g. ../shared/data/locomo-dev.json)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N conversations")
    parser.add_argument("--ours-only", action="store_true", help="skip the peer baselines")
    parser.add_argument("--no-folds", action="store_true", help="skip the held-out (cross-validated) figure "
                        "and the ablation rows")
    parser.add_argument("--no-ablations", action="store_true", help="the held-out figure without the ablation rows")
    parser.add_argument("--dense-noise", type=float, default=0.0, metavar="SIGMA",
                        help="stress test: add this much noise to every embedding (ours and the peers) so "
                        "the model matches questions to turns less well (0.8 brings 'Chroma, dense only' "
                        "on the dev file down to the figure the issue reports for unseen conversations)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=JSON",
                        help="an extra row: ours searched with other ranking settings on the same store "
                        "(repeatable), e.g. --variant 'sessions={\"session_weight\": 0.3}'")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=JSON",
                        help="a Settings field for ours (repeatable), e.g. --set passage_words=0")
    parser.add_argument("--database-url", default=None, metavar="URL",
                        help="keep our records in this PostgreSQL database instead of SQLite (each "
                        "conversation's records are forgotten before the next one starts)")
    args = parser.parse_args()
    conversations = json.loads(Path(args.data).read_text())[: args.limit]
    names = [str(c.get("sample_id", i)) for i, c in enumerate(conversations)]
    settings: dict[str, Any] = {"window_messages": 20} | named_json(args.set)
    variants = named_json(args.variant)
    if args.database_url:
        settings["database_url"] = args.database_url
    model = None
    if args.dense_noise > 0:
        import locomo_peers as peers

        model = peers.SharedModel(noise=args.dense_noise)
        settings["embedder"] = model.embed
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    grid_tables: list[list[dict[str, Any]]] = [[] for _ in GRID]
    rates = []
    for number, conversation in enumerate(conversations):
        questions = [q for q in conversation["qa"] if q.get("evidence")]
        started = time.perf_counter()
        rank, rate, memory = ours(conversation, settings)
        rates.append(rate)
        tables["agent-memory-plugins (ours)"].append(evaluate(rank, questions))  # first: queries not cached
        for name, changes in variants.items():
            tables[name].append(evaluate(tuned(memory, rank, changes), questions))
        if not args.no_folds:
            for point, changes in enumerate(GRID):
                grid_tables[point].append(evaluate(tuned(memory, rank, changes), questions))
        if not args.no_folds and not args.no_ablations:
            for name, changes in ABLATIONS.items():
                tables[name].append(evaluate(tuned(memory, rank, changes), questions))
            tables["ours, messages only (kinds=['message'])"].append(evaluate(_messages_only(memory), questions))
        _close(memory, args.database_url)
        if not args.no_folds and not args.no_ablations:
            for name, changes in INGEST_ABLATIONS.items():
                rank, _, variant = ours(conversation, settings | changes)
                tables[name].append(evaluate(rank, questions))
                _close(variant, args.database_url)
        _progress(f"{names[number]}: ours and its variants", started)
        if args.ours_only:
            continue
        import locomo_peers as peers

        if model is None:
            model = peers.SharedModel()
        docs = [(m["metadata"]["dia_id"], m["content"]) for _, m in turns_of(conversation)]
        turns = [(session, m["metadata"]["dia_id"], m["content"]) for session, m in turns_of(conversation)]
        model.embed([text for _, text in docs])
        peer_systems = _peers(docs, turns, model)
        for name, build in peer_systems.items():
            started = time.perf_counter()
            tables[name].append(evaluate(build(), questions))
            _progress(f"{names[number]}: {name}", started)
    results: dict[str, Any] = {name: merge(runs) for name, runs in tables.items()}
    ours_name = "agent-memory-plugins (ours)"
    results[ours_name]["all"]["ingest_turns_per_s"] = sum(rates) / len(rates)
    if not args.no_folds:
        results[ours_name]["held_out"] = held_out(grid_tables, names)
    ours_r10 = results[ours_name]["all"]["recall@10"]
    cats = [c for c in sorted(results[ours_name]) if c not in ("all", "held_out")]
    print(f"{'system':40s} {'R@5':>6s} {'R@10':>6s} {'hit@10':>7s} {'nDCG':>6s} "
          + " ".join(f"{'c' + c:>6s}" for c in cats) + f" {'min..max conv':>13s} {'p50ms':>7s} {'vs ours':>8s}")
    for name, table in results.items():
        a = table["all"]
        print(f"{name:40s} {a['recall@5']:6.3f} {a['recall@10']:6.3f} {a['hit@10']:7.3f} {a['ndcg@10']:6.3f} "
              + " ".join(f"{table[c]['recall@10']:6.3f}" if c in table else f"{'-':>6s}" for c in cats)
              + f" {a['recall@10_min']:6.3f}..{a['recall@10_max']:.3f} {a['p50_ms']:7.1f}"
              + f" {a['recall@10'] / ours_r10:8.2f}")
    if not args.no_folds:
        held = results[ours_name]["held_out"]
        print(f"\nheld out (leave one conversation out, tuning {', '.join(GRID[0])} on the others): "
              f"R@10 {held['recall@10']['all']:.3f}; "
              + " ".join(f"c{c} {held['recall@10'][c]:.3f}" for c in cats))
        for fold in held["folds"]:
            print(f"  {fold['held_out']:10s} chosen {fold['chosen']} tuned {fold['tuned_recall@10']:.3f} "
                  f"held-out {fold['held_out_recall@10']:.3f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    name = f"locomo-noise-{args.dense_noise:g}.json" if args.dense_noise > 0 else "locomo.json"
    (out / name).write_text(json.dumps(results, indent=2))


def _peers(
    docs: list[tuple[str, str]], turns: list[tuple[str, str, str]], model: Any
) -> dict[str, Callable[[], Ranker]]:
    """Builders of every peer of the issue's table for one conversation (built one at a time)."""
    import locomo_peers as peers

    return {
        "Chroma, dense only": lambda: DenseIndex(docs, model.embed),
        "LlamaIndex VectorMemory": lambda: peers.llama_vector_memory(turns, model),
        "LlamaIndex Memory+VectorMemoryBlock": lambda: peers.llama_memory_block(turns, model),
        "LangChain VectorStoreRetrieverMemory": lambda: peers.langchain_pairs(turns, model),
        "BM25 (plain word tokens)": lambda: BM25(docs, stem=False),
        "BM25 (stemming, stop words)": lambda: BM25(docs, stem=True),
    }


def _progress(what: str, started: float) -> None:
    print(f"  {what}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def _messages_only(memory: MemoryCore) -> Ranker:
    """Our search limited to raw turns (summaries take no ranks): how much summaries cost."""

    def rank(question: str) -> list[str]:
        return [hit.record.metadata["dia_id"] for hit in memory.search(question, user_id="locomo", k=K,
                                                                       kinds=["message"])]

    return rank


if __name__ == "__main__":
    main()
