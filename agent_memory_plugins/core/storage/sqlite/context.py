"""Keyword recall in SQLite, and the neighbour-context index that lets a message be found by the
words around it.

A turn of a conversation often answers a question whose words sit in the turn before or after it
("What did you research?" / "Adoption agencies."). This index keeps, per record, a second FTS5
document with two columns, the record itself and the text of the messages around it in the same
session, ranked by BM25 over both (the context column weighs less). Search returns the message
itself, never the neighbours. It lives beside the records' own keyword index (``records_fts``,
which is untouched); ``turns`` neighbours on each side (setting ``context_turns``) make a message's
context:

- ``context_fts(text, context)``: rowid = ``records.seq``, both columns held as the user's terms
  (:func:`~.schema.user_terms`, as in ``records_fts``); a row per processed record (other kinds than messages have no
  context). Records not processed yet are still found through ``records_fts``; when nothing waits
  (no queued record, no record waiting for indexing) search skips that second query.
- ``context_queue(seq, generation)``: records whose row must be (re)computed. The background
  worker drains it, never the write path. A row leaves the queue only once its work is done (a
  crash in between leaves it queued), and only if nobody queued it again meanwhile (``generation``
  counts the times it was queued).
- Triggers ``context_on_delete`` and ``context_on_delete_other``: whatever code deletes a record,
  its row goes; a message's neighbours lose theirs too (they quoted the deleted text) and are
  queued to be rebuilt. Nothing of a forgotten message survives in this index.

The same neighbourhoods give dense recall its context: each claimed batch returns them, and the
core replaces each message's vector by its vector in context. A message whose neighbour is
forgotten is queued again, so its vector loses the forgotten one's part too.

Opening a store made before this index existed (or with other ``turns`` or layout) queues every
record once (meta ``context_index``), so old stores gain it in the background without losing anything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from .. import terms as index_terms
from ..interface import ContextBatch, Filters, Neighbourhood, lent_words
from .connection import Query, SQLiteConnection, marks, reader
from .rows import filters_sql
from .schema import user_match, user_terms

VERSION = "5"
"""Bump to rebuild every store's context rows on next open."""
STATE = "context_index"
"""Meta key: the version, turns and layout the context rows were built with, and the identity of
their terms (:data:`~..terms.IDENTITY`; absent: rows of an earlier release, words as written)."""
TRIGGERS = ("context_triggers", "2")
"""Meta key and version of the delete triggers: a store whose triggers are older gets them anew
(the rows stay: the triggers' work is the same, version 2 finds the neighbours faster)."""

CONTEXT_INDEX = "CREATE VIRTUAL TABLE context_fts USING fts5 (text, context, tokenize='unicode61')"
"""Both columns hold the user's terms (:func:`~.schema.user_terms`)."""

_QUEUE = "INSERT INTO context_queue (seq) {rows} ON CONFLICT (seq) DO UPDATE SET generation = generation + 1"
"""Queue records (``rows``: ``VALUES (?)`` or a ``SELECT`` with a ``WHERE``), or count one more
request for those already queued."""

_BEFORE = (
    "SELECT p.{col} FROM records p{join} WHERE p.user_id = {r}.user_id AND p.session_id = {r}.session_id "
    "AND p.kind = 'message' AND (p.ts, p.seq) < ({r}.ts, {r}.seq) "
    "ORDER BY p.ts DESC, p.seq DESC LIMIT {n}"
)
_AFTER = (
    "SELECT p.{col} FROM records p{join} WHERE p.user_id = {r}.user_id AND p.session_id = {r}.session_id "
    "AND p.kind = 'message' AND (p.ts, p.seq) > ({r}.ts, {r}.seq) "
    "ORDER BY p.ts, p.seq LIMIT {n}"
)
"""The messages just before / after message ``{r}`` in its session (none outside a session): the
delete trigger reads them for ``old``, :meth:`ContextQueries._neighbours` for a message by ``seq``.
The row-value comparison is a range of ``records_by_session`` (the same condition written with
``OR`` made SQLite walk the session from its far end: 1 ms a query at the 100th of 4,500 turns)."""
_CENTRE = "WITH c AS (SELECT user_id, session_id, ts, seq FROM records WHERE seq = ? AND kind = 'message') "


