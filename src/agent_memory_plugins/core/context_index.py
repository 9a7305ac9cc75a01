"""Neighbour context for keyword recall: each message is also findable by the words around it.

A turn of a conversation often answers a question whose words sit in the turn before or after it
("What did you research?" / "Adoption agencies."). This index keeps, per message, a second FTS5
document with two columns, the message itself and the text of the messages around it in the same
session, ranked by BM25 over both (the context column weighs less). Search returns the
message itself, never the neighbours.

It lives beside the record store's own keyword index (which is untouched). ``turns`` neighbours
on each side (setting ``context_turns``, default 2) make a message's context:

- ``context_fts(text, context, scope)``: rowid = ``records.seq`` (``scope``: the user's token, as in
  ``records_fts``, weight 0); a row per processed record (other kinds than messages have no
  context). Records not processed yet are still found through ``records_fts``; when nothing waits
  (no queued record, no record waiting for indexing) search skips that second query.
- ``context_queue(seq, generation)``: records whose row must be (re)computed. The background
  worker drains it, never the write path. A row leaves the queue only once its work is done (a
  crash in between leaves it queued), and only if nobody queued it again meanwhile (``generation``
  counts the times it was queued).
- Triggers ``context_on_delete`` and ``context_on_delete_other``: whatever code deletes a record,
  its row goes; a message's neighbours lose theirs too (they quoted the deleted text) and are
  queued to be rebuilt. Nothing of a forgotten message survives in this index.

The same neighbourhoods give dense recall its context: :meth:`ContextIndex.drain` hands each batch
to a callback (the core's), which replaces each message's vector by :func:`context_vector` of its
own embedding and its neighbours'. A message whose neighbour is forgotten is queued again, so its
vector loses the forgotten one's part too.

Opening a store made before this index existed (or with another ``turns``) queues every message
once (meta ``context_index``), so old stores gain it in the background without losing anything.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .store_sqlite import scope_token

if TYPE_CHECKING:
    from .store_sqlite import Filters, SQLiteRecordStore

VERSION = "5"
"""Bump to rebuild every store's context rows on next open."""

_QUEUE = "INSERT INTO context_queue (seq) {rows} ON CONFLICT (seq) DO UPDATE SET generation = generation + 1"
"""Queue messages (``rows``: ``VALUES (?)`` or a ``SELECT`` with a ``WHERE``), or count one more
request for those already queued."""

_BEFORE = (
    "SELECT p.{col} FROM records p{join} WHERE p.user_id = {r}.user_id AND p.session_id = {r}.session_id "
    "AND p.kind = 'message' AND (p.ts < {r}.ts OR (p.ts = {r}.ts AND p.seq < {r}.seq)) "
    "ORDER BY p.ts DESC, p.seq DESC LIMIT {n}"
)
_AFTER = (
    "SELECT p.{col} FROM records p{join} WHERE p.user_id = {r}.user_id AND p.session_id = {r}.session_id "
    "AND p.kind = 'message' AND (p.ts > {r}.ts OR (p.ts = {r}.ts AND p.seq > {r}.seq)) "
    "ORDER BY p.ts, p.seq LIMIT {n}"
)
"""The messages just before / after message ``{r}`` in its session (none outside a session): the
delete trigger reads them for ``old``, :meth:`ContextIndex._neighbours` for a message by ``seq``."""
_CENTRE = "WITH c AS (SELECT user_id, session_id, ts, seq FROM records WHERE seq = ? AND kind = 'message') "


Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
"""Runs a read statement: ``query(sql, params) -> rows``."""


def _reader(db: sqlite3.Connection) -> Query:
    return lambda sql, params: db.execute(sql, params).fetchall()


@dataclass(frozen=True)
class Neighbourhood:
    """A message and the texts around it in its session (``before`` oldest first)."""

    record_id: str
    text: str
    before: list[str]
    after: list[str]


def context_vector(own: Any, before: Sequence[Any], after: Sequence[Any], weight: float) -> Any:
    """A message's vector in context: its own direction plus each neighbour's at ``weight / distance``
    (every vector taken at unit length first), normalised to unit length (``before`` oldest first,
    ``after`` nearest first)."""
    blend = _unit(own).copy()
    for distance, vector in enumerate(reversed(before), start=1):
        blend += (weight / distance) * _unit(vector)
    for distance, vector in enumerate(after, start=1):
        blend += (weight / distance) * _unit(vector)
    return _unit(blend)


