"""Recall after ranking: newer statements above the ones they superseded, and linked records.

Pure functions over hits; the record store is reached through the ``fetch`` callables the core
passes in (already scoped to the user and the search's filters).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ...records import Hit, MemoryRecord

__all__ = ["expand_links", "rank_superseded"]

MAX_CHAIN = 8
"""Most successive updates followed from a superseded record to its newest successor."""


def rank_superseded(
    hits: Sequence[Hit],
    fetch: Callable[[list[str]], dict[str, MemoryRecord]],
    weight: float,
) -> list[Hit]:
    """Rank every superseded hit below its newest successor, best first.

    A successor that did not match the query is brought in with the score of the record it
    updates (``explain["via"] = "supersedes"``): asking where the user lives finds the new address
    even when only the old one shares words with the question. A superseded hit keeps ``weight``
    of its score, at most just below its successor's, and says ``explain["superseded_by"]``.
    """
    by_id = {hit.record.id: hit for hit in hits}
    records = {record_id: hit.record for record_id, hit in by_id.items()}
    for _ in range(MAX_CHAIN):
        missing = [r.superseded_by for r in records.values() if r.superseded_by and r.superseded_by not in records]
        if not missing:
            break
        fetched = fetch(list(dict.fromkeys(missing)))
        if not fetched:
            break
        records.update(fetched)
    scores = {record_id: hit.score for record_id, hit in by_id.items()}
    explains = {record_id: dict(hit.explain) for record_id, hit in by_id.items()}
    heads: dict[str, str] = {}
    for record_id in by_id:
        head = _newest(record_id, records)
        if head != record_id:
            heads[record_id] = head
    for old_id, head in heads.items():
        inherited = by_id[old_id].score
        if head not in scores or scores[head] < inherited:
            scores[head] = inherited
            explains.setdefault(head, {"via": "supersedes"})
        explains[head].setdefault("supersedes", []).append(old_id)
    for old_id, head in heads.items():
        scores[old_id] = min(by_id[old_id].score * weight, scores[head] * 0.999)
        explains[old_id]["superseded_by"] = head
    ranked = []
    for record_id, score in scores.items():
        explain = explains[record_id]
        explain["score"] = score
        ranked.append(Hit(records[record_id], score, explain))
    ranked.sort(key=lambda hit: hit.score, reverse=True)
    return ranked


def _newest(record_id: str, records: dict[str, MemoryRecord]) -> str:
    current = record_id
    for _ in range(MAX_CHAIN):
        successor = records[current].superseded_by
        if successor is None or successor not in records:
            break
        current = successor
    return current


def expand_links(
    hits: Sequence[Hit],
    links: Callable[[list[str]], list[tuple[str, str, str, float]]],
    fetch: Callable[[list[str]], dict[str, MemoryRecord]],
) -> list[Hit]:
    """Each hit followed by the records strongly linked to it (one hop), marked as such.

    ``links`` gives (from, to, relation, strength) for the hits' ids; a linked record's score is
    its hit's score times the link's strength, and ``explain`` says ``linked_from``, ``relation``
    and ``strength``. Records already among the hits are not repeated.
    """
    ids = [hit.record.id for hit in hits]
    found = links(ids)
    others = fetch(list(dict.fromkeys(b if a in ids else a for a, b, _, _ in found)))
    seen = set(ids)
    expanded: list[Hit] = []
    for hit in hits:
        expanded.append(hit)
        for src, dst, relation, strength in found:
            if hit.record.id not in (src, dst):
                continue
            other = dst if src == hit.record.id else src
            if other in seen or other not in others:
                continue
            seen.add(other)
            score = hit.score * strength
            explain = {"linked_from": hit.record.id, "relation": relation, "strength": strength, "score": score}
            expanded.append(Hit(others[other], score, explain))
    return expanded
