"""A throwaway PostgreSQL server for tests: initdb into a temporary folder, listen on 127.0.0.1 on a
free port (sockets in that folder too), trust authentication, stopped and deleted at the end.

initdb and postgres refuse to run as root; as root (CI, the project's machines) they run as the
`postgres` user that Debian's package creates, in a folder chowned to it. `.ci/run` installs
PostgreSQL when it is missing, so CI never skips these tests; elsewhere they skip with the reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

SKIP_REASON = ("PostgreSQL's initdb is not installed (apt-get install postgresql, or put its bin folder "
               "on PATH); .ci/run installs it")


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: PG_BIN, then PATH, then Debian's /usr/lib/postgresql/N/bin."""
    candidates = [os.environ.get("PG_BIN", ""), os.path.dirname(shutil.which("initdb") or "")]
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda path: _version(Path(path).parent.name), reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            # Where the binaries really are (a PATH entry may be a folder of symlinks to them).
            return (Path(folder) / "initdb").resolve().parent
    return None


def _version(name: str) -> int:
    return int(name) if name.isdigit() else 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One cluster: `start()`, `stop()` (the server only; `start()` again brings it back on the same
    port with the same data), `pause()` and `resume()` (a server that stalls), `destroy()` (stop
    and delete everything)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="bot-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.user = "postgres"
        # As root the server must run as someone else: the postgres user, owning the folder.
        self._as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.initdb_seconds = 0.0
        self.start_seconds = 0.0
        self._paused: list[int] = []

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout,
                                cwd=self.root, check=False)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed ({result.returncode}): "
                               f"{(result.stdout + result.stderr)[-2000:]}\n{log}")

    def init(self) -> None:
        started = time.monotonic()
        # --no-sync and fsync=off: a test server's data need not survive a power cut.
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
        self.initdb_seconds = time.monotonic() - started

    def start(self) -> None:
        started = time.monotonic()
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
                   "-c full_page_writes=off -c max_connections=100 -c shared_buffers=16MB")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")
        self.start_seconds = time.monotonic() - started

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def _processes(self) -> list[int]:
        """The postmaster's pid, then its children's (the backends and the server's helpers)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def pause(self) -> None:
        """Stall the server without stopping it (SIGSTOP to the postmaster and every backend):
        connections stay open and new ones are accepted by the kernel, but nothing answers, as with
        a server that hangs or a network that drops everything. A stopped server, by contrast,
        refuses at once. `resume()` lets it go on."""
        self._paused = self._processes()
        for pid in self._paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._paused = []

    def destroy(self) -> None:
        self.resume()
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"


class Client:
    """A psycopg (async) connection with the few calls the tests make: `execute`, `fetch`,
    `fetchval` taking $1-style placeholders and their values as arguments. Autocommit."""

    def __init__(self, connection) -> None:
        self.connection = connection

    @staticmethod
    def _sql(sql: str) -> str:
        return re.sub(r"\$\d+", "%s", sql)

    async def execute(self, sql: str, *args: object) -> None:
        await self.connection.execute(self._sql(sql), args or None)

    async def fetch(self, sql: str, *args: object) -> list[tuple]:
        cursor = await self.connection.execute(self._sql(sql), args or None)
        return await cursor.fetchall()

    async def fetchval(self, sql: str, *args: object) -> object:
        cursor = await self.connection.execute(self._sql(sql), args or None)
        row = await cursor.fetchone()
        return None if row is None else row[0]

    def transaction(self) -> Transaction:
        return Transaction(self)

    async def close(self) -> None:
        await self.connection.close()


class Transaction:
    """BEGIN ... COMMIT (ROLLBACK on an error) as `async with`, or by hand: start(), rollback()."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def start(self) -> None:
        await self.client.execute("BEGIN")

    async def rollback(self) -> None:
        await self.client.execute("ROLLBACK")

    async def __aenter__(self) -> Transaction:
        await self.start()
        return self

    async def __aexit__(self, kind: object, *_: object) -> None:
        await self.client.execute("ROLLBACK" if kind is not None else "COMMIT")


async def connect(url: str) -> Client:
    import psycopg

    return Client(await psycopg.AsyncConnection.connect(url, autocommit=True))


async def create_database(server: PostgresServer) -> str:
    """A new, empty database on `server`; its URL."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await connect(server.url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server.url(name)


async def drop_database(server: PostgresServer, url: str) -> None:
    """Drop the database at `url` (made by create_database), disconnecting whoever still uses it."""
    name = url.rsplit("/", 1)[1]
    admin = await connect(server.url())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def create_database_now(server: PostgresServer) -> str:
    """create_database for code with no event loop (psycopg, synchronous)."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return server.url(name)


def drop_database_now(server: PostgresServer, url: str) -> None:
    """drop_database for code with no event loop."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
