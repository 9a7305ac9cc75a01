"""LongMemEval retrieval: our recall beside dense, BM25 and their rank fusion, same model, same process.

    python benchmarks/longmemeval.py --data ../shared/data/longmemeval-s-dev.json [--limit N]

Per question a fresh store holding its whole haystack: each turn one message (role user or
assistant), sessions in order, each timestamped with its session's date (plus its position, in
seconds), the haystack session id and turn index in metadata. Each system ranks turns for the
question (``search(question, k=50)`` for ours; 50 turns, so that ten distinct sessions come out).
Scoring as LongMemEval's retrieval evaluation: ranked turns are mapped to their sessions (first
occurrence); session-level recall_any@5/@10 (an answer session among the first k sessions),
recall_all@5/@10 (every answer session among them) and nDCG@10 against ``answer_session_ids``;
turn-level recall@10: the share of ``has_answer`` turns among the first ten turns. Overall and per
``question_type``.

Baselines, in the same process with the same all-MiniLM-L6-v2 vectors: Chroma dense alone, BM25
alone (stemmed, stop words dropped, as the issue's table), and the reciprocal rank fusion of the two
(k=60, the usual constant). Every text is embedded once (one cache for ours and the baselines;
``--cache`` keeps the vectors between runs, so later runs embed only the questions' new texts).

Split-half figure (unless ``--no-folds``): the questions are split in two halves (alternately
within each question type); our free ranking parameters (the grid of ``locomo.py``) are chosen on
one half by turn recall@10 and measured on the other, both ways.
Writes ``benchmarks/results/longmemeval.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import locomo
import locomo_peers as peers

Ranker = Callable[[str], list[str]]  # question -> turn keys "session#turn", best first
DEPTH = 50
"""Turns each system ranks (enough for ten distinct sessions)."""
RRF_K = 60
USER = "longmemeval"
OURS = "agent-memory-plugins (ours)"
METRICS = ("turn_recall@10", "recall_any@5", "recall_all@5", "recall_any@10", "recall_all@10", "ndcg@10")
DEFAULT_CACHE = Path(__file__).parent / "results" / "cache" / "minilm-vectors.npz"


def turn_key(session_id: str, turn: int) -> str:
    """The name of one turn in every ranking: ``"<session id>#<turn index>"``."""
    return f"{session_id}#{turn}"


def session_of(key: str) -> str:
    """The session a turn key belongs to."""
    return key.rsplit("#", 1)[0]


def parse_date(text: str) -> float:
    """``"2023/05/28 (Sun) 19:47"`` -> epoch seconds (UTC)."""
    day, _, clock = text.split(" ", 2)
    moment = datetime.strptime(f"{day} {clock}", "%Y/%m/%d %H:%M")
    return moment.replace(tzinfo=timezone.utc).timestamp()


def sessions_of(item: dict[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """``(session_id, messages)`` of one question's haystack, in order, ready for ``add_messages``."""
    for session_id, date, turns in zip(item["haystack_session_ids"], item["haystack_dates"],
                                       item["haystack_sessions"], strict=True):
        start = parse_date(date)
        yield session_id, [
            {"role": turn["role"], "content": turn["content"], "timestamp": start + position,
             "metadata": {"session": session_id, "turn": position}}
            for position, turn in enumerate(turns) if turn["content"].strip()  # a few turns are empty
        ]


def documents(item: dict[str, Any]) -> list[tuple[str, str]]:
    """Every ``(turn key, text)`` of a haystack."""
    return [(turn_key(s, m["metadata"]["turn"]), m["content"]) for s, messages in sessions_of(item) for m in messages]


def evidence_turns(item: dict[str, Any]) -> set[str]:
    """The keys of the ``has_answer`` turns."""
    return {turn_key(s, i) for s, turns in zip(item["haystack_session_ids"], item["haystack_sessions"], strict=True)
            for i, turn in enumerate(turns) if turn.get("has_answer")}


def score(ranked: Sequence[str], item: dict[str, Any]) -> dict[str, float]:
    """One question's metrics from a ranking of turn keys (best first)."""
    turns = list(dict.fromkeys(ranked))
    answers = set(item["answer_session_ids"])
    evidence = evidence_turns(item)
    sessions = list(dict.fromkeys(session_of(key) for key in turns))
    row = {"turn_recall@10": len(evidence & set(turns[:10])) / len(evidence) if evidence else 0.0}
    for k in (5, 10):
        found = answers & set(sessions[:k])
        row[f"recall_any@{k}"] = float(bool(found))
        row[f"recall_all@{k}"] = float(found == answers)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(answers), 10)))
    row["ndcg@10"] = sum(1 / math.log2(i + 2) for i, s in enumerate(sessions[:10]) if s in answers) / ideal
    return row


