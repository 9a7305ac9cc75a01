"""Start a real Chroma server (``chroma run``) on 127.0.0.1 for server-mode tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ChromaServer:
    """``chroma run --path folder`` on one port, which a test can stop and start again (same port,
    same data folder), as an operator restarting the server would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder.parent / f"chroma-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        """Start the server and return once it answers its heartbeat."""
        executable = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed by stop()
        self._process = process = subprocess.Popen(
            [executable, "run", "--path", str(self.folder), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                    return
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"chroma run did not start: {self.log_path.read_text()}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 20 s) and wait for it to exit."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


@contextmanager
def chroma_server(folder: Path) -> Iterator[str]:
    """Run ``chroma run --path folder`` on a free port; yield its URL; stop it afterwards."""
    server = ChromaServer(folder)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
