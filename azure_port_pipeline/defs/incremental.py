"""Incremental runs: the previous snapshot of a kind brought forward by the window's changes.

An incremental run materializes the same assets as a full one, so each step starts from what
the last run of its asset stored and changes only what the window touched:

- raw: changed ids are read by id through ARM (the kind's api-version: the very shape a listing
  gives), ids found deleted or filtered out are removed; a deleted resource group takes its
  resources with it, and with tag filters on, a group that changed is re-read as a whole. When
  reading the changed ids would cost more requests than listing the kind did last time, or
  there is no complete earlier snapshot, the kind is listed instead (`fallback` says why);
- entities: only the changed items are mapped; the entities of removed items become
  `deleted_keys` (the identifier the mapping produced when the item was last seen, or, when
  it never was, the mapping of the change record's minimal object).

Each changed item carries its change under `__change` (`changeType`, `changedBy`,
`clientType`, `operation`, `timestamp`), so a mapping can fill a "last changed by" property.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure_port_pipeline.azure import AzureReader, ResourceChange
from azure_port_pipeline.azure.filters import resource_group_key
from azure_port_pipeline.azure.listing import (
    CLOUD_RESOURCE_KIND,
    DEFAULT_RESOURCE_GROUPS_API_VERSION,
    RESOURCE_GROUPS_KIND,
    SUBSCRIPTION_KIND,
)
from azure_port_pipeline.azure.reader import SUBSCRIPTIONS_TYPE
from azure_port_pipeline.defs.snapshots import EntitySnapshot, RawSnapshot
from azure_port_pipeline.mapping import IdentifierPolicy, ResourceMapping, map_items
from azure_port_pipeline.mapping.models import Entity, MappingReport

CHANGE_KEY = "__change"
CHANGE_FIELDS = ("changeType", "changedBy", "clientType", "operation", "timestamp")


class IncrementalReadError(Exception):
    """Azure did not answer for some changed ids (throttled, failing, unreachable): the run
    must fail so its window is read again, never be recorded as synced."""


def entry_types(entry: ResourceMapping) -> set[str]:
    """The ARM types (lower-case) whose changes concern this mapping entry."""
    kind = entry.kind.lower()
    if kind == CLOUD_RESOURCE_KIND:
        return {arm_type.lower() for arm_type in entry.resource_kinds or {}}
    if kind == SUBSCRIPTION_KIND:
        return {SUBSCRIPTIONS_TYPE}
    return {kind}


def entry_api_versions(entry: ResourceMapping) -> dict[str, str]:
    kind = entry.kind.lower()
    if kind == CLOUD_RESOURCE_KIND:
        return {arm_type.lower(): version for arm_type, version in entry.resource_kinds.items()}
    if kind == RESOURCE_GROUPS_KIND:
        return {kind: entry.api_version or DEFAULT_RESOURCE_GROUPS_API_VERSION}
    if kind == SUBSCRIPTION_KIND or not entry.api_version:
        return {}
    return {kind: entry.api_version}


def mapped_types(entries: Iterable[ResourceMapping]) -> set[str]:
    """Every ARM type some entry maps, plus resource groups (their deletion and tag filters
    concern every kind)."""
    types = {RESOURCE_GROUPS_KIND}
    for entry in entries:
        types |= entry_types(entry)
    return types


@dataclass
class RawUpdate:
    """What reading one kind's changes found, before it is merged into the snapshot."""

    items: list[dict[str, Any]] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)
    groups_removed: set[tuple[str, str]] = field(default_factory=set)
    groups_relisted: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


