"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb + pg_ctl in a temporary
directory, listening on a Unix socket in that directory only (no TCP port), trust auth for the
one superuser. As root (CI containers) the server runs as the `postgres` user, since PostgreSQL
refuses to run as root. Each test takes a fresh database of its own (`createdb`)."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path


def find_bin(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, or in Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def unavailable() -> str | None:
    """Why no cluster can be started here, or None."""
    for name in ("initdb", "pg_ctl"):
        if find_bin(name) is None:
            return f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


class Cluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="orch-pg-"))
        self.data = self.dir / "data"
        self.user = "postgres"
        self._names = itertools.count(1)
        self._as_postgres = os.geteuid() == 0

    def _run(self, *argv: str) -> None:
        cmd = list(argv)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.dir)

    def start(self) -> Cluster:
        if self._as_postgres:
            shutil.chown(self.dir, "postgres")
        self._run(find_bin("initdb") or "initdb", "-D", str(self.data), "-U", self.user, "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        options = f"-c listen_addresses='' -k {self.dir} -c fsync=off -c full_page_writes=off -c max_connections=200"
        self._run(find_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"),
                  "-o", options, "-w", "start")
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@/{dbname}?host={self.dir}"

    def new_database(self) -> str:
        """A fresh empty database; its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(find_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass  # already gone
        shutil.rmtree(self.dir, ignore_errors=True)
