"""Pure policy: window, folding, budget fitting, fusion, tokens, salience, filters. No store."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import numpy as np
import pytest

from agent_memory_plugins.core.conversation.policy import fit_context, should_fold, window_start
from agent_memory_plugins.core.conversation.summarizer import ExtractiveSummarizer
from agent_memory_plugins.core.conversation.tokens import approximate_tokens
from agent_memory_plugins.core.filters import check_where
from agent_memory_plugins.core.indexes.context_vectors import context_vector
from agent_memory_plugins.core.longterm.salience import estimate_importance
from agent_memory_plugins.core.recall.keywords import query_terms
from agent_memory_plugins.core.recall.ranking import Weights, final_score, fuse, question_factor, recency, with_rescored
from agent_memory_plugins.core.storage.sqlite.rows import where_sql
from agent_memory_plugins.core.storage.sqlite.schema import USER_TERMS_INDEX, term_prefix, user_match, user_terms
from agent_memory_plugins.errors import InvalidFilterError
from agent_memory_plugins.records import MemoryRecord


def test_window_keeps_last_n_messages() -> None:
    roles = ["user", "assistant"] * 10
    assert window_start(roles, [5] * 20, 6, None) == 14
    assert window_start(roles, [5] * 20, 50, None) == 0


def test_window_respects_token_budget_but_keeps_newest() -> None:
    assert window_start(["user"] * 4, [10, 10, 10, 10], None, 25) == 2
    assert window_start(["user"] * 3, [10, 10, 500], None, 25) == 2  # newest alone is over budget


def test_window_combines_count_and_tokens() -> None:
    assert window_start(["user"] * 10, [1] * 10, 3, 100) == 7
    assert window_start(["user"] * 10, [40] * 10, 3, 100) == 8


def test_window_never_opens_on_an_orphan_tool_result() -> None:
    roles = ["user", "assistant", "tool", "tool", "assistant", "user"]
    assert window_start(roles, [1] * 6, 4, None) == 4


def test_window_of_empty_session() -> None:
    assert window_start([], [], 5, 5) == 0


def test_should_fold_batches_unless_forced() -> None:
    assert not should_fold(3, 10, force=False)
    assert should_fold(10, 10, force=False)
    assert should_fold(1, 10, force=True)
    assert not should_fold(0, 10, force=True)


def test_fit_context_priorities() -> None:
    fit = fit_context(30, [20, 20, 20], [10, 10, 10, 10], max_tokens=100)
    assert fit.include_summary
    assert fit.hit_indexes == [0, 1, 2]
    assert fit.window_start == 3  # 10 (newest) + 30 + 60 = 100: nothing older fits
    assert fit.tokens == 100


def test_fit_context_drops_summary_before_newest_message() -> None:
    fit = fit_context(50, [], [40], max_tokens=60)
    assert not fit.include_summary and fit.window_start == 0 and fit.tokens == 40


def test_fit_context_never_opens_on_a_tool_result() -> None:
    fit = fit_context(0, [], [10, 10, 10, 10], 25, ["user", "assistant", "tool", "assistant"])
    assert fit.window_start == 3 and fit.tokens == 10


def test_fit_context_unbounded_keeps_everything() -> None:
    fit = fit_context(5, [1, 2], [3, 4], None)
    assert fit.include_summary and fit.hit_indexes == [0, 1] and fit.window_start == 0 and fit.tokens == 15


def test_fusion_rewards_agreement() -> None:
    parts = fuse([("a", 0.9), ("b", 0.8)], [("b", 3.0), ("c", 1.0)], Weights(dense=1.0, keyword=1.0))
    assert parts["b"]["fusion"] > parts["a"]["fusion"] and parts["b"]["fusion"] > parts["c"]["fusion"]
    assert parts["b"]["dense_rank"] == 2 and parts["b"]["keyword_rank"] == 1
    both_first = fuse([("x", 1.0)], [("x", 1.0)], Weights())
    assert both_first["x"]["fusion"] == pytest.approx(1.0)


def test_fusion_keeps_a_lead_that_ranks_would_hide() -> None:
    # a is nearly as good as b on keywords and far better on meaning: rank fusion would tie them
    parts = fuse([("a", 0.9), ("b", 0.3)], [("b", 1.0), ("a", 0.9)], Weights(dense=1.0, keyword=1.0))
    assert parts["a"]["fusion"] == pytest.approx((1.0 + 0.9) / 2)
    assert parts["b"]["fusion"] == pytest.approx((0.3 / 0.9 + 1.0) / 2)


def test_fusion_gives_a_record_the_dense_search_missed_its_lowest_score() -> None:
    parts = fuse([("a", 0.8), ("b", 0.2)], [("c", 2.0)], Weights(dense=0.6, keyword=0.4))
    assert parts["c"]["fusion"] == pytest.approx((0.6 * 0.2 / 0.8 + 0.4 * 1.0) / 1.0)
    assert "dense_rank" not in parts["c"] and parts["b"]["fusion"] == pytest.approx(0.6 * 0.25)


def test_fusion_gives_no_dense_score_when_the_dense_search_returned_everything() -> None:
    # the only dense hit is the best one: a record it did not return has no vector yet
    parts = fuse([("a", 0.5)], [("a", 2.0), ("c", 3.0)], Weights(dense=0.6, keyword=0.4), dense_complete=True)
    assert parts["c"]["fusion"] == pytest.approx(0.4) and parts["a"]["fusion"] == pytest.approx(0.6 + 0.4 * 2 / 3)


def test_fusion_counts_negative_cosines_as_zero_and_skips_an_empty_ranking() -> None:
    parts = fuse([("a", 0.5), ("b", -0.4)], [], Weights(dense=0.6, keyword=0.4))
    assert parts["a"]["fusion"] == pytest.approx(1.0) and parts["b"]["fusion"] == 0.0


def test_fusion_weights_change_the_order() -> None:
    dense = [("a", 0.9), ("z", 0.1)]
    dense_heavy = fuse(dense, [("b", 3.0)], Weights(dense=2.0, keyword=1.0))
    assert dense_heavy["a"]["fusion"] > dense_heavy["b"]["fusion"]
    keyword_heavy = fuse(dense, [("b", 3.0)], Weights(dense=1.0, keyword=2.0))
    assert keyword_heavy["b"]["fusion"] > keyword_heavy["a"]["fusion"]


def test_a_record_that_only_asks_weighs_less() -> None:
    assert question_factor(True, Weights(question=0.85)) == 0.85
    assert question_factor(False, Weights(question=0.85)) == 1.0


def test_context_vector_blends_neighbours_by_distance() -> None:
    own, near, far = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    blended = context_vector(own, [far, near], [], 0.5)  # before: oldest first
    assert np.linalg.norm(blended) == pytest.approx(1.0)
    assert blended[1] == pytest.approx(2 * blended[2]) and blended[0] == pytest.approx(2 * blended[1])
    assert np.allclose(context_vector(own, [], [], 0.5), own)


def test_recency_and_importance_adjust_the_score() -> None:
    assert recency(0, 30) == pytest.approx(1.0)
    assert recency(30 * 86400, 30) == pytest.approx(0.5)
    weights = Weights(recency=0.2, importance=0.2)
    fresh = final_score(0.5, 0.5, 0, weights)["score"]
    old = final_score(0.5, 0.5, 365 * 86400, weights)["score"]
    important = final_score(0.5, 1.0, 365 * 86400, weights)["score"]
    assert fresh > old and important > old


def test_approximate_tokens_is_close_on_english() -> None:
    text = "The quick brown fox jumps over the lazy dog, twice, on 12 May 2024."
    assert 14 <= approximate_tokens(text) <= 22  # cl100k_base: 18
    assert approximate_tokens("") == 0
    assert approximate_tokens("日本語のテキスト") >= 8  # never counts a CJK character as free
    assert approximate_tokens("🙂🙂") >= 2


def test_importance_prefers_facts_over_small_talk() -> None:
    fact = estimate_importance("My name is Dana and I was born on 3 March 1990 in Lisbon.")
    request = estimate_importance("Please remember that my locker code is 4412.")
    chat = estimate_importance("ok thanks!")
    assert fact > 0.6 and request > 0.6 and chat < 0.2


def _message(text: str, role: str = "user") -> MemoryRecord:
    now = datetime.now(timezone.utc)
    return MemoryRecord("0" * 32, text, role, "message", "u", "s", now, now)


def test_extractive_summary_keeps_facts_and_drops_small_talk() -> None:
    summarizer = ExtractiveSummarizer()
    text = summarizer.summarize(
        "", [_message("hi"), _message("I moved to Austin in May 2023."), _message("cool", "assistant")], 100
    )
    assert "Austin" in text and "hi" not in text.split(": ", 1)[-1].split()


def test_extractive_summary_stays_within_budget_and_keeps_best() -> None:
    summarizer = ExtractiveSummarizer()
    filler = [_message(f"we talked about the weather number {i}") for i in range(40)]
    key = _message("Remember: my daughter Mia was born on 4 July 2019.")
    text = summarizer.summarize("", [*filler, key], 40)
    assert approximate_tokens(text) <= 40
    assert "Mia" in text


def test_extractive_summary_is_running() -> None:
    summarizer = ExtractiveSummarizer()
    first = summarizer.summarize("", [_message("My sister Ana lives in Porto.")], 200)
    second = summarizer.summarize(first, [_message("I bought a red bike on Monday.")], 200)
    assert "Ana" in second and "bike" in second


def test_keyword_queries_are_the_users_plain_terms() -> None:
    user = term_prefix("alice")
    assert user_match(query_terms("Where does Alice live"), "alice") == f"{user}alic OR {user}live"
    assert user_match(query_terms("what?!"), "alice") == f"{user}what"
    assert query_terms("!!!") == [] and user_match(query_terms("!!!"), "alice") == ""
    db = sqlite3.connect(":memory:")
    db.execute(USER_TERMS_INDEX)
    for rowid, owner in ((1, "alice"), (2, "bob")):
        db.execute("INSERT INTO records_fts (rowid, text) VALUES (?, ?)",
                   (rowid, user_terms("near or and not col val x", owner)))
    for query in ('NEAR(a b) OR "x" * col:val', "AND", "NOT or", '"x', "col:val*"):  # operators are words
        found = db.execute("SELECT rowid FROM records_fts WHERE records_fts MATCH ?",
                           (user_match(query_terms(query), "alice"),)).fetchall()
        assert found == [(1,)], query


def test_where_filter_translation() -> None:
    where = {"topic": "travel", "year": {"$gte": 2023}, "$or": [{"a": 1}, {"b": {"$in": ["x", "y"]}}]}
    assert check_where(where) == where
    sql, params = where_sql(where)
    assert sql.count("json_extract") == 4 and 2023 in params and "x" in params


@pytest.mark.parametrize(
    "bad",
    [{}, {"$where": 1}, {"a": {"$regex": "x"}}, {"a": [1, 2]}, {"a": {"$in": []}}, {"a": None}, "a=1"],
)
def test_where_filter_refuses_what_it_cannot_apply(bad: object) -> None:
    with pytest.raises(InvalidFilterError):
        check_where(bad)


def test_rescored_candidates_take_their_dense_place() -> None:
    dense = [("a", 0.9), ("b", 0.5)]
    merged = with_rescored(dense, {"c": 0.7, "a": 0.1, "d": 0.2})
    assert merged == [("a", 0.9), ("c", 0.7), ("b", 0.5), ("d", 0.2)]  # known ids keep their score
    parts = fuse(merged, [("c", 3.0)], Weights())
    assert parts["c"]["dense_rank"] == 2 and parts["c"]["keyword_rank"] == 1


def test_a_keyword_match_beyond_the_dense_cutoff_gets_its_exact_dense_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    import agent_memory_plugins.core.recall.search as core_search
    from agent_memory_plugins import MemoryCore

    with MemoryCore(candidates=1) as memory:  # the dense search returns one candidate
        for n in range(8):
            memory.remember(f"Reminder {n}: water the plants on the balcony")
        target = memory.remember("The balcony door code is 4471")
        memory.flush()
        hit = memory.search("water plants balcony code", k=1)[0]
        assert hit.record.id == target.id and hit.explain["keyword_rank"] == 1 and hit.explain["dense_rank"] == 2
        monkeypatch.setattr(core_search, "RESCORED", 0)  # without rescoring it had no dense rank at all
        assert "dense_rank" not in memory.search("water plants balcony code", k=1)[0].explain
