"""A message's vector in context: its own embedding blended with its neighbours' (pure math)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


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


def own_weight(text: str, weight: float, words: int) -> float:
    """The neighbours' weight for a message of ``text``: ``weight``, scaled down by ``words / its
    word count`` once it is longer than ``words`` (a long message carries its own meaning; a short
    answer means little alone). ``words`` 0: ``weight`` for every message."""
    count = len(text.split())
    return weight * words / count if words and count > words else weight


def _unit(vector: Any) -> Any:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array
