"""Checks on every argument that reaches the store. Each failure names what to fix."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..errors import (
    ContentTooLargeError,
    InvalidContentError,
    InvalidIdError,
    InvalidInputError,
    InvalidKindError,
    InvalidMetadataError,
    InvalidRoleError,
    InvalidTimestampError,
)
from ..records import KINDS, ROLES

MAX_ID_CHARS = 256
MAX_COUNT = 1_000_000
"""Largest ``k`` or ``limit`` accepted (SQLite and Chroma take nothing near 2**63)."""
_MEMORY_ID = re.compile(r"^[0-9a-f]{32}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ROLE_ALIASES = {"human": "user", "ai": "assistant", "function": "tool"}


def check_content(content: object, max_chars: int, what: str = "content") -> str:
    """Return ``content`` if it is a non-blank string within ``max_chars`` that UTF-8 can encode.

    NUL and other control characters round-trip unchanged; lone surrogates are refused.
    """
    if not isinstance(content, str):
        raise InvalidContentError(f"{what} must be a str, got {type(content).__name__}")
    if not content.strip():
        raise InvalidContentError(f"{what} is empty or only whitespace; pass some text")
    if len(content) > max_chars:
        raise ContentTooLargeError(
            f"{what} has {len(content)} characters, over the limit of {max_chars} "
            "(setting max_content_chars); split it into several records"
        )
    try:
        content.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidContentError(
            f"{what} holds a lone surrogate at position {error.start} that UTF-8 cannot store; "
            "decode your text with errors='replace' first"
        ) from None
    return content


def check_role(role: object) -> str:
    """Return the canonical role (``human``/``ai`` are accepted as aliases)."""
    if isinstance(role, str):
        canonical = ROLE_ALIASES.get(role.lower(), role.lower())
        if canonical in ROLES:
            return canonical
    raise InvalidRoleError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")


def check_kind(kind: object, allowed: tuple[str, ...] = KINDS) -> str:
    """Return ``kind`` if it is one of ``allowed``."""
    if isinstance(kind, str) and kind in allowed:
        return kind
    raise InvalidKindError(f"unknown kind {kind!r}; use one of {', '.join(allowed)}")


def check_kinds(kinds: object) -> tuple[str, ...] | None:
    """Validate the ``kinds`` filter of a search (a kind or a list of kinds, or None)."""
    if kinds is None:
        return None
    if isinstance(kinds, str):
        return (check_kind(kinds),)
    if not isinstance(kinds, (list, tuple, set, frozenset)) or not kinds:
        raise InvalidKindError(f"kinds must be a non-empty list of kinds, got {kinds!r}")
    return tuple(check_kind(kind) for kind in kinds)


def check_id(value: object, what: str) -> str:
    """Return a session, user or agent id: a non-empty string, no control characters, ≤256."""
    return _check_label(value, what, MAX_ID_CHARS, InvalidIdError)


def _check_label(value: object, what: str, max_chars: int, error: type[InvalidInputError]) -> str:
    """``value`` if it is non-blank text of at most ``max_chars`` that UTF-8 can store, without
    control characters; else ``error`` naming what is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise error(f"{what} must be a non-empty str, got {value!r}")
    if len(value) > max_chars:
        raise error(f"{what} is {len(value)} characters long; the limit is {max_chars}")
    if _CONTROL.search(value):
        raise error(f"{what} {value!r} contains control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{what} {value!r} is not valid UTF-8 (lone surrogate)") from None
    return value


def check_optional_id(value: object, what: str) -> str | None:
    """Like :func:`check_id` but ``None`` passes."""
    return None if value is None else check_id(value, what)


