"""Keyword recall in PostgreSQL, and the neighbour-context index that lets a message be found by
the words around it (the same index as the SQLite engine's :mod:`..sqlite.context`, in tables).

- ``context_rows(seq, user_id, length)``: a row per processed record (``length``: its terms, its
  neighbours' terms and one, a scope token the index once counted: BM25 reads ``length - 1``);
  ``context_keywords(seq, term, user_id, tf_text, tf_context)``: the terms of the record and of
  the messages around it. Both go with their record (foreign keys ``ON DELETE CASCADE``).
- ``context_queue(seq, generation, claimed_until)``: records whose row must be (re)computed;
  ``generation`` counts the times a record was queued, ``claimed_until`` leases a claimed batch
  to one instance.
- The trigger ``context_on_delete``: a deleted message's neighbours lose their rows (they quoted
  it) and are queued to be rebuilt, whatever code deletes it.

Keyword scores are FTS5's BM25 over the same terms (see :mod:`.keywords`), so both engines rank alike.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..interface import ContextBatch, Filters, Neighbourhood, lent_words
from ..terms import query_terms, term_counts
from .connection import PostgresConnection, Query, reader
from .keywords import bm25_sql, idf
from .records import _SET_META
from .rows import filters_sql, load_text

VERSION = "5"
"""Bump to rebuild every store's context rows on next open."""
STATE = "context_index"
"""Meta key: the version, turns and layout the context rows were built with."""
CONTEXT_LOCK = 0x616D70_02
"""Advisory lock key held while (re)building the context index's tables."""
TRIGGERS = ("context_triggers", "2")
"""Meta key and version of the delete trigger: a store whose trigger is older gets it anew (the
rows stay: its work is the same, version 2 finds the neighbours faster)."""

_QUEUE = (
    "INSERT INTO context_queue (seq) {rows} ON CONFLICT (seq) DO UPDATE "
    "SET generation = context_queue.generation + 1, claimed_until = NULL"
)
"""Queue records (``rows``: ``VALUES (%s)`` or a ``SELECT``), or count one more request for those
already queued (and free them for any claimer)."""

_BEFORE = (
    "SELECT p.{col} FROM records p WHERE p.user_id = {r}.user_id AND p.session_id = {r}.session_id "
    "AND p.kind = 'message' AND (p.ts, p.seq) < ({r}.ts, {r}.seq) "
    "ORDER BY p.ts DESC, p.seq DESC LIMIT {n}"
)
_AFTER = (
    "SELECT p.{col} FROM records p WHERE p.user_id = {r}.user_id AND p.session_id = {r}.session_id "
    "AND p.kind = 'message' AND (p.ts, p.seq) > ({r}.ts, {r}.seq) "
    "ORDER BY p.ts, p.seq LIMIT {n}"
)
"""The messages just before / after message ``{r}`` in its session: read by the delete trigger
for ``OLD`` and by :meth:`ContextQueries._neighbours` for messages ``c``. The row comparison is a
range of ``records_by_session`` (written with ``OR`` it is a filter over the whole session)."""
_AROUND = (
    "SELECT c.seq, p.{col}, {side}, p.ts, p.pseq FROM records c CROSS JOIN LATERAL ({query}) p "
    "WHERE c.seq = ANY(%s) AND c.kind = 'message'"
)
"""The neighbours of several messages ``c`` at once: (centre, neighbour's column, side, and the
neighbour's place in the session)."""


def _schema(turns: int) -> list[str]:
    return [
        "DROP TABLE IF EXISTS context_keywords, context_rows, context_queue",
        "CREATE TABLE context_rows (seq BIGINT PRIMARY KEY REFERENCES records (seq) ON DELETE CASCADE, "
        "user_id TEXT NOT NULL, length INTEGER NOT NULL)",
        "CREATE TABLE context_keywords (seq BIGINT NOT NULL REFERENCES context_rows (seq) ON DELETE CASCADE, "
        "term TEXT NOT NULL, user_id TEXT NOT NULL, tf_text INTEGER NOT NULL, tf_context INTEGER NOT NULL, "
        "PRIMARY KEY (seq, term))",
        "CREATE INDEX context_keywords_by_term ON context_keywords (term, user_id, seq) INCLUDE (tf_text, tf_context)",
        "CREATE TABLE context_queue (seq BIGINT PRIMARY KEY, generation INTEGER NOT NULL DEFAULT 0, "
        "claimed_until DOUBLE PRECISION, claimed_by TEXT)",
        *_triggers(turns),
    ]


