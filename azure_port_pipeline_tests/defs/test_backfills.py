"""Discovery and "resync everything" launch real backfills through the sensor daemon.

`RunRequest.for_asset_graph_subset` and `AssetGraphSubset` are Dagster internals (kept in
`defs/backfills.py`): if an upgrade changes them, these tests fail, the daemon one saying which
backfill did not appear or did not complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterRunStatus, RunsFilter
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill

from azure_port_pipeline.defs.backfills import backfilled_partitions, is_backfill
from azure_port_pipeline.defs.blueprints import BLUEPRINTS_KEY
from azure_port_pipeline.defs.jobs import SUBSCRIPTION_NAME_TAG, SYNC_SELECTION, TRIGGER_TAG
from azure_port_pipeline.defs.partitions import SUBSCRIPTION_RAW_KEY
from azure_port_pipeline.defs.sensors import RESYNC_SENSOR
from azure_port_pipeline.emulators.azure import AzureEmulator
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline_tests.defs.conftest import Pipeline
from azure_port_pipeline_tests.defs.processes import (
    dagster_cli,
    dagster_home,
    enabled_subscriptions,
    open_instance,
    process_env,
    running_daemon,
    running_emulators,
)
from azure_port_pipeline_tests.defs.test_automation import evaluate_discovery

BACKFILL_BOUND_SECONDS = 480  # a backfill of 3 small subscriptions done, on a loaded machine
PORT_SYNC_SUBSCRIPTION = AssetKey(["port_sync", "subscription"])


def test_discovery_requests_one_backfill_of_every_sync_asset_over_the_new_subscriptions(
    pipeline: Pipeline,
) -> None:
    result = evaluate_discovery(pipeline)

    (request,) = result.run_requests
    assert is_backfill(request), "discovery launches a backfill, not loose runs"
    subset = request.asset_graph_subset
    asset_graph = pipeline.defs.resolve_asset_graph()
    assert subset.asset_keys == SYNC_SELECTION.resolve(asset_graph)
    assert BLUEPRINTS_KEY in subset.non_partitioned_asset_keys
    for key in subset.asset_keys - {BLUEPRINTS_KEY}:
        assert backfilled_partitions(request, key) == set(pipeline.enabled_subscriptions), key
    assert request.tags[TRIGGER_TAG] == "discovery"
    assert SUBSCRIPTION_NAME_TAG not in request.tags, "one backfill, many subscriptions"


@pytest.fixture
def emulators() -> Iterator[tuple[AzureEmulator, PortEmulator]]:
    with running_emulators(seed=11, subscriptions=3, resource_groups=2, resources=60) as both:
        yield both


@pytest.mark.e2e
def test_the_daemon_backfills_discovered_subscriptions_and_resyncs_everything_on_demand(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    enabled = set(enabled_subscriptions(azure))
    home = dagster_home(tmp_path / "home")
    env = process_env(
        azure,
        port,
        home,
        "daemon",
        AZURE_PORT_PROFILE="development",
        AZURE_PORT_DISCOVERY_SECONDS="5",
        AZURE_PORT_FULL_SYNC_CRON="0 0 1 1 *",  # no scheduled resync during the test
    )

    with open_instance(home) as instance, running_daemon(home, env, tmp_path / "daemon.log") as d:
        discovered = d.wait_for(
            "discovery's backfill",
            lambda: _backfill(instance, "discovery"),
            BACKFILL_BOUND_SECONDS,
        )
        assert _partitions(discovered) == enabled
        done = d.wait_for(
            "discovery's backfill completed",
            lambda: _finished(instance, discovered.backfill_id),
            BACKFILL_BOUND_SECONDS,
        )
        assert done.status == BulkActionStatus.COMPLETED_SUCCESS, done.status
        runs = instance.get_runs(RunsFilter.for_backfill(discovered.backfill_id))
        failed = [run for run in runs if run.status != DagsterRunStatus.SUCCESS]
        assert not failed, _failures(instance, failed)
        names = {
            run.tags["dagster/partition"]: run.tags.get(SUBSCRIPTION_NAME_TAG)
            for run in runs
            if "dagster/partition" in run.tags
        }
        assert set(names) == enabled, "one run per subscription"
        for subscription_id, name in names.items():
            assert name == azure.estate.subscription(subscription_id)["displayName"]
        subscriptions = {e["identifier"] for e in port.entities("azureSubscription")}
        assert subscriptions == {f"/subscriptions/{s}" for s in enabled}
        assert port.entity_count("azureCloudResource") > 0

        dagster_cli("sensor", "start", RESYNC_SENSOR, env=env, home=home)
        resync = d.wait_for(
            "the resync backfill",
            lambda: _backfill(instance, "resync_everything"),
            BACKFILL_BOUND_SECONDS,
        )
        assert _partitions(resync) == enabled
        done = d.wait_for(
            "the resync backfill completed",
            lambda: _finished(instance, resync.backfill_id),
            BACKFILL_BOUND_SECONDS,
        )
        assert done.status == BulkActionStatus.COMPLETED_SUCCESS, done.status
        backfills = instance.get_backfills()
        assert sum(b.tags.get(TRIGGER_TAG) == "resync_everything" for b in backfills) == 1, (
            "one resync per start of the sensor"
        )


def _backfill(instance, trigger: str) -> PartitionBackfill | None:
    return next((b for b in instance.get_backfills() if b.tags.get(TRIGGER_TAG) == trigger), None)


def _finished(instance, backfill_id: str) -> PartitionBackfill | None:
    backfill = instance.get_backfill(backfill_id)
    terminal = {
        BulkActionStatus.COMPLETED_SUCCESS,
        BulkActionStatus.COMPLETED_FAILED,
        BulkActionStatus.FAILED,
        BulkActionStatus.CANCELED,
    }
    return backfill if backfill.status in terminal else None


def _failures(instance, runs) -> str:
    lines = []
    for run in runs:
        lines.append(f"run {run.run_id} {run.status} {dict(run.tags)}")
        for record in instance.all_logs(run.run_id):
            if record.is_dagster_event and record.dagster_event.is_failure:
                lines.append(f"  {record.dagster_event.event_type_value}: {record.message}")
    return "\n".join(lines)


def _partitions(backfill: PartitionBackfill) -> set[str]:
    subset = backfill.asset_backfill_data.target_subset
    return set(subset.get_partitions_subset(SUBSCRIPTION_RAW_KEY).get_partition_keys())
