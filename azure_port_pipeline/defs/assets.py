"""Three assets per mapping entry: raw Azure objects, mapped entities, and the Port sync.

Generated from the mapping, so adding a kind to `mapping/azure.yaml` adds its three assets.
Every run mode (full, incremental, event) materializes these same assets, so the UI keeps one
history per asset and subscription.

A subscription's run has three steps, not three per kind: `port/blueprints`, then
`azure_read` (every kind's raw and entity assets: the kinds listed concurrently within
Azure's read budget, each mapped as soon as it is read) and `port_write` (every kind's sync
asset, in relation order, independent kinds concurrently). A step's fixed cost in Dagster
(events, storage round trips) is paid 3 times per subscription instead of 3 x kinds + 2; each
asset still has its own materializations, metadata, checks and lineage, and both steps can
be subset, so one kind can still be materialized alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dagster import AssetExecutionContext, AssetKey

from azure_port_pipeline.defs.jobs import SUBSCRIPTION_NAME_TAG
from azure_port_pipeline.defs.partitions import subscription_names
from azure_port_pipeline.mapping import ResourceMapping

RAW_GROUP, ENTITIES_GROUP, SYNC_GROUP = "azure_raw", "port_entities", "port_sync"
READ_STEP, WRITE_STEP = "azure_read", "port_write"
SNAPSHOTS = "snapshots"
"""Resource key of the SnapshotStore."""

CHECK_MAPPING_ERRORS = "no_mapping_errors"
CHECK_WRITE_FAILURES = "no_port_write_failures"
CHECK_COUNTS = "azure_port_counts_match"


@dataclass(frozen=True, slots=True)
class KindAssetKeys:
    raw: AssetKey
    entities: AssetKey
    sync: AssetKey

    @classmethod
    def for_entry(cls, entry: ResourceMapping) -> KindAssetKeys:
        return cls(
            raw=AssetKey(["azure", entry.key]),
            entities=AssetKey(["port_entities", entry.key]),
            sync=AssetKey(["port_sync", entry.key]),
        )


def describe(entry: ResourceMapping) -> str:
    if entry.resource_kinds:
        return ", ".join(f"`{t}` ({v})" for t, v in sorted(entry.resource_kinds.items()))
    version = f" (api-version {entry.api_version})" if entry.api_version else ""
    return f"`{entry.kind}`{version}"


def subscription_label(context: AssetExecutionContext, name: str | None = None) -> dict[str, str]:
    """Which subscription a materialization or check is about, by id and display name.

    Partition keys are GUIDs; the name is the one given (what Azure just returned), else the
    run's tag (set by the schedule, by discovery of one subscription, or by the read step),
    else the name recorded by the latest `azure/subscription` materialization.
    """
    subscription_id = context.partition_key
    name = name or run_subscription_name(context)
    if name is None:
        name = subscription_names(context.instance, [subscription_id]).get(subscription_id, "")
    return {"subscription": subscription_id, "subscription_name": name}


def run_subscription_name(context: AssetExecutionContext) -> str | None:
    """The run's name tag, as stored now: an earlier step of this run may have set it."""
    name = context.run.tags.get(SUBSCRIPTION_NAME_TAG)
    if name is None:
        stored = context.instance.get_run_by_id(context.run.run_id)
        name = stored.tags.get(SUBSCRIPTION_NAME_TAG) if stored else None
    return name


def subscription_item_name(entry: ResourceMapping, items: Sequence[dict[str, Any]]) -> str | None:
    """The display name Azure returned, when this kind is the subscription itself."""
    if entry.kind.lower() == "subscription" and items:
        return str(items[0].get("display_name") or "") or None
    return None
