"""Jobs: sync a subscription (any mode), check freshness (retiring is in retire.py)."""

from typing import Any

from dagster import AssetSelection, define_asset_job, in_process_executor

from azure_port_pipeline.defs.blueprints import BLUEPRINTS_KEY

SYNC_JOB = "azure_port_sync"
FRESHNESS_JOB = "azure_port_freshness"
MODE_TAG = "azure_port_pipeline/mode"
SUBSCRIPTION_NAME_TAG = "azure_port_pipeline/subscription_name"
TRIGGER_TAG = "azure_port_pipeline/trigger"
# Everything one subscription's sync materializes; the blueprints (unpartitioned) come first.
SYNC_SELECTION = AssetSelection.assets(BLUEPRINTS_KEY) | AssetSelection.groups(
    "azure_raw", "port_entities", "port_sync"
)


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
        selection=SYNC_SELECTION - checks_to_skip,
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
