"""The change-window sensor under the real `dagster-daemon`: after discovery's backfill, each
change in Azure reaches Port through an incremental run, and a daemon restart loses nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from azure_port_pipeline.defs.change_windows import (
    FULL_REASON_TAG,
    WINDOW_END_TAG,
    WINDOW_START_TAG,
)
from azure_port_pipeline.defs.jobs import MODE_TAG
from azure_port_pipeline.emulators.azure import AzureEmulator
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline_tests.defs.processes import (
    backfilled,
    dagster_home,
    enabled_subscriptions,
    open_instance,
    port_tags,
    process_env,
    running_daemon,
    running_emulators,
)

pytestmark = pytest.mark.e2e

STORAGE = "Microsoft.Storage/storageAccounts"
BOUND_SECONDS = 480  # a backfill, or a window a minute and its run, on a loaded machine
OVERLAP_MINUTES = 5


@pytest.fixture
def emulators() -> Iterator[tuple[AzureEmulator, PortEmulator]]:
    with running_emulators(seed=17, subscriptions=3, resource_groups=2, resources=60) as both:
        yield both


def test_changes_reach_port_through_incremental_runs_and_a_daemon_restart_loses_nothing(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    home = dagster_home(tmp_path / "home")
    env = process_env(
        azure,
        port,
        home,
        "daemon",
        AZURE_PORT_PROFILE="development",
        AZURE_PORT_DISCOVERY_SECONDS="5",
        AZURE_PORT_FULL_SYNC_CRON="0 0 1 1 *",  # no scheduled resync during the test
        AZURE_PORT_INCREMENTAL_MINUTES="1",
        AZURE_PORT_CHANGE_LAG_SECONDS="0",
        AZURE_PORT_CHANGE_OVERLAP_MINUTES=str(OVERLAP_MINUTES),
    )
    target = enabled_subscriptions(azure)[0]
    first, second = [item["id"] for item in azure.estate.resources(target, STORAGE)][:2]

    with open_instance(home) as instance:
        with running_daemon(home, env, tmp_path / "daemon-1.log") as daemon:
            daemon.wait_for(
                "discovery's backfill done", lambda: backfilled(instance), BOUND_SECONDS
            )
            azure.update_resource(first, {"tags": {"window": "one"}})
            before = daemon.wait_for(
                "an incremental run", lambda: _incremental(instance, target, 1), BOUND_SECONDS
            )[0]
        assert port_tags(port, first)["window"] == "one"

        with running_daemon(home, env, tmp_path / "daemon-2.log") as daemon:
            azure.update_resource(second, {"tags": {"window": "two"}})
            after = daemon.wait_for(
                "an incremental run after the restart",
                lambda: _incremental(instance, target, 2),
                BOUND_SECONDS,
            )[0]
        assert port_tags(port, second)["window"] == "two"

        # The watermark carried over the restart: the next window starts at it (less the
        # overlap), not back at the full sync, and no subscription needed a full sync.
        start = datetime.fromisoformat(after.tags[WINDOW_START_TAG])
        end = datetime.fromisoformat(before.tags[WINDOW_END_TAG])
        assert start >= end - timedelta(minutes=OVERLAP_MINUTES)
        runs = instance.get_runs()
        assert not [run for run in runs if FULL_REASON_TAG in run.tags]
        assert not [run for run in runs if run.status == DagsterRunStatus.FAILURE]


def _incremental(instance: DagsterInstance, partition: str, count: int) -> list[DagsterRun] | None:
    """The `count` successful incremental runs of the partition, newest first, once there are."""
    runs = instance.get_runs(
        RunsFilter(
            tags={MODE_TAG: "incremental", "dagster/partition": partition},
            statuses=[DagsterRunStatus.SUCCESS],
        )
    )
    return runs if len(runs) >= count else None