def read_changes(
    reader: AzureReader,
    entry: ResourceMapping,
    subscription_id: str,
    changes: Sequence[ResourceChange],
) -> RawUpdate:
    """Read the current state of this kind's changed ids, and of the groups that changed.

    Raises IncrementalReadError when Azure did not answer for some id; an id Azure refuses
    for good (a 4xx other than 404) is reported in `unreadable` and its item kept as it was.
    """
    mine = [c for c in changes if c.resource_type in entry_types(entry)]
    update = RawUpdate()
    current = reader.fetch_current(mine, entry_api_versions(entry))
    if current.transient:
        raise IncrementalReadError(
            f"{entry.kind} in {subscription_id}: Azure did not answer for "
            f"{len(current.transient)} changed ids (first: {current.errors[current.transient[0]]})"
        )
    update.items = current.items
    update.removed = {rid.lower() for rid in [*current.deleted, *current.filtered_out]}
    update.unreadable = dict(current.errors)
    kind = entry.kind.lower()
    if kind not in (RESOURCE_GROUPS_KIND, SUBSCRIPTION_KIND):
        _read_group_changes(reader, entry, subscription_id, changes, update)
    return update


def _read_group_changes(
    reader: AzureReader,
    entry: ResourceMapping,
    subscription_id: str,
    changes: Sequence[ResourceChange],
    update: RawUpdate,
) -> None:
    """A deleted group removes its resources; with tag filters on, a changed group is read
    again: out of the filters it removes them, back in it re-lists them (no row of theirs
    says they came back)."""
    groups = [c for c in changes if c.resource_type == RESOURCE_GROUPS_KIND]
    filters_on = reader.rg_filters_active
    for change in groups:
        key = resource_group_key(change.resource_id)
        if key is None:
            continue
        if not filters_on and not change.is_delete:
            continue
        current = reader.fetch_current([change], entry_api_versions_for_groups())
        if current.transient:
            raise IncrementalReadError(
                f"resource group {change.resource_id}: {current.errors[current.transient[0]]}"
            )
        if current.errors:
            update.unreadable.update(current.errors)
            continue
        if not current.items:  # deleted, or out of the filters
            update.groups_removed.add(key)
            continue
        if not filters_on:
            continue
        listing = reader.list_kind(
            subscription_id,
            entry.kind,
            entry.api_version,
            entry.resource_kinds or None,
            resource_group=key[1],
        )
        if not listing.complete:
            raise IncrementalReadError(
                f"{entry.kind} in resource group {key[1]}: listing incomplete ({listing.error})"
            )
        update.groups_relisted[key] = listing.items


def entry_api_versions_for_groups() -> dict[str, str]:
    return {RESOURCE_GROUPS_KIND: DEFAULT_RESOURCE_GROUPS_API_VERSION}


def merge_raw(
    previous: RawSnapshot,
    update: RawUpdate,
    changes: Sequence[ResourceChange],
    *,
    stats: dict[str, float],
) -> RawSnapshot:
    """The previous snapshot with the update applied: read items replace their old copies,
    removed ids and the contents of removed groups go, re-listed groups are replaced whole."""
    by_change = {c.resource_id.lower(): c for c in changes}
    items: dict[str, dict[str, Any]] = {_id(item): item for item in previous.items}
    removed = set(update.removed)
    for key in update.groups_removed:
        removed |= {rid for rid in items if resource_group_key(rid) == key}
    changed: list[str] = []
    for key, listed in update.groups_relisted.items():
        fresh = {_id(item) for item in listed}
        removed |= {rid for rid in items if resource_group_key(rid) == key and rid not in fresh}
        for item in listed:
            old = items.get(_id(item))
            if old is not None and CHANGE_KEY in old:
                item = {**item, CHANGE_KEY: old[CHANGE_KEY]}
            items[_id(item)] = item
            changed.append(_id(item))
    for item in update.items:
        rid = _id(item)
        change = by_change.get(rid)
        items[rid] = {**item, CHANGE_KEY: change_record(change)} if change else item
        changed.append(rid)
    for rid in removed:
        items.pop(rid, None)
    changed_ids = sorted(set(changed) - removed)
    return RawSnapshot(
        kind=previous.kind,
        subscription_id=previous.subscription_id,
        items=list(items.values()),
        complete=True,
        fetched_at=datetime.now(UTC).isoformat(),
        mode="incremental",
        stats=stats,
        changed_ids=changed_ids,
        removed_ids=sorted(removed),
        changes=[change.record() for change in changes],
    )


def change_record(change: ResourceChange) -> dict[str, str]:
    record = change.record()
    return {name: record[name] for name in CHANGE_FIELDS}


