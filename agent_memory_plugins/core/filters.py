"""The ``where`` metadata filter, validated once (each record-store engine translates it).

A filter is a dict. ``{"topic": "travel"}`` means equality; ``{"year": {"$gte": 2023}}`` uses an
operator (``$eq $ne $gt $gte $lt $lte $in $nin``); ``{"$and": [...]}`` and ``{"$or": [...]}``
combine filters. Keys name top-level metadata fields; values are str, int, float or bool.
User metadata never reaches Chroma: dense search is limited to the ids the filter selects in SQLite.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidFilterError

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
LIST_OPERATORS = ("$in", "$nin")


MAX_DEPTH = 32
"""Deepest nesting of ``$and`` / ``$or`` a filter may have."""


def check_where(where: object, depth: int = 0) -> dict[str, Any] | None:
    """Validate a filter; raise :class:`InvalidFilterError` saying what is wrong."""
    if where is None:
        return None
    if depth > MAX_DEPTH:
        raise InvalidFilterError(f"where nests $and/$or more than {MAX_DEPTH} levels deep")
    if not isinstance(where, dict) or not where:
        raise InvalidFilterError(f"where must be a non-empty dict, got {where!r}")
    for key, value in where.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise InvalidFilterError(f"{key} takes a non-empty list of filters")
            for part in value:
                if part is None:
                    raise InvalidFilterError(f"{key} holds an empty filter")
                check_where(part, depth + 1)
        elif not isinstance(key, str) or not key or key.startswith("$") or not _encodable(key):
            raise InvalidFilterError(f"unknown operator or key {key!r} in where")
        else:
            _check_condition(key, value)
    return where


def _check_condition(key: str, condition: object) -> None:
    if isinstance(condition, dict):
        if len(condition) != 1:
            raise InvalidFilterError(f"where[{key!r}] must hold exactly one operator")
        operator, operand = next(iter(condition.items()))
        if operator in OPERATORS:
            _check_scalar(key, operand)
        elif operator in LIST_OPERATORS:
            if not isinstance(operand, list) or not operand:
                raise InvalidFilterError(f"{operator} on {key!r} takes a non-empty list")
            for item in operand:
                _check_scalar(key, item)
        else:
            raise InvalidFilterError(
                f"unknown operator {operator!r} on {key!r}; use "
                f"{', '.join([*OPERATORS, *LIST_OPERATORS])}"
            )
    else:
        _check_scalar(key, condition)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _check_scalar(key: str, value: object) -> None:
    if (
        not isinstance(value, (str, int, float, bool))
        or (isinstance(value, str) and not _encodable(value))
        or (isinstance(value, int) and not -(2**63) <= value < 2**63)  # SQLite's integers
    ):
        raise InvalidFilterError(
            f"where[{key!r}] compares with {value!r}; only str, int, float and bool can be compared"
        )
