"""The tests' own PostgreSQL server: it demands a password, it stops whatever happens, and a
machine without the server binaries gets an error saying what to install (never a skip)."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg2
import pytest

from azure_port_pipeline_tests import postgres
from azure_port_pipeline_tests.postgres import PostgresServer, PostgresUnavailable


def test_the_server_listens_on_loopback_and_refuses_a_wrong_password(
    postgres_server: PostgresServer,
) -> None:
    assert postgres_server.host == "127.0.0.1"
    psycopg2.connect(postgres_server.dsn, connect_timeout=10).close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            host=postgres_server.host,
            port=postgres_server.port,
            user=postgres_server.user,
            password="wrong",
            dbname=postgres_server.db,
            connect_timeout=10,
        )


def test_each_test_database_is_new_and_dropped_after(postgres_server: PostgresServer) -> None:
    database = postgres_server.create_database("test_postgres_helper")
    assert database.url.endswith(f":{postgres_server.port}/test_postgres_helper")
    assert database.env("parts")["DAGSTER_PG_DB"] == "test_postgres_helper"
    postgres_server.drop_database("test_postgres_helper")
    with pytest.raises(psycopg2.OperationalError, match="does not exist"):
        database.connect()


def test_the_server_is_stopped_when_the_block_fails(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="the test failed"),
        postgres.running_postgres(tmp_path) as server,
    ):
        port = server.port
        server.connect().close()
        raise RuntimeError("the test failed")
    with socket.socket() as probe:
        probe.settimeout(5)
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the server still listens"


def test_without_server_binaries_the_error_says_to_run_make_install_postgres(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(postgres, "DEBIAN_BINARIES", tmp_path / "nothing")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PostgresUnavailable, match="make install-postgres"):
        postgres.find_binaries()
