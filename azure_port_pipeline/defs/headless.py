"""Run the pipeline without the daemon: evaluate discovery, then execute its run requests.

The headless demo, the benchmarks and the end-to-end tests use this; it drives the very sensor
and job the daemon would, in this process, against a real Dagster instance, for the
`Definitions` it is given (with their resources), not the code location's. Several partitions
sync at once as the daemon's runs would (`sync_partitions`): in threads of this process, or in
worker processes where Dagster runs cannot share one.
"""

from __future__ import annotations

import functools
import io
import logging
import multiprocessing
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterInstance,
    Definitions,
    JobDefinition,
    SensorResult,
    build_reconstructable_job,
    build_sensor_context,
    execute_job,
)

if TYPE_CHECKING:
    from dagster._core.definitions.reconstruct import ReconstructableJob
    from dagster._core.instance.ref import InstanceRef

from azure_port_pipeline.defs.change_windows import INCREMENTAL_SENSOR
from azure_port_pipeline.defs.checks import CHECK_FRESHNESS
from azure_port_pipeline.defs.event_sensor import RUN_KEY_TAG
from azure_port_pipeline.defs.jobs import SYNC_JOB, full_sync_run_config
from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION
from azure_port_pipeline.defs.pools import ensure_pool_limits
from azure_port_pipeline.defs.run_health import release_dead_runs, worker_tags
from azure_port_pipeline.defs.sensors import DISCOVERY_SENSOR

log = logging.getLogger(__name__)

SYNC_COUNTS = ("created", "updated", "unchanged", "deleted", "write_failures")
#: Runs at once when the instance has no run queue to copy (dagster.yaml's own value).
DEFAULT_CONCURRENCY = 3
LAYER_COUNTS = {
    "azure": ("fetched",),
    "port_entities": ("mapping_errors",),
    "port_sync": SYNC_COUNTS,
}


@dataclass
class RunSummary:
    subscription_id: str
    success: bool
    seconds: float
    totals: dict[str, int] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    error: str | None = None  # the first failed step and why, when the run failed

    @property
    def failed_checks(self) -> list[str]:
        return [name for name, passed in self.checks.items() if not passed]


def runs_frame(summaries: list[RunSummary]) -> pd.DataFrame:
    """One row per run: subscription, success, every count and the seconds it took."""
    counts = ("fetched", "mapping_errors", *SYNC_COUNTS)
    return pd.DataFrame(
        [
            {
                "subscription": summary.subscription_id,
                "ok": summary.success,
                **{name: summary.totals.get(name, 0) for name in counts},
                "seconds": summary.seconds,
            }
            for summary in summaries
        ],
        columns=["subscription", "ok", *counts, "seconds"],
    )


def format_runs(summaries: list[RunSummary], columns: Sequence[str]) -> str:
    """The runs as a text table, one line per subscription and a total line."""
    frame = runs_frame(summaries)
    frame["ok"] = frame["ok"].map({True: "yes", False: "NO"})
    total = frame[list(columns)].sum()
    frame.loc[len(frame)] = {"subscription": "total", "ok": "", **total, "seconds": None}
    return frame[["subscription", "ok", *columns, "seconds"]].to_string(index=False, na_rep="")


def discover(defs: Definitions, instance: DagsterInstance) -> SensorResult | Any:
    sensor = defs.resolve_sensor_def(DISCOVERY_SENSOR)
    with build_sensor_context(
        instance=instance, resources=_resources(defs), definitions=defs
    ) as context:
        result = sensor(context)
    if isinstance(result, SensorResult):
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(SUBSCRIPTIONS_PARTITION, list(request.partition_keys))
    return result


def discover_and_sync(
    defs: Definitions,
    instance: DagsterInstance,
    log_level: str = "INFO",
    *,
    concurrency: int | None = None,
) -> list[RunSummary]:
    """What the daemon does with discovery's backfill: the new partitions' syncs, a few at
    once (see `sync_partitions`)."""
    result = discover(defs, instance)
    if not isinstance(result, SensorResult):
        return []
    new = [key for add in result.dynamic_partitions_requests or [] for key in add.partition_keys]
    tags = {
        key: value for request in result.run_requests or [] for key, value in request.tags.items()
    }
    return sync_partitions(
        defs,
        instance,
        new,
        full_sync_run_config(),
        log_level,
        concurrency=concurrency,
        tags=tags,
    )


