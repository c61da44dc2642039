"""Headless syncs run partitions at once, bounded, like the daemon: `sync_partitions`.

The end-to-end tests use an on-disk instance (`DagsterInstance.local_temp`): the in-memory one
of the `pipeline` fixture runs one partition at a time (its shared-cache SQLite refuses a
concurrent writer), and an instance with a dagster.yaml runs them in worker processes, which
the CLI test at the end covers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, Definitions

from azure_port_pipeline.defs import headless
from azure_port_pipeline.defs.factory import build_definitions
from azure_port_pipeline.defs.headless import (
    PartitionRun,
    RunSummary,
    discover,
    run_queue_limit,
    sync_partitions,
)
from azure_port_pipeline.defs.run_health import PID_TAG
from azure_port_pipeline.defs.settings import PipelineSettings, PipelineSettingsError
from azure_port_pipeline.demo.environment import EmulatorEndpoints, emulator_resources
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline_tests.azure_fixtures import start_emulator
from azure_port_pipeline_tests.defs.conftest import (
    CREDENTIALS,
    FAST_AZURE,
    PORT_ID,
    PORT_SECRET,
    SETTINGS,
    Pipeline,
)
from azure_port_pipeline_tests.defs.processes import (
    dagster_home,
    enabled_subscriptions,
    open_instance,
    process_env,
    running_emulators,
)
from azure_port_pipeline_tests.paths import PROJECT_ROOT

CLI = str(Path(sys.executable).with_name("azure-port-pipeline"))
#: Port refuses every write of one subscription until this deadline gives its run up.
STORMY_PORT = {"deadline_seconds": 2.0, "max_retries": 10_000, "backoff_max": 0.05}


@pytest.fixture
def disk_pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """Both emulators, 3 enabled subscriptions (+1 disabled), an on-disk instance."""
    azure = start_emulator(seed=3, subscriptions=4, resource_groups=3, resources=300)
    port = PortEmulator(client_id=PORT_ID, client_secret=PORT_SECRET)
    home = tmp_path / "home"
    home.mkdir()
    try:
        port.start()
        with DagsterInstance.local_temp(str(home)) as instance:
            pipeline = Pipeline(azure=azure, port=port, instance=instance, defs=Definitions())
            pipeline.defs = pipeline.definitions()
            yield pipeline
    finally:
        port.stop()
        azure.stop()


def _runs_by_partition(instance: DagsterInstance) -> dict[str, Any]:
    return {run.tags["dagster/partition"]: run for run in instance.get_runs()}


def _materialized_partitions(instance: DagsterInstance, run_id: str) -> list[str | None]:
    events = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    return [event.dagster_event.partition for event in events if event.dagster_event]


@pytest.mark.e2e
def test_three_partitions_sync_at_once_each_recording_its_own_partition(
    disk_pipeline: Pipeline,
) -> None:
    pipeline = disk_pipeline
    discover(pipeline.defs, pipeline.instance)
    subscriptions = pipeline.enabled_subscriptions
    assert len(subscriptions) == 3

    summaries = sync_partitions(pipeline.defs, pipeline.instance, subscriptions, concurrency=3)

    assert [s.subscription_id for s in summaries] == subscriptions  # the input's order
    assert all(s.success and not s.failed_checks for s in summaries), summaries
    runs = _runs_by_partition(pipeline.instance)
    assert sorted(runs) == sorted(subscriptions)  # one run each, nothing lost
    for summary in summaries:
        run = runs[summary.subscription_id]
        assert run.status == DagsterRunStatus.SUCCESS
        partitions = _materialized_partitions(pipeline.instance, run.run_id)
        # its own partition only (the unpartitioned blueprints asset has none)
        assert set(partitions) - {None} == {summary.subscription_id}
        stored = pipeline.instance.fetch_materializations(
            AssetKey(["port_sync", "storage_accounts"]), limit=10
        ).records
        mine = [r for r in stored if r.partition_key == summary.subscription_id]
        assert [r.run_id for r in mine] == [run.run_id]
        assert summary.totals["created"] > 0
        root = f"/subscriptions/{summary.subscription_id}"
        assert pipeline.port.entity("azureSubscription", root) is not None
    stats = [pipeline.instance.get_run_stats(run.run_id) for run in runs.values()]
    assert all(s.start_time and s.end_time for s in stats)
    # all three were running at one moment: serial runs would each end before the next starts
    assert max(s.start_time for s in stats) < min(s.end_time for s in stats)


@pytest.mark.e2e
def test_a_failing_partition_leaves_the_others_synced(disk_pipeline: Pipeline) -> None:
    pipeline = disk_pipeline
    resources = emulator_resources(
        EmulatorEndpoints.of(pipeline.azure, pipeline.port),
        CREDENTIALS,
        installation_id="e2e",
        azure_options=FAST_AZURE,
        port_options=STORMY_PORT,
    )
    defs = build_definitions(settings=SETTINGS, resources=resources)
    discover(defs, pipeline.instance)
    stormed, forbidden, clean = pipeline.enabled_subscriptions
    # Port fails every write of one subscription: its run fails at its deadline
    pipeline.port.faults.fail_next(
        100_000, status=500, route="entities/bulk", agent=f"scope={stormed}:"
    )
    # Azure refuses another: its listings are incomplete, its checks fail, nothing is deleted
    pipeline.azure.faults.forbid_subscription(forbidden)

    summaries = sync_partitions(
        defs, pipeline.instance, [stormed, forbidden, clean], log_level="ERROR", concurrency=3
    )

    by_id = {s.subscription_id: s for s in summaries}
    assert not by_id[stormed].success
    assert "PortDeadlineError" in (by_id[stormed].error or "")
    assert by_id[forbidden].success and by_id[forbidden].failed_checks
    assert by_id[clean].success and not by_id[clean].failed_checks
    assert by_id[clean].totals["created"] > 0
    assert pipeline.port.entity("azureSubscription", f"/subscriptions/{clean}") is not None
    runs = _runs_by_partition(pipeline.instance)
    assert runs[stormed].status == DagsterRunStatus.FAILURE
    assert runs[clean].status == runs[forbidden].status == DagsterRunStatus.SUCCESS


@pytest.mark.e2e
def test_three_runs_at_once_never_exceed_the_organizations_limit(disk_pipeline: Pipeline) -> None:
    """Port enforces an organization limit of 60 requests per 2 s; the pipeline is told the
    organization allows 20/s. Three runs share one process's limiter (a share each, 20/s in
    all): none of their requests is refused, however their writes interleave."""
    pipeline = disk_pipeline
    pipeline.port.faults.configure(rate_limit=60, rate_window=2.0)  # 20/s + one second's burst
    resources = emulator_resources(
        EmulatorEndpoints.of(pipeline.azure, pipeline.port),
        CREDENTIALS,
        installation_id="e2e",
        azure_options=FAST_AZURE,
        port_options={"organization_requests_per_second": 20.0, "concurrent_writers": 3},
    )
    defs = build_definitions(settings=SETTINGS, resources=resources)
    discover(defs, pipeline.instance)
    pipeline.port.reset_counters()

    summaries = sync_partitions(
        defs, pipeline.instance, pipeline.enabled_subscriptions, log_level="ERROR", concurrency=3
    )

    assert all(s.success and not s.failed_checks for s in summaries), summaries
    peaks = pipeline.port.peaks()
    assert peaks["rate_limited"] == 0, peaks
    assert peaks["peak_requests_per_window"] <= 60, peaks
    stats = [pipeline.instance.get_run_stats(run.run_id) for run in pipeline.instance.get_runs()]
    assert max(s.start_time for s in stats) < min(s.end_time for s in stats)


def test_runs_are_bounded_ordered_one_per_subscription_and_a_raise_is_a_failed_summary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The scheduling alone, with a stand-in for the Dagster run."""
    lock = threading.Lock()
    in_flight: list[str] = []
    peak = 0
    overlaps: list[str] = []

    def fake_sync(defs, instance, subscription_id, run_config, log_level, **options):
        nonlocal peak
        with lock:
            if subscription_id in in_flight:
                overlaps.append(subscription_id)
            in_flight.append(subscription_id)
            peak = max(peak, len(in_flight))
        try:
            time.sleep(0.2)
            if subscription_id == "boom":
                raise RuntimeError("storage went away")
            return RunSummary(subscription_id, True, 0.2, totals={"fetched": 1}, checks={})
        finally:
            with lock:
                in_flight.remove(subscription_id)

    monkeypatch.setattr(headless, "sync_partition", fake_sync)
    wanted = ["a", "b", "boom", "a", "c", PartitionRun("d", {"ops": {}}, {"x": "y"})]
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        summaries = sync_partitions(Definitions(), instance, wanted, concurrency=2)

    assert [s.subscription_id for s in summaries] == ["a", "b", "boom", "a", "c", "d"]
    assert peak == 2  # bounded, and concurrent
    assert overlaps == []  # never two runs of one subscription at once
    failed = summaries[2]
    assert not failed.success and failed.error == "raised RuntimeError: storage went away"
    assert all(s.success for i, s in enumerate(summaries) if i != 2)


