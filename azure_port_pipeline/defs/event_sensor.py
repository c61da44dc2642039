"""Real-time sync: the `azure_events` sensor pulls Event Grid's deliveries from a Storage Queue.

No public endpoint and no service of our own: Event Grid writes resource events to a queue
and this sensor, run by Dagster's daemon every few seconds, receives them in batches. An event
is a hint, never the data: it names a resource that changed, and the run it leads to reads the
resource's current state from ARM (mode `event`, the same assets as the other modes), so a
duplicate or a delete delivered before the write that preceded it cannot leave Port wrong.

Nothing is lost on a crash: a message is deleted only once the run covering it exists (found by
its run key on the next tick); until then it is merely invisible for the queue's visibility
timeout and comes back if the sensor died.

At most one sync run per subscription waits in the run queue: while one has not started, the
subscription's new events are held in the cursor (their messages not deleted) and join the next
run, requested on the first tick after the waiting one starts. A subscription that changes
faster than its runs finish gets one run per run, not one per tick, so the queue never grows
and each run covers everything that arrived while the previous one ran.

Messages that cannot be decoded, or were delivered too often, are moved to `<queue>-poison` by
the queue reader. Events of other types, of subscriptions that are not partitions, or of kinds
no mapping entry covers are counted and deleted. The incremental windows stay underneath: an
event run that fails for good is repaired by the next window that covers its changes.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from azure_port_pipeline.azure import ResourceChange
from azure_port_pipeline.azure.events import EventQueueUnavailable, Receipt, ResourceEvent
from azure_port_pipeline.defs.change_windows import PARTITION_TAG
from azure_port_pipeline.defs.incremental import mapped_types
from azure_port_pipeline.defs.jobs import MODE_TAG, SYNC_JOB, TRIGGER_TAG
from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION, with_subscription_names
from azure_port_pipeline.defs.resources import EventQueueResource
from azure_port_pipeline.mapping import ResourceMapping

EVENTS_SENSOR = "azure_events"
EVENT_MODE = "event"
RUN_KEY_TAG = "dagster/run_key"
DEFAULT_INTERVAL_SECONDS = 10
WAITING_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
]
"""A sync run in these has not read its changes yet, but can take no more: events wait."""

Held = dict[str, dict[str, Any]]
"""Per subscription: `changes` (lower-case resource id -> change record, latest event) and
`receipts` (message id -> pop receipt) of events received but not yet given to a run."""


@dataclass
class EventTick:
    requests: list[RunRequest] = field(default_factory=list)
    cursor: str | None = None
    received: int = 0
    deleted: int = 0
    held: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    poisoned: int = 0
    error: str | None = None

    def summary(self) -> str:
        if self.error:
            return f"events queue not read: {self.error}"
        parts = [
            f"{self.received} events received",
            f"{len(self.requests)} event runs",
            f"{self.deleted} messages deleted",
        ]
        if self.held:
            parts.append(f"{self.held} subscriptions' events held behind a queued run")
        if self.poisoned:
            parts.append(f"{self.poisoned} moved to the poison queue")
        if self.ignored:
            reasons = ", ".join(f"{why} ({n})" for why, n in self.ignored.most_common())
            parts.append(f"ignored: {reasons}")
        return "; ".join(parts)


def build_events_sensor(
    entries: Iterable[ResourceMapping], status: DefaultSensorStatus, interval_seconds: int
) -> SensorDefinition:
    types = frozenset(mapped_types(entries))

    @sensor(
        name=EVENTS_SENSOR,
        job_name=SYNC_JOB,
        minimum_interval_seconds=interval_seconds,
        default_status=status,
        description="Receives Event Grid resource events from the Storage Queue and requests one "
        "`event` run per subscription that changed; deletes messages once their run exists.",
    )
    def azure_events(
        context: SensorEvaluationContext, events_queue: EventQueueResource
    ) -> SensorResult | SkipReason:
        if not events_queue.configured:
            return SkipReason("no events queue configured (AZURE_EVENTS_QUEUE_NAME): off")
        tick = evaluate_events(context.instance, context.cursor, events_queue, types)
        if tick.error:
            return SkipReason(tick.summary())
        context.log.info(tick.summary())
        return SensorResult(
            run_requests=tick.requests,
            cursor=tick.cursor,
            skip_reason=None if tick.requests else tick.summary(),
        )

    return azure_events


def evaluate_events(
    instance: DagsterInstance,
    cursor: str | None,
    events_queue: EventQueueResource,
    types: frozenset[str],
    now: datetime | None = None,
) -> EventTick:
    """One tick: delete what earlier ticks' runs cover, receive, request runs or hold."""
    moment = now or datetime.now(UTC)
    state = json.loads(cursor) if cursor else {}
    pending: dict[str, dict[str, Any]] = state.get("pending", {})
    held: Held = state.get("held", {})
    known = set(instance.get_dynamic_partitions(SUBSCRIPTIONS_PARTITION))
    tick = EventTick()
    try:
        with events_queue.queue() as queue:
            covered = [key for key in pending if _run_exists(instance, key)]
            done = [Receipt(*pair) for key in covered for pair in pending[key]["receipts"]]
            tick.deleted += queue.delete(done).deleted
            expiry = timedelta(seconds=events_queue.visibility_timeout)
            pending = {
                key: entry
                for key, entry in pending.items()
                if key not in covered and datetime.fromisoformat(entry["at"]) + expiry > moment
            }
            batch = queue.receive()
            tick.poisoned = len(batch.poisoned)
            tick.received = len(batch.events)
            unwanted = _hold(batch.events, known, types, held, tick)
            unwanted.extend(batch.ignored)
            tick.ignored["not a resource event"] += len(batch.ignored)
            tick.deleted += queue.delete(unwanted).deleted
    except EventQueueUnavailable as error:
        tick.error = str(error)
        return tick
    waiting = _waiting_subscriptions(instance)
    for subscription_id in sorted(set(held) - waiting):
        entry = held.pop(subscription_id)
        receipts = [Receipt(*pair) for pair in sorted(entry["receipts"].items())]
        request = event_run_request(subscription_id, list(entry["changes"].values()), receipts)
        tick.requests.append(request)
        pending[request.run_key or ""] = {
            "at": moment.isoformat(),
            "receipts": [[r.message_id, r.pop_receipt] for r in receipts],
        }
    tick.held = len(held)
    tick.requests = with_subscription_names(instance, tick.requests)
    tick.cursor = json.dumps({"pending": pending, "held": held}, separators=(",", ":"))
    return tick