@dataclass(frozen=True)
class PartitionRun:
    """One partition's run when runs differ by more than the partition: an incremental window
    asks for an incremental run here and a full one there, each with its own config and tags."""

    subscription_id: str
    run_config: dict[str, Any] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def sync_partitions(
    defs: Definitions,
    instance: DagsterInstance,
    subscription_ids: Sequence[str | PartitionRun],
    run_config: dict[str, Any] | None = None,
    log_level: str = "INFO",
    *,
    concurrency: int | None = None,
    **kwargs: Any,
) -> list[RunSummary]:
    """Several partitions' syncs as the daemon runs them: a few at once, never two of one
    subscription at once (they would race on the same scope); summaries in the input's order.

    `concurrency` (None: the instance's run queue limit, see `run_queue_limit`) bounds the
    runs in flight, as `max_concurrent_runs` bounds the daemon's. A run that raises instead of
    failing becomes a failed summary: one partition never stops the others. `kwargs` go to
    every `sync_partition`; a `PartitionRun`'s tags are added to `tags`. How the runs share
    the machine (threads, worker processes, or one after the other): see `_execution_mode`.
    Ctrl-C cancels the partitions not started yet; it is raised once the runs in flight end
    (threads cannot be interrupted; worker processes get the Ctrl-C themselves).
    """
    runs = [_as_partition_run(item, run_config) for item in subscription_ids]
    if not runs:
        return []
    try:
        return _sync_partitions(defs, instance, runs, log_level, concurrency, kwargs)
    finally:
        # loaded at most once per call, never carried into the next (settings may change)
        code_location_definitions.cache_clear()


def _sync_partitions(
    defs: Definitions,
    instance: DagsterInstance,
    runs: list[PartitionRun],
    log_level: str,
    concurrency: int | None,
    kwargs: dict[str, Any],
) -> list[RunSummary]:
    lanes = _lanes(runs)
    workers = min(_resolve_concurrency(instance, concurrency, len(lanes)), len(lanes))
    mode = _execution_mode(instance, workers, kwargs)
    # once, before any run: runs racing to fail the same dead run would each report it, or
    # to make the same pool's limit row
    release_dead_runs(instance)
    ensure_pool_limits(instance)
    kwargs = {**kwargs, "release_dead": False}
    summaries: dict[int, RunSummary] = {}
    if mode == "serial":
        for lane in lanes:
            lane_runs = [runs[index] for index in lane]
            done = _sync_lane(defs, instance, lane_runs, log_level, kwargs)
            summaries.update(zip(lane, done, strict=True))
        return [summaries[index] for index in range(len(runs))]
    with _worker_pool(mode, workers) as pool:
        futures = {}
        for lane in lanes:
            lane_runs = [runs[index] for index in lane]
            if mode == "processes":
                work = (
                    _sync_lane_in_process,
                    WorkerContext(dict(os.environ), os.getcwd()),
                    instance.get_ref(),
                )
            else:
                work = (_sync_lane, defs, instance)
            futures[pool.submit(*work, lane_runs, log_level, kwargs)] = lane
        try:
            for future, lane in futures.items():
                done = _lane_result(future, [runs[index] for index in lane])
                summaries.update(zip(lane, done, strict=True))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [summaries[index] for index in range(len(runs))]


ExecutionMode = Literal["serial", "threads", "processes"]


def _execution_mode(
    instance: DagsterInstance, workers: int, kwargs: Mapping[str, Any]
) -> ExecutionMode:
    """Threads where Dagster runs can share this process safely, else worker processes (the
    run launcher's way) when the job can be rebuilt there, else one run after the other.

    Two things Dagster does make threads unsafe, both seen with three runs:
    - an in-memory (ephemeral) instance's run storage is SQLite with a shared cache, which
      answers a concurrent writer "database table is locked" at once instead of waiting;
    - on an instance with settings (a dagster.yaml, as `DagsterInstance.get()` has), every
      run's start calls `logging.config.dictConfig` (`get_yaml_python_handlers`), which holds
      logging's lock while taking every handler's, among them the event log handler another
      run is emitting through, which waits for logging's lock (SQLAlchemy logs inside the
      event storage): a deadlock.
    An on-disk instance without settings (`DagsterInstance.local_temp`) has neither: its
    SQLite waits for a busy writer, its event storage serializes this process's writers.
    """
    if workers <= 1:
        return "serial"
    if instance.is_ephemeral:
        log.info("an in-memory instance runs one partition at a time")
        return "serial"
    if not instance.get_ref().settings:
        return "threads"
    if kwargs.get("from_code_location"):
        return "processes"
    log.warning(
        "Dagster runs on an instance with settings (a dagster.yaml) cannot share a process, "
        "and this job cannot be rebuilt in another: the partitions sync one after the other"
    )
    return "serial"


