"""The incremental strategy's sensor: one Resource Graph change window for every subscription.

Why a sensor and not a schedule: a window's start is each subscription's durable watermark,
which lives in the sensor's cursor, and only subscriptions that changed get a run, so the
result of one query decides which runs exist at all. The sensor runs on the profile's
cadence (`minimum_interval_seconds`), and a missed or late tick loses nothing: the next
window simply starts at the watermark.

Each tick:
1. learns from the run storage which sync runs succeeded since the last tick and moves their
   subscriptions' watermarks (watermarks.py);
2. leaves out subscriptions with a run queued or in progress;
3. requests a full sync, with the reason in the run's tags, for a subscription without a
   watermark or with one older than Azure's 14-day change retention;
4. reads the changes of the other subscriptions in one query (per change table, batches of
   1,000 subscriptions, skip-token paging, quota throttling) over
   (oldest watermark - overlap, now - lag], keeps each subscription's part of it, drops types
   no mapping entry covers (counted) and changes a succeeded window already applied;
5. requests one `incremental` run per subscription that changed, its changes in the run
   config; a quiet subscription gets no run and its watermark moves to the window's end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from dagster._core.execution.backfill import BulkActionStatus

from azure_port_pipeline.azure import AzureReader, ResourceChange
from azure_port_pipeline.defs.assets import KindAssetKeys
from azure_port_pipeline.defs.incremental import mapped_types
from azure_port_pipeline.defs.jobs import (
    MODE_TAG,
    SYNC_JOB,
    TRIGGER_TAG,
    full_sync_run_config,
)
from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION, with_subscription_names
from azure_port_pipeline.defs.profiles import SyncProfile
from azure_port_pipeline.defs.resources import AzureResource
from azure_port_pipeline.defs.watermarks import (
    RETENTION,
    Watermarks,
    WindowPlan,
    as_time,
    plan_windows,
)
from azure_port_pipeline.mapping import ResourceMapping

INCREMENTAL_SENSOR = "incremental_windows"
WINDOW_START_TAG = "azure_port_pipeline/window_start"
WINDOW_END_TAG = "azure_port_pipeline/window_end"
FULL_REASON_TAG = "azure_port_pipeline/full_sync_reason"
PARTITION_TAG = "dagster/partition"
ASSET_JOB = "__ASSET_JOB"
MAX_CHANGES_PER_RUN = 5000
"""Beyond this many changed resources in one subscription's window, a full sync is cheaper
(and the run config stays small)."""

BUSY_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
_RECHECK = timedelta(minutes=5)  # runs that finished while the last tick was reading
MAX_RUNS_READ = 50_000
"""Succeeded runs read per tick, newest first: without a cursor (a new sensor) the 14 days
of history may hold more; a subscription whose runs are older than these gets a full sync."""


@dataclass(frozen=True)
class WindowSettings:
    overlap: timedelta
    lag: timedelta
    raw_keys: frozenset[AssetKey]
    types: frozenset[str]

    @classmethod
    def of(cls, profile: SyncProfile, entries: Sequence[ResourceMapping]) -> WindowSettings:
        return cls(
            overlap=timedelta(minutes=profile.change_overlap_minutes),
            lag=timedelta(seconds=profile.change_lag_seconds),
            raw_keys=frozenset(KindAssetKeys.for_entry(entry).raw for entry in entries),
            types=frozenset(mapped_types(entries)),
        )


@dataclass
class WindowTick:
    """What one evaluation decided: the runs to request, the cursor, and what it saw."""

    requests: list[RunRequest] = field(default_factory=list)
    cursor: str | None = None
    plan: WindowPlan | None = None
    quiet: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    unmapped: Counter[str] = field(default_factory=Counter)
    already_applied: int = 0
    error: str | None = None
    azure_requests: int = 0

    def summary(self) -> str:
        if self.error:
            return f"change window not read: {self.error}; watermarks kept"
        runs = Counter(request.tags.get(MODE_TAG, "") for request in self.requests)
        parts = [
            f"{runs.get('incremental', 0)} incremental runs",
            f"{runs.get('full', 0)} full syncs",
            f"{len(self.quiet)} quiet subscriptions",
        ]
        if self.busy:
            parts.append(f"{len(self.busy)} busy (a run is queued or in progress)")
        if self.unmapped:
            kinds = ", ".join(f"{t} ({n})" for t, n in self.unmapped.most_common(5))
            parts.append(
                f"{sum(self.unmapped.values())} changes of unmapped types ignored: {kinds}"
            )
        if self.already_applied:
            parts.append(f"{self.already_applied} changes already applied (overlap)")
        return "; ".join(parts)


def build_incremental_sensor(
    profile: SyncProfile, entries: Sequence[ResourceMapping], status: DefaultSensorStatus
) -> SensorDefinition:
    settings = WindowSettings.of(profile, entries)

    @sensor(
        name=INCREMENTAL_SENSOR,
        job_name=SYNC_JOB,
        minimum_interval_seconds=profile.incremental_minutes * 60,
        default_status=status,
        description=(
            f"Every {profile.incremental_minutes} min: one Resource Graph change window over "
            "every known subscription, from its watermark; an incremental run per subscription "
            "that changed, a full sync where there is no usable watermark."
        ),
    )
    def incremental_windows(context: SensorEvaluationContext, azure: AzureResource) -> SensorResult:
        with azure.reader() as reader:
            tick = evaluate_window(context.instance, context.cursor, reader, settings)
        context.log.info(tick.summary())
        return SensorResult(
            run_requests=tick.requests,
            cursor=tick.cursor,
            skip_reason=None if tick.requests else tick.summary(),
        )

    return incremental_windows


def evaluate_window(
    instance: DagsterInstance,
    cursor: str | None,
    reader: AzureReader,
    settings: WindowSettings,
    *,
    subscriptions: Iterable[str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> WindowTick:
    """One tick of the strategy (see the module docstring); `subscriptions` narrows it."""
    started = now()
    marks = Watermarks.from_cursor(cursor)
    known = list(instance.get_dynamic_partitions(SUBSCRIPTIONS_PARTITION))
    marks.forget(known)
    absorb_finished_runs(instance, marks, settings, started)
    marks.checked_at = started
    targets = sorted(set(known) & set(subscriptions)) if subscriptions is not None else known
    busy = busy_subscriptions(instance, marks, targets)
    plan = plan_windows(
        targets, marks, busy, now=started, overlap=settings.overlap, lag=settings.lag
    )
    tick = WindowTick(plan=plan, busy=sorted(busy))
    for subscription_id, reason in plan.full.items():
        tick.requests.append(_full_request(subscription_id, reason, started))
    if plan.starts:
        _read_window(reader, plan, marks, settings, tick)
    tick.requests = with_subscription_names(instance, tick.requests)
    tick.cursor = marks.to_cursor()
    return tick


def absorb_finished_runs(
    instance: DagsterInstance, marks: Watermarks, settings: WindowSettings, now: datetime
) -> None:
    """Move watermarks for the sync runs that succeeded since the last tick."""
    since = (marks.checked_at - _RECHECK) if marks.checked_at else now - RETENTION
    records = instance.get_run_records(
        RunsFilter(statuses=[DagsterRunStatus.SUCCESS], updated_after=since),
        limit=MAX_RUNS_READ,
    )
    for record in reversed(records):  # oldest first: a later run has the last word
        run = record.dagster_run
        subscription_id = run.tags.get(PARTITION_TAG)
        if not subscription_id or run.job_name not in (SYNC_JOB, ASSET_JOB):
            continue
        options = _sync_options(run.run_config)
        end = run.tags.get(WINDOW_END_TAG)
        if options.get("mode", "full") == "full":
            if run.asset_selection is not None and not settings.raw_keys <= run.asset_selection:
                continue  # some kinds only: the others may have changed meanwhile
            started = record.start_time or record.create_timestamp.timestamp()
            moment = as_time(end) if end else datetime.fromtimestamp(started, UTC)
            marks.reset(subscription_id, moment)
        elif end:
            applied = [(c["resourceId"], c["timestamp"]) for c in options.get("changes", [])]
            marks.advance(subscription_id, as_time(end), settings.overlap, applied)


def busy_subscriptions(
    instance: DagsterInstance, marks: Watermarks, subscriptions: Sequence[str]
) -> set[str]:
    """Subscriptions with a run queued or in progress (its window stays open until it ends);
    while a backfill is running, also those it may be about to sync for the first time."""
    records = instance.get_run_records(RunsFilter(statuses=BUSY_STATUSES))
    busy = {r.dagster_run.tags.get(PARTITION_TAG) for r in records} & set(subscriptions)
    if instance.get_backfills(status=BulkActionStatus.REQUESTED, limit=1):
        busy |= {s for s in subscriptions if s not in marks.marks}
    return busy


def _read_window(
    reader: AzureReader,
    plan: WindowPlan,
    marks: Watermarks,
    settings: WindowSettings,
    tick: WindowTick,
) -> None:
    start = plan.query_start
    assert start is not None
    before = reader.counters.requests
    window = reader.change_window(sorted(plan.starts), start, plan.end)
    tick.azure_requests = reader.counters.requests - before
    if not window.complete:
        tick.error = window.error or "incomplete"
        return
    by_subscription: dict[str, list[ResourceChange]] = {s: [] for s in plan.starts}
    for change in window.changes:
        subscription_id = change.subscription_id
        if subscription_id not in plan.starts or change.change_time < plan.starts[subscription_id]:
            continue
        if change.resource_type not in settings.types:
            tick.unmapped[change.resource_type] += 1
            continue
        when = change.record()["timestamp"]
        if marks.already_applied(subscription_id, change.resource_id, when):
            tick.already_applied += 1
            continue
        by_subscription[subscription_id].append(change)
    end = plan.end.isoformat()
    for subscription_id, changes in by_subscription.items():
        if not changes:
            tick.quiet.append(subscription_id)
            marks.advance(subscription_id, plan.end, settings.overlap)
        elif len(changes) > MAX_CHANGES_PER_RUN:
            reason = (
                f"{len(changes)} changed resources in the window, more than "
                f"{MAX_CHANGES_PER_RUN}: a full sync is cheaper"
            )
            tick.requests.append(_full_request(subscription_id, reason, plan.end))
        else:
            start = plan.starts[subscription_id].isoformat()
            tick.requests.append(
                RunRequest(
                    partition_key=subscription_id,
                    run_key=f"incremental:{subscription_id}:{end}",
                    run_config=incremental_run_config(changes, start, end),
                    tags={
                        MODE_TAG: "incremental",
                        WINDOW_START_TAG: start,
                        WINDOW_END_TAG: end,
                        TRIGGER_TAG: INCREMENTAL_SENSOR,
                    },
                )
            )


def incremental_run_config(
    changes: Sequence[ResourceChange], start: str, end: str
) -> dict[str, Any]:
    config = {
        "mode": "incremental",
        "window_start": start,
        "window_end": end,
        "changes": [change.record() for change in changes],
    }
    return {"resources": {"sync_options": {"config": config}}}


def _full_request(subscription_id: str, reason: str, moment: datetime) -> RunRequest:
    """A full sync instead of a window; once it succeeds, the watermark is `moment` (the
    listing starts after it, so it reflects every change made before)."""
    stamp = moment.isoformat()
    return RunRequest(
        partition_key=subscription_id,
        run_key=f"full:{subscription_id}:{stamp}",
        run_config=full_sync_run_config(),
        tags={
            MODE_TAG: "full",
            FULL_REASON_TAG: reason,
            WINDOW_END_TAG: stamp,
            TRIGGER_TAG: INCREMENTAL_SENSOR,
        },
    )


def _sync_options(run_config: Any) -> dict[str, Any]:
    try:
        return dict(run_config["resources"]["sync_options"]["config"])
    except (KeyError, TypeError):
        return {}
