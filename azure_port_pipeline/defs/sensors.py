"""Subscription discovery: new enabled subscriptions get a partition and a full sync.

Subscriptions that disappear or are disabled are reported (sensor log and cursor) but never
deleted here: removal is the explicit `retire_subscription` job.
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

from azure_port_pipeline.defs.jobs import (
    MODE_TAG,
    SUBSCRIPTION_NAME_TAG,
    SYNC_JOB,
    full_sync_run_config,
)
from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION, subscription_partitions
from azure_port_pipeline.defs.resources import AzureResource

DISCOVERY_SENSOR = "subscription_discovery"


def build_discovery_sensor(interval_seconds: int, status: DefaultSensorStatus) -> SensorDefinition:
    @sensor(
        name=DISCOVERY_SENSOR,
        job_name=SYNC_JOB,
        minimum_interval_seconds=interval_seconds,
        default_status=status,
        description="Adds a partition per newly visible enabled subscription and runs its full "
        "sync; reports subscriptions that vanished or were disabled.",
    )
    def subscription_discovery(
        context: SensorEvaluationContext, azure: AzureResource
    ) -> SensorResult | SkipReason:
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
        return SensorResult(
            dynamic_partitions_requests=[subscription_partitions.build_add_request(new)],
            run_requests=[
                RunRequest(
                    partition_key=subscription_id,
                    run_key=f"discovered:{subscription_id}",
                    run_config=full_sync_run_config(),
                    tags={MODE_TAG: "full", SUBSCRIPTION_NAME_TAG: names[subscription_id]},
                )
                for subscription_id in new
            ],
            cursor=cursor,
        )

    return subscription_discovery


def _skip_message(known: int, missing: list[str]) -> str:
    message = f"no new subscriptions ({known} known)"
    if missing:
        message += f"; {len(missing)} no longer visible or enabled: {', '.join(missing[:10])}"
    return message
