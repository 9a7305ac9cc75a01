"""How many CPU threads the embedding model runs on: few for a query, all cores for a bulk batch.

(This module is about PyTorch. ONNX Runtime, the default on the CPU, takes a thread count per
session: ``onnx_model.OnnxModel`` keeps one session per count, so the same policy holds there.)

A search embeds one short query: spread over every core, its few milliseconds of work wait at
OpenMP barriers for threads that a busy machine has descheduled, and it collapses (on a 2-core
machine with a CPU-bound process beside it, 476 ms instead of 14 ms). A bulk batch of hundreds of
texts is the opposite case: each parallel region is long and the cores pay off. So queries run on
``query_threads`` (1 by default) and the background worker's batches on ``index_threads`` (all
cores by default).

**What ``torch.set_num_threads`` does in this build (torch 2.13.0+cpu, libgomp, MKL), found
empirically** (a 512x512 matmul loop, CPU time over wall time, one thread at a time):

- it is *per calling thread*: it sets the thread's OpenMP ``nthreads`` ICV and MKL's thread-local
  count (``mkl_set_num_threads_local``); a thread that set 1 keeps running on 1 core while another
  thread sets 2 and runs on 2, at the same time;
- with one trap: it also stores the count in a process-wide variable, and the *first* parallel
  operation of each thread (``at::internal::lazy_init_num_threads``) re-initialises that thread's
  OpenMP count from that variable. A thread that set 1 before its first torch operation, while
  another thread then set 2, ran its OpenMP work on 2 threads (its MKL work stayed on 1).

Hence :func:`torch_threads`: in the calling thread it first forces that lazy initialisation
(``torch.get_num_threads()`` runs it), then sets the count for the duration of the block and
restores the thread's own count after it. No lock is needed, and a query never waits for the
worker's batch: both run at once, each on its own thread count. The one thing left process-wide
is the variable above, which only seeds threads that have never run a torch operation; restoring
after each block keeps it at the value it had in between.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


def cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def resolve_threads(threads: int | None) -> int:
    """``threads``, or every core for ``None``."""
    return cores() if threads is None else threads


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block's torch work in this thread on ``threads`` CPU threads (see the module
    docstring), then give the thread its own count back. A no-op before torch is imported (an
    embedder that does not use torch does not pay for importing it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()  # also runs this thread's lazy initialisation first
    if before == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
