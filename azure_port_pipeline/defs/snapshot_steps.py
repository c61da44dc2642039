"""How each mode builds a kind's raw and entity snapshots (the assets' bodies, Dagster aside).

Full: list the kind and map every item. Incremental (and event): bring the previous snapshot
forward by the changed ids (incremental.py), or list the kind when that is cheaper, and map
only what changed; when Port provably holds the previous entities, send it only what differs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from azure_port_pipeline.azure import ResourceChange
from azure_port_pipeline.azure.listing import RESOURCE_GROUPS_KIND
from azure_port_pipeline.defs.incremental import (
    diff_entities,
    entry_types,
    listing_cost,
    merge_raw,
    read_changes,
    remap,
)
from azure_port_pipeline.defs.resources import SyncOptions
from azure_port_pipeline.defs.snapshots import EntitySnapshot, RawSnapshot
from azure_port_pipeline.mapping import IdentifierPolicy, ResourceMapping, map_items
from azure_port_pipeline.mapping.models import MappingReport


def listed(reader: Any, entry: ResourceMapping, subscription_id: str, mode: str) -> RawSnapshot:
    listing = reader.list_kind(
        subscription_id, entry.kind, entry.api_version, entry.resource_kinds or None
    )
    return RawSnapshot(
        kind=entry.kind,
        subscription_id=subscription_id,
        items=listing.items,
        complete=listing.complete,
        error=listing.error,
        fetched_at=datetime.now(UTC).isoformat(),
        mode=mode,
    )


def brought_forward(
    reader: Any,
    entry: ResourceMapping,
    subscription_id: str,
    previous: RawSnapshot | None,
    changes: list[ResourceChange],
) -> RawSnapshot:
    """This kind's snapshot after the window: by id when that is cheaper than a listing."""
    mine = [c for c in changes if c.resource_type in entry_types(entry)]
    cost = listing_cost(previous)
    if cost is None:
        fallback = "no complete earlier snapshot of this kind"
    elif len(mine) > cost:
        fallback = (
            f"{len(mine)} changed ids would cost more requests than listing the kind ({cost})"
        )
    else:
        fallback = None
    relevant = [c for c in changes if c in mine or c.resource_type == RESOURCE_GROUPS_KIND]
    if fallback is not None:
        snapshot = listed(reader, entry, subscription_id, "incremental")
        snapshot.fallback = fallback
        snapshot.changes = [change.record() for change in mine]
        if previous is not None:
            snapshot.stats["listing_requests"] = previous.stats.get("listing_requests", 0)
        return snapshot
    assert previous is not None
    update = read_changes(reader, entry, subscription_id, relevant)
    stats = {"listing_requests": previous.stats.get("listing_requests", cost)}
    merged = merge_raw(previous, update, mine, stats=stats)
    if update.unreadable:
        merged.error = "; ".join(f"{rid}: {text}" for rid, text in update.unreadable.items())
    return merged


def mapped(
    entry: ResourceMapping,
    raw: RawSnapshot,
    previous: EntitySnapshot | None,
    in_port: bool,
    policy: IdentifierPolicy,
) -> EntitySnapshot:
    """Every item mapped (a listing, or no earlier entity snapshot to build on), or only the
    changed ones merged into the previous entities (see incremental.remap).

    `in_port`: the previous snapshot is what Port holds (its sync succeeded without a write
    failure). An incremental run then sends Port only the entities that differ from it: a
    listing made instead of reads by id becomes a diff, and a change to a field the mapping
    does not read costs nothing in Port.
    """
    snapshot = EntitySnapshot(
        kind=entry.kind,
        subscription_id=raw.subscription_id,
        entities=[],
        report=MappingReport(kind=entry.kind),
        listing_complete=raw.complete,
        listing_error=raw.error,
        mode=raw.mode,
        fetched=len(raw.items),
        stats=dict(raw.stats),
        changes=raw.changes,
        fallback=raw.fallback,
    )
    if raw.changed_ids is None or previous is None:
        result = map_items(entry, raw.items, policy)
        snapshot.entities, snapshot.report = result.entities, result.report
        snapshot.sources = [(source or "").lower() or None for source in result.sources]
        if previous is not None and in_port and snapshot.deletion_blocker() is None:
            changed, deleted = diff_entities(previous.entities, snapshot.entities)
            snapshot.changed_keys, snapshot.deleted_keys = changed, deleted
        return snapshot
    entities, sources, report, changed, deleted = remap(entry, raw, previous, policy)
    snapshot.entities, snapshot.sources, snapshot.report = entities, sources, report
    snapshot.fetched = len(raw.changed_ids)
    if in_port:
        differing, _ = diff_entities(previous.entities, entities)
        changed = [key for key in changed if key in set(differing)]
    snapshot.changed_keys, snapshot.deleted_keys = changed, deleted
    return snapshot


def changes_of(sync_options: SyncOptions, subscription_id: str) -> list[ResourceChange]:
    wanted = subscription_id.lower()
    return [
        change
        for change in sync_options.resource_changes()
        if (change.subscription_id or wanted) == wanted
    ]
