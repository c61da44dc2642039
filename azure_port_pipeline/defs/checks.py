"""Per-subscription freshness: Dagster's freshness policy is per asset, not per partition.

One stale subscription would hide behind nine fresh ones in an asset-level policy; this check
names every (subscription, kind) whose last successful sync is older than the window.
"""

import time
from collections.abc import Sequence
from datetime import timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetKey,
    AssetRecordsFilter,
    MetadataValue,
    asset_check,
)

from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION

CHECK_FRESHNESS = "subscriptions_synced_recently"


def build_freshness_check(
    anchor: AssetKey, sync_keys: Sequence[AssetKey], window: timedelta
) -> AssetChecksDefinition:
    @asset_check(
        asset=anchor,
        name=CHECK_FRESHNESS,
        description=(
            f"Every subscription's every kind was synced successfully within the last {window}."
        ),
    )
    def subscriptions_synced_recently(context: AssetCheckExecutionContext) -> AssetCheckResult:
        instance = context.instance
        subscriptions = set(instance.get_dynamic_partitions(SUBSCRIPTIONS_PARTITION))
        since = time.time() - window.total_seconds()
        stale: list[str] = []
        for key in sync_keys:
            fresh = _partitions_materialized_since(instance, key, since)
            stale.extend(f"{sub} {key.to_user_string()}" for sub in sorted(subscriptions - fresh))
        return AssetCheckResult(
            passed=not stale,
            metadata={
                "subscriptions": len(subscriptions),
                "stale": len(stale),
                "window_hours": round(window.total_seconds() / 3600, 2),
                **({"stale_scopes": MetadataValue.json(stale[:200])} if stale else {}),
            },
        )

    return subscriptions_synced_recently


def _partitions_materialized_since(instance, key: AssetKey, since: float) -> set[str]:
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
