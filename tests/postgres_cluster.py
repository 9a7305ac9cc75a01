"""A throwaway PostgreSQL cluster for the tests, or the one ``AGENT_MEMORY_TEST_DATABASE_URL`` names.

:func:`cluster` starts one real cluster per test session (``initdb`` + ``pg_ctl`` from the
PostgreSQL server binaries, a temporary data directory, a free port on 127.0.0.1, password
authentication over TCP), stopped and removed at exit. PostgreSQL refuses to run as root: as root
the binaries run as the ``postgres`` user, in a directory that user owns. :func:`database_url`
creates a fresh database in it for one test.

Without binaries and without the variable, :func:`cluster` raises :class:`Unavailable`, whose
message says how to run the PostgreSQL tests.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ENV_URL = "AGENT_MEMORY_TEST_DATABASE_URL"
PASSWORD = "amp-test-secret-6d1f"
"""The test cluster's superuser password: tests check it never shows in a repr, log or error."""
HOW_TO = (
    "PostgreSQL tests need the PostgreSQL server binaries (initdb, pg_ctl: e.g. Debian's postgresql-15, "
    f"found under /usr/lib/postgresql/*/bin or on PATH) or {ENV_URL}=postgresql://user:password@host/db "
    "naming a server where that user may create databases"
)


class Unavailable(RuntimeError):
    """No PostgreSQL to test against."""


@dataclass
class Cluster:
    """A running cluster: ``url`` reaches its ``postgres`` database as a superuser."""

    url: str
    data_dir: Path | None = None
    port: int = 0
    bin_dir: Path | None = None

    def url_for(self, database: str) -> str:
        """The URL of another database of the same cluster."""
        base, _, _ = self.url.rpartition("/")
        return f"{base}/{database}"

    def restart(self) -> None:
        """Stop the server (fast: open connections are cut) and start it again on the same port."""
        if self.data_dir is None:
            raise Unavailable(f"cannot restart the server of {ENV_URL}")
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        if self.data_dir is not None:
            self._pg_ctl("stop", "-m", "immediate")

    def _pg_ctl(self, *args: str) -> None:
        assert self.data_dir is not None and self.bin_dir is not None
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "60", *args]
        if args[0] in ("start", "restart"):
            options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} "
                       "-c fsync=off -c max_connections=200")
            command += ["-o", options, "-l", str(self.data_dir / "server.log")]
        subprocess.run(_as_owner(command), check=True, capture_output=True, timeout=120)


_cluster: Cluster | None = None


def cluster() -> Cluster:
    """The session's cluster (started on first use)."""
    global _cluster
    if _cluster is None:
        _cluster = _from_env() or _start()
    return _cluster


def database_url(name: str | None = None) -> str:
    """Create a new, empty database in the cluster and return its URL."""
    import psycopg

    found = cluster()
    database = name or f"amp_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(found.url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    return found.url_for(database)


def bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are, if anywhere."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(found, "initdb")):
            return Path(found)
    return None


def _from_env() -> Cluster | None:
    url = os.environ.get(ENV_URL)
    return Cluster(url) if url else None


def _start() -> Cluster:
    binaries = bin_dir()
    if binaries is None:
        raise Unavailable(HOW_TO)
    root = Path(tempfile.mkdtemp(prefix="amp-postgres-"))
    data = root / "data"
    password_file = root / "password"
    password_file.write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(password_file, "postgres", "postgres")
        os.chmod(root, 0o700)
    subprocess.run(
        _as_owner([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--pwfile", str(password_file),
                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"]),
        check=True, capture_output=True, timeout=300,
    )
    found = Cluster(f"postgresql://postgres:{PASSWORD}@127.0.0.1:{_free_port()}/postgres", data, 0, binaries)
    found.port = int(found.url.rsplit(":", 1)[1].split("/")[0])
    found._pg_ctl("start")
    atexit.register(_remove, found, root)
    _wait_ready(found)
    return found


def _wait_ready(found: Cluster) -> None:
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(found.url, connect_timeout=5).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _remove(found: Cluster, root: Path) -> None:
    try:
        found.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