@contextmanager
def _worker_pool(mode: ExecutionMode, workers: int) -> Iterator[Executor]:
    if mode == "processes":
        context = multiprocessing.get_context(worker_start_method())
        if context.get_start_method() == "forkserver":
            context.set_forkserver_preload(list(WORKER_PRELOAD))
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            yield pool
    else:
        with _shared_streams(), ThreadPoolExecutor(workers, "partition-sync") as pool:
            yield pool


def _lane_result(future: Future[list[RunSummary]], runs: list[PartitionRun]) -> list[RunSummary]:
    """The lane's summaries, or failed ones when its worker died (a killed process)."""
    try:
        return future.result()
    except Exception as error:
        log.error("the worker syncing %s died: %r", runs[0].subscription_id, error)
        return [_failed_summary(run, error, 0.0) for run in runs]


def _sync_lane(
    defs: Definitions,
    instance: DagsterInstance,
    runs: list[PartitionRun],
    log_level: str,
    kwargs: Mapping[str, Any],
) -> list[RunSummary]:
    return [_guarded_sync(defs, instance, run, log_level, kwargs) for run in runs]


def worker_start_method() -> Literal["fork", "forkserver"]:
    """How worker processes start: forked from this process when it runs no other thread,
    else from a fork server.

    A fork starts with everything this process has imported (Dagster and this package: 5 to
    6 s of CPU a process to import again) at no cost. It is safe only without other threads:
    a lock another thread holds at that moment (the emulators' in tests, logging's) would stay
    held in the child forever. With threads, a fork server: a fresh single-threaded interpreter
    that imports `WORKER_PRELOAD` once and forks every worker from there. Either way a worker
    takes the caller's environment and directory (`WorkerContext`) and builds its own code
    location and instance, so no credential or connection crosses into it.
    """
    return "fork" if threading.active_count() == 1 else "forkserver"


#: What a worker process imports before it is forked (see `_worker_pool`).
WORKER_PRELOAD = ("azure_port_pipeline.defs.worker_preload",)


@dataclass(frozen=True)
class WorkerContext:
    """The caller's environment and directory, which a forked worker must take as its own
    (the settings come from the environment; a mapping path may be relative)."""

    environ: dict[str, str] = field(repr=False)  # holds the credentials
    cwd: str = ""

    def apply(self) -> None:
        os.environ.clear()
        os.environ.update(self.environ)
        os.chdir(self.cwd)


def _sync_lane_in_process(
    context: WorkerContext,
    ref: InstanceRef,
    runs: list[PartitionRun],
    log_level: str,
    kwargs: Mapping[str, Any],
) -> list[RunSummary]:
    """A worker process's lane, with what a run launcher's worker has: the code location's
    definitions and the instance reopened from its ref (SQLite storages are made for several
    processes: WAL, busy timeouts)."""
    context.apply()
    code_location_definitions.cache_clear()  # a fork's copy holds the parent's credentials
    with DagsterInstance.from_ref(ref) as instance:
        return _sync_lane(code_location_definitions(), instance, runs, log_level, kwargs)


def run_queue_limit(instance: DagsterInstance) -> int | None:
    """The daemon's `max_concurrent_runs` on this instance (dagster.yaml `concurrency.runs`;
    -1: no limit), None when the instance has no run queue (an ephemeral one)."""
    try:
        queue = instance.get_concurrency_config().run_queue_config
    except Exception:  # an instance without settings to read: the default applies
        return None
    return queue.max_concurrent_runs if queue is not None else None


def _resolve_concurrency(instance: DagsterInstance, asked: int | None, lanes: int) -> int:
    """The caller's bound, else the daemon's, so a headless sync loads Azure, Port and SQLite
    no more than the daemon would."""
    if asked is not None:
        if asked < 1:
            raise ValueError(f"concurrency must be at least 1, not {asked}")
        return asked
    limit = run_queue_limit(instance)
    if limit is None:
        return DEFAULT_CONCURRENCY
    if limit < 0:  # the user lifted the daemon's limit
        return max(lanes, 1)
    return max(limit, 1)  # 0 pauses the daemon's queue; an explicit sync still runs, serially


