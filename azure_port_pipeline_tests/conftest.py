"""Fixtures every test package may use: a real PostgreSQL server and a database of one's own.

The server starts the first time a test asks for it, once per pytest process (each xdist worker
has its own), and stops at the end of the session. Each test that takes `postgres_database`
gets a fresh, empty database on it, dropped afterwards, so tests never see each other's runs.
Without the server binaries these fixtures fail (never skip) saying to run
`make install-postgres`.
"""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Iterator

import pytest

from azure_port_pipeline_tests.postgres import PostgresServer, running_postgres


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A running server; its `db` is a database no test writes to (use `postgres_database`)."""
    with running_postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """The server as seen through a new, empty database of this test's own."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    database = postgres_server.create_database(name)
    try:
        yield database
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(scope="module")
def one_daemon_at_a_time(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Held while a test runs a whole Dagster deployment (a daemon with its run workers, or
    the demo's `dagster dev`): two at once on a 2-core machine starve each other's daemons
    (code servers miss their heartbeats, queued runs wait minutes), so the xdist workers take
    turns. The lock file lives in the session's shared temp directory."""
    shared = tmp_path_factory.getbasetemp().parent
    with (shared / "one-daemon-at-a-time.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, whatever happens
        yield
