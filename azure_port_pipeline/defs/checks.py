"""Per-subscription freshness: Dagster's freshness policy is per asset, not per partition.

One stale subscription would hide behind nine fresh ones in an asset-level policy; this check
runs on every `port_sync/*` asset and names each subscription whose last successful sync of
that kind is older than the window.
"""

import time
from collections.abc import Iterator, Sequence
from datetime import timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    MetadataValue,
    multi_asset_check,
)

from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION

CHECK_FRESHNESS = "subscriptions_synced_recently"


def build_freshness_check(
    sync_keys: Sequence[AssetKey], window: timedelta
) -> AssetChecksDefinition:
    description = f"Every subscription was synced successfully within the last {window}."

    @multi_asset_check(
        name=CHECK_FRESHNESS,
        can_subset=True,
        specs=[
            AssetCheckSpec(CHECK_FRESHNESS, asset=key, description=description) for key in sync_keys
        ],
    )
    def subscriptions_synced_recently(
        context: AssetCheckExecutionContext,
    ) -> Iterator[AssetCheckResult]:
        instance = context.instance
        subscriptions = set(instance.get_dynamic_partitions(SUBSCRIPTIONS_PARTITION))
        since = time.time() - window.total_seconds()
        selected = {check_key.asset_key for check_key in context.selected_asset_check_keys}
        for key in (key for key in sync_keys if key in selected):
            stale = sorted(subscriptions - _partitions_materialized_since(instance, key, since))
            yield AssetCheckResult(
                asset_key=key,
                check_name=CHECK_FRESHNESS,
                passed=not stale,
                metadata={
                    "subscriptions": len(subscriptions),
                    "stale": len(stale),
                    "window_hours": round(window.total_seconds() / 3600, 2),
                    **({"stale_subscriptions": MetadataValue.json(stale[:200])} if stale else {}),
                },
            )

    return subscriptions_synced_recently


def _partitions_materialized_since(
    instance: DagsterInstance, key: AssetKey, since: float
) -> set[str]:
    fresh: set[str] = set()
    cursor = None
    while True:
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, after_timestamp=since), limit=1000, cursor=cursor
        )
        fresh.update(record.partition_key for record in result.records if record.partition_key)
        if not result.has_more:
            return fresh
        cursor = result.cursor
