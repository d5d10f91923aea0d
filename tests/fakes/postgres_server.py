"""A throwaway PostgreSQL cluster (Debian's postgresql package) on 127.0.0.1 for the test run."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.fakes.serve import free_port

MISSING = (
    "needs Debian's PostgreSQL server: apt-get install -y postgresql (.ci/run installs it); "
    "these tests then run against both SQLite and PostgreSQL"
)


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


BIN = _bin_dir()
ATTEMPTS = 5  # ports taken between free_port() and the server binding it


def _run(args: list[str], user: str | None) -> None:
    # initdb and postgres refuse to run as root: use the package's postgres user then.
    command = ["runuser", "-u", user, "--", *args] if user else args
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yield a base URL postgresql+asyncpg://postgres@127.0.0.1:PORT for a fresh cluster."""
    assert BIN is not None, MISSING
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="chatlink-pg-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data = folder / "data"
    try:
        _run([str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
              "--no-sync", "-E", "UTF8"], user)  # fmt: skip
        port = _start(data, folder, user)
        try:
            yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}"
        finally:
            _run([str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _start(data: Path, folder: Path, user: str | None) -> int:
    """Start the cluster on a free port; another one when that was taken meanwhile."""
    for _ in range(ATTEMPTS):
        port = free_port()
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        try:
            _run([str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
                  str(folder / "log"), "start"], user)  # fmt: skip
        except subprocess.CalledProcessError:
            continue  # most likely the port was taken in the meantime: see the log if not
        return port
    raise RuntimeError(
        f"PostgreSQL did not start in {ATTEMPTS} tries:\n" + (folder / "log").read_text()
    )


def create_database(base_url: str, name: str) -> str:
    """CREATE DATABASE `name` on the cluster; returns its URL."""
    port = base_url.rsplit(":", 1)[1]
    subprocess.run(
        [str(BIN / "psql") if BIN else "psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres",
         "-d", "postgres", "-q", "-c", f'CREATE DATABASE "{name}"'],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return f"{base_url}/{name}"
