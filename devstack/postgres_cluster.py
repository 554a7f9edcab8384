"""A PostgreSQL server of its own: `initdb` into a temporary folder, `postgres` on a free port.

The chaos suite stops and starts PostgreSQL; doing that to the machine's shared cluster would
break every other test run on the machine (and in CI). This one belongs to whoever started it:

    cluster = PostgresCluster.create(base_dir)
    cluster.start()
    create_database("x", admin_url=cluster.admin_url)
    cluster.stop(); cluster.start()       # the scenario's fault
    cluster.destroy()

As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root). Trust
authentication on loopback only, no fsync: a throwaway server for tests.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from devstack.processes import free_port
from devstack.waiting import wait_until

SERVER_USER = "postgres"


def _server_binaries() -> Path:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                   key=lambda path: int(path.parent.parent.name))
    if found:
        return found[-1].parent
    on_path = shutil.which("postgres")
    if on_path is None:
        raise FileNotFoundError("no PostgreSQL server binaries (postgres, initdb) installed")
    return Path(on_path).parent


class PostgresCluster:
    """One throwaway PostgreSQL server: its data folder, port and process."""

    def __init__(self, base_dir: Path, port: int) -> None:
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.socket_dir = base_dir / "socket"
        self.log_path = base_dir / "postgres.log"
        self.port = port
        self.bin = _server_binaries()
        self.process: subprocess.Popen[bytes] | None = None
        self._as_user = SERVER_USER if os.geteuid() == 0 else None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def create(cls, parent: Path | None = None) -> PostgresCluster:
        """A new, initialised (not yet started) cluster in a temporary folder under `parent`."""
        base_dir = Path(tempfile.mkdtemp(prefix="headshots-pg-", dir=parent))
        cluster = cls(base_dir, free_port())
        cluster.socket_dir.mkdir()
        if cluster._as_user:
            record = pwd.getpwnam(cluster._as_user)
            for path in (base_dir, cluster.socket_dir):
                os.chown(path, record.pw_uid, record.pw_gid)
        subprocess.run(
            [str(cluster.bin / "initdb"), "--pgdata", str(cluster.data_dir), "--username",
             "postgres", "--auth", "trust", "--encoding", "UTF8", "--no-sync"],
            check=True, capture_output=True, timeout=120, user=cluster._as_user,
            cwd=base_dir,
        )
        return cluster

    def start(self, *, timeout: float = 30) -> None:
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                 "-k", str(self.socket_dir), "-c", "listen_addresses=127.0.0.1",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                user=self._as_user, cwd=self.base_dir,
            )
        finally:
            log.close()
        wait_until(self._answers, timeout=timeout, interval=0.1,
                   message=f"PostgreSQL on port {self.port}")

    def _answers(self) -> bool:
        import psycopg2

        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"postgres exited:\n{self.log_tail()}")
        try:
            psycopg2.connect(self.admin_url, connect_timeout=2).close()
        except psycopg2.OperationalError:
            return False
        return True

    def stop(self, *, timeout: float = 30) -> None:
        """Fast shutdown (SIGINT): open sessions are cut, as when a server goes away."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""