def test_the_default_bound_is_the_daemons(tmp_path: Path) -> None:
    home = dagster_home(tmp_path / "home")
    with open_instance(home) as instance:
        assert run_queue_limit(instance) == 3  # dagster.yaml's max_concurrent_runs
    with DagsterInstance.ephemeral() as instance:
        assert run_queue_limit(instance) is None  # no run queue: DEFAULT_CONCURRENCY
    assert headless.DEFAULT_CONCURRENCY == 3
    settings = PipelineSettings.from_env({"AZURE_PORT_HEADLESS_CONCURRENCY": "2"})
    assert settings.headless_concurrency == 2
    with pytest.raises(PipelineSettingsError, match="AZURE_PORT_HEADLESS_CONCURRENCY"):
        PipelineSettings.from_env({"AZURE_PORT_HEADLESS_CONCURRENCY": "0"})


@pytest.mark.e2e
def test_the_sync_command_runs_its_partitions_at_once_in_worker_processes(
    tmp_path: Path,
) -> None:
    """With the project's dagster.yaml, runs cannot share a process (see `_execution_mode`):
    each runs in a worker process, on the same SQLite instance, as the daemon's would."""
    with running_emulators(seed=3, subscriptions=4, resource_groups=2, resources=150) as both:
        azure, port = both
        home = dagster_home(tmp_path / "home")
        command = subprocess.Popen(
            [CLI, "sync"],
            cwd=PROJECT_ROOT,
            env=process_env(azure, port, home, "cli"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            stdout, stderr = command.communicate(timeout=540)
        finally:
            if command.poll() is None:
                command.kill()
                command.wait()
        done_pid = command.pid
    assert command.returncode == 0, stdout + stderr
    assert "database is locked" not in stderr
    enabled = enabled_subscriptions(azure)
    with open_instance(home) as instance:
        runs = _runs_by_partition(instance)
        assert sorted(runs) == sorted(enabled)
        assert all(run.status == DagsterRunStatus.SUCCESS for run in runs.values())
        pids = {run.tags[PID_TAG] for run in runs.values()}
        spans = [instance.get_run_stats(run.run_id) for run in runs.values()]
        for run in runs.values():
            partitions = _materialized_partitions(instance, run.run_id)
            assert set(partitions) - {None} == {run.tags["dagster/partition"]}
    # worker processes, not this command's: a busy machine may start the third one late, so
    # at least two ran at once, each in a process of its own
    assert len(pids) >= 2 and str(done_pid) not in pids
    assert any(
        a.start_time < b.end_time and b.start_time < a.end_time
        for i, a in enumerate(spans)
        for b in spans[i + 1 :]
    )


START_METHOD = """
import threading
from azure_port_pipeline.defs.headless import worker_start_method
print(worker_start_method())
stop = threading.Event()
other = threading.Thread(target=stop.wait)
other.start()
print(worker_start_method())
stop.set()
other.join()
"""


def test_workers_fork_from_a_single_threaded_process_and_from_a_fork_server_beside_threads() -> (
    None
):
    done = subprocess.run(
        [sys.executable, "-c", START_METHOD], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["fork", "forkserver"]


@pytest.mark.e2e
def test_beside_other_threads_the_sync_command_runs_its_workers_from_a_fork_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync command's code, called in a process with threads (here the emulators'): no
    fork of it, yet every partition in a worker process of its own, on the same instance."""
    from azure_port_pipeline.defs.sync_command import run_sync

    with running_emulators(seed=5, subscriptions=3, resource_groups=2, resources=60) as both:
        azure, port = both
        home = dagster_home(tmp_path / "home")
        for name, value in process_env(azure, port, home, "cli").items():
            monkeypatch.setenv(name, value)
        assert headless.worker_start_method() == "forkserver"
        outcome = run_sync([], "full", [])
    enabled = enabled_subscriptions(azure)
    assert len(enabled) >= 2
    assert [summary.success for summary in outcome.summaries] == [True] * len(enabled)
    with open_instance(home) as instance:
        runs = _runs_by_partition(instance)
        assert sorted(runs) == sorted(enabled)
        pids = {run.tags[PID_TAG] for run in runs.values()}
    assert pids and str(os.getpid()) not in pids  # worker processes (at once: the CLI test)
