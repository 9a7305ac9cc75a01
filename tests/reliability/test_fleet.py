"""A fleet on one memory: several processes, one PostgreSQL database, one Chroma server, and faults.

Five processes (each its own ``MemoryCore``, see ``fleet_worker.py``) write, search and forget for
six users at once. During the run one process is killed with SIGKILL, the database restarts once
and the Chroma server restarts once. Afterwards: every acknowledged write is stored exactly once,
the vectors are complete after ``flush`` (the killed process's claimed work was taken over), no
search ever showed a user another's record, and forgotten records are gone from every table and
from Chroma.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from agent_memory_plugins import MemoryCore, StoreUnavailableError
from core.chroma_server import free_port
from postgres_cluster import Unavailable, cluster, database_url

from . import support

pytestmark = pytest.mark.sqlite_only  # opens PostgreSQL itself: not run again by engine_matrix

WORKERS = 5
OPS = 70
HERE = Path(__file__).resolve().parent


class RestartableChroma:
    """``chroma run`` on a fixed port and folder, which the test stops and starts again."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        executable = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
        log = open(self.folder.parent / "chroma-fleet.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [executable, "run", "--path", str(self.folder), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


@pytest.fixture
def url() -> str:
    try:
        found = database_url()
    except Unavailable as error:
        pytest.skip(str(error))
    if cluster().data_dir is None:
        pytest.skip("the fleet test restarts the database: it needs the cluster the tests start")
    return found


def test_a_fleet_of_processes_with_faults_behaves_as_one_memory(url: str, tmp_path: Path) -> None:
    chroma = RestartableChroma(tmp_path / "chroma")
    chroma.folder.mkdir()
    chroma.start()
    logs = tmp_path / "logs"
    logs.mkdir()
    paths = [str(HERE.parent.parent), os.environ.get("PYTHONPATH", "")]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    try:
        # one instance creates the schema first, so the workers' start is about the fleet, not setup
        MemoryCore(database_url=url, chroma_url=chroma.url, embedder=support.HashEmbedder()).close()
        workers = []
        for n in range(WORKERS):
            with open(logs / f"err-{n}.txt", "wb") as errors:
                workers.append(subprocess.Popen(
                    [sys.executable, str(HERE / "fleet_worker.py"), url, chroma.url, str(n), str(OPS), str(logs)],
                    env=environment, stdout=subprocess.DEVNULL, stderr=errors,
                ))
        _wait_for_acks(logs, 0, 10)
        workers[0].send_signal(signal.SIGKILL)  # mid-run: its claims must be taken over
        workers[0].wait()
        _wait_for_acks(logs, 1, 25)
        cluster().restart()
        _wait_for_acks(logs, 2, 40)
        chroma.stop()
        time.sleep(1.0)
        chroma.start()
        for worker in workers[1:]:
            assert worker.wait(timeout=600) == 0, (logs / f"err-{workers.index(worker)}.txt").read_text()[-3000:]
        events = [line.split() for n in range(WORKERS) for line in (logs / f"worker-{n}.log").read_text().splitlines()]
        acked = {(event[1], event[2]) for event in events if event[0] == "ack"}
        forgetting = {event[2] for event in events if event[0] in ("forgetting", "forgot")}
        forgot = {event[2] for event in events if event[0] == "forgot"}
        assert [event for event in events if event[0] == "leak"] == []
        assert len(acked) > WORKERS * 20
        with MemoryCore(database_url=url, chroma_url=chroma.url, embedder=support.HashEmbedder(),
                        claim_lease_seconds=3.0) as memory:
            memory.flush()
            kept = {record_id for _, record_id in acked} - forgetting
            users = collections.defaultdict(set)
            for user, record_id in acked:
                users[user].add(record_id)
            for user, wanted in users.items():
                stored = [record.id for record in memory.records(user_id=user, kinds="message")]
                assert len(stored) == len(set(stored))
                texts = [record.text for record in memory.records(user_id=user, kinds="message")]
                assert len(texts) == len(set(texts))  # no write stored twice
                assert wanted & kept <= set(stored)  # every acknowledged write is there
                assert not (set(stored) & forgot)  # and no forgotten one
            assert memory.store.get(sorted(forgot), None) == {}
            assert memory.store.outbox_size() == 0 and memory.store.context_pending() == 0
            assert memory.index.count() == memory.store.count()  # vectors complete: the killed worker's too
            vectors = list(memory.index.stored(sorted(forgot)))
            assert vectors == []
    finally:
        chroma.stop()


def _wait_for_acks(logs: Path, worker: int, count: int, timeout: float = 300) -> None:
    """Wait until ``worker`` acknowledged ``count`` writes (all workers keep going meanwhile)."""
    deadline = time.monotonic() + timeout
    path = logs / f"worker-{worker}.log"
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("ack ") >= count:
            return
        if (logs / f"err-{worker}.txt").exists() and "Traceback" in (logs / f"err-{worker}.txt").read_text():
            raise AssertionError((logs / f"err-{worker}.txt").read_text()[-3000:])
        time.sleep(0.1)
    raise AssertionError(f"worker {worker} acknowledged fewer than {count} writes in {timeout} s")


def test_a_store_that_cannot_reach_its_database_says_so_without_the_password(tmp_path: Path) -> None:
    port = free_port()  # nobody listens there
    with pytest.raises(StoreUnavailableError) as refused:
        MemoryCore(database_url=f"postgresql://amp:hunter2-secret@127.0.0.1:{port}/memory",
                   embedder=support.HashEmbedder())
    assert "hunter2" not in str(refused.value) and "127.0.0.1" in str(refused.value)
