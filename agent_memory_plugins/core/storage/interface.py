"""The record store: everything the core and its indexes need from durable storage, in its own words.

A record store holds the records (messages, summaries, long-term memories), a keyword index kept
in the same transaction as each write, a neighbour-context keyword index, the durable outbox that
feeds the vector index, links and history between records, and a little metadata. Everything else
(Chroma) can be rebuilt from it.

Contract every engine keeps (the suite in ``tests/storage`` checks each point against every engine):

- **Atomic methods.** Each method that writes is one transaction: all of it is stored, or none. A
  method that returns has committed (durably, unless its docstring says the work is derived data
  that is redone from the outbox after a power loss).
- **Scoped reads.** Every read that takes a ``user_id`` or :class:`Filters` returns only that
  user's records, and never an expired one (unless ``Filters.include_expired``). Methods that take
  no user (``existing``, ``get(..., None)``, ``activity``, the outbox and context queues) serve the
  core's own bookkeeping and operators, never a user's query.
- **Order.** Records of a session are ordered by ``(timestamp, seq)``: ``seq`` is the order in
  which the store accepted them, so messages with equal timestamps keep their write order.
- **Safe to share.** One instance may be used from many threads; several instances (processes) may
  open the same store. Concurrent writers never lose each other's records.
- **Forget leaves nothing.** Forgetting a record removes its row, its keyword entries, its
  neighbour-context row (and those of its neighbours, which quoted it: they are queued to be rebuilt),
  its links and history, and queues one ``delete`` for the vector index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ...records import Block, MemoryRecord

__all__ = [
    "DIMENSION",
    "EMBEDDER",
    "VECTOR_SCHEME",
    "Activity",
    "ContextBatch",
    "ExtractionState",
    "Filters",
    "Neighbourhood",
    "OutboxItem",
    "RecordStore",
    "StoredRow",
]

EMBEDDER = "embedder"
"""Meta key: the name of the embedder that built the vector index."""
DIMENSION = "dimension"
"""Meta key: the dimension of the stored vectors ('' until the first batch is embedded)."""
VECTOR_SCHEME = "vector_scheme"
"""Meta key naming how records are laid out in the vector index (a change triggers a reindex)."""


@dataclass(frozen=True)
class StoredRow:
    """A record as the store holds it, with the bookkeeping the core needs."""

    record: MemoryRecord
    seq: int
    summarized: bool
    tokens: int


@dataclass(frozen=True)
class Activity:
    """How many records of one kind a (user, session) holds, how many are folded, and when."""

    user_id: str
    session_id: str | None
    kind: str
    count: int
    summarized: int
    first_ts: float
    last_ts: float


@dataclass(frozen=True)
class OutboxItem:
    """One pending change for the vector index: ``op`` is ``"upsert"`` or ``"delete"``."""

    seq: int
    record_id: str
    op: str
    user_id: str | None = None
    """The record's user, on deletions (the vector index keeps each user's vectors apart); ``None``
    on upserts and on deletions queued before it was recorded."""


@dataclass(frozen=True)
class Neighbourhood:
    """A message and the texts around it in its session (``before`` oldest first)."""

    record_id: str
    text: str
    before: list[str]
    after: list[str]


@dataclass(frozen=True)
class ContextBatch:
    """Records whose neighbour-context rows were just rebuilt by :meth:`RecordStore.claim_context`.

    ``neighbourhoods``: the messages among them, with their neighbours' texts (for their vectors in
    context); ``claim``: what :meth:`RecordStore.finish_context` needs to take them off the queue.
    """

    neighbourhoods: list[Neighbourhood]
    claim: tuple[tuple[int, int], ...]

    @property
    def size(self) -> int:
        """How many queued records the batch holds (messages and others)."""
        return len(self.claim)


@dataclass(frozen=True)
class Filters:
    """Scope and filters of a read. ``user_id`` is never optional.

    ``where`` is a validated metadata filter (see :mod:`agent_memory_plugins.core.filters`);
    records whose ``expires_at`` has passed are left out unless ``include_expired``.
    """

    user_id: str
    session_id: str | None = None
    kinds: tuple[str, ...] | None = None
    agent_id: str | None = None
    where: dict[str, Any] | None = None
    include_expired: bool = False


@dataclass(frozen=True)
class ExtractionState:
    """Where the extraction of memories from one session stands.

    ``cursor``: the ``seq`` of the last message handed to the extractor (0: none yet);
    ``pending``: the extractor's answer for the batch ending at ``cursor`` that is not fully stored
    yet (opaque text the core wrote; ``None`` when nothing waits).
    """

    cursor: int = 0
    pending: str | None = None


@runtime_checkable
class RecordStore(Protocol):
    """What the core needs from a record store. Engines: :class:`~.sqlite.SQLiteRecordStore`."""

    # -- lifecycle and settings of the store itself ---------------------------------------------
    def close(self) -> None:
        """Release the store (idempotent). Any later call raises ``StoreClosedError``."""

    def schema_version(self) -> int:
        """The number of the last migration step applied to this store's schema."""

    def location(self) -> str:
        """Where the store keeps its records, safe to show and log (a file, ``:memory:``, or a
        database URL without its password)."""

    def meta(self, key: str) -> str | None:
        """A setting of the store itself (see the meta keys of this module), or ``None``."""

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting of the store itself."""

    def secret(self, key: str) -> str:
        """A random per-store secret kept under ``key``, created on first use. Every instance that
        opens the store, at the same time or later, gets the same value."""

    def maintain(self) -> None:
        """Upkeep that would otherwise land on a writer: a bounded share of merging the keyword
        indexes, and moving a grown write-ahead log into the database, in short steps that
        writers interleave with. The background worker calls it between batches; an engine
        without such upkeep does nothing."""

    # -- writing records -------------------------------------------------------------------------
    def add_records(self, rows: Sequence[tuple[MemoryRecord, int]]) -> None:
        """Commit records (with their token counts): their rows, keyword entries and one outbox
        ``upsert`` each, all in one transaction. A record is keyword-findable when this returns."""

    def replace_summary(self, old_id: str | None, summary: tuple[MemoryRecord, int], covered: Sequence[str]) -> bool:
        """Compare-and-swap a session's summary: store ``summary`` in place of ``old_id`` (the
        summary the caller read, ``None`` for none) and mark the ``covered`` messages summarized.

        Nothing is written and ``False`` comes back when the session's current summary is not
        ``old_id`` or one of ``covered`` was folded or removed since the caller read it (fold again
        from fresh data). So a session keeps one summary however many processes fold it.
        Derived data: not synced to disk on its own (redone after a power loss).
        """

    def mark_summarized(self, ids: Sequence[str]) -> None:
        """Mark messages as folded when their summary kept nothing of them (derived data)."""

    def forget(self, ids: Sequence[str], unsummarize: Sequence[str]) -> list[str]:
        """In one transaction: remove records everywhere in the store (see the module contract),
        queue their vector deletion, and mark ``unsummarize`` messages unfolded (a summary that
        covered them is being removed). Returns the ids that were removed (any user: the caller
        has already scoped ``ids``). Marks the store for :meth:`compact` until it runs."""

    def compact(self, vacuum: bool = False) -> None:
        """Make removed records leave the files (merge keyword indexes, checkpoint; ``vacuum``
        rewrites every page). Clears the mark :meth:`forget` set; when another process keeps the
        store busy, the mark stays and the next open finishes the job."""

    def purge_pending(self) -> bool:
        """Whether a forget has not been compacted yet (a crash came in between)."""

    # -- reading records -------------------------------------------------------------------------
    def get(self, ids: Sequence[str], user_id: str | None) -> dict[str, StoredRow]:
        """Records by id, only of ``user_id`` and not expired; ``None``: any (core bookkeeping)."""

    def get_matching(self, ids: Sequence[str], filters: Filters) -> dict[str, StoredRow]:
        """Records by id that also match ``filters`` (scope, kinds, session, metadata)."""

    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored (any user; core bookkeeping)."""

    def select(
        self, filters: Filters, *, newest_first: bool = False, limit: int | None = None, offset: int = 0
    ) -> list[StoredRow]:
        """Records matching ``filters`` in time order (``(timestamp, seq)``; reversed when
        ``newest_first``), at most ``limit``, after skipping the first ``offset`` of that order
        (pages: ``offset=0, limit=n``, then ``offset=n``, ...; an offset past the end gives ``[]``)."""

    def ids_matching(self, filters: Filters, limit: int) -> list[str]:
        """Ids of records matching ``filters``, at most ``limit`` of them (any order)."""

    def ids_of(self, user_id: str | None, session_id: str | None) -> list[str]:
        """Ids of every record of a user, or of one session of a user (expired ones too: for
        forget). ``user_id=None`` returns nothing."""

    def scoring_fields(self, ids: Sequence[str], filters: Filters) -> dict[str, tuple[float, float, bool]]:
        """``(importance, timestamp, asks)`` of the records among ``ids`` matching ``filters``
        (``asks``: the text ends with a question mark, trailing white space aside)."""

    def newest_timestamp(self, user_id: str) -> float | None:
        """When the user's newest record was said (epoch seconds), ``None`` without records."""

    def session_tail(self, user_id: str, session_id: str, limit: int | None) -> list[StoredRow]:
        """The newest ``limit`` messages of a session (``None``: all), oldest first."""

    def unsummarized(self, user_id: str, session_id: str) -> list[StoredRow]:
        """Messages of a session not folded into its summary yet, oldest first."""

    def sessions_to_fold(self, min_unsummarized: int) -> list[tuple[str, str]]:
        """(user, session) pairs with at least ``min_unsummarized`` unfolded messages (any user)."""

    def summary(self, user_id: str, session_id: str) -> StoredRow | None:
        """The session's current summary, if any."""

    def summaries_covering(self, ids: Iterable[str]) -> list[StoredRow]:
        """Summaries (any user) whose ``covers`` names any of ``ids``."""

    def sessions(self, user_id: str | None) -> list[str]:
        """Session ids of a user, most recently active first."""

    def session_count(self) -> int:
        """Distinct (user, session) pairs in the store."""

    def users(self) -> list[str]:
        """Every user id with records, sorted."""

    def count(self, user_id: str | None = None) -> int:
        """How many records (of one user, or all)."""

    def count_by_kind(self, user_id: str | None) -> dict[str, int]:
        """Record counts per kind (of one user, or all)."""

    def activity(self, user_id: str | None = None) -> list[Activity]:
        """Counts and time span of every (user, session, kind), for operators (not scoped); with
        ``user_id``, of that user's only (the same rows ``activity()`` holds for it)."""

    # -- keyword recall --------------------------------------------------------------------------
    def keyword_candidates(
        self, terms: Sequence[str], filters: Filters, limit: int, context_weight: float = 0.0
    ) -> list[tuple[str, float]]:
        """Ids of records matching any of ``terms`` (lower-case words), best first, with their
        BM25-like scores (higher is better), at most ``limit``, within ``filters``.

        ``context_weight > 0`` also matches a message by its neighbours' words, weighted by it
        (records whose context row is not built yet are matched by their own words, each record
        once). Reads one consistent state of the store.
        """

    # -- long-term memories ----------------------------------------------------------------------
    def record_repeat(self, record_id: str, at: float, text: str, importance: float) -> None:
        """A memory was stated again: count it, note when, keep the importance's maximum and the
        wording in its history."""

    def add_superseding(self, new: tuple[MemoryRecord, int], old_ids: Sequence[str]) -> None:
        """Store ``new`` (as :meth:`add_records`) and mark ``old_ids`` superseded by it, atomically."""

    def mark_superseded(self, new_id: str, user_id: str, old_ids: Sequence[str], at: float) -> None:
        """Mark stored records of ``user_id`` superseded by the stored record ``new_id`` (history
        on both sides)."""

    def active_by_key(self, user_id: str, kind: str, key: str) -> list[StoredRow]:
        """Unexpired records of a user and kind with this key that nothing superseded, newest first."""

    def history(self, record_id: str) -> list[tuple[float, str, str, str | None]]:
        """(when, event, text, other record id) for a record, oldest first."""

    def update_metadata(self, record_id: str, metadata: dict[str, Any]) -> None:
        """Replace a record's metadata and queue its vector entry for a refresh."""

    def add_link(self, user_id: str, src: str, dst: str, relation: str, strength: float, at: float) -> None:
        """Link two records (linking again with the same relation replaces the strength)."""

    def links(
        self, record_ids: Sequence[str], user_id: str, relation: str | None = None, min_strength: float = 0.0
    ) -> list[tuple[str, str, str, float]]:
        """Links of ``user_id`` touching ``record_ids`` as (from, to, relation, strength), strongest first."""

    def expired_ids(self, now: float, user_id: str | None = None) -> list[str]:
        """Ids of every record (of one user, or all) whose time-to-live ran out by ``now``."""

    def cleanup_ids(
        self, user_id: str | None, before: float | None, below_importance: float | None, kinds: Sequence[str]
    ) -> list[str]:
        """Ids of records of ``kinds`` (of one user or all) said before ``before`` and less
        important than ``below_importance`` (each criterion only when given)."""

    # -- the outbox: changes waiting for the vector index ----------------------------------------
    def claim_outbox(self, limit: int, *, upto: int | None = None, op: str | None = None) -> list[OutboxItem]:
        """The oldest pending changes (of one ``op``; at positions up to ``upto``), oldest first.

        At-least-once delivery: an item stays pending until :meth:`ack_outbox` drops it, so a
        claimer that dies before acknowledging leaves it to be claimed again. Applying an item
        twice must be harmless (upserts and deletes are idempotent). An engine that many
        instances share may lease claimed items: until the lease runs out, other instances'
        claims skip them (see :meth:`claimed_elsewhere`).
        """

    def ack_outbox(self, seqs: Sequence[int]) -> None:
        """Drop outbox items that were applied (derived data)."""

    def outbox_position(self) -> int:
        """The position of the newest pending change (0 when none): drain up to it to catch up
        with every write made before the call."""

    def outbox_size(self) -> int:
        """How many changes wait for the vector index."""

    def claimed_elsewhere(self, upto: int) -> int:
        """How much queued work other claimers hold under a running lease: outbox items up to
        position ``upto`` and context rows. A flush waits for it (bounded by the lease); engines
        without leases return 0."""

    def begin_reindex(self, embedder: str, scheme: str) -> int:
        """In one transaction: queue every record for indexing, record the new embedder and vector
        scheme, and mark the vector index for a reset (:meth:`reset_pending`). Returns how many
        records were queued. A crash anywhere in a reindex leaves the mark, so the next open
        resets the vector index and the queued records rebuild it."""

    def reset_pending(self) -> bool:
        """Whether a reindex has not emptied the vector index yet."""

    def vectors_reset(self) -> None:
        """The vector index was emptied: clear the mark of :meth:`begin_reindex`."""

    # -- the neighbour-context index -------------------------------------------------------------
    def open_context_index(self, turns: int, layout: str, neighbour_words: int = 0) -> None:
        """Use ``turns`` neighbours on each side as a message's context. ``layout`` names what
        else shapes the context rows and vectors (the core's version and settings): a store last
        used with other ``turns`` or ``layout`` drops its context rows and queues every record.
        ``neighbour_words`` > 0: each neighbour lends only its words nearest the message to the
        context row (see :func:`lent_words`; the caller names it in ``layout``)."""

    def queue_context(self, record_ids: Sequence[str]) -> None:
        """Queue records for their context rows, and the neighbours of messages among them
        (whose context they change). Queueing a queued record again is remembered, so a batch
        claimed before it is not taken off the queue by :meth:`finish_context`."""

    def context_pending(self) -> int:
        """Records waiting for their context row (and messages for their vector in context)."""

    def claim_context(self, limit: int) -> ContextBatch | None:
        """Rebuild the context rows of the newest ``limit`` queued records and return them
        (``None`` when nothing is queued). They stay queued until :meth:`finish_context`."""

    def finish_context(self, batch: ContextBatch) -> None:
        """Take a claimed batch off the queue, except the records queued again since the claim."""

    def neighbourhoods(self, record_ids: Sequence[str]) -> list[Neighbourhood]:
        """The messages among ``record_ids`` with the texts around them now (others are skipped)."""


    # -- working-memory blocks -------------------------------------------------------------------
    def put_block(self, block: Block, expected_version: int) -> bool:
        """Store ``block`` as the next version of the block ``(user_id, session_id, name)`` (a
        ``session_id`` of ``None`` is the user's own block, distinct from every session's).

        Compare-and-swap: written only when the block's current version is ``expected_version``
        (0: no block yet) and ``block.version == expected_version + 1``; otherwise nothing is written
        and ``False`` comes back (another writer changed it: read it again). Every version is kept
        (see :meth:`block_history`). Durable when it returns.
        """

    def get_block(self, user_id: str, session_id: str | None, name: str) -> Block | None:
        """The current version of one block of ``user_id`` (``session_id=None``: a user block)."""

    def list_blocks(self, user_id: str, session_id: str | None) -> list[Block]:
        """The current versions of the user's blocks (``session_id=None``) or of one session's
        blocks (not the user's), sorted by name. Only that user's blocks, ever."""

    def block_history(self, user_id: str, session_id: str | None, name: str) -> list[Block]:
        """Every version of one block, oldest first (empty when there is no such block)."""

    def forget_scope(self, user_id: str, session_id: str | None) -> int:
        """In one transaction, remove what a user or a session holds outside records: every
        version of the blocks and the extraction state of one session of ``user_id``, or
        (``session_id=None``) of the user and all their sessions. Returns how many blocks
        (names, not versions) were removed."""

    # -- extraction of memories from sessions ---------------------------------------------------
    def messages_after(self, user_id: str, session_id: str, after_seq: int, limit: int) -> list[StoredRow]:
        """The session's messages written after position ``after_seq`` (``StoredRow.seq``), in the
        order they were written, at most ``limit`` (expired ones left out)."""

    def extraction_state(self, user_id: str, session_id: str) -> ExtractionState:
        """Where the extraction of a session stands (the default state for a session never seen)."""

    def save_extraction(self, user_id: str, session_id: str, expected: ExtractionState, state: ExtractionState) -> bool:
        """Compare-and-swap the extraction state of a session: write ``state`` only when the
        stored state equals ``expected``; ``False`` (nothing written) otherwise. Durable."""

    def sessions_to_extract(self, limit: int) -> list[tuple[str, str]]:
        """(user, session) pairs (any user) with messages written after their extraction cursor
        or with a pending answer, at most ``limit``, the longest waiting first."""


def lent_words(text: str, before: Sequence[str], after: Sequence[str], words: int) -> str:
    """The text a message's neighbours lend its keyword context row: all of it (``words`` 0);
    else of each neighbour only the ``words`` words nearest the message (the end of one before it,
    the start of one after it), so a long reply does not flood the context of a short turn, and
    nothing to a message of more than ``LONG_MESSAGE * words`` words of its own (it carries its own
    meaning: a long reply takes no words from the short turns around it)."""
    if words <= 0:
        return " ".join([*before, *after])
    if len(text.split()) > LONG_MESSAGE * words:
        return ""
    return " ".join([*(" ".join(t.split()[-words:]) for t in before), *(" ".join(t.split()[:words]) for t in after)])


LONG_MESSAGE = 3
"""With ``neighbour_words`` set, a message longer than this many times that takes no neighbour words."""