def _hold(
    received: list[tuple[Receipt, ResourceEvent]],
    known: set[str],
    types: frozenset[str],
    held: Held,
    tick: EventTick,
) -> list[Receipt]:
    """Adds each wanted event to its subscription's held changes (the latest event of each
    resource wins; a message received again replaces its old receipt); returns the receipts
    of the unwanted ones."""
    unwanted: list[Receipt] = []
    for receipt, event in received:
        if event.subscription_id not in known:
            tick.ignored["subscription not synced"] += 1
            unwanted.append(receipt)
            continue
        if event.resource_type not in types:
            tick.ignored[f"unmapped type {event.resource_type}"] += 1
            unwanted.append(receipt)
            continue
        entry = held.setdefault(event.subscription_id, {"changes": {}, "receipts": {}})
        key = event.resource_id.lower()
        record = _change(event).record()
        earlier = entry["changes"].get(key)
        if earlier is None or event.event_time >= datetime.fromisoformat(earlier["timestamp"]):
            entry["changes"][key] = record
        entry["receipts"][receipt.message_id] = receipt.pop_receipt
    return unwanted


def _change(event: ResourceEvent) -> ResourceChange:
    return ResourceChange(
        resource_id=event.resource_id,
        resource_type=event.resource_type,
        subscription_id=event.subscription_id,
        change_type="Delete" if event.is_delete else "Update",
        change_time=event.event_time,
        changed_by=event.changed_by,
        operation=event.operation,
    )


def _waiting_subscriptions(instance: DagsterInstance) -> set[str]:
    """Subscriptions with a sync run that has not started yet."""
    records = instance.get_run_records(RunsFilter(job_name=SYNC_JOB, statuses=WAITING_STATUSES))
    return {
        r.dagster_run.tags[PARTITION_TAG] for r in records if PARTITION_TAG in r.dagster_run.tags
    }


def event_run_request(
    subscription_id: str, changes: list[dict[str, str]], receipts: list[Receipt]
) -> RunRequest:
    """One run for a subscription's events; its run key is the set of messages it covers, so
    a message delivered again after a crash asks for the same run, not a second one."""
    digest = hashlib.sha256(
        "\n".join(sorted({r.message_id for r in receipts})).encode()
    ).hexdigest()[:24]
    ordered = sorted(
        changes, key=lambda c: (datetime.fromisoformat(c["timestamp"]), c["resourceId"])
    )
    config = {"mode": EVENT_MODE, "changes": ordered}
    return RunRequest(
        partition_key=subscription_id,
        run_key=f"event:{subscription_id}:{digest}",
        run_config={"resources": {"sync_options": {"config": config}}},
        tags={MODE_TAG: EVENT_MODE, TRIGGER_TAG: EVENTS_SENSOR},
    )


def _run_exists(instance: DagsterInstance, run_key: str) -> bool:
    return bool(instance.get_run_records(RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1))