def evaluate(ranker: Ranker, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-question rows (metrics, type, query latency) of one ranker over ``items``."""
    rows = []
    for item in items:
        start = time.perf_counter()
        ranked = ranker(item["question"])
        row: dict[str, Any] = score(ranked, item)
        row["ms"] = (time.perf_counter() - start) * 1000
        row["type"], row["id"] = item["question_type"], item["question_id"]
        rows.append(row)
    return rows


def table(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean metrics overall (``all``) and per question type, with the search latency."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups["all"].append(row)
        groups[row["type"]].append(row)
    out: dict[str, Any] = {name: {m: sum(r[m] for r in group) / len(group) for m in METRICS} | {"n": len(group)}
                           for name, group in sorted(groups.items())}
    latencies = sorted(r["ms"] for r in rows)
    out["all"]["p50_ms"] = latencies[len(latencies) // 2]
    out["all"]["p95_ms"] = latencies[int(len(latencies) * 0.95)]
    return out


def rank_fusion(rankers: Sequence[Ranker], k: int = RRF_K) -> Ranker:
    """Reciprocal rank fusion: each ranking adds ``1 / (k + rank)`` to an item."""

    def ranker(question: str) -> list[str]:
        scores: dict[str, float] = defaultdict(float)
        for rank in rankers:
            for position, key in enumerate(rank(question), start=1):
                scores[key] += 1.0 / (k + position)
        return sorted(scores, key=lambda key: -scores[key])[:DEPTH]

    return ranker


def halves(rows: Sequence[dict[str, Any]]) -> list[list[int]]:
    """Two halves of the question positions in ``rows`` (in data-file order), alternating within
    each question type."""
    parts: list[list[int]] = [[], []]
    seen: dict[str, int] = defaultdict(int)
    for position in sorted(range(len(rows)), key=lambda p: rows[p]["index"]):
        parts[seen[rows[position]["type"]] % 2].append(position)
        seen[rows[position]["type"]] += 1
    return parts


def split_half(grid_rows: list[list[dict[str, Any]]], grid: Sequence[dict[str, Any]],
               metric: str = "turn_recall@10") -> dict[str, Any]:
    """Choose a grid point on one half by ``metric``, measure it on the other, both ways."""
    folds, held_rows = [], []
    first, second = halves(grid_rows[0])
    for tune, test in ((first, second), (second, first)):
        def mean(point: int, part: list[int]) -> float:
            return sum(grid_rows[point][i][metric] for i in part) / max(1, len(part))

        best = max(range(len(grid)), key=lambda point: mean(point, tune))
        held_rows.extend(grid_rows[best][i] for i in test)
        folds.append({"chosen": grid[best], "tuned": mean(best, tune), "held_out": mean(best, test)})
    return {"table": table(held_rows), "folds": folds}


def ours_ranker(item: dict[str, Any], settings: dict[str, Any]) -> tuple[Ranker, float, Any]:
    """Our store of one haystack and its ranker (and the ingest rate, turns per second)."""
    return locomo.ingest_ours(sessions_of(item), settings, lambda meta: turn_key(meta["session"], meta["turn"]),
                              USER, DEPTH)


def baselines(item: dict[str, Any], model: peers.SharedModel) -> dict[str, Ranker]:
    """Dense alone, BM25 alone and their rank fusion over one haystack (the vectors are cached)."""
    docs = documents(item)
    dense = locomo.DenseIndex(docs, model.embed, depth=DEPTH)
    bm25 = locomo.BM25(docs, stem=True, depth=DEPTH)
    return {"Chroma, dense only": dense, "BM25 (stemming, stop words)": bm25,
            "dense + BM25 rank fusion (RRF k=60)": rank_fusion([dense, bm25])}


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """The side-by-side table: overall metrics, then turn recall@10 per question type."""
    types = [t for t in next(iter(results.values())) if t != "all"]
    short = {t: "".join(w[0] for w in t.split("-")) for t in types}
    print(f"{'system':42s} {'tR@10':>6s} {'any@5':>6s} {'all@5':>6s} {'any@10':>6s} {'all@10':>6s} "
          f"{'nDCG10':>6s} " + " ".join(f"{short[t]:>6s}" for t in types) + f" {'p50ms':>6s}")
    for name, result in results.items():
        a = result["all"]
        print(f"{name:42s} " + " ".join(f"{a[m]:6.3f}" for m in METRICS) + " "
              + " ".join(f"{result[t]['turn_recall@10']:6.3f}" for t in types) + f" {a['p50_ms']:6.1f}")
    print("types (turn R@10 columns): " + ", ".join(f"{s} = {t}" for t, s in short.items()))


def main() -> None:
    """Run every system on every question (or merge parts) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="LongMemEval JSON (e.g. ../shared/data/longmemeval-s-dev.json)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions (quick iterations)")
    parser.add_argument("--part", default="0/1", metavar="I/N",
                        help="only questions whose position modulo N is I (split a long run; see --merge)")
    parser.add_argument("--merge", nargs="+", metavar="FILE", help="print and write the table of part files")
    parser.add_argument("--no-folds", action="store_true", help="skip the split-half figure")
    parser.add_argument("--ours-only", action="store_true", help="skip the baselines")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="file of cached vectors ('' for none)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a Settings field for ours (repeatable), e.g. --set passage_words=0")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=JSON",
                        help='an extra row: ours searched with other ranking settings on the same store, '
                        'e.g. --variant \'no keywords={"keyword_weight": 0}\' (repeatable)')
    parser.add_argument("--ingest-variant", action="append", default=[], metavar="NAME=JSON",
                        help="an extra row: ours with other settings in a store of its own (for settings that "
                        "shape indexing), e.g. --ingest-variant 'no passages={\"passage_words\": 0}'")
    parser.add_argument("--ablations", action="store_true", help="also the ablation rows of locomo.py")
    parser.add_argument("--out", default=None, help="results file (default benchmarks/results/longmemeval.json)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / "longmemeval.json"
    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge]
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for part in parts:
            for name, found in part["rows"].items():
                rows[name].extend(found)
        grids = [part["grid_rows"] for part in parts]
        grid_rows = [[row for grid in grids for row in grid[point]] for point in range(len(grids[0]))]
        report(rows, grid_rows, parts[0]["settings"], sum(p["ingest_turns_per_s"] for p in parts) / len(parts), out)
        return
    if not args.data:
        parser.error("--data is required (unless --merge)")
    which, _, count = args.part.partition("/")
    items = [(index, item) for index, item in enumerate(json.loads(Path(args.data).read_text())[: args.limit])
             if index % int(count) == int(which)]
    model = peers.SharedModel(cache_file=args.cache or None)
    settings: dict[str, Any] = {"window_messages": 20, "embedder": model.embed}
    settings |= locomo.named_json(args.set)
    variants = locomo.named_json(args.variant)
    ingest_variants = locomo.named_json(args.ingest_variant)
    if args.ablations:
        variants |= locomo.ABLATIONS
    rows = defaultdict(list)
    grid_rows: list[list[dict[str, Any]]] = [[] for _ in locomo.GRID]

    def add(name_or_rows: list[dict[str, Any]], ranker: Ranker, item: dict[str, Any], index: int) -> None:
        for row in evaluate(ranker, [item]):
            name_or_rows.append(row | {"index": index})

    rates, started_all = [], time.perf_counter()
    for number, (index, item) in enumerate(items):
        started = time.perf_counter()
        rank, rate, memory = ours_ranker(item, settings)
        rates.append(rate)
        add(rows[OURS], rank, item, index)
        if not args.no_folds:
            for point, changes in enumerate(locomo.GRID):
                add(grid_rows[point], locomo.tuned(memory, rank, changes), item, index)
        for name, changes in variants.items():
            add(rows[name], locomo.tuned(memory, rank, changes), item, index)
        memory.close()
        for name, changes in ingest_variants.items():
            rank, _, variant = ours_ranker(item, settings | changes)
            add(rows[name], rank, item, index)
            variant.close()
        if not args.ours_only:
            for name, ranker in baselines(item, model).items():
                add(rows[name], ranker, item, index)
        if number % 10 == 9:
            model.save()
        print(f"  {number + 1}/{len(items)} {item['question_id']}: {time.perf_counter() - started:.1f} s",
              file=sys.stderr, flush=True)
    model.save()
    print(f"{len(items)} questions in {time.perf_counter() - started_all:.0f} s; texts embedded by the "
          f"model in this run: {model.computed}", file=sys.stderr)
    report(rows, grid_rows if not args.no_folds else [],
           {k: v for k, v in settings.items() if k != "embedder"}, sum(rates) / len(rates), out)


def report(rows: dict[str, list[dict[str, Any]]], grid_rows: list[list[dict[str, Any]]], settings: dict[str, Any],
           rate: float, out: Path) -> None:
    """Print the table (and the split-half figure when there are grid rows) and write ``out``."""
    results = {name: table(found) for name, found in rows.items()}
    results[OURS]["all"]["ingest_turns_per_s"] = rate
    print_table(results)
    if grid_rows and grid_rows[0]:
        held = split_half(grid_rows, locomo.GRID)
        results[OURS]["split_half"] = held
        h = held["table"]["all"]
        print(f"\nsplit half (tuning {', '.join(locomo.GRID[0])} on one half, measured on the other): "
              + " ".join(f"{m} {h[m]:.3f}" for m in METRICS))
        print("  by type, turn R@10: " + " ".join(f"{t} {v['turn_recall@10']:.3f}" for t, v in held["table"].items()
                                                   if t != "all"))
        for fold in held["folds"]:
            print(f"  chosen {fold['chosen']} tuned {fold['tuned']:.3f} held-out {fold['held_out']:.3f}")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"settings": settings, "ingest_turns_per_s": rate, "results": results, "rows": rows,
                               "grid_rows": grid_rows}, indent=1))


if __name__ == "__main__":
    main()
