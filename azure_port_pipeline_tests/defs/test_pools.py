"""The pools' limit rows, made once before runs race to make them (on a real Postgres)."""

from __future__ import annotations

from pathlib import Path

from azure_port_pipeline.defs.pools import POOLS, ensure_pool_limits
from azure_port_pipeline_tests.defs.processes import dagster_home, open_instance
from azure_port_pipeline_tests.postgres import PostgresServer


def test_pool_limits_are_made_with_the_default_limit_once(
    tmp_path: Path, postgres_database: PostgresServer
) -> None:
    env = postgres_database.env()
    home = dagster_home(tmp_path / "home", env)
    with open_instance(home, env) as instance:
        storage = instance.event_log_storage
        assert not set(POOLS) & storage.get_concurrency_keys()

        ensure_pool_limits(instance)
        ensure_pool_limits(instance)  # made already: nothing to do, nothing raised

        assert set(POOLS) <= storage.get_concurrency_keys()
        for pool in POOLS:
            assert storage.get_concurrency_info(pool).slot_count == 3  # dagster.yaml's default
