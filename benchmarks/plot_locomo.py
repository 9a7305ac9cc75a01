"""Plot ``benchmarks/results/locomo.json`` (written by ``locomo.py``) to ``docs/images/locomo_recall.png``,
with the stress test's figure when ``locomo-noise-*.json`` is there.

    python benchmarks/plot_locomo.py
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = {"1": "multi-hop", "2": "temporal", "3": "open-domain", "4": "single-hop", "5": "adversarial"}
OURS = "agent-memory-plugins (ours)"


def main() -> None:
    """Recall@10 per system, overall and per category, with our held-out figure."""
    results = json.loads((ROOT / "benchmarks" / "results" / "locomo.json").read_text())
    systems = [name for name in results if not name.startswith("ours")]
    systems.sort(key=lambda name: results[name]["all"]["recall@10"])
    groups = ["all", *CATEGORIES]
    fig, ax = plt.subplots(figsize=(11, 6))
    width = 0.8 / len(systems)
    palette = iter(["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
                    "tab:olive", "tab:cyan"])
    for index, name in enumerate(systems):
        values = [results[name].get(group, {}).get("recall@10", 0.0) for group in groups]
        xs = [g + (index - (len(systems) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, values, width, label=name, color="tab:red" if name == OURS else next(palette),
                      edgecolor="black" if name == OURS else None)
        if name == OURS:
            ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=2)
    held = results.get(OURS, {}).get("held_out")
    if held:
        ax.axhline(held["recall@10"]["all"], color="tab:red", linestyle="--", linewidth=1,
                   label=f"ours on held-out conversations ({held['recall@10']['all']:.3f})")
    for stressed in sorted((ROOT / "benchmarks" / "results").glob("locomo-noise-*.json")):
        noisy = json.loads(stressed.read_text())
        noise = stressed.stem.removeprefix("locomo-noise-")
        dense = noisy.get("Chroma, dense only", {}).get("all", {}).get("recall@10")
        dense_note = f", Chroma dense only {dense:.3f}" if dense is not None else ""
        ax.axhline(noisy[OURS]["all"]["recall@10"], color="tab:red", linestyle="-.", linewidth=1,
                   label=f"ours, embeddings degraded (noise {noise}{dense_note}): "
                         f"{noisy[OURS]['all']['recall@10']:.3f}")
    ax.axhline(0.80, color="grey", linestyle=":", linewidth=1, label="target 0.80")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(["overall"] + [f"{c}: {label}" for c, label in CATEGORIES.items()])
    ax.set_ylabel("recall@10 (evidence turns in the first 10)")
    ax.set_ylim(0, 1.05)
    ax.set_title("LoCoMo turn-level recall, same all-MiniLM-L6-v2 model, no LLM")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, frameon=False)
    fig.tight_layout()
    out = ROOT / "docs" / "images" / "locomo_recall.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
