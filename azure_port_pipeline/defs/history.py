"""What this installation's earlier runs left for a subscription: the snapshots an incremental
run starts from, and whether Port took them."""

from __future__ import annotations

from typing import TypeVar

from dagster import AssetExecutionContext, AssetKey, AssetRecordsFilter

from azure_port_pipeline.defs.snapshot_store import SnapshotStore
from azure_port_pipeline.defs.snapshots import EntitySnapshot, RawSnapshot

T = TypeVar("T", RawSnapshot, EntitySnapshot)


def previous_snapshot(
    context: AssetExecutionContext, key: AssetKey, kind: type[T], store: SnapshotStore
) -> T | None:
    """What this asset stored for this subscription last time (its materialization's path)."""
    result = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[context.partition_key]), limit=1
    )
    for record in result.records:
        path = record.asset_materialization.metadata.get("path")
        if path is None or not store.exists(str(path.value)):
            return None
        snapshot = store.read(str(path.value))
        return snapshot if isinstance(snapshot, kind) else None
    return None


def written_to_port(context: AssetExecutionContext, entities: AssetKey, sync: AssetKey) -> bool:
    """Whether Port holds this kind's latest entity snapshot: the same run then synced it
    without a write failure. (A run that failed after mapping left a snapshot Port may not
    have: its changes are compared with Port itself, never with that snapshot.)"""
    latest = {}
    for key in (entities, sync):
        result = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=[context.partition_key]), limit=1
        )
        if not result.records:
            return False
        latest[key] = result.records[0]
    mapped, synced = latest[entities], latest[sync]
    failures = synced.asset_materialization.metadata.get("write_failures")
    return mapped.run_id == synced.run_id and failures is not None and failures.value == 0
