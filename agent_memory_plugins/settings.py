"""One settings object with documented defaults, overridable by keyword and by environment.

Precedence: keyword argument > ``AGENT_MEMORY_<NAME>`` environment variable > default.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigurationError

__all__ = ["ENV_PREFIX", "Settings", "parse_duration"]

ENV_PREFIX = "AGENT_MEMORY_"


@dataclass(frozen=True)
class Settings:
    """Every tunable of a :class:`~agent_memory_plugins.MemoryCore`.

    Each field can be set as ``AGENT_MEMORY_<FIELD NAME IN CAPITALS>``; see the README's table.
    """

    path: str | None = None
    """Folder of the store (SQLite + embedded Chroma). ``None``: nothing on disk."""
    database_url: str | None = dataclasses.field(default=None, repr=False)
    """A PostgreSQL URL (``postgresql://user:password@host:5432/db``, libpq options such as
    ``?sslmode=require`` pass through): the record store for many processes and machines (extra
    ``[postgres]``; use with ``chroma_url``). ``None``: SQLite under ``path``. Never shown with its password."""
    database_pool_size: int = 8
    """Most connections one instance opens to the PostgreSQL database."""
    claim_lease_seconds: float = 60.0
    """PostgreSQL: how long an instance's claim on queued indexing work keeps other instances off
    it; the work of an instance that dies is taken over when its lease runs out."""
    window_messages: int | None = 20
    """How many recent messages a session's window keeps (``None``: no count limit)."""
    window_tokens: int | None = None
    """Token budget of the window (``None``: no token limit)."""
    window_start_on: str | None = "user"
    """Role the window opens on (like LangChain's ``trim_messages(start_on="human")``): older
    messages before the first one of that role leave it, as many providers reject a conversation
    that does not start with a user turn. ``None``: the window opens wherever the limits put it."""
    summary_tokens: int = 400
    """Token budget of a session's running summary."""
    fold_batch: int = 10
    """Messages that must have left the window before the worker folds them into the summary."""
    embedding_model: str = "all-MiniLM-L6-v2"
    """sentence-transformers model used when no embedder is given."""
    embedding_device: str = "auto"
    """Where that model runs: ``auto`` (a CUDA GPU when torch sees one, else Apple's MPS when
    available, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``. Naming a GPU torch does
    not see is an error."""
    embedding_backend: str = "auto"
    """What runs that model: ``auto`` (ONNX Runtime when it runs on the CPU and can be exported,
    else PyTorch), ``onnx`` (ONNX Runtime on the CPU; an error when the model cannot be exported)
    or ``torch`` (sentence-transformers on PyTorch). Both give the same vectors (cosine >= 0.99999,
    checked at export); see ``core/indexes/onnx_model.py``."""
    embedding_batch_size: int | None = None
    """Texts per model call; ``None``: 32 on ONNX Runtime, else the device's (64 on the CPU, 256 on
    CUDA, 128 on MPS)."""
    query_threads: int = 1
    """CPU threads that embed a search query: one short text gains nothing from more, and on a
    busy machine more make it wait for descheduled threads (see ``core/indexes/threads.py``)."""
    index_threads: int | None = None
    """CPU threads that embed the background worker's batches; ``None``: every core."""
    embedding_cache_size: int = 20_000
    """Texts whose embeddings are cached in memory (the same text is never embedded twice)."""
    index_batch_size: int = 256
    """Records the background worker embeds and indexes at once."""
    index_interval: float = 0.2
    """Seconds the background worker waits for more writes before indexing a partial batch."""
    chroma_url: str | None = None
    """URL of a Chroma server (``http://127.0.0.1:8000``). ``None``: embedded Chroma."""
    chroma_collection: str = "agent_memory"
    """Name of the Chroma collection (per store)."""
    durability: str = "full"
    """``full``: every write is fsynced (survives power loss); ``normal``: survives a process
    crash or ``kill -9`` but the last writes may be lost on power loss."""
    max_content_chars: int = 100_000
    """Longest text accepted for one record."""
    max_metadata_bytes: int = 65_536
    """Largest JSON-encoded metadata accepted for one record."""
    candidates: int = 100
    """Candidates each ranking (dense, keyword) contributes before fusion."""
    dense_weight: float = 0.6
    """Weight of the dense (embedding) score in the fusion (each score is divided by the best one)."""
    keyword_weight: float = 0.4
    """Weight of the keyword (FTS5 BM25) score in the fusion (each score is divided by the best one)."""
    context_weight: float = 0.5
    """BM25 weight of a message's neighbours (``context_turns`` messages before and after it in its
    session) in keyword recall, against 1.0 for its own words; 0 searches own words only."""
    context_turns: int = 2
    """How many messages on each side of a message are its neighbour context."""
    context_vector_weight: float = 0.5
    """Dense recall of a message in context: its vector is its own embedding plus, at this weight
    divided by the distance, those of its ``context_turns`` neighbours on each side (computed by
    the background worker); 0 keeps each message's own embedding."""
    context_neighbour_words: int = 40
    """Each neighbour lends a message's keyword context only its this many words nearest the
    message (the end of the turn before, the start of the turn after), and a message longer than
    three times this takes none, so a long reply does not flood the context of a short turn; 0:
    whole neighbours. A change rebuilds the context rows. 40 lifted recall@10 on both dev files
    (LongMemEval 0.727 -> 0.767, LoCoMo 0.831 -> 0.837, leave-one-out too)."""
    context_vector_words: int = 0
    """A message longer than this many words takes its neighbours' vectors at ``context_vector_weight``
    times this share of its length (a long message carries its own meaning); 0 gives every message
    the full ``context_vector_weight``."""
    passage_words: int = 0
    """A message longer than this many words also gets one vector per passage of about this many
    words (cut at paragraph and sentence ends, at most 8 per message), so that a fact deep in a
    long reply can match; its dense score is the best of its own vector's and its passages'.
    The model reads about 190 words of a text (all-MiniLM-L6-v2: 256 word pieces); 120 suits it.
    0 (the default): no passages. Passages cost embeddings: on chats with long assistant replies
    (LongMemEval) 120 embeds about 2.2 times as many texts. A change applies to messages indexed
    afterwards (``reindex()`` for all)."""
    passage_skip_words: int = 0
    """Passages that end within a message's first this many words are left out (its own vector
    reads them: about 190 words for all-MiniLM-L6-v2); 0 keeps every passage."""
    session_weight: float = 0.0
    """How much a session whose turns match the query together lifts each of them: among the 30
    best candidates, a turn's score is multiplied by ``1 + session_weight * s``, ``s`` its
    session's summed score over the best session's (0 turns it off)."""
    rerank_candidates: int = 20
    """How many of the best fused candidates a reranker (``MemoryCore(reranker=...)``) scores again."""
    question_weight: float = 0.85
    """Score factor of a record that only asks (its text ends with "?"): a question holds no fact
    but shares the words of questions put to memory. 1.0 turns it off."""
    question_statement_words: int = 30
    """A text ending with "?" that says at least this many words before its last sentence is not
    taken for a question (it holds facts before it asks: "I attended a workshop on ... last month,
    it cost $200 ... Any tips?"; judged among the best candidates, whose text the search reads);
    0: every text ending with "?" is. 30 lifted LongMemEval dev turn recall@10 0.767 -> 0.793
    (multi-session 0.318 -> 0.422) and left LoCoMo dev at 0.835, whose turns are short."""
    summary_weight: float = 0.5
    """Score factor of a session summary among the hits (judged among the best candidates): a
    summary retells many turns in few words, so it matches many queries about as well as the turn
    that holds the answer, and took that turn's place. 0.5 ranks it below a turn that matches as
    well (LoCoMo dev recall@10 0.834 -> 0.838; chosen on four conversations and measured on the
    fifth, 0.839 -> 0.842; LongMemEval dev unchanged: its sessions are too short to fold); 1.0
    turns it off. Summaries keep their order among themselves."""
    assistant_weight: float = 0.5
    """Score factor of an assistant message when the query asks about the one who asks: it speaks
    in the first person and addresses no one ("What degree did I graduate with?", not "What did you
    recommend?"). A user's facts are in the user's own messages; an assistant's long reply on the
    same topic shares its words and meaning and took their place. Judged among the best candidates
    (their texts are read). LongMemEval dev turn recall@10 0.803 -> 0.895 (chosen on one half of
    the questions and measured on the other, both ways: 0.803 -> 0.895); LoCoMo unchanged (its
    questions name the people they ask about). 1.0 turns it off."""
    filler_weight: float = 0.5
    """Score factor of a content-free turn ("ok", "Sounds fun.", "ok 14"): it says nothing, but in
    context it shares the meaning of its neighbours. 1.0 turns it off."""
    time_boost: float = 1.0
    """How much a query's time expression ("in May 2023", "last week") lifts records from that
    time: their score is multiplied by ``1 + time_boost`` (0 turns it off)."""
    relative_time_boost: float = 0.0
    """The same for a relative expression ("yesterday", "last week", "this weekend", "3 days ago"),
    which is read from the newest record's day: a guess at the moment the question means
    (``time_boost`` 0 turns both off). 0 by default: on both dev files the guess misled more than
    it helped ("this weekend" in "I visit the music store this weekend, any tips?" names a plan,
    "last year" in a LoCoMo question the year before the turn that told it); LongMemEval dev turn
    recall@10 0.767 -> 0.791 without it, LoCoMo dev 0.835 -> 0.836. An agent whose newest message
    is now may set 1.0."""
    recency_weight: float = 0.05
    """How much a recent record is preferred (0 turns recency off)."""
    recency_half_life_days: float = 30.0
    """Age at which the recency bonus halves."""
    importance_weight: float = 0.05
    """How much an important record is preferred (0 turns importance off)."""
    consolidate: bool = True
    """Whether ``remember`` folds a repeated fact into the stored one and marks updated facts as
    superseded (see :mod:`agent_memory_plugins.core.longterm.consolidation`)."""
    consolidation_threshold: float = 0.9
    """Embedding cosine similarity (with the same names and numbers) at which a new fact counts as
    a repeat of a stored one."""
    superseded_weight: float = 0.5
    """Score factor of a superseded record in recall (it always ranks below its successor)."""
    link_threshold: float = 0.5
    """Least strength of a link that recall follows (``search(..., follow_links=True)``)."""
    ttl: str | None = None
    """Default time-to-live per kind, e.g. ``"event=7d,message=30d"`` (units s, m, h, d, w)."""
    expiry_interval: float = 60.0
    """Seconds between the background worker's sweeps that remove expired records."""
    block_limit: int = 2000
    """Characters a new working-memory block may hold unless ``set_block(..., limit=)`` says otherwise."""
    extract_batch: int = 20
    """Messages of a session the extractor reads in one model call (with ``MemoryCore(extractor=)``)."""
    extract_calls_per_minute: int = 30
    """Most calls per minute the background worker makes to the extractor model (bounds its cost)."""
    extract_idle: float = 30.0
    """Seconds after its newest message that a batch smaller than ``extract_batch`` is extracted
    anyway (``flush()`` extracts it at once)."""
    api_key: str | None = field(default=None, repr=False)
    """Key the HTTP server (``agent-memory serve``) requires on every ``/api/`` route as
    ``Authorization: Bearer <key>``. ``None``: no key, and the server only listens on a loopback address."""

    @classmethod
    def from_env(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Build settings from defaults, then ``AGENT_MEMORY_*`` variables, then ``overrides``."""
        env = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, known_field in known.items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = _parse(name, str(known_field.type), raw)
        for name, value in (overrides or {}).items():
            if name not in known:
                raise ConfigurationError(f"unknown setting {name!r}; known: {', '.join(known)}")
            if value is not None or "None" in str(known[name].type):
                values[name] = value
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated)."""
        settings = dataclasses.replace(self, **changes)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the first setting that is out of range."""
        for name in ("window_messages", "window_tokens", "embedding_batch_size", "index_threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigurationError(f"{name} must be a positive integer or None, got {value!r}")
        from .records import ROLES

        if self.window_start_on is not None and self.window_start_on not in ROLES:
            raise ConfigurationError(
                f"window_start_on must be one of {', '.join(ROLES)} or None, got {self.window_start_on!r}"
            )
        positive_ints = (
            "summary_tokens", "fold_batch", "index_batch_size", "max_content_chars",
            "max_metadata_bytes", "candidates", "embedding_cache_size", "context_turns", "database_pool_size",
            "block_limit", "extract_batch", "extract_calls_per_minute", "query_threads", "rerank_candidates",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
        for name in ("passage_words", "passage_skip_words", "context_vector_words", "question_statement_words",
                     "context_neighbour_words"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"{name} must be an integer >= 0 (0: off), got {value!r}")
        for name in ("dense_weight", "keyword_weight", "recency_weight", "importance_weight", "context_weight",
                     "time_boost", "relative_time_boost", "context_vector_weight", "claim_lease_seconds",
                     "session_weight"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigurationError(f"{name} must be a number >= 0, got {value!r}")
        if self.dense_weight == 0 and self.keyword_weight == 0:
            raise ConfigurationError("dense_weight and keyword_weight cannot both be 0: search would rank nothing")
        if isinstance(self.extract_idle, bool) or not isinstance(self.extract_idle, (int, float)) \
                or self.extract_idle < 0:
            raise ConfigurationError(f"extract_idle must be a number >= 0, got {self.extract_idle!r}")
        if self.recency_half_life_days <= 0 or self.index_interval < 0:
            raise ConfigurationError("recency_half_life_days must be > 0 and index_interval >= 0")
        if not isinstance(self.consolidate, bool):
            raise ConfigurationError(f"consolidate must be true or false, got {self.consolidate!r}")
        for name in ("consolidation_threshold", "superseded_weight", "link_threshold", "question_weight",
                     "filler_weight", "summary_weight", "assistant_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigurationError(f"{name} must be a number in [0, 1], got {value!r}")
        if isinstance(self.expiry_interval, bool) or not isinstance(self.expiry_interval, (int, float)) \
                or self.expiry_interval <= 0:
            raise ConfigurationError(f"expiry_interval must be a number > 0, got {self.expiry_interval!r}")
        self.ttl_by_kind()
        check_collection_name(self.chroma_collection)
        check_device(self.embedding_device)
        check_backend(self.embedding_backend, self.embedding_device)
        if self.api_key is not None and (not isinstance(self.api_key, str) or len(self.api_key.strip()) < 8):
            raise ConfigurationError("api_key must be text of at least 8 characters (or None for no key)")
        if self.durability not in ("full", "normal"):
            raise ConfigurationError(f"durability must be 'full' or 'normal', got {self.durability!r}")

    def ttl_by_kind(self) -> dict[str, float]:
        """The ``ttl`` setting as seconds per kind (raises ConfigurationError when malformed)."""
        from .records import KINDS

        if self.ttl is None or not self.ttl.strip():
            return {}
        if not isinstance(self.ttl, str):
            raise ConfigurationError(f"ttl must be text like 'event=7d,message=30d', got {self.ttl!r}")
        found: dict[str, float] = {}
        for part in self.ttl.split(","):
            kind, _, duration = part.partition("=")
            kind = kind.strip()
            if kind not in KINDS or kind == "summary":
                raise ConfigurationError(f"ttl names unknown kind {kind!r} in {self.ttl!r}; use message, fact, "
                                         "event, preference or skill")
            seconds = parse_duration(duration)
            if seconds is None:
                raise ConfigurationError(f"ttl for {kind!r} is {duration!r}; write a number with a unit "
                                         "s, m, h, d or w (e.g. 7d)")
            found[kind] = seconds
        return found


COLLECTION_ID_DIGITS = 12
"""Hex digits of the store id that follow ``chroma_collection`` in its collection's name."""
USER_COLLECTION_DIGITS = 16
"""Hex digits of a user's keyed digest that follow the store's collection name in a user's collection's."""
MAX_COLLECTION_PREFIX = 512 - COLLECTION_ID_DIGITS - 1 - USER_COLLECTION_DIGITS - 1
"""Longest ``chroma_collection``: Chroma names have 3 to 512 characters, ours are
``prefix-<store id>-<user digest>``."""
_COLLECTION_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_collection_name(name: object) -> str:
    """``name`` (the ``chroma_collection`` setting) if Chroma collection names can start with it;
    else :class:`ConfigurationError` naming the setting (checked before Chroma fails on it). Each
    store's collection is ``<chroma_collection>-<12 hex digits of the store id>`` and each of its
    users' ``<that>-<16 hex digits>``, so the prefix has 1 to 482 letters, digits, ``.``, ``_``
    or ``-``, starts with a letter or digit and holds no ``..``."""
    if (not isinstance(name, str) or not _COLLECTION_PREFIX.fullmatch(name) or ".." in name
            or len(name) > MAX_COLLECTION_PREFIX):
        raise ConfigurationError(
            f"chroma_collection must be 1 to {MAX_COLLECTION_PREFIX} characters from A-Z, a-z, 0-9, '.', '_' and "
            f"'-', starting with a letter or digit and without '..' (each store's collections are named "
            f"'<chroma_collection>-<store id>-<user digest>'), got {name!r}"
        )
    return name


DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
"""The accepted forms of ``embedding_device``."""
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device(device: object) -> str:
    """``device`` (the ``embedding_device`` setting) when it is one of :data:`DEVICES`; else a
    ConfigurationError naming the setting."""
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ConfigurationError(
            f"embedding_device must be one of {', '.join(DEVICES)} (N a GPU number), got {device!r}"
        )
    return device


BACKENDS = ("auto", "onnx", "torch")
"""The accepted values of ``embedding_backend``."""


def check_backend(backend: object, device: str = "auto") -> str:
    """``backend`` (the ``embedding_backend`` setting) when it is one of :data:`BACKENDS` and can
    run on ``device``; else a ConfigurationError naming the setting."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ConfigurationError(f"embedding_backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "onnx" and device not in ("auto", "cpu"):
        raise ConfigurationError(f"embedding_backend 'onnx' runs on the CPU, but embedding_device is {device!r}; "
                                 "use embedding_backend 'auto' or 'torch' for a GPU")
    return backend


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float | None:
    """Seconds for ``"90s"``, ``"15m"``, ``"12h"``, ``"7d"``, ``"2w"`` or a bare number of seconds.

    ``None`` when the text is not such a duration or is not positive.
    """
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:]) if value else None
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        return None
    return seconds if seconds > 0 and seconds == seconds and seconds != float("inf") else None


def _parse(name: str, type_text: str, raw: str) -> Any:
    """Turn an environment variable's text into the field's type."""
    text = raw.strip()
    if "None" in type_text and text.lower() in ("", "none", "null"):
        return None
    if type_text == "bool":
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not true or false")
    try:
        if type_text.startswith("int"):
            return int(text)
        if type_text.startswith("float"):
            return float(text)
    except ValueError:
        raise ConfigurationError(
            f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {type_text.split(' ')[0]}"
        ) from None
    return text
