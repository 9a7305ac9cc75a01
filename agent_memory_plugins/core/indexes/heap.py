"""Keep stale process memory out of the files embedded Chroma writes.

Chroma's HNSW index (``data_level0.bin``, ``length.bin``) is written from a ``malloc``'d block
whose unused tail was never initialised: whatever the process had freed there before - a
message's text read from the record store, a prompt, another user's words - lands on disk, and
stays there after ``forget``. The fix is glibc's ``M_PERTURB``: from then on every block
``malloc`` hands out is filled with zeros and every freed block is overwritten, so no block
carries old contents into a file. It costs a ``memset`` per allocation and release outside
Python's small-object allocator: a PyTorch model allocates and frees its activations on every
forward pass, so batch embedding on PyTorch in a process with the scrub on runs about a quarter
slower (``python benchmarks/speed.py --conversation`` prints the cost); one-query embeddings barely
notice (their activations are small). The default backend on the CPU, ONNX Runtime
(``onnx_model.py``), keeps its blocks in its own arena and does not notice either.

It is set once per process, when a Chroma that writes files in this process is opened. Set
``AGENT_MEMORY_SCRUB_HEAP=0`` to leave the allocator alone. Other C libraries (musl, macOS)
have no such switch at run time: there it does nothing and says so once in the log.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading

log = logging.getLogger(__name__)

M_PERTURB = -6
"""``mallopt``'s parameter number for the perturb byte (glibc's ``malloc.h``)."""

FREED_BYTE = 0xFF
"""What freed blocks are overwritten with; allocated blocks get its complement, 0x00."""

ENV = "AGENT_MEMORY_SCRUB_HEAP"

_lock = threading.Lock()
_state: bool | None = None


def scrub_heap() -> bool:
    """Make ``malloc`` zero what it hands out and overwrite what is freed, for the rest of the
    process (once; later calls return the first answer). True when it is in effect."""
    global _state
    with _lock:
        if _state is None:
            _state = _switch_on()
        return _state


def heap_scrubbed() -> bool:
    """Whether the scrub is in effect in this process (without switching it on)."""
    with _lock:
        return bool(_state)


def _switch_on() -> bool:
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
    except (OSError, AttributeError, TypeError):
        log.info("this C library cannot fill freed memory at run time: embedded Chroma's index files "
                 "may hold stale process memory in their unused tail")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_PERTURB, FREED_BYTE))
