"""Subscription discovery, and the manual "resync everything"; both launch real backfills.

Discovery adds a partition per newly visible enabled subscription and launches one backfill for
the subscriptions found in that tick. Subscriptions that disappear or are disabled are reported
(sensor log and cursor) but never deleted here: removal is the explicit `retire_subscription`
job. `resync_everything` is stopped by default: starting it (UI: Automation → resync_everything,
or `dagster sensor start resync_everything`) launches one full backfill of every known
subscription; it launches the next one only after being stopped and started again.
"""

import json

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from azure_port_pipeline.defs.backfills import partitions_backfill
from azure_port_pipeline.defs.jobs import (
    MODE_TAG,
    SUBSCRIPTION_NAME_TAG,
    SYNC_SELECTION,
    TRIGGER_TAG,
)
from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION, subscription_partitions
from azure_port_pipeline.defs.pools import ensure_pool_limits
from azure_port_pipeline.defs.resources import AzureResource

DISCOVERY_SENSOR = "subscription_discovery"
RESYNC_SENSOR = "resync_everything"


def build_discovery_sensor(interval_seconds: int, status: DefaultSensorStatus) -> SensorDefinition:
    @sensor(
        name=DISCOVERY_SENSOR,
        asset_selection=SYNC_SELECTION,
        minimum_interval_seconds=interval_seconds,
        default_status=status,
        description="Adds a partition per newly visible enabled subscription and launches one "
        "backfill (full sync) of the subscriptions found in the tick; reports subscriptions that "
        "vanished or were disabled.",
    )
    def subscription_discovery(
        context: SensorEvaluationContext, azure: AzureResource
    ) -> SensorResult | SkipReason:
        ensure_pool_limits(context.instance)  # before the first runs race to make them
        listing = azure.reader().list_subscriptions()
        names = {
            record["subscription_id"]: str(record.get("display_name") or "")
            for record in listing.enabled
        }
        enabled = set(names)
        known = set(context.instance.get_dynamic_partitions(SUBSCRIPTIONS_PARTITION))
        new = sorted(enabled - known)
        previously_missing = set(json.loads(context.cursor)["missing"]) if context.cursor else set()
        missing = sorted(known - enabled) if listing.complete else sorted(previously_missing)
        for subscription_id in sorted(set(missing) - previously_missing):
            context.log.warning(
                f"subscription {subscription_id} is no longer visible or enabled in Azure; its "
                "entities stay in Port until the retire_subscription job is run for it"
            )
        cursor = json.dumps({"missing": missing})
        if not new:
            return SensorResult(skip_reason=_skip_message(len(known), missing), cursor=cursor)
        tags = {MODE_TAG: "full", TRIGGER_TAG: "discovery"}
        if len(new) == 1:  # backfill tags go on every run of it: a name only when it is one
            tags[SUBSCRIPTION_NAME_TAG] = names[new[0]]
        context.log.info(
            "discovered "
            + ", ".join(f"{names[s] or '(unnamed)'} ({s})" for s in new)
            + "; launching one backfill"
        )
        return SensorResult(
            dynamic_partitions_requests=[subscription_partitions.build_add_request(new)],
            run_requests=[_backfill(context, new, tags)],
            cursor=cursor,
        )

    return subscription_discovery


def build_resync_sensor() -> SensorDefinition:
    @sensor(
        name=RESYNC_SENSOR,
        asset_selection=SYNC_SELECTION,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.STOPPED,
        description="Start this sensor to resync everything: one backfill (full sync) of every "
        "known subscription. It then idles; stop and start it again for another resync.",
    )
    def resync_everything(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        started = context.last_sensor_start_time
        handled = json.loads(context.cursor)["started"] if context.cursor else None
        if started is None or started == handled:
            return SkipReason(
                "resync done for this start; stop and start this sensor to resync everything again"
            )
        subscriptions = sorted(context.instance.get_dynamic_partitions(SUBSCRIPTIONS_PARTITION))
        cursor = json.dumps({"started": started})
        if not subscriptions:
            return SensorResult(skip_reason="no subscriptions known yet", cursor=cursor)
        context.log.info(f"resyncing {len(subscriptions)} subscriptions in one backfill")
        tags = {MODE_TAG: "full", TRIGGER_TAG: "resync_everything"}
        return SensorResult(run_requests=[_backfill(context, subscriptions, tags)], cursor=cursor)

    return resync_everything


def _backfill(
    context: SensorEvaluationContext, subscriptions: list[str], tags: dict[str, str]
) -> RunRequest:
    asset_graph = context.repository_def.asset_graph
    return partitions_backfill(
        asset_graph, SYNC_SELECTION.resolve(asset_graph), subscriptions, tags
    )


def _skip_message(known: int, missing: list[str]) -> str:
    message = f"no new subscriptions ({known} known)"
    if missing:
        message += f"; {len(missing)} no longer visible or enabled: {', '.join(missing[:10])}"
    return message
