"""Backfills launched by sensors: the one place that uses Dagster's internal `AssetGraphSubset`.

A sensor launches a real backfill (listed under Runs → Backfills, with its own progress, status
and cancel) only by returning `RunRequest.for_asset_graph_subset(...)`, whose argument type is
internal in Dagster 1.13. Everything that touches it stays here, so a Dagster upgrade that
changes it breaks one module, and `defs/test_backfills.py` (which runs the real sensor daemon)
says so loudly.

Backfill runs take no run config (Dagster drops it): they sync in the default mode, `full`.
"""

from collections.abc import Iterable, Mapping

from dagster import AssetKey, RunRequest
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.definitions.events import AssetKeyPartitionKey


def partitions_backfill(
    asset_graph: BaseAssetGraph,
    asset_keys: Iterable[AssetKey],
    partition_keys: Iterable[str],
    tags: Mapping[str, str],
) -> RunRequest:
    """One backfill of `asset_keys` over `partition_keys`; unpartitioned assets once.

    The unpartitioned `port/blueprints` asset runs first (it checks both sides' credentials
    and the blueprints); the partitions' runs follow it, each run syncing one subscription.
    """
    keys = sorted(set(partition_keys))
    targets: set[AssetKeyPartitionKey] = set()
    for asset_key in asset_keys:
        if asset_graph.get(asset_key).partitions_def is None:
            targets.add(AssetKeyPartitionKey(asset_key))
        else:
            targets.update(AssetKeyPartitionKey(asset_key, key) for key in keys)
    subset = AssetGraphSubset.from_asset_partition_set(targets, asset_graph)
    return RunRequest.for_asset_graph_subset(subset, tags=dict(tags))


def backfilled_partitions(request: RunRequest, asset_key: AssetKey) -> set[str]:
    """The partitions of `asset_key` a backfill request covers (for tests and logs)."""
    subset = request.asset_graph_subset
    if subset is None or asset_key not in subset.asset_keys:
        return set()
    return set(subset.get_partitions_subset(asset_key).get_partition_keys())


def is_backfill(request: RunRequest) -> bool:
    return request.requires_backfill_daemon()