def _unit(vector: Any) -> Any:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


def _schema(turns: int) -> list[str]:
    around = "SELECT seq FROM ({}) UNION ALL SELECT seq FROM ({})".format(
        _BEFORE.format(col="seq", join="", r="old", n=turns), _AFTER.format(col="seq", join="", r="old", n=turns)
    )
    return [
        "DROP TABLE IF EXISTS context_fts",  # rebuilt from the queue below (layout may have changed)
        "CREATE VIRTUAL TABLE context_fts USING fts5 ("
        "text, context, scope, tokenize='porter unicode61 remove_diacritics 2')",
        "DROP TABLE IF EXISTS context_queue",  # refilled with every record below
        "CREATE TABLE context_queue (seq INTEGER PRIMARY KEY, generation INTEGER NOT NULL DEFAULT 0)",
        "DROP TRIGGER IF EXISTS context_on_delete",
        "DROP TRIGGER IF EXISTS context_on_delete_other",
        """CREATE TRIGGER context_on_delete_other AFTER DELETE ON records WHEN old.kind != 'message' BEGIN
            DELETE FROM context_fts WHERE rowid = old.seq;
            DELETE FROM context_queue WHERE seq = old.seq;
        END""",
        # A deleted message takes its row along, and its neighbours' rows (they quoted it) until
        # the worker rebuilds them from what remains.
        f"""CREATE TRIGGER context_on_delete AFTER DELETE ON records WHEN old.kind = 'message' BEGIN
            DELETE FROM context_fts WHERE rowid = old.seq;
            DELETE FROM context_queue WHERE seq = old.seq;
            {_QUEUE.format(rows=f"SELECT seq FROM ({around}) WHERE true")};
            DELETE FROM context_fts WHERE rowid IN ({around});
        END""",
    ]


