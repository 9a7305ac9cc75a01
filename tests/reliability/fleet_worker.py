"""One instance of the fleet test: its own MemoryCore on the shared PostgreSQL database and Chroma server.

Run as ``python fleet_worker.py DATABASE_URL CHROMA_URL WORKER OPS LOG_DIR``. For ``OPS`` steps it
writes a message for one of the fleet's users, searches one user's memory, and now and then forgets
one of its own records. Each acknowledged write and forget is appended (and flushed) to
``LOG_DIR/worker-N.log`` only after the call returned: what the log holds was acknowledged. A call
that raised (the database restarting) is logged as failed and not retried. A search that shows a
record of another user is logged as a leak.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import support

from agent_memory_plugins import AgentMemoryError, MemoryCore

USERS = [f"user-{n}" for n in range(6)]


def main() -> None:
    database_url, chroma_url, worker, ops, log_dir = sys.argv[1:6]
    log = open(Path(log_dir) / f"worker-{worker}.log", "a", buffering=1)  # noqa: SIM115 - kept open to the end
    core = MemoryCore(
        database_url=database_url, chroma_url=chroma_url, embedder=support.HashEmbedder(),
        claim_lease_seconds=3.0, index_interval=0.05, fold_batch=4, window_messages=4,
    )
    log.write("started\n")
    mine: list[tuple[str, str]] = []
    for step in range(int(ops)):
        user = USERS[(int(worker) + step) % len(USERS)]
        text = f"worker {worker} step {step} tells {user} about topic{step % 7} and fact{worker}x{step}"
        try:
            record_id = core.add_message(f"w{worker}-{user}", "user", text, user_id=user).id
            log.write(f"ack {user} {record_id}\n")
            mine.append((user, record_id))
            hits = core.search(f"topic{step % 7} fact", user_id=user, k=10)
            leaks = [hit.record.id for hit in hits if hit.record.user_id != user]
            if leaks:
                log.write(f"leak {user} {' '.join(leaks)}\n")
            if step % 9 == 8 and mine:
                gone_user, gone_id = mine.pop(0)
                log.write(f"forgetting {gone_user} {gone_id}\n")
                core.forget(memory_id=gone_id, user_id=gone_user)
                log.write(f"forgot {gone_user} {gone_id}\n")
        except AgentMemoryError as error:
            log.write(f"failed {step} {type(error).__name__}\n")
            time.sleep(0.2)
    try:
        core.flush()
    except AgentMemoryError as error:
        log.write(f"failed flush {type(error).__name__}\n")
    core.close()
    log.write("done\n")


if __name__ == "__main__":
    main()
