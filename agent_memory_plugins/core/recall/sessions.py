"""Session support: a session whose turns match the query together lends weight to each of them.

A conversation about one thing (planning a trip, a new camera) is usually one session; a question
about it matches several of its turns a little, while a stray turn of another session may match
one word well. Among the best candidates of a search, each session's support is the sum of its
candidates' scores; each candidate's score is multiplied by ``1 + weight * support / best
support`` (the best-supported session's turns by ``1 + weight``). Records without a session get
no factor. Costs no model call and no extra read: it uses the candidates the search already holds.

A pure function over plain data, tested without any store.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["session_factors"]


def session_factors(
    scores: Mapping[str, float], sessions: Mapping[str, str | None], weight: float
) -> dict[str, float]:
    """Per record id of ``scores`` with a session in ``sessions``: its factor (see the module)."""
    if weight <= 0:
        return {}
    support: dict[str, float] = {}
    for record_id, score in scores.items():
        session = sessions.get(record_id)
        if session is not None:
            support[session] = support.get(session, 0.0) + max(score, 0.0)
    best = max(support.values(), default=0.0)
    if best <= 0:
        return {}
    return {record_id: 1.0 + weight * support[session] / best
            for record_id in scores if (session := sessions.get(record_id)) is not None}