def _as_partition_run(item: str | PartitionRun, run_config: dict[str, Any] | None) -> PartitionRun:
    if isinstance(item, PartitionRun):
        return item
    return PartitionRun(item, run_config)


def _lanes(runs: Sequence[PartitionRun]) -> list[list[int]]:
    """Indexes of the runs, one lane per subscription: a lane's runs go one after the other."""
    lanes: dict[str, list[int]] = {}
    for index, run in enumerate(runs):
        lanes.setdefault(run.subscription_id, []).append(index)
    return list(lanes.values())


def _guarded_sync(
    defs: Definitions,
    instance: DagsterInstance,
    run: PartitionRun,
    log_level: str,
    kwargs: Mapping[str, Any],
) -> RunSummary:
    """`sync_partition`, with an exception (a storage error, a bug) turned into a failed
    summary: the caller reports it with the other runs instead of losing them all."""
    started = time.monotonic()
    options = dict(kwargs)
    if run.tags:
        options["tags"] = {**(options.get("tags") or {}), **run.tags}
    try:
        return sync_partition(
            defs, instance, run.subscription_id, run.run_config, log_level, **options
        )
    except Exception as error:
        log.exception("the sync of %s raised instead of failing", run.subscription_id)
        return _failed_summary(run, error, time.monotonic() - started)


def _failed_summary(run: PartitionRun, error: BaseException, seconds: float) -> RunSummary:
    return RunSummary(
        subscription_id=run.subscription_id,
        success=False,
        seconds=round(seconds, 2),
        totals=dict.fromkeys(("fetched", "mapping_errors", *SYNC_COUNTS), 0),
        error=f"raised {type(error).__name__}: {' '.join(str(error).split())[:500]}",
    )


class _SharedStream(io.TextIOBase):
    """Writes through to the stream it wraps, but has no file descriptor."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")


@contextmanager
def _shared_streams() -> Iterator[None]:
    """stdout and stderr without a file descriptor while runs execute in threads.

    Dagster captures a run's output by pointing file descriptors 1 and 2 at the run's log file
    (os.dup2) and back at the end: process-wide, so runs in threads would swap each other's
    descriptors and leave stdout pointing at some run's log file for good. Given a stream
    without a descriptor, Dagster leaves the descriptors alone (its path for test runners'
    streams): output goes to the terminal; the runs' events and logs are in the event log as
    always, only their raw stdout/stderr file stays empty.
    """
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _SharedStream(saved[0]), _SharedStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


@dataclass
class WindowOutcome:
    """One incremental tick run headlessly: the sensor's result and the runs it requested."""

    result: SensorResult
    summaries: list[RunSummary]

    @property
    def cursor(self) -> str | None:
        return self.result.cursor


def incremental_window(
    defs: Definitions,
    instance: DagsterInstance,
    cursor: str | None = None,
    log_level: str = "INFO",
) -> WindowOutcome:
    """What the daemon does with one tick of the change-window sensor: evaluate it, then run
    each requested run (incremental or full) to the end, one after the other."""
    return sensor_tick(defs, instance, INCREMENTAL_SENSOR, cursor, log_level)


def sensor_tick(
    defs: Definitions,
    instance: DagsterInstance,
    name: str,
    cursor: str | None = None,
    log_level: str = "INFO",
) -> WindowOutcome:
    """One tick of a run-requesting sensor, then each requested run to the end, tagged with
    its run key as the daemon tags it."""
    sensor = defs.resolve_sensor_def(name)
    with build_sensor_context(
        instance=instance, resources=_resources(defs), definitions=defs, cursor=cursor
    ) as context:
        result = sensor(context)
    if not isinstance(result, SensorResult):  # a SkipReason: nothing asked, cursor kept
        result = SensorResult(skip_reason=result, cursor=cursor)
    summaries = [
        sync_partition(
            defs,
            instance,
            request.partition_key or "",
            request.run_config,
            log_level,
            tags={**request.tags, **({RUN_KEY_TAG: request.run_key} if request.run_key else {})},
        )
        for request in result.run_requests or []
    ]
    return WindowOutcome(result, summaries)


