"""Runs whose worker process is gone: found, failed and their pool slots freed.

A run killed with SIGKILL never reports its end: it stays STARTED and keeps the `azure_api` /
`port_api` pool slots its steps claimed, so after two such kills every later step waits forever.
Dagster's run monitoring fails such runs only when the run launcher can tell a dead worker from
a live one, which the default launcher cannot; `LocalRunLauncher` (defs/run_launcher.py) can,
with `worker_status` below, and the headless `azure-port-pipeline sync` calls `release_dead_runs`
before it starts, so neither path needs the other.

A run's worker is known by host and pid: the launcher tags the host, Dagster's "Started process
for run" event gives the pid; a headless run tags both. A pid is only trusted on the host that
wrote it, and only if that process started before the run's worker did (a reused pid is dead).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

HOST_TAG = "azure_port_pipeline/worker_host"
PID_TAG = "azure_port_pipeline/worker_pid"
_IN_FLIGHT = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
_CLOCK_SLACK_SECONDS = 2.0


@dataclass(frozen=True)
class Worker:
    host: str
    pid: int
    since: float  # when the worker said it started (epoch seconds)


def this_host() -> str:
    return socket.gethostname()


def worker_tags() -> dict[str, str]:
    """Tags for a run executed in this process (headless runs)."""
    return {HOST_TAG: this_host(), PID_TAG: str(os.getpid())}


def worker_of(instance: DagsterInstance, run: DagsterRun) -> Worker | None:
    """The process running `run`, if it ran on this host and is known yet."""
    host = run.tags.get(HOST_TAG)
    if host != this_host():
        return None
    if PID_TAG in run.tags:
        record = instance.get_run_record_by_id(run.run_id)
        since = record.create_timestamp.timestamp() if record else time.time()
        return Worker(host, int(run.tags[PID_TAG]), since)
    for record in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.engine_event_data if record.dagster_event else None
        pid = data.metadata.get("pid") if data and data.metadata else None
        if pid is not None and "Started process for run" in (record.message or ""):
            return Worker(host, int(pid.value), record.timestamp)
    return None


def is_alive(worker: Worker) -> bool:
    """Whether the worker's process still runs (and is that process, not a reused pid)."""
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    started = _process_start(worker.pid)
    if started is None:  # no /proc here: existence is all we can tell
        return True
    return started <= worker.since + _CLOCK_SLACK_SECONDS and not _is_zombie(worker.pid)


def release_dead_runs(instance: DagsterInstance) -> list[str]:
    """Fail in-flight runs whose worker on this host is gone and free every finished run's slots.

    Returns the ids of the runs it failed. Runs of other hosts, and runs whose worker is not
    known yet, are left alone.
    """
    failed = []
    for run in instance.get_runs(RunsFilter(statuses=_IN_FLIGHT)):
        worker = worker_of(instance, run)
        if worker is None or is_alive(worker):
            continue
        instance.report_run_failed(
            run,
            f"the run's worker (pid {worker.pid} on {worker.host}) is gone: it was killed or "
            "crashed without reporting; marked failed so its pool slots are freed",
        )
        failed.append(run.run_id)
    _free_slots_of_finished_runs(instance)
    return failed


def _free_slots_of_finished_runs(instance: DagsterInstance) -> None:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    holders = list(storage.get_concurrency_run_ids())
    if not holders:
        return
    for run in instance.get_runs(RunsFilter(run_ids=holders)):
        if run.is_finished:
            storage.free_concurrency_slots_for_run(run.run_id)


def _process_start(pid: int) -> float | None:
    """Epoch seconds at which `pid` started, from /proc (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    ticks = int(stat.rsplit(")", 1)[1].split()[19])
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