def _schema(turns: int) -> list[str]:
    return [
        "DROP TABLE IF EXISTS context_fts",  # rebuilt from the queue below (layout may have changed)
        CONTEXT_INDEX,
        "DROP TABLE IF EXISTS context_queue",  # refilled with every record below
        "CREATE TABLE context_queue (seq INTEGER PRIMARY KEY, generation INTEGER NOT NULL DEFAULT 0)",
        *_triggers(turns),
    ]


def _triggers(turns: int) -> list[str]:
    around = "SELECT seq FROM ({}) UNION ALL SELECT seq FROM ({})".format(
        _BEFORE.format(col="seq", join="", r="old", n=turns), _AFTER.format(col="seq", join="", r="old", n=turns)
    )
    return [
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


def _rows_as_user_terms(db: sqlite3.Connection) -> None:
    """Rewrite context rows of an earlier release (words as written, and a ``scope`` column) as
    the user's terms, in place: queueing them again would embed every message again."""
    db.execute("CREATE TEMP TABLE context_words AS SELECT c.rowid AS seq, c.text, c.context, r.user_id "
               "FROM context_fts c JOIN records r ON r.seq = c.rowid")
    db.execute("DROP TABLE context_fts")  # the triggers name it: they act on the new table below
    db.execute(CONTEXT_INDEX)
    cursor = db.execute("SELECT seq, text, context, user_id FROM context_words")
    while batch := cursor.fetchmany(1000):
        db.executemany("INSERT INTO context_fts (rowid, text, context) VALUES (?, ?, ?)",
                       [(seq, user_terms(text, user), user_terms(around, user)) for seq, text, around, user in batch])
    db.execute("DROP TABLE context_words")


class ContextQueries(SQLiteConnection):
    """Keyword candidates (own words, or words in context) and the context index's queue."""

    _context_turns = 2
    _context_state: str | None = None
    _neighbour_words = 0

    def open_context_index(self, turns: int, layout: str, neighbour_words: int = 0) -> None:
        words_state = f"{VERSION}:{turns}:{layout}"
        state = f"{words_state}:{index_terms.IDENTITY}"
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (STATE,)).fetchone()
            if row is not None and row[0] == words_state:  # the same rows, as words: no neighbour changed
                _rows_as_user_terms(db)
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (STATE, state))
            elif row is None or row[0] != state:  # a store from before this index (or other turns)
                for statement in _schema(turns):
                    db.execute(statement)
                db.execute("DELETE FROM context_fts")
                db.execute(_QUEUE.format(rows="SELECT seq FROM records WHERE true"))
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (STATE, state))
            key, version = TRIGGERS
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if row is None or row[0] != f"{version}:{turns}":
                for statement in _triggers(turns):
                    db.execute(statement)
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, f"{version}:{turns}"))
        self._context_turns, self._context_state = turns, state
        self._neighbour_words = neighbour_words

    def _neighbours(self, query: Query, seq: int, column: str) -> tuple[list[Any], list[Any]]:
        """``column`` of the messages before (oldest first) and after ``seq`` in its session."""
        turns = self._context_turns
        before = query(_CENTRE + _BEFORE.format(col=column, join=", c", r="c", n=turns), (seq,))
        after = query(_CENTRE + _AFTER.format(col=column, join=", c", r="c", n=turns), (seq,))
        return [v for (v,) in reversed(before)], [v for (v,) in after]

    def neighbourhoods(self, record_ids: Sequence[str]) -> list[Neighbourhood]:
        found = []
        with self.snapshot() as query:
            for record_id in record_ids:
                rows = query("SELECT seq, text FROM records WHERE id = ? AND kind = 'message'", (record_id,))
                if rows:
                    before, after = self._neighbours(query, rows[0][0], "text")
                    found.append(Neighbourhood(record_id, rows[0][1], before, after))
        return found

    def queue_context(self, record_ids: Sequence[str]) -> None:
        with self.transaction(durable=False) as db:  # the outbox ack after it is no more durable
            for record_id in record_ids:
                found = db.execute("SELECT seq FROM records WHERE id = ?", (record_id,)).fetchone()
                if found is None:
                    continue
                before, after = self._neighbours(reader(db), found[0], "seq")
                db.executemany(_QUEUE.format(rows="VALUES (?)"), [(s,) for s in (found[0], *before, *after)])

    def context_pending(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM context_queue")[0][0])

    def claim_context(self, limit: int) -> ContextBatch | None:
        with self.transaction(durable=False) as db:  # derived rows: redone from the queue if lost
            queued = db.execute(
                "SELECT seq, generation FROM context_queue ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
            if not queued:
                return None
            seqs = [seq for seq, _ in queued]
            rows = db.execute(f"SELECT seq, id, text, user_id, kind FROM records WHERE seq IN ({marks(seqs)})",
                              seqs).fetchall()
            db.execute(f"DELETE FROM context_fts WHERE rowid IN ({marks(seqs)})", seqs)
            found = []
            for seq, record_id, text, user, kind in rows:
                before, after = self._neighbours(reader(db), seq, "text")
                around = lent_words(text, before, after, self._neighbour_words)
                db.execute("INSERT INTO context_fts (rowid, text, context) VALUES (?, ?, ?)",
                           (seq, user_terms(text, user), user_terms(around, user)))
                if kind == "message":
                    found.append(Neighbourhood(str(record_id), text, before, after))
        return ContextBatch(found, tuple((int(seq), int(generation)) for seq, generation in queued))

    def finish_context(self, batch: ContextBatch) -> None:
        with self.transaction(durable=False) as db:  # only if nobody queued them again meanwhile
            db.executemany("DELETE FROM context_queue WHERE seq = ? AND generation = ?", batch.claim)

    def _all_processed(self, query: Query) -> bool:
        """Whether every record has its context row: nothing queued here, nothing waiting for
        indexing (a record is queued once indexed; a message that loses its row to a deleted
        neighbour is queued), and the index is laid out as this version lays it out (a process of
        an older version may have rebuilt it with messages only)."""
        rows = query("SELECT EXISTS (SELECT 1 FROM context_queue) "
                     "OR EXISTS (SELECT 1 FROM outbox WHERE op = 'upsert') "
                     "OR NOT EXISTS (SELECT 1 FROM meta WHERE key = ? AND value = ?)", (STATE, self._context_state))
        return not rows[0][0]

    def keyword_candidates(
        self, terms: Sequence[str], filters: Filters, limit: int, context_weight: float = 0.0
    ) -> list[tuple[str, float]]:
        self._check_open()  # also when there is nothing to read
        match = user_match(terms, filters.user_id)
        if not match:
            return []
        where, params = filters_sql(filters)
        own_words = (
            "SELECT r.id, bm25(records_fts) AS rank FROM records_fts "
            "JOIN records r ON r.seq = records_fts.rowid "
            f"WHERE records_fts MATCH ? AND {where} {{unprocessed}} ORDER BY rank LIMIT ?"
        )
        if context_weight <= 0:
            rows = self._read(own_words.format(unprocessed=""), [match, *params, limit])
            return [(str(record_id), -float(rank)) for record_id, rank in rows]
        with_context = (
            f"SELECT r.id, bm25(context_fts, 1.0, {float(context_weight)!r}) AS rank FROM context_fts "
            f"JOIN records r ON r.seq = context_fts.rowid WHERE context_fts MATCH ? AND {where} "
            "ORDER BY rank LIMIT ?"
        )
        unprocessed = own_words.format(
            unprocessed="AND NOT EXISTS (SELECT 1 FROM context_fts c WHERE c.rowid = r.seq)"
        )
        with self.snapshot() as query:  # one state: a record is found by one of the two, once
            rows = query(with_context, [match, *params, limit])
            if not self._all_processed(query):
                rows += query(unprocessed, [match, *params, limit])
        best: dict[str, float] = {}
        for record_id, rank in rows:
            best[str(record_id)] = max(best.get(str(record_id), float("-inf")), -float(rank))
        return sorted(best.items(), key=lambda pair: -pair[1])[:limit]
