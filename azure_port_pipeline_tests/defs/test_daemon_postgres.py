"""The pipeline as a production deployment runs it: the real `dagster-daemon` on a real Postgres
instance, 20 subscriptions, Port enforcing an organization limit, and a daemon killed and
restarted while runs are in flight.

What the daemon must show: discovery finds every subscription and its backfill syncs each one;
the run queue never runs more than `max_concurrent_runs` at once nor two runs of one
subscription; no pool holds more slots than its limit (both read from the instance while the
daemon works); Port never refuses a request for the organization's limit; the runs a killed
daemon left behind are failed by run monitoring and retried, so nothing is lost; and a change
made afterwards reaches Port through the change-window sensor.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.storage.event_log.base import EventLogStorage

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
from azure_port_pipeline_tests.defs.test_full_sync import expected_from_estate, port_state
from azure_port_pipeline_tests.postgres import PostgresServer

# 20 runs of a process each, 3 at a time, beside the other tests on a 2-core machine
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2700)]

SUBSCRIPTIONS = 20
MAX_RUNS = 3  # dagster.yaml: concurrency.runs.max_concurrent_runs
POOL_LIMIT = 3  # dagster.yaml: concurrency.pools.default_limit
POOLS = ("azure_api", "port_api")
PORT_LIMIT = 90  # requests Port's emulator serves per window, like Port's own limit
PORT_WINDOW = 3.0  # seconds: 30 requests/s for the organization
BOUND_SECONDS = 1200  # 20 subscriptions' backfill on a loaded 2-core machine, not an expectation
STORAGE = "Microsoft.Storage/storageAccounts"


@dataclass
class Observed:
    """The most of each bounded thing seen at once while sampling the instance."""

    running: int = 0
    pools: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POOLS, 0))
    samples: int = 0

    def sample(self, instance: DagsterInstance) -> None:
        in_flight = instance.get_runs(
            RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED])
        )
        self.running = max(self.running, len(in_flight))
        partitions = [run.tags["dagster/partition"] for run in in_flight if _partitioned(run)]
        assert len(partitions) == len(set(partitions)), f"two runs of a subscription: {partitions}"
        storage: EventLogStorage = instance.event_log_storage
        for pool in POOLS:
            claimed = storage.get_concurrency_info(pool).active_slot_count
            self.pools[pool] = max(self.pools[pool], claimed)
        self.samples += 1


@pytest.fixture
def emulators() -> Iterator[tuple[AzureEmulator, PortEmulator]]:
    # the generated estate's last subscription is a disabled one, which discovery skips
    with running_emulators(
        seed=29, subscriptions=SUBSCRIPTIONS + 1, resource_groups=2, resources=SUBSCRIPTIONS * 15
    ) as both:
        yield both


def test_twenty_subscriptions_on_postgres_under_the_daemon_with_a_restart(
    emulators: tuple[AzureEmulator, PortEmulator],
    postgres_database: PostgresServer,
    tmp_path: Path,
    one_daemon_at_a_time: None,
) -> None:
    azure, port = emulators
    port.faults.configure(rate_limit=PORT_LIMIT, rate_window=PORT_WINDOW)
    env = process_env(
        azure,
        port,
        None,
        "daemon-pg",
        AZURE_PORT_PROFILE="development",
        AZURE_PORT_DISCOVERY_SECONDS="5",
        AZURE_PORT_FULL_SYNC_CRON="0 0 1 1 *",  # no scheduled resync during the test
        AZURE_PORT_INCREMENTAL_MINUTES="1",
        AZURE_PORT_CHANGE_LAG_SECONDS="0",
        PORT_ORGANIZATION_REQUESTS_PER_SECOND=str(PORT_LIMIT / PORT_WINDOW),
        PORT_CONCURRENT_WRITERS=str(MAX_RUNS),
        **postgres_database.env(),
    )
    home = dagster_home(tmp_path / "home", env)
    subscriptions = enabled_subscriptions(azure)
    assert len(subscriptions) == SUBSCRIPTIONS
    observed = Observed()
    started = time.monotonic()

    with open_instance(home, env) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"

        def synced(count: int) -> set[str] | None:
            observed.sample(instance)
            done = _synced(instance)
            return done if len(done) >= count else None

        with running_daemon(home, env, tmp_path / "daemon-1.log") as daemon:
            daemon.wait_for("a third of the subscriptions synced", lambda: synced(7), BOUND_SECONDS)
            interrupted = _in_flight(instance)
        with running_daemon(home, env, tmp_path / "daemon-2.log") as daemon:
            daemon.wait_for(
                "every subscription synced", lambda: synced(SUBSCRIPTIONS), BOUND_SECONDS
            )
            daemon.wait_for("the backfill done", lambda: backfilled(instance), BOUND_SECONDS)
            backfill_seconds = time.monotonic() - started

            target = subscriptions[0]
            changed = next(iter(azure.estate.resources(target, STORAGE)))["id"]
            azure.update_resource(changed, {"tags": {"after": "restart"}})
            daemon.wait_for(
                "the change in Port",
                lambda: True if port_tags(port, changed).get("after") == "restart" else None,
                BOUND_SECONDS,
            )
            daemon.wait_for(
                "the incremental run that wrote it to end",
                lambda: _incremental_done(instance, target),
                BOUND_SECONDS,
            )
        runs = instance.get_runs()
        failed = [run for run in runs if run.status == DagsterRunStatus.FAILURE]

    catalog = SimpleNamespace(azure=azure, port=port)
    for subscription_id in subscriptions:
        actual = port_state(catalog, subscription_id)
        assert actual.pop(("azureSubscription", f"/subscriptions/{subscription_id}"))
        assert actual == expected_from_estate(catalog, subscription_id), (
            f"Port differs from Azure for {subscription_id}"
        )

    assert observed.samples > 10
    assert 1 < observed.running <= MAX_RUNS, observed
    assert all(claimed <= POOL_LIMIT for claimed in observed.pools.values()), observed
    assert observed.pools["port_api"] >= 1, "pool slots are read from the instance"
    peaks = port.peaks()
    assert peaks["rate_limited"] == 0, peaks
    assert peaks["peak_requests_per_window"] <= PORT_LIMIT, peaks
    # The runs the first daemon's death cut short (its run workers die with it) were failed
    # by run monitoring and retried, and a failed run is only ever one a retry made good.
    assert interrupted, "the restart came while runs were in flight"
    by_id = {run.run_id: run for run in runs}
    for run_id in interrupted:
        assert by_id[run_id].status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE)
    for run in failed:
        retries = [r for r in runs if r.tags.get("dagster/parent_run_id") == run.run_id]
        assert retries, f"failed run {run.run_id} was not retried"
    succeeded = _synced(runs)
    assert {run.tags["dagster/partition"] for run in failed if _partitioned(run)} <= succeeded
    print(
        f"\n{SUBSCRIPTIONS} subscriptions on Postgres: {len(runs)} runs, at most "
        f"{observed.running} at once, pools {observed.pools}, {len(interrupted)} runs in flight "
        f"at the restart, {len(failed)} failed and retried, Port peak "
        f"{peaks['peak_requests_per_window']}/{PORT_LIMIT} per {PORT_WINDOW:g} s "
        f"({peaks['peak_requests_per_second']}/s), backfill {backfill_seconds:.0f} s"
    )


def _synced(source: DagsterInstance | list[DagsterRun]) -> set[str]:
    """Subscriptions with a successful full sync run, in the instance or a list of runs."""
    runs = (
        source
        if isinstance(source, list)
        else source.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
    )
    return {
        run.tags["dagster/partition"]
        for run in runs
        if run.status == DagsterRunStatus.SUCCESS
        and run.tags.get(MODE_TAG, "full") == "full"
        and "dagster/partition" in run.tags
    }


def _partitioned(run: DagsterRun) -> bool:
    return "dagster/partition" in run.tags


def _in_flight(instance: DagsterInstance) -> list[str]:
    return [
        run.run_id
        for run in instance.get_runs(
            RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED])
        )
    ]


def _incremental_done(instance: DagsterInstance, partition: str) -> bool | None:
    runs = instance.get_runs(
        RunsFilter(
            tags={MODE_TAG: "incremental", "dagster/partition": partition},
            statuses=[DagsterRunStatus.SUCCESS],
        )
    )
    return True if runs else None