def reads_changes(entry: ResourceMapping) -> bool:
    """Whether the entry's mapping uses `__change` (then a listing keeps what windows saw)."""
    return CHANGE_KEY in entry.spec.model_dump_json()


def carry_changes(previous: RawSnapshot | None, listed: RawSnapshot) -> None:
    """Give listed items the `__change` their previous copy had: a listing knows nothing of
    who changed what, and a mapping that reads it must not flap between modes."""
    if previous is None:
        return
    seen = {_id(item): item[CHANGE_KEY] for item in previous.items if CHANGE_KEY in item}
    for index, item in enumerate(listed.items):
        change = seen.get(_id(item))
        if change is not None and CHANGE_KEY not in item:
            listed.items[index] = {**item, CHANGE_KEY: change}


def listing_cost(previous: RawSnapshot | None) -> int | None:
    """Requests the last listing of the kind took; None when no complete listing is known."""
    if previous is None or not previous.complete:
        return None
    return max(
        1, int(previous.stats.get("listing_requests") or previous.stats.get("azure_requests", 1))
    )


def remap(
    entry: ResourceMapping,
    raw: RawSnapshot,
    previous: EntitySnapshot,
    policy: IdentifierPolicy,
) -> tuple[
    list[Entity], list[str | None], MappingReport, list[tuple[str, str]], list[tuple[str, str]]
]:
    """(entities, their sources, this run's mapping report, changed keys, deleted keys).

    Only the changed items are mapped; the other entities are carried over. An item that no
    longer maps (its selector now excludes it) loses its entity; one whose mapping failed
    keeps its old entity, as a full sync would not delete it either.
    """
    changed = set(raw.changed_ids or [])
    removed = set(raw.removed_ids)
    touched = changed | removed
    to_map = [item for item in raw.items if _id(item) in changed]
    result = map_items(entry, to_map, policy)
    unknown = {(source or "").lower() for source in result.unknown}
    entities: list[Entity] = []
    sources: list[str | None] = []
    old_keys: set[tuple[str, str]] = set()
    for index, entity in enumerate(previous.entities):
        source = (previous.source_of(index) or "").lower()
        if source in touched and source not in unknown:
            old_keys.add((entity.blueprint, entity.identifier))
            continue
        entities.append(entity)
        sources.append(source or None)
    new_keys = [(entity.blueprint, entity.identifier) for entity in result.entities]
    entities.extend(result.entities)
    sources.extend((source or "").lower() or None for source in result.sources)
    present = {(entity.blueprint, entity.identifier) for entity in entities}
    seen = {(previous.source_of(i) or "").lower() for i in range(len(previous.entities))}
    never_seen = [
        change
        for change in raw.changes
        if change["resourceId"].lower() in removed and change["resourceId"].lower() not in seen
    ]
    minimal = map_items(entry, [_minimal_object(change) for change in never_seen], policy)
    deleted = (old_keys | {(e.blueprint, e.identifier) for e in minimal.entities}) - present
    return entities, sources, result.report, new_keys, sorted(deleted)


def diff_entities(
    before: Sequence[Entity], after: Sequence[Entity]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(keys of `after` new or different from `before`, keys of `before` gone from `after`)."""
    old = {(e.blueprint, e.identifier): e.to_port() for e in before}
    new_keys = {(e.blueprint, e.identifier) for e in after}
    changed = [
        (e.blueprint, e.identifier)
        for e in after
        if old.get((e.blueprint, e.identifier)) != e.to_port()
    ]
    return changed, sorted(old.keys() - new_keys)


def _minimal_object(change: dict[str, Any]) -> dict[str, Any]:
    """What a change record says of a resource: enough for most mappings' identifier."""
    rid = str(change["resourceId"])
    group = resource_group_key(rid)
    return {
        "id": rid,
        "name": rid.rstrip("/").rsplit("/", 1)[-1],
        "type": change.get("resourceType", ""),
        "subscriptionId": change.get("subscriptionId", ""),
        "resourceGroup": group[1] if group else None,
    }


def _id(item: dict[str, Any]) -> str:
    return str(item.get("id") or "").lower()
