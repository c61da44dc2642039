"""Jobs: sync a subscription (any mode), check freshness, retire a subscription."""

from typing import Any

from dagster import (
    AssetSelection,
    Config,
    OpExecutionContext,
    define_asset_job,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION

SYNC_JOB = "azure_port_sync"
FRESHNESS_JOB = "azure_port_freshness"
MODE_TAG = "azure_port_pipeline/mode"


def full_sync_run_config() -> dict:
    return {"resources": {"sync_options": {"config": {"mode": "full"}}}}


def build_sync_job(checks_to_skip: AssetSelection) -> Any:
    """All kinds of one subscription in one run.

    In-process execution: the 3 x kinds steps share one process instead of paying a Python
    start-up each, and parallelism comes from concurrent runs (one per subscription, bounded in
    dagster.yaml) rather than from steps fighting over the same two APIs.
    """
    return define_asset_job(
        SYNC_JOB,
        selection=AssetSelection.groups("azure_raw", "port_entities", "port_sync") - checks_to_skip,
        executor_def=in_process_executor,
        config=full_sync_run_config(),
        description="Sync one Azure subscription into Port (mode in run config; full by default).",
    )


def build_freshness_job(freshness_check: AssetSelection) -> Any:
    return define_asset_job(
        FRESHNESS_JOB,
        selection=freshness_check,
        description="Checks that every subscription was synced within the freshness window.",
    )


class RetireSubscriptionConfig(Config):
    subscription_id: str = Field(description="The subscription whose entities to remove.")
    confirm: str = Field(
        description="Type the subscription id again: removing entities cannot be undone."
    )


def build_retire_job(retire_op_body) -> object:
    """Explicit removal of a subscription that vanished or was disabled in Azure.

    The discovery sensor never deletes: a subscription that disappears may be a permissions
    hiccup. An operator launches this job (config: subscription_id and confirm) to delete the
    entities this installation wrote for it and drop its partition.
    """

    @op(name="delete_subscription_entities", required_resource_keys={"port"})
    def retire_subscription(context: OpExecutionContext, config: RetireSubscriptionConfig) -> None:
        if config.confirm != config.subscription_id:
            raise ValueError("confirm must repeat subscription_id exactly; nothing was deleted")
        retire_op_body(context, config.subscription_id)
        context.instance.delete_dynamic_partition(SUBSCRIPTIONS_PARTITION, config.subscription_id)
        context.log.info(f"partition {config.subscription_id} removed")

    @job(name="retire_subscription", executor_def=in_process_executor)
    def retire_subscription_job() -> None:
        retire_subscription()

    return retire_subscription_job
