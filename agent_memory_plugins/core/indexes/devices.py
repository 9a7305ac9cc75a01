"""Where the default embedding model runs (``embedding_device``) and the batch size that implies.

``auto`` picks CUDA when torch sees a CUDA GPU, else Apple's MPS when available, else the CPU.
``cpu``, ``cuda``, ``cuda:N`` and ``mps`` pin it; asking for a GPU torch does not see is a
:class:`~agent_memory_plugins.errors.ConfigurationError`, not a silent fall back to the CPU.
"""

from __future__ import annotations

import sys
from typing import Any

from ...errors import ConfigurationError
from ...settings import check_device

BATCH_SIZES = {"cpu": 64, "cuda": 256, "mps": 128}
"""Texts embedded per model call by device type: on a CPU larger batches only pad more (64 is
as fast as any); a GPU needs larger ones to be busy."""


def resolve_device(device: str, torch: Any = None) -> str:
    """The torch device for ``device`` (``auto`` resolved); ConfigurationError when it names a
    GPU that torch does not see. ``torch`` is the module (imported here when not given)."""
    check_device(device)
    if device == "cpu":
        return device
    if device == "auto" and torch is None and "torch" not in sys.modules and cpu_only_torch():
        return "cpu"  # without importing torch (a second and a half, and memory the ONNX backend never needs)
    if torch is None:
        import torch
    cuda = bool(torch.cuda.is_available())
    mps_backend = getattr(torch.backends, "mps", None)
    mps = bool(mps_backend is not None and mps_backend.is_available())
    if device == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if device == "mps" and not mps:
        raise ConfigurationError("embedding_device is 'mps' but torch sees no MPS device (Apple GPU); "
                                 "use 'auto' or 'cpu'")
    if device.startswith("cuda"):
        count = int(torch.cuda.device_count()) if cuda else 0
        number = int(device.partition(":")[2] or 0)
        if number >= count:
            seen = f"{count} CUDA device(s)" if count else "no CUDA device (or this torch has no CUDA support)"
            raise ConfigurationError(f"embedding_device is {device!r} but torch sees {seen}; "
                                     "use 'auto' or 'cpu'")
    return device


def cpu_only_torch() -> bool:
    """Whether the installed torch is a CPU-only build (its version ends in ``+cpu``), which sees
    no GPU; found from its package metadata, without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch").endswith("+cpu")
    except PackageNotFoundError:
        return False


def batch_size_for(device: str) -> int:
    """Texts per model call on a resolved ``device`` (see :data:`BATCH_SIZES`)."""
    return BATCH_SIZES[device.partition(":")[0]]
