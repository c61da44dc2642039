"""A real, throwaway PostgreSQL server for the tests of the Postgres instance.

`running_postgres` makes a cluster of its own with `initdb` (Debian's server binaries: `make
install-postgres`), starts it with `pg_ctl` on a free port bound to 127.0.0.1 only (its unix
socket in its own directory), waits until it accepts connections, creates a database, and stops
it (`pg_ctl stop -m immediate`, then SIGKILL) whatever happens. Nothing is shared with a cluster
the Debian package may run on 5432.

PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` system user
(created by the Debian package) and every server command runs as that user (`runuser`), in a
directory under the system temp dir that user can reach (pytest's own are root-only).

The superuser has a random password and TCP connections must give it (scram-sha-256), so the
URL the pipeline gets is the one a deployment has: user, password, host, port, database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg2
from psycopg2 import sql

DEBIAN_BINARIES = Path("/usr/lib/postgresql")
SYSTEM_USER = "postgres"
SUPERUSER = "pipeline_test"
DEFAULT_DB = "dagster"
READY_BOUND_SECONDS = 120
STOP_BOUND_SECONDS = 60
COMMAND_BOUND_SECONDS = 180
START_ATTEMPTS = 5  # a free port can be taken by someone else before the server binds it
CONNECT_TIMEOUT_SECONDS = 10
_SOCKET_PATH_MAX = 100  # a unix socket path is at most 107 bytes; ".s.PGSQL.NNNNN" included
_INSTALL_HINT = "run `make install-postgres` (installs Debian's postgresql package)"


class PostgresUnavailable(RuntimeError):
    """The machine cannot run a test Postgres server; the message says what to install."""


@dataclass(frozen=True)
class PostgresServer:
    """Where a running test server (and one database on it) is, as a deployment names it."""

    host: str
    port: int
    user: str
    password: str = dataclasses.field(repr=False)  # kept out of failure reports
    db: str = DEFAULT_DB

    @property
    def url(self) -> str:
        """The SQLAlchemy URL, with the driver dagster-postgres installs (DAGSTER_PG_URL)."""
        return (
            f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{self.db}"
        )

    @property
    def dsn(self) -> str:
        """The libpq URI (psql, psycopg2.connect)."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.db}"

    def env(self, form: Literal["url", "parts"] = "url") -> dict[str, str]:
        """The DAGSTER_PG_* variables that select this database: one URL (`DAGSTER_PG_URL`), or
        `parts` (`DAGSTER_PG_HOST`, `_PORT`, `_USERNAME`, `_PASSWORD`, `_DB`)."""
        if form == "url":
            return {"DAGSTER_PG_URL": self.url}
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db,
        }

    def with_db(self, db: str) -> PostgresServer:
        """The same server, another database on it."""
        return dataclasses.replace(self, db=db)

    def connect(self, db: str | None = None) -> psycopg2.extensions.connection:
        """An autocommit connection over TCP, as the superuser, to `db` (default: this one)."""
        connection = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=db or self.db,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        )
        connection.autocommit = True
        return connection

    def create_database(self, name: str) -> PostgresServer:
        """CREATE DATABASE `name` and return the server as seen through it."""
        self._administer(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.with_db(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE `name`, closing whatever connections are still open on it."""
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        self._administer(drop.format(sql.Identifier(name)))

    def _administer(self, statement: sql.Composed) -> None:
        """Run `statement` outside a transaction (CREATE/DROP DATABASE need that)."""
        connection = self.connect("postgres")
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()


@dataclass(frozen=True)
class Binaries:
    initdb: Path
    pg_ctl: Path


def find_binaries() -> Binaries:
    """initdb and pg_ctl of the newest /usr/lib/postgresql/<version>/bin, else from PATH."""
    versions = sorted(
        (path for path in DEBIAN_BINARIES.glob("*/bin") if path.parent.name.isdigit()),
        key=lambda path: int(path.parent.name),
        reverse=True,
    )
    for bin_dir in versions:
        if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
            return Binaries(bin_dir / "initdb", bin_dir / "pg_ctl")
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Binaries(Path(initdb), Path(pg_ctl))
    raise PostgresUnavailable(
        f"no PostgreSQL server binaries (initdb and pg_ctl) under {DEBIAN_BINARIES}/*/bin or "
        f"on PATH; the tests of the Postgres instance need a real server: {_INSTALL_HINT}"
    )


@contextlib.contextmanager
def running_postgres(base: Path, db: str = DEFAULT_DB) -> Iterator[PostgresServer]:
    """A fresh cluster under `base` (as root: under the temp dir) serving database `db`."""
    binaries = find_binaries()
    runas = _runas()
    with _cluster_dir(base, runas) as workdir:
        password = secrets.token_hex(16)
        cluster = _Cluster(binaries, runas, workdir)
        cluster.initdb(password)
        try:
            port = cluster.start()
            server = PostgresServer("127.0.0.1", port, SUPERUSER, password, "postgres")
            _wait_until_accepting(server, cluster)
            yield server.create_database(db)
        finally:
            cluster.stop()


class _Cluster:
    """One data directory and the commands run on it, as the user that owns it."""

    def __init__(self, binaries: Binaries, runas: list[str], workdir: Path) -> None:
        self.binaries = binaries
        self.runas = runas
        self.workdir = workdir
        self.data = workdir / "data"
        self.log = workdir / "server.log"

    def initdb(self, password: str) -> None:
        pwfile = self.workdir / "pwfile"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if self.runas:
            shutil.chown(pwfile, SYSTEM_USER, SYSTEM_USER)
        try:
            self._run(
                self.binaries.initdb,
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",  # the socket's directory is the owner's only
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self) -> int:
        """Start on a free port (another one if it was taken meanwhile); return the port."""
        for _ in range(START_ATTEMPTS):
            port = _free_port()
            options = [
                "-c listen_addresses=127.0.0.1",
                f"-p {port}",
                f"-c unix_socket_directories={shlex.quote(str(self.workdir))}",
                # a throwaway cluster: durability is not worth a test's time
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                "-c max_connections=200",
            ]
            started = self._run(
                self.binaries.pg_ctl,
                "start",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                str(READY_BOUND_SECONDS),
                "-o",
                " ".join(options),
                check=False,
            )
            if started.returncode == 0:
                return port
            self.stop()
            if "could not bind" not in self.log_tail() and "in use" not in self.log_tail():
                break
        raise RuntimeError(f"the test PostgreSQL server did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop at once (no checkpoint: the cluster is thrown away); kill it past a bound."""
        pid = self._postmaster_pid()
        if pid is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._run(
                self.binaries.pg_ctl,
                "stop",
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "-w",
                "-t",
                str(STOP_BOUND_SECONDS),
                check=False,
            )
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + STOP_BOUND_SECONDS
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.data / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        return int(first) if first.strip().isdigit() else None

    def _run(self, *command: object, check: bool = True) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            [*self.runas, *map(str, command)],
            cwd=self.workdir,  # readable by the server's user (root's cwd may not be)
            env=_server_env(),
            capture_output=True,
            text=True,
            timeout=COMMAND_BOUND_SECONDS,
            check=False,
        )
        if check and completed.returncode != 0:
            raise RuntimeError(
                f"{Path(str(command[0])).name} failed ({completed.returncode}):\n"
                f"{completed.stdout[-2000:]}{completed.stderr[-2000:]}"
            )
        return completed


def _runas() -> list[str]:
    """The command prefix that runs the server commands as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    try:
        import pwd

        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, the test PostgreSQL server must run as the `{SYSTEM_USER}` "
            f"system user, which does not exist: {_INSTALL_HINT}, which creates it"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable(
            "running as root, the test PostgreSQL server needs `runuser` (util-linux) to run "
            f"as `{SYSTEM_USER}`"
        )
    return [runuser, "-u", SYSTEM_USER, "--"]


@contextlib.contextmanager
def _cluster_dir(base: Path, runas: list[str]) -> Iterator[Path]:
    """The cluster's directory: under `base`, or a fresh one in the temp dir (removed after)
    when the server's user cannot reach `base` or its socket path would be too long."""
    own = base / "postgres"
    if not runas and len(str(own)) + 20 < _SOCKET_PATH_MAX:
        own.mkdir(parents=True, exist_ok=False)
        own.chmod(0o700)
        yield own
        return
    workdir = Path(tempfile.mkdtemp(prefix="pipeline-pg-", dir=_reachable_tmp()))
    try:
        if runas:
            shutil.chown(workdir, SYSTEM_USER, SYSTEM_USER)
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _reachable_tmp() -> str:
    """The temp dir if everyone may enter it (the server's user must), else /tmp."""
    candidate = tempfile.gettempdir()
    return candidate if os.stat(candidate).st_mode & 0o001 else "/tmp"


def _server_env() -> dict[str, str]:
    """This environment minus libpq's PG* variables (a PGDATA or PGPORT of the machine must not
    steer the test server), in the C locale."""
    env = {k: v for k, v in os.environ.items() if not re.match(r"PG[A-Z]", k)}
    env.update(LC_ALL="C", LANG="C")
    return env


def _wait_until_accepting(server: PostgresServer, cluster: _Cluster) -> None:
    """Poll a real connection (password over TCP) until it succeeds, within the bound."""
    deadline = time.monotonic() + READY_BOUND_SECONDS
    while True:
        try:
            server.connect().close()
            return
        except psycopg2.OperationalError as error:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the test PostgreSQL server on 127.0.0.1:{server.port} did not accept "
                    f"connections within {READY_BOUND_SECONDS} s ({error}):\n{cluster.log_tail()}"
                ) from None
            time.sleep(0.2)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie no one reaped yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
