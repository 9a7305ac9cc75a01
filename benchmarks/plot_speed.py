"""Plot latency against store size from the speed benchmark's results.

    python benchmarks/plot_speed.py            # reads benchmarks/results/speed.json and speed_scale.json
    python benchmarks/plot_speed.py --out docs/images/latency_vs_size.png

Left: ``search`` (k=10) p50 and p95 beside one query embedding plus one raw Chroma query, and the
peers' recall. Right: ``add_message`` p50 and p99 beside the peers' writes. Sizes measured in more
than one run (10k is in both) are drawn from each run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).parent / "results"
DEFAULT_OUT = Path(__file__).parent.parent / "docs" / "images" / "latency_vs_size.png"
SERIES = {
    "recall": [("search_p50_ms", "search p50", "o-", "C0"), ("search_p95_ms", "search p95", "o--", "C0"),
               ("raw_embed_plus_query_p50_ms", "query embedding + raw Chroma query p50", "s:", "C7")],
    "write": [("add_message_p50_ms", "add_message p50", "o-", "C2"),
              ("add_message_p99_ms", "add_message p99", "o--", "C2"),
              ("fdatasync_p99_ms", "the disk's own fdatasync p99, same run", "s:", "C7")],
}
PEER_STYLE = {"LangChain": ("^", "C3"), "LlamaIndex": ("v", "C1")}


def load(files: list[Path]) -> list[dict[str, Any]]:
    """Per-size figures from every results file that exists, tagged with their file."""
    points = []
    for file in files:
        if file.exists():
            results = json.loads(file.read_text())
            for figures in results["sizes"].values():
                points.append({**figures, "run": file.stem})
    return sorted(points, key=lambda p: p["size"])


def plot(points: list[dict[str, Any]], out: Path) -> None:
    """Draw the two panels and save them to ``out``."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for axis, panel in zip(axes, ("recall", "write"), strict=True):
        for key, label, style, color in SERIES[panel]:
            for run in dict.fromkeys(p["run"] for p in points):
                xs = [p["size"] for p in points if p["run"] == run and key in p]
                ys = [p[key] for p in points if p["run"] == run and key in p]
                axis.plot(xs, ys, style, color=color, label=label if run == points[0]["run"] else None,
                          alpha=1.0 if run == points[0]["run"] else 0.6)
        for peer_name, (marker, color) in PEER_STYLE.items():
            peer_points = [(p["size"], peer) for p in points for name, peer in p.get("peers", {}).items()
                           if name.startswith(peer_name)]
            key = "recall_p50_ms" if panel == "recall" else "write_p50_ms"
            if peer_points:
                axis.plot([s for s, _ in peer_points], [peer[key] for _, peer in peer_points], marker, color=color,
                          linestyle="none", markersize=9, label=f"{peer_name} peer {key.split('_')[0]} p50")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("records stored")
        axis.set_ylabel("milliseconds")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    axes[0].set_title("recall: search(k=10) vs its physical floor")
    axes[1].set_title("write: add_message (durable, indexing deferred)")
    fig.suptitle("agent-memory-plugins latency against store size (2 CPU cores, no GPU)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def markdown(files: list[Path]) -> str:
    """The targets and the peers of each results file as Markdown tables (for the README)."""
    lines = []
    for file in files:
        if not file.exists():
            continue
        results = json.loads(file.read_text())
        lines += [f"`{file.name}` ({results['mode']} run; load average {results['machine']['load_start']} at start)",
                  "", "| figure | value | target | |", "|---|---|---|---|"]
        for row in results["targets"]:
            lines.append(f"| {row['figure']} | {row['value']:.3g} | {row['target']} | "
                         f"{'met' if row['met'] else '**missed**'} |")
        peers = [(size, name, peer) for size, figures in results["sizes"].items()
                 for name, peer in figures.get("peers", {}).items()]
        if peers:
            lines += ["", "| store | memory | write p50 / p99 (ms) | recall p50 / p95 (ms) |", "|---|---|---|---|"]
            for size, figures in results["sizes"].items():
                lines.append(f"| {int(size):,} | agent-memory-plugins (`add_message` / `search`) | "
                             f"{figures['add_message_p50_ms']:.2f} / {figures['add_message_p99_ms']:.1f} | "
                             f"{figures['search_p50_ms']:.1f} / {figures['search_p95_ms']:.1f} |")
                for name, peer in figures.get("peers", {}).items():
                    lines.append(f"| {int(size):,} | {name} | "
                                 f"{peer['write_p50_ms']:.2f} / {peer['write_p99_ms']:.1f} | "
                                 f"{peer['recall_p50_ms']:.1f} / {peer['recall_p95_ms']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    """Read the results and write the plot (or print the tables with ``--markdown``)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("results", nargs="*", type=Path,
                        default=[RESULTS / "speed.json", RESULTS / "speed_scale.json"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--markdown", action="store_true", help="print the figures as Markdown tables instead")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(args.results))
        return
    points = load(args.results)
    if not points:
        raise SystemExit("no results yet: run python benchmarks/speed.py first")
    plot(points, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
