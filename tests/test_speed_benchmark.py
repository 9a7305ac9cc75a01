"""The speed benchmark on tiny sizes: every figure is produced, judged against its target, plotted."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import plot_speed  # noqa: E402
import speed  # noqa: E402
import synthetic  # noqa: E402


@pytest.fixture(scope="module")
def model() -> Any:
    return speed.shared_model()


def test_synthetic_conversations_are_deterministic_and_scoped() -> None:
    pool = synthetic.Pool(synthetic.pool_sentences(10), np.eye(10, 16, dtype=np.float32))
    sessions = list(synthetic.conversations(pool, 0, 2 * synthetic.RECORDS_PER_USER + 30))
    assert sessions[0][0] == "user0" and sessions[-1][0] == "user2"
    assert all(len(messages) == len(vectors) <= synthetic.SESSION_MESSAGES for _, _, messages, vectors in sessions)
    text, vector = pool.message(5)
    assert (text, vector.tolist()) == (pool.message(5)[0], pool.message(5)[1].tolist())
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    assert len(set(synthetic.queries(50))) == 50 and len(set(synthetic.fresh_texts(50))) == 50


def test_precomputed_embedder_embeds_only_unknown_texts() -> None:
    calls: list[list[str]] = []

    def fallback(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return np.ones((len(texts), 3), dtype=np.float32)

    embedder = synthetic.PrecomputedEmbedder("sentence-transformers/all-MiniLM-L6-v2", fallback)
    embedder.known = {"a": np.zeros(3, dtype=np.float32)}
    assert embedder.embed(["a", "b"]) == [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    assert calls == [["b"]] and embedder.fallback_texts == 1


def test_tiny_run_measures_every_figure_and_plots(model: Any, tmp_path: Path) -> None:
    pool = synthetic.Pool.build(24, speed.encoder(model))
    pool_file = tmp_path / "pool.npz"
    np.savez(pool_file, texts=np.array(pool.texts), vectors=pool.vectors)
    config = {"queries": 3, "writes": 8, "turns": 1, "peers": True}
    figures = speed.measure_size(300, config, str(pool_file))
    assert figures["records"] == 300 and figures["fill_fallback_embeddings"] == 0
    for key in ("add_message_p50_ms", "add_message_p99_ms", "search_p50_ms", "search_p95_ms",
                "raw_embed_plus_query_p50_ms", "context_overhead_ms", "rss_mb", "sqlite_bytes", "chroma_bytes"):
        assert figures[key] == figures[key] and key in figures  # present and not NaN
    assert 0 < figures["add_message_p50_ms"] <= figures["add_message_p99_ms"]
    assert figures["sqlite_bytes"] > 0 and figures["chroma_bytes"] > 0
    assert {name.split()[0] for name in figures["peers"]} == {"LangChain", "LlamaIndex"}

    bulk = speed.bulk_import(model, 8)
    assert bulk["texts"] == 8 and bulk["vectors_stored"] == 8 and bulk["bulk_vs_raw"] > 0
    # opening embedded Chroma turned the heap scrub on; both baselines are reported
    assert bulk["heap_scrub"] is True and bulk["bulk_vs_raw_same_process"] > 0
    results = {"import_ms": 12.0, "bulk": bulk, "sizes": {"300": figures, "10000": figures, "1000000": figures}}
    rows = {row["figure"]: row for row in speed.verdicts(results)}
    assert rows["import agent_memory_plugins (ms)"]["met"] is True
    assert rows["search p95 @1,000,000 / p95 @10,000"]["value"] == pytest.approx(1.0)
    assert rows["bulk import / raw encode throughput"]["met"] == (bulk["bulk_vs_raw"] >= 0.85)

    results_file = tmp_path / "speed.json"
    results_file.write_text(json.dumps(results))
    out = tmp_path / "plot.png"
    plot_speed.plot(plot_speed.load([results_file]), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_raw_baselines_run_on_a_thread_of_their_own_and_report_its_failure() -> None:
    import threading

    import speed_conversation

    names: list[str] = []
    seconds = speed_conversation.timed_apart(lambda: names.append(threading.current_thread().name),
                                             warm=lambda: names.append("warm"))
    assert seconds >= 0 and names == ["warm", "raw-encode"]
    with pytest.raises(ZeroDivisionError):
        speed_conversation.timed_apart(lambda: 1 / 0)


def test_conversation_mode_measures_import_search_and_load_on_locomo_turns(model: Any) -> None:
    import speed_conversation

    locomo = Path(__file__).parent.parent.parent / "shared" / "data" / "locomo-dev.json"
    turns = speed_conversation.locomo_turns(locomo, 30) if locomo.exists() else []
    if turns:
        assert turns[0].endswith("(note 0)") and ": " in turns[0] and len(set(turns)) == 30
    synthetic_turns = synthetic.conversation_turns(30)
    assert synthetic_turns == synthetic.conversation_turns(30) and synthetic_turns[1].startswith("Jonas: ")
    results = speed_conversation.run(model, locomo if turns else None, load=True, turns=48, queries=3)
    assert results["import"]["texts"] == 48 and results["import"]["vectors_stored"] == 48
    assert results["import"]["heap_scrub"] is True and results["import"]["import_vs_raw_same_process"] > 0
    imported = results["import"]
    assert imported["bare_chroma_add_s"] > 0 and imported["encode_and_add_s"] == pytest.approx(
        imported["raw_before_s"] + imported["bare_chroma_add_s"])
    assert imported["import_vs_encode_and_add"] > imported["import_vs_raw"]
    for label in ("quiet", "loaded"):
        for key in ("search_p50_ms", "search_p95_ms", "unfiltered_p50_ms", "filtered_p95_ms"):
            assert results[label][key] > 0
    assert [row["figure"] for row in results["targets"]] == [
        "import / raw encode throughput", "search p50 / (embed + unfiltered bare k=10)",
        "search p50 loaded / quiet", "search p95 loaded / quiet"]