def check_count(value: object, what: str, minimum: int, maximum: int = MAX_COUNT) -> int:
    """Return an integer in ``[minimum, maximum]`` (``k``, ``limit``; bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidInputError(f"{what} must be an integer from {minimum} to {maximum}, got {value!r}")
    return value


def check_memory_id(value: object) -> str:
    """Return a record id (32 lowercase hex characters, as the store issues them)."""
    if isinstance(value, str) and _MEMORY_ID.match(value):
        return value
    raise InvalidIdError(f"memory_id must be a 32-character hex id issued by the store, got {value!r}")


def check_metadata(metadata: object, max_bytes: int) -> dict[str, Any]:
    """Return ``metadata`` as a dict after checking it survives a JSON round trip unchanged."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"metadata must be a dict, got {type(metadata).__name__}")
    for key in metadata:
        if not isinstance(key, str):
            raise InvalidMetadataError(f"metadata keys must be str, got {key!r}")
    try:
        encoded = encode_metadata(dict(metadata))
    except (TypeError, ValueError) as error:
        raise InvalidMetadataError(
            f"metadata is not JSON-serialisable ({error}); use str, numbers, bools, None, "
            "lists and dicts"
        ) from None
    except RecursionError:
        raise InvalidMetadataError("metadata is nested too deeply to store") from None
    if len(encoded.encode("utf-8", "surrogatepass")) > max_bytes:
        raise InvalidMetadataError(
            f"metadata is {len(encoded)} bytes as JSON, over max_metadata_bytes={max_bytes}"
        )
    decoded: dict[str, Any] = json.loads(encoded)
    if decoded != dict(metadata):
        raise InvalidMetadataError(
            "metadata would not round-trip unchanged through JSON (tuples, sets or non-str "
            "nested keys); use lists and str keys"
        )
    return decoded


def encode_metadata(metadata: dict[str, Any]) -> str:
    """Strict JSON text for metadata (no NaN, no lone surrogates)."""
    text = json.dumps(metadata, ensure_ascii=False, allow_nan=False, sort_keys=True)
    text.encode("utf-8")  # raises ValueError (UnicodeEncodeError) on lone surrogates
    return text


def check_importance(value: object) -> float | None:
    """Return an importance in [0, 1] (``None`` lets the store estimate it)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"importance must be a number in [0, 1], got {value!r}")  # also NaN
    return float(value)


MAX_DURATION = 1000 * 365.25 * 86400.0
"""Longest time-to-live or age accepted (1000 years): beyond it a date would leave the calendar."""


def check_duration(value: object, what: str) -> float | None:
    """Seconds for a positive number of seconds, a ``timedelta`` or text like ``"7d"`` (``None`` passes)."""
    from datetime import timedelta

    from ..settings import parse_duration

    if value is None:
        return None
    seconds: float | None = None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value) if abs(value) < 1e300 else None
    elif isinstance(value, str):
        seconds = parse_duration(value)
    if seconds is None or math.isnan(seconds) or not 0 < seconds <= MAX_DURATION:
        raise InvalidInputError(
            f"{what} must be a positive number of seconds (at most 1000 years), a timedelta or text like "
            f"'7d' or '12h', got {value!r}"
        )
    return seconds


def check_text_field(value: object, what: str, max_chars: int = 256) -> str:
    """A short non-blank label (a key, a relation, a skill name), without surrounding spaces."""
    return _check_label(value, what, max_chars, InvalidInputError).strip()


def to_epoch(value: object, now: float) -> float:
    """Seconds since the epoch for a datetime, a number or ISO 8601 text; ``None`` is ``now``.

    Naive datetimes and ISO text without an offset are read as UTC.
    """
    if value is None:
        return now
    if isinstance(value, bool):
        raise InvalidTimestampError(f"timestamp must be a datetime, number or ISO text, got {value!r}")
    if isinstance(value, (int, float)):
        if not -62135596800.0 <= value <= 253402300799.0:  # before float(): huge ints overflow it
            raise InvalidTimestampError(f"timestamp {value!r} is outside years 1 to 9999")
        seconds = float(value)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        seconds = moment.timestamp()
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidTimestampError(
                f"timestamp {value!r} is not ISO 8601 (e.g. '2024-05-08T13:56:00+00:00')"
            ) from None
        return to_epoch(parsed, now)
    else:
        raise InvalidTimestampError(
            f"timestamp must be a datetime, number or ISO text, got {type(value).__name__}"
        )
    if math.isnan(seconds) or not -62135596800.0 <= seconds <= 253402300799.0:
        raise InvalidTimestampError(f"timestamp {value!r} is outside years 1 to 9999")
    return seconds


def from_epoch(seconds: float) -> datetime:
    """A UTC datetime for seconds since the epoch."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc)
