"""A killed run never wedges the pipeline: with the daemon (run monitoring) or without (sync).

A run is killed with SIGKILL while its `port_sync` step holds a `port_api` pool slot (the Port
emulator answers its writes late, so the step is caught there). Before the fix such a run stayed
STARTED with its slot forever; two of them blocked every later step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from azure_port_pipeline.defs.run_health import (
    HOST_TAG,
    Worker,
    is_alive,
    this_host,
    worker_of,
)
from azure_port_pipeline.emulators.azure import AzureEmulator
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline_tests.defs.processes import (
    dagster_cli,
    dagster_home,
    enabled_subscriptions,
    open_instance,
    process_env,
    running_daemon,
    running_emulators,
)
from azure_port_pipeline_tests.paths import PROJECT_ROOT

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).with_name("azure-port-pipeline"))
CAUGHT_BOUND_SECONDS = 300  # the run reaches its Port writes, on a loaded machine
RECOVERY_BOUND_SECONDS = 420  # monitoring fails it, the retry completes, on a loaded machine
WRITES = "entities/bulk"


@pytest.fixture
def emulators() -> Iterator[tuple[AzureEmulator, PortEmulator]]:
    with running_emulators(seed=13, subscriptions=2, resource_groups=2, resources=60) as both:
        yield both


def test_a_live_worker_is_alive_and_a_dead_or_reused_pid_is_not() -> None:
    me = Worker(this_host(), os.getpid(), time.time())
    assert is_alive(me)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not is_alive(Worker(this_host(), child.pid, time.time()))
    # This process started long before a worker that claims its pid: a reused pid.
    assert not is_alive(Worker(this_host(), os.getpid(), time.time() - 10**6))


def test_a_headless_sync_after_a_killed_one_fails_it_frees_its_slots_and_completes(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    home = dagster_home(tmp_path / "home")
    env = process_env(azure, port, home, "health")
    target = enabled_subscriptions(azure)[0]
    port.faults.delay_next(10_000, seconds=30, route=WRITES)
    killed = subprocess.Popen(
        [CLI, "sync", "--subscription", target],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with open_instance(home) as instance:
            run = _caught_holding_a_slot(instance, lambda: killed.poll() is None)
            assert worker_of(instance, run).pid == killed.pid
            os.killpg(killed.pid, signal.SIGKILL)
            killed.wait()
    finally:
        if killed.poll() is None:
            os.killpg(killed.pid, signal.SIGKILL)
            killed.wait()
    port.faults.clear()

    done = subprocess.run(
        [CLI, "sync", "--subscription", target],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RECOVERY_BOUND_SECONDS,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    with open_instance(home) as instance:
        dead = instance.get_run_by_id(run.run_id)
        assert dead.status == DagsterRunStatus.FAILURE
        assert "is gone" in _failure_message(instance, run.run_id)
        assert _holds_no_slot(instance, run.run_id)
        latest = instance.get_runs(RunsFilter(tags={"dagster/partition": target}), limit=1)[0]
        assert latest.status == DagsterRunStatus.SUCCESS


def test_the_daemon_fails_a_killed_run_frees_its_slots_and_its_retry_completes(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    home = dagster_home(tmp_path / "home")
    env = process_env(azure, port, home, "health", AZURE_PORT_AUTOSTART="false")
    target = enabled_subscriptions(azure)[0]
    with open_instance(home) as instance:
        instance.add_dynamic_partitions("azure_subscriptions", [target])
    port.faults.delay_next(10_000, seconds=30, route=WRITES)

    with open_instance(home) as instance, running_daemon(home, env, tmp_path / "daemon.log") as d:
        dagster_cli(
            "job",
            "launch",
            "-j",
            "azure_port_sync",
            "--tags",
            json.dumps({"dagster/partition": target}),
            env=env,
            home=home,
        )
        run = d.wait_for(
            "a run holding a slot with a known worker",
            lambda: _holding_with_worker(instance),
            CAUGHT_BOUND_SECONDS,
        )
        assert run.tags[HOST_TAG] == this_host()
        os.kill(worker_of(instance, run).pid, signal.SIGKILL)
        port.faults.clear()

        failed = d.wait_for(
            "run monitoring fails the killed run",
            lambda: _with_status(instance, run.run_id, DagsterRunStatus.FAILURE),
            RECOVERY_BOUND_SECONDS,
        )
        # Run monitoring ("the run's worker ... is gone") or the code server that started the
        # worker, whichever notices first, fails it; either way it must not stay STARTED.
        message = _failure_message(instance, failed.run_id)
        assert "is gone" in message or "marked as failed from outside" in message, message
        retry = d.wait_for(
            "the retry of the killed run succeeds",
            lambda: _retry_succeeded(instance, run.run_id),
            RECOVERY_BOUND_SECONDS,
        )
        assert retry.tags["dagster/partition"] == target
        d.wait_for(
            "the killed run's slots freed",
            lambda: _holds_no_slot(instance, run.run_id) or None,
            RECOVERY_BOUND_SECONDS,
        )


def _caught_holding_a_slot(instance: DagsterInstance, alive) -> DagsterRun:
    deadline = time.monotonic() + CAUGHT_BOUND_SECONDS
    while time.monotonic() < deadline:
        assert alive(), "the sync ended before it could be caught mid-run"
        run = _holding_with_worker(instance)
        if run is not None:
            return run
        time.sleep(0.5)
    raise AssertionError(f"no run held a pool slot within {CAUGHT_BOUND_SECONDS} s")


def _holding_with_worker(instance: DagsterInstance) -> DagsterRun | None:
    for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
        if _holds_port_slot(instance, run.run_id) and worker_of(instance, run) is not None:
            return run
    return None


def _holds_port_slot(instance: DagsterInstance, run_id: str) -> bool:
    return run_id in instance.event_log_storage.get_concurrency_info("port_api").active_run_ids


def _holds_no_slot(instance: DagsterInstance, run_id: str) -> bool:
    storage = instance.event_log_storage
    return not any(
        run_id in storage.get_concurrency_info(pool).active_run_ids
        for pool in ("azure_api", "port_api")
    )


def _with_status(instance, run_id: str, status: DagsterRunStatus) -> DagsterRun | None:
    run = instance.get_run_by_id(run_id)
    return run if run and run.status == status else None


def _retry_succeeded(instance, parent_run_id: str) -> DagsterRun | None:
    retries = instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": parent_run_id}))
    return next((r for r in retries if r.status == DagsterRunStatus.SUCCESS), None)


def _failure_message(instance, run_id: str) -> str:
    return "\n".join(
        record.message or ""
        for record in instance.all_logs(run_id)
        if record.dagster_event is not None
        and record.dagster_event.event_type == DagsterEventType.RUN_FAILURE
    )
