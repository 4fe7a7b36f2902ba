"""A throw-away PostgreSQL cluster for tests that kill the database server: `initdb` into a temporary folder, started
on a free port of the loopback interface, never the machine's own server. Run as the `postgres` user when the tests
run as root (initdb refuses root)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SKIP_REASON = "PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin) are not installed"


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One cluster: `start`, `kill_postmaster` (kill -9, as a crash), `stop`. Trust authentication, loopback only."""

    def __init__(self, *, root: Path | None = None, port: int | None = None) -> None:
        """A new cluster, or (`root` and `port`) the one another process made there."""
        found = bin_dir()
        if found is None:
            raise RuntimeError(SKIP_REASON)
        self.bin = found
        # A folder of its own under the system's temporary folder: the postgres user must be able to reach it (pytest's
        # tmp_path is private to the user running the tests).
        self.root = root or Path(tempfile.mkdtemp(prefix="streetsync-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = port or free_port()
        # initdb and postgres refuse to run as root: run them as the postgres user then.
        self.user = "postgres" if os.geteuid() == 0 else ""

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/streetsync"

    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=timeout)

    def init(self) -> None:
        if self.user:
            shutil.chown(self.root, self.user)
            self.root.chmod(0o755)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        # Fast and local: no fsync (a killed server still recovers from its WAL; only an OS crash would lose data).
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n")
            conf.write("fsync = off\nfull_page_writes = off\nmax_connections = 50\n")

    def start(self, *, timeout: float = 30) -> None:
        """Start (again): after a kill -9 of the postmaster, its orphaned backends may hold the shared memory for a
        moment, and the start is refused until they are gone."""
        deadline = time.monotonic() + timeout
        while True:
            data, log = str(self.data), str(self.log)
            done = self._run("pg_ctl", "-D", data, "-l", log, "-w", "-t", "20", "start", check=False)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}\n{self.log_text()[-2000:]}")
            time.sleep(0.5)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def kill_postmaster(self) -> int:
        """SIGKILL of the postmaster only, as a crash (or the OOM killer) would do it."""
        pid = self.postmaster_pid()
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def createdb(self, name: str) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
