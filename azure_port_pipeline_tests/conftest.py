"""Fixtures every test package may use: a real PostgreSQL server and a database of one's own.

The server starts the first time a test asks for it, once per pytest process (each xdist worker
has its own), and stops at the end of the session. Each test that takes `postgres_database`
gets a fresh, empty database on it, dropped afterwards, so tests never see each other's runs.
Without the server binaries these fixtures fail (never skip) saying to run
`make install-postgres`.
"""

from __future__ import annotations

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