def sync_partition(
    defs: Definitions,
    instance: DagsterInstance,
    subscription_id: str,
    run_config: dict[str, Any] | None = None,
    log_level: str = "INFO",
    *,
    asset_selection: Sequence[AssetKey] | None = None,
    tags: dict[str, str] | None = None,
    from_code_location: bool = False,
    release_dead: bool = True,
) -> RunSummary:
    """Runs one partition's sync the way the run launcher does, and keeps only its figures.

    `execute_job` (not `execute_in_process`, which keeps every step's output value in memory
    for inspection: a whole subscription's raw objects). `from_code_location`: reconstruct the
    job from `azure_port_pipeline.definitions`, as the UI and the daemon do, so the run can
    be re-executed from the UI; otherwise the job of `defs` as given.
    """
    defs.resolve_job_def(SYNC_JOB)  # fail early, by name, if the job is missing
    # No daemon watches headless runs: a run killed earlier would keep its pool slots forever.
    if release_dead:
        release_dead_runs(instance)
    started = time.monotonic()
    with _sync_job(defs, from_code_location) as job:
        if asset_selection:
            job = job.get_subset(
                asset_selection=set(asset_selection),
                asset_check_selection=_inline_checks(defs, asset_selection),
            )
        result = execute_job(
            job,
            instance=instance,
            run_config={
                **(run_config or full_sync_run_config()),
                "loggers": {"console": {"config": {"log_level": log_level}}},
            },
            tags={**(tags or {}), **worker_tags(), "dagster/partition": subscription_id},
            raise_on_error=False,
        )
    totals = dict.fromkeys(("fetched", "mapping_errors", *SYNC_COUNTS), 0)
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        layer = materialization.asset_key.path[0] if materialization else None
        names = LAYER_COUNTS.get(layer, ())
        for name in names:
            value = materialization.metadata.get(name)
            if value is not None:
                totals[name] += int(value.value)
    checks = {
        f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}": evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
    }
    return RunSummary(
        subscription_id=subscription_id,
        success=result.success,
        seconds=round(time.monotonic() - started, 2),
        totals=totals,
        checks=checks,
        error=_first_failure(result),
    )


def _first_failure(result: Any) -> str | None:
    for event in result.get_step_failure_events():
        error = event.event_specific_data.error
        cause = error.cause or error
        return f"{event.step_key}: {cause.cls_name}: {' '.join(cause.message.split())[:500]}"
    return None


#: Definitions lent to `execute_job` for the duration of one headless run, by a random key.
_LENT: dict[str, Definitions] = {}


@contextmanager
def _sync_job(defs: Definitions, from_code_location: bool) -> Iterator[ReconstructableJob]:
    if from_code_location:
        yield build_reconstructable_job(__name__, code_location_sync_job.__name__)
    else:
        with _lent_sync_job(defs) as job:
            yield job


def code_location_sync_job() -> JobDefinition:
    """The sync job of the code location Dagster loads (`azure_port_pipeline.definitions`)."""
    return code_location_definitions().resolve_job_def(SYNC_JOB)


@functools.cache
def code_location_definitions() -> Definitions:
    """The code location, loaded once per process as a code server loads it: `execute_job`
    rebuilds its reconstructable job several times a run (plan, run, steps), and each load
    compiles every jq program of the mapping again (about 0.7 s of CPU a load)."""
    from azure_port_pipeline.definitions import defs

    return defs()


@contextmanager
def _lent_sync_job(defs: Definitions) -> Iterator[ReconstructableJob]:
    """The given definitions' sync job, as the reconstructable job `execute_job` requires.

    The in-process executor reconstructs the job in this very process, so the job is looked up
    by a key rather than rebuilt from a module: resources passed to `defs` (emulator URLs,
    literal test secrets) are used as given and never written into the run's stored origin.
    """
    key = uuid.uuid4().hex
    _LENT[key] = defs
    try:
        yield build_reconstructable_job(
            __name__, lent_sync_job.__name__, reconstructable_kwargs={"key": key}
        )
    finally:
        del _LENT[key]


def lent_sync_job(key: str) -> JobDefinition:
    return _LENT[key].resolve_job_def(SYNC_JOB)


def _inline_checks(defs: Definitions, assets: Sequence[AssetKey]) -> set[AssetCheckKey]:
    """The checks a subset run evaluates: those of the selected assets, never freshness
    (a sync of one kind cannot say whether every subscription is fresh)."""
    selected = set(assets)
    return {
        key
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.asset_key in selected and key.name != CHECK_FRESHNESS
    }


def _resources(defs: Definitions) -> dict[str, Any]:
    return dict(defs.resources or {})