def _triggers(turns: int) -> list[str]:
    around = "({}) UNION ALL ({})".format(
        _BEFORE.format(col="seq", r="OLD", n=turns), _AFTER.format(col="seq", r="OLD", n=turns)
    )
    return [
        f"""CREATE OR REPLACE FUNCTION amp_context_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM context_queue WHERE seq = OLD.seq;
            IF OLD.kind = 'message' THEN
                WITH around AS ({around}),
                queued AS ({_QUEUE.format(rows="SELECT seq FROM around ORDER BY seq")})
                DELETE FROM context_rows WHERE seq IN (SELECT seq FROM around);
            END IF;
            RETURN NULL;
        END $$""",
        "DROP TRIGGER IF EXISTS context_on_delete ON records",
        "CREATE TRIGGER context_on_delete AFTER DELETE ON records "
        "FOR EACH ROW EXECUTE FUNCTION amp_context_on_delete()",
    ]


class ContextQueries(PostgresConnection):
    """Keyword candidates (own words, or words in context) and the context index's queue."""

    _context_turns = 2
    _context_state: str | None = None
    _neighbour_words = 0
    lease_seconds = 60.0

    def open_context_index(self, turns: int, layout: str, neighbour_words: int = 0) -> None:
        state = f"{VERSION}:{turns}:{layout}"
        with self.transaction() as connection:
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (CONTEXT_LOCK,))
            row = connection.execute("SELECT value FROM meta WHERE key = %s", (STATE,)).fetchone()
            if row is None or row[0] != state:  # a new store, or other turns or layout
                for statement in _schema(turns):
                    connection.execute(statement)
                connection.execute(_QUEUE.format(rows="SELECT seq FROM records"))
                connection.execute(_SET_META, (STATE, state))
            key, version = TRIGGERS
            row = connection.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
            if row is None or row[0] != f"{version}:{turns}":
                for statement in _triggers(turns):
                    connection.execute(statement)
                connection.execute(_SET_META, (key, f"{version}:{turns}"))
        self._context_turns, self._context_state = turns, state
        self._neighbour_words = neighbour_words

    def _neighbours(self, query: Query, seqs: Sequence[int], column: str) -> dict[int, tuple[list[Any], list[Any]]]:
        """``column`` of the messages before (oldest first) and after each message of ``seqs`` in
        its session (two queries for the whole batch)."""
        turns = self._context_turns
        columns = f"{column}, p.ts, p.seq AS pseq"
        rows = query(
            _AROUND.format(col=column, side="0", query=_BEFORE.format(col=columns, r="c", n=turns)) + " UNION ALL "
            + _AROUND.format(col=column, side="1", query=_AFTER.format(col=columns, r="c", n=turns)),
            (list(seqs), list(seqs)),
        )
        decode = load_text if column == "text" else (lambda value: value)
        found: dict[int, tuple[list[Any], list[Any]]] = {seq: ([], []) for seq in seqs}
        for centre, value, side, _, _ in sorted(rows, key=lambda row: (row[3], row[4])):  # session order
            found[centre][side].append(decode(value))
        return found

    def neighbourhoods(self, record_ids: Sequence[str]) -> list[Neighbourhood]:
        if not record_ids:
            return []
        with self.snapshot() as query:
            rows = query("SELECT seq, id, text FROM records WHERE id = ANY(%s) AND kind = 'message'",
                         (list(record_ids),))
            around = self._neighbours(query, [seq for seq, _, _ in rows], "text")
        by_id = {record_id: (seq, text) for seq, record_id, text in rows}
        return [Neighbourhood(record_id, load_text(by_id[record_id][1]), *around[by_id[record_id][0]])
                for record_id in dict.fromkeys(record_ids) if record_id in by_id]

    def queue_context(self, record_ids: Sequence[str]) -> None:
        if not record_ids:
            return
        with self.transaction() as connection:
            query = reader(connection)
            seqs = [seq for seq, in query("SELECT seq FROM records WHERE id = ANY(%s)", (list(record_ids),))]
            wanted = set(seqs)
            for before, after in self._neighbours(query, seqs, "seq").values():
                wanted.update((*before, *after))
            with connection.cursor() as cursor:  # in order: instances queueing overlapping rows never deadlock
                cursor.executemany(_QUEUE.format(rows="VALUES (%s)"), [(seq,) for seq in sorted(wanted)])

    def context_pending(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM context_queue")[0][0])

    def claim_context(self, limit: int) -> ContextBatch | None:
        now = time.time()
        with self.transaction() as connection:
            query = reader(connection)
            queued = query(
                "SELECT seq, generation FROM context_queue WHERE claimed_until IS NULL OR claimed_until < %s "
                "OR claimed_by = %s ORDER BY seq DESC LIMIT %s FOR UPDATE SKIP LOCKED",
                (now, self.claimer, limit),
            )
            if not queued:
                return None
            seqs = [seq for seq, _ in queued]
            connection.execute("UPDATE context_queue SET claimed_until = %s, claimed_by = %s WHERE seq = ANY(%s)",
                               (now + self.lease_seconds, self.claimer, seqs))
            # FOR KEY SHARE: a concurrent forget waits until these rows are written (or sees them gone)
            rows = query("SELECT seq, id, text, user_id, kind FROM records WHERE seq = ANY(%s) FOR KEY SHARE",
                         (seqs,))
            connection.execute("DELETE FROM context_rows WHERE seq = ANY(%s)", (seqs,))
            neighbours = self._neighbours(query, [row[0] for row in rows], "text")
            found: list[Neighbourhood] = []
            keyword_rows: list[tuple[int, str, str, int, int]] = []
            context_rows: list[tuple[int, str, int]] = []
            for seq, record_id, stored, user, kind in rows:
                text = load_text(stored)
                before, after = neighbours.get(seq, ([], []))
                own, own_length = term_counts(text)
                around, around_length = term_counts(lent_words(text, before, after, self._neighbour_words))
                context_rows.append((seq, user, own_length + around_length + 1))
                keyword_rows.extend((seq, term, user, own.get(term, 0), around.get(term, 0)) for term in own | around)
                if kind == "message":
                    found.append(Neighbourhood(str(record_id), text, before, after))
            with connection.cursor() as cursor:
                cursor.executemany("INSERT INTO context_rows (seq, user_id, length) VALUES (%s, %s, %s)", context_rows)
                cursor.executemany(
                    "INSERT INTO context_keywords (seq, term, user_id, tf_text, tf_context) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    keyword_rows,
                )
        return ContextBatch(found, tuple((int(seq), int(generation)) for seq, generation in queued))

    def finish_context(self, batch: ContextBatch) -> None:
        if not batch.claim:
            return
        with self.transaction() as connection, connection.cursor() as cursor:  # only if not queued again
            cursor.executemany("DELETE FROM context_queue WHERE seq = %s AND generation = %s", batch.claim)

    def _all_processed(self, query: Query) -> bool:
        """Whether every record has its context row (see the SQLite engine's twin)."""
        rows = query("SELECT EXISTS (SELECT 1 FROM context_queue) "
                     "OR EXISTS (SELECT 1 FROM outbox WHERE op = 'upsert') "
                     "OR NOT EXISTS (SELECT 1 FROM meta WHERE key = %s AND value = %s)", (STATE, self._context_state))
        return not rows[0][0]

    def keyword_candidates(
        self, terms: Sequence[str], filters: Filters, limit: int, context_weight: float = 0.0
    ) -> list[tuple[str, float]]:
        self._check_open()
        wanted = query_terms(terms)
        if not wanted:
            return []
        where, params = filters_sql(filters)
        with self.snapshot() as query:  # one state: a record is found by one of the two, once
            if context_weight <= 0:
                return _own_words(query, self.url, wanted, where, params, limit, "")
            rows = _in_context(query, self.url, wanted, where, params, limit, float(context_weight))
            if not self._all_processed(query):
                rows += _own_words(query, self.url, wanted, where, params, limit,
                                   "AND NOT EXISTS (SELECT 1 FROM context_rows c WHERE c.seq = r.seq)")
        best: dict[str, float] = {}
        for record_id, score in rows:
            best[record_id] = max(best.get(record_id, float("-inf")), score)
        return sorted(best.items(), key=lambda pair: -pair[1])[:limit]


LARGE = 20_000
"""Rows from which a table's size and average length are read at most every
:data:`SIZES_TTL` seconds (counting them costs a scan; a few new rows barely move BM25)."""
SIZES_TTL = 30.0
_sizes: dict[tuple[str, str], tuple[float, int, float]] = {}


def _size(query: Query, database: str, rows_table: str, length: str) -> tuple[int, float]:
    """How many rows ``rows_table`` of ``database`` has and their total length (cached for large tables)."""
    key = (database, rows_table)
    cached = _sizes.get(key)
    if cached is not None and time.monotonic() - cached[0] < SIZES_TTL:
        return cached[1], cached[2]
    count, total = query(f"SELECT COUNT(*), COALESCE(SUM({length}), 0) FROM {rows_table}", ())[0]
    if int(count) >= LARGE:
        _sizes[key] = (time.monotonic(), int(count), float(total))
    return int(count), float(total)


def _weights(
    query: Query, database: str, table: str, rows_table: str, length: str, wanted: list[str], user_id: str
) -> tuple[list[float], float]:
    """The idf of each wanted term among the user's postings in ``table`` (the rows counted are the
    whole store's, as FTS5 counts them) and the average row length of ``rows_table``."""
    count, total = _size(query, database, rows_table, length)
    hits: dict[str, int] = dict(query(
        f"SELECT term, COUNT(*) FROM {table} WHERE term = ANY(%s) AND user_id = %s GROUP BY term", (wanted, user_id)
    ))
    average = total / count if count else 1.0
    return [idf(count, int(hits.get(term, 0))) for term in wanted], max(average, 1e-9)


@dataclass(frozen=True)
class _Postings:
    """One BM25 index in tables: its postings, the rows they count, and how a row is scored."""

    table: str
    """The postings (``term``, ``user_id``, ``seq`` and frequencies, aliased ``k``)."""
    rows_table: str
    """What the postings count (for the number of rows and their total length)."""
    length: str
    """A row's length in ``rows_table``."""
    joins: str
    """What joins ``records r`` (and the rows' table) to ``k``."""
    row_length: str
    """A matched row's length, in the joined aliases."""


_OWN_WORDS = _Postings("keywords", "records", "length", "JOIN records r ON r.seq = k.seq", "r.length")
_IN_CONTEXT = _Postings("context_keywords", "context_rows", "length - 1",
                        "JOIN context_rows c ON c.seq = k.seq JOIN records r ON r.seq = k.seq", "c.length - 1")


def _bm25(
    query: Query, database: str, index: _Postings, frequency: str, wanted: list[str], where: str, params: list[Any],
    limit: int,
) -> list[tuple[str, float]]:
    """Ids of the records matching ``wanted`` in ``index`` within ``where``, best BM25 first."""
    idfs, average = _weights(query, database, index.table, index.rows_table, index.length, wanted, params[0])
    score = bm25_sql(frequency, index.row_length, repr(average))
    rows = query(
        f"SELECT r.id, SUM({score}) AS score FROM unnest(%s::text[], %s::float8[]) AS q(term, idf) "
        f"JOIN {index.table} k ON k.term = q.term AND k.user_id = %s {index.joins} "
        f"WHERE {where} GROUP BY r.id ORDER BY score DESC, r.id LIMIT %s",
        [wanted, idfs, params[0], *params, limit],
    )
    return [(str(record_id), float(value)) for record_id, value in rows]


def _own_words(
    query: Query, database: str, wanted: list[str], where: str, params: list[Any], limit: int, unprocessed: str
) -> list[tuple[str, float]]:
    return _bm25(query, database, _OWN_WORDS, "k.tf", wanted, f"{where} {unprocessed}", params, limit)


def _in_context(
    query: Query, database: str, wanted: list[str], where: str, params: list[Any], limit: int, weight: float
) -> list[tuple[str, float]]:
    frequency = f"k.tf_text + {weight!r} * k.tf_context"  # FTS5 weighs each column's hits
    return _bm25(query, database, _IN_CONTEXT, frequency, wanted, where, params, limit)
