"""Run the pipeline without the daemon: evaluate discovery, then execute its run requests.

The headless demo, the benchmarks and the end-to-end tests use this; it drives the very sensor
and job the daemon would, in this process, against a real Dagster instance, for the
`Definitions` it is given (with their resources), not the code location's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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

from azure_port_pipeline.defs.change_windows import INCREMENTAL_SENSOR
from azure_port_pipeline.defs.checks import CHECK_FRESHNESS
from azure_port_pipeline.defs.event_sensor import RUN_KEY_TAG
from azure_port_pipeline.defs.jobs import SYNC_JOB, full_sync_run_config
from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION
from azure_port_pipeline.defs.run_health import release_dead_runs, worker_tags
from azure_port_pipeline.defs.sensors import DISCOVERY_SENSOR

SYNC_COUNTS = ("created", "updated", "unchanged", "deleted", "write_failures")
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
    defs: Definitions, instance: DagsterInstance, log_level: str = "INFO"
) -> list[RunSummary]:
    """What the daemon does with discovery's backfill, one partition after the other."""
    result = discover(defs, instance)
    if not isinstance(result, SensorResult):
        return []
    new = [key for add in result.dynamic_partitions_requests or [] for key in add.partition_keys]
    tags = {
        key: value for request in result.run_requests or [] for key, value in request.tags.items()
    }
    return [
        sync_partition(
            defs, instance, subscription_id, full_sync_run_config(), log_level, tags=tags
        )
        for subscription_id in new
    ]


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
) -> RunSummary:
    """Runs one partition's sync the way the run launcher does, and keeps only its figures.

    `execute_job` (not `execute_in_process`, which keeps every step's output value in memory
    for inspection: a whole subscription's raw objects). `from_code_location`: reconstruct the
    job from `azure_port_pipeline.definitions`, as the UI and the daemon do, so the run can
    be re-executed from the UI; otherwise the job of `defs` as given.
    """
    defs.resolve_job_def(SYNC_JOB)  # fail early, by name, if the job is missing
    # No daemon watches headless runs: a run killed earlier would keep its pool slots forever.
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
    from azure_port_pipeline.definitions import defs

    return defs().resolve_job_def(SYNC_JOB)


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