class ContextIndex:
    """The neighbour-context keyword index of one :class:`SQLiteRecordStore`.

    ``turns``: how many messages before and after a message (in its session) are its context;
    ``vector_weight``: the neighbours' weight in context vectors (a store opened with another
    ``turns`` or ``vector_weight`` queues every message again, to rebuild both).
    """

    def __init__(self, store: SQLiteRecordStore, turns: int = 2, vector_weight: float = 0.0) -> None:
        self.store = store
        self.turns = turns
        self.state = state = f"{VERSION}:{turns}:{float(vector_weight)!r}"
        with store.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'context_index'").fetchone()
            if row is None or row[0] != state:  # a store from before this index (or other turns)
                for statement in _schema(turns):
                    db.execute(statement)
                db.execute("DELETE FROM context_fts")
                db.execute(_QUEUE.format(rows="SELECT seq FROM records WHERE true"))
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('context_index', ?)", (state,))

    def _neighbours(self, query: Query, seq: int, column: str) -> tuple[list[Any], list[Any]]:
        """``column`` of the messages before (oldest first) and after ``seq`` in its session."""
        before = query(_CENTRE + _BEFORE.format(col=column, join=", c", r="c", n=self.turns), (seq,))
        after = query(_CENTRE + _AFTER.format(col=column, join=", c", r="c", n=self.turns), (seq,))
        return [v for (v,) in reversed(before)], [v for (v,) in after]

    def neighbourhoods(self, record_ids: Sequence[str]) -> list[Neighbourhood]:
        """The messages among ``record_ids`` with the texts around them now (others are skipped)."""
        found = []
        for record_id in record_ids:
            rows = self.store.read("SELECT seq, text FROM records WHERE id = ? AND kind = 'message'", (record_id,))
            if rows:
                before, after = self._neighbours(self.store.read, rows[0][0], "text")
                found.append(Neighbourhood(record_id, rows[0][1], before, after))
        return found

    def queue(self, record_ids: Sequence[str]) -> None:
        """Queue new records, and the neighbours of new messages (whose context they change)."""
        with self.store.transaction() as db:
            for record_id in record_ids:
                found = db.execute("SELECT seq FROM records WHERE id = ?", (record_id,)).fetchone()
                if found is None:
                    continue
                before, after = self._neighbours(_reader(db), found[0], "seq")
                db.executemany(_QUEUE.format(rows="VALUES (?)"),
                               [(s,) for s in (found[0], *before, *after)])

    def pending(self) -> int:
        """Records waiting for their row (and messages for their vector in context)."""
        return int(self.store.read("SELECT COUNT(*) FROM context_queue")[0][0])

    def drain(
        self,
        batch: int = 200,
        on_batch: Callable[[list[Neighbourhood]], bool] | None = None,
        max_batches: int | None = None,
    ) -> int:
        """Compute the context of queued messages, newest first, in batches (at most ``max_batches``);
        returns how many queued messages were processed.

        ``on_batch`` gets each batch's neighbourhoods after its rows are written; the batch leaves
        the queue only when it returns True (when it returns False the drain stops; when it raises,
        or the process dies, the batch stays queued).
        """
        done = 0
        for _ in itertools.count() if max_batches is None else range(max_batches):
            with self.store.transaction() as db:
                queued = db.execute("SELECT seq, generation FROM context_queue ORDER BY seq DESC LIMIT ?",
                                    (batch,)).fetchall()
                if not queued:
                    return done
                seqs = [seq for seq, _ in queued]
                marks = ", ".join("?" for _ in seqs)
                rows = db.execute(f"SELECT seq, id, text, user_id, kind FROM records WHERE seq IN ({marks})",
                                  seqs).fetchall()
                db.execute(f"DELETE FROM context_fts WHERE rowid IN ({marks})", seqs)
                found = []
                for seq, record_id, text, user, kind in rows:
                    before, after = self._neighbours(_reader(db), seq, "text")
                    db.execute("INSERT INTO context_fts (rowid, text, context, scope) VALUES (?, ?, ?, ?)",
                               (seq, text, " ".join([*before, *after]), scope_token(user)))
                    if kind == "message":
                        found.append(Neighbourhood(str(record_id), text, before, after))
                if on_batch is None:
                    self._done(db, queued)
            if on_batch is not None:
                if found and not on_batch(found):
                    return done
                with self.store.transaction() as db:
                    self._done(db, queued)
            done += len(queued)
        return done

    @staticmethod
    def _done(db: sqlite3.Connection, queued: list[tuple[int, int]]) -> None:
        """Take finished records off the queue, unless they were queued again meanwhile."""
        db.executemany("DELETE FROM context_queue WHERE seq = ? AND generation = ?", queued)

    def _all_processed(self, query: Query) -> bool:
        """Whether every record has its row: nothing queued here, nothing waiting for indexing (a
        record is queued once indexed; a message that loses its row to a deleted neighbour is
        queued), and the index is laid out as this version lays it out (a process of an older
        version may have rebuilt it with messages only)."""
        rows = query("SELECT EXISTS (SELECT 1 FROM context_queue) "
                     "OR EXISTS (SELECT 1 FROM outbox WHERE op = 'upsert') "
                     "OR NOT EXISTS (SELECT 1 FROM meta WHERE key = 'context_index' AND value = ?)", (self.state,))
        return not rows[0][0]

    def search(self, match: str, filters: Filters, limit: int, weight: float) -> list[tuple[str, float]]:
        """Ids ranked by BM25 (best first): messages over their text and, at ``weight``, their
        neighbours' text; other records over their own text; records not processed yet over their
        own text in ``records_fts`` (a second query, skipped when every record is processed)."""
        where, params = filters.sql()
        scope = f'scope : "{scope_token(filters.user_id)}"'
        with_context = (
            f"SELECT r.id, bm25(context_fts, 1.0, {float(weight)!r}, 0.0) AS rank FROM context_fts "
            f"JOIN records r ON r.seq = context_fts.rowid WHERE context_fts MATCH ? AND {where} "
            "ORDER BY rank LIMIT ?"
        )
        without = (
            "SELECT r.id, bm25(records_fts, 1.0, 0.0) AS rank FROM records_fts "
            "JOIN records r ON r.seq = records_fts.rowid "
            f"WHERE records_fts MATCH ? AND {where} "
            "AND NOT EXISTS (SELECT 1 FROM context_fts c WHERE c.rowid = r.seq) ORDER BY rank LIMIT ?"
        )
        with self.store.snapshot() as query:  # one state: a record is found by one of the two, once
            rows = query(with_context, [f"{scope} AND {{text context}} : ({match})", *params, limit])
            if not self._all_processed(query):
                rows += query(without, [f"{scope} AND text : ({match})", *params, limit])
        best: dict[str, float] = {}
        for record_id, rank in rows:
            best[str(record_id)] = max(best.get(str(record_id), float("-inf")), -float(rank))
        return sorted(best.items(), key=lambda pair: -pair[1])[:limit]
