"""The LongMemEval benchmark's scoring and plumbing on a tiny made-up haystack (no data files)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))

import longmemeval


def item() -> dict[str, Any]:
    turns = [
        [{"role": "user", "content": "I adopted a grey cat called Miso", "has_answer": True},
         {"role": "assistant", "content": "Congratulations on Miso!"}],
        [{"role": "user", "content": "What is a good pasta recipe?"},
         {"role": "assistant", "content": "Try carbonara with guanciale."}, {"role": "user", "content": "  "}],
        [{"role": "user", "content": "Miso now sleeps on the sofa all day", "has_answer": True}],
    ]
    return {"question_id": "q1", "question_type": "multi-session", "question": "What is my cat called?",
            "answer_session_ids": ["s1", "s3"], "haystack_session_ids": ["s1", "s2", "s3"],
            "haystack_dates": ["2023/05/01 (Mon) 10:00", "2023/05/02 (Tue) 11:00", "2023/05/03 (Wed) 12:30"],
            "haystack_sessions": turns}


def test_scores_map_turns_to_sessions_by_first_occurrence() -> None:
    found = longmemeval.score(["s2#0", "s1#0", "s1#1", "s2#1", "s3#0"], item())
    assert found["turn_recall@10"] == 1.0
    assert found["recall_any@5"] == found["recall_all@5"] == 1.0  # sessions s2, s1, s3
    ideal = 1 + 1 / 1.584962500721156
    assert found["ndcg@10"] == pytest.approx((1 / 1.584962500721156 + 0.5) / ideal)
    partial = longmemeval.score(["s1#1", "s2#0"], item())
    assert partial["turn_recall@10"] == 0.0  # the session is right, the turn is not
    assert partial["recall_any@5"] == 1.0 and partial["recall_all@5"] == 0.0


def test_sessions_are_ingested_in_order_with_dates_and_keys_and_empty_turns_skipped() -> None:
    sessions = list(longmemeval.sessions_of(item()))
    assert [s for s, _ in sessions] == ["s1", "s2", "s3"]
    assert [m["metadata"]["turn"] for m in sessions[1][1]] == [0, 1]  # the blank third turn is skipped
    assert sessions[2][1][0]["timestamp"] == longmemeval.parse_date("2023/05/03 (Wed) 12:30")
    assert longmemeval.evidence_turns(item()) == {"s1#0", "s3#0"}


def test_rank_fusion_and_the_halves() -> None:
    fused = longmemeval.rank_fusion([lambda q: ["a", "b", "c"], lambda q: ["b", "c"]])("q")
    assert fused[0] == "b" and set(fused) == {"a", "b", "c"}
    rows = [{"index": i, "type": t} for i, t in enumerate("xxyyyx")]
    first, second = longmemeval.halves(rows)
    assert sorted(first + second) == list(range(6)) and first == [0, 2, 4, 5] and second == [1, 3]
