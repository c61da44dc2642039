"""Schedules: the full resync of every subscription, and the freshness check."""

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)

from azure_port_pipeline.defs.jobs import (
    FRESHNESS_JOB,
    MODE_TAG,
    SUBSCRIPTION_NAME_TAG,
    SYNC_JOB,
    full_sync_run_config,
)
from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION, subscription_names

FULL_RESYNC_SCHEDULE = "full_resync"


def build_full_resync_schedule(cron: str, status: DefaultScheduleStatus) -> ScheduleDefinition:
    @schedule(
        name=FULL_RESYNC_SCHEDULE,
        cron_schedule=cron,
        job_name=SYNC_JOB,
        default_status=status,
        execution_timezone="UTC",
        description="Full resync of every known subscription: one run per partition.",
    )
    def full_resync(context: ScheduleEvaluationContext) -> list[RunRequest]:
        tick = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        subscriptions = context.instance.get_dynamic_partitions(SUBSCRIPTIONS_PARTITION)
        names = subscription_names(context.instance, list(subscriptions))
        return [
            RunRequest(
                partition_key=subscription_id,
                run_key=f"full:{subscription_id}:{tick}",
                run_config=full_sync_run_config(),
                tags={MODE_TAG: "full", SUBSCRIPTION_NAME_TAG: names.get(subscription_id, "")},
            )
            for subscription_id in subscriptions
        ]

    return full_resync


def build_freshness_schedule(status: DefaultScheduleStatus) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="freshness_check_hourly",
        cron_schedule="17 * * * *",
        job_name=FRESHNESS_JOB,
        default_status=status,
        execution_timezone="UTC",
    )
