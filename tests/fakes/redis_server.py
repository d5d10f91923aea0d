"""A throwaway Redis server (Debian's redis-server) on 127.0.0.1, for tests that share limits."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.fakes.serve import free_port

REDIS = shutil.which("redis-server")
MISSING = "needs Debian's redis-server: apt-get install -y redis-server (.ci/run installs it)"


ATTEMPTS = 5  # ports taken between free_port() and redis-server binding it


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Yield a redis:// URL of a fresh server that stores nothing on disk."""
    assert REDIS is not None, MISSING
    for _ in range(ATTEMPTS):
        port = free_port()
        process = subprocess.Popen(
            [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", str(folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            if _listening(process, port):
                yield f"redis://127.0.0.1:{port}/0"
                return
        finally:
            process.terminate()
            process.wait(timeout=10)
    raise RuntimeError(f"redis-server did not start in {ATTEMPTS} tries")


def _listening(process: subprocess.Popen[bytes], port: int) -> bool:
    """Whether `process` came up on `port` (False: it exited, as when the port was taken)."""
    deadline = time.monotonic() + 10
    while process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        if time.monotonic() > deadline:
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
    return False
