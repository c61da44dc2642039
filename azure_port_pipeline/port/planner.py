"""Decide what one scope needs written, before anything is sent (pure: no I/O).

A scope is one (subscription, mapping entry). The planner compares the entities the mapping
wants with the entities this installation owns in that scope and sorts each into create,
update, unchanged or delete. Deletion is guarded like Ocean guards it, but per scope: nothing
is deleted unless the Azure listing of the scope completed, and nothing when the share of
owned entities to delete exceeds the deletion threshold.
"""

from __future__ import annotations

from typing import Any

from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port.compare import entity_matches
from azure_port_pipeline.port.models import EntityKey, SyncPlan
from azure_port_pipeline.port.ordering import relation_order as infer_relation_order


def plan_sync(
    desired: list[Entity],
    owned: list[dict[str, Any]],
    *,
    listing_complete: bool,
    deletion_threshold: float,
    relation_order: list[str] | None = None,
) -> SyncPlan:
    """Sort every desired and owned entity into exactly one bucket of a SyncPlan.

    `owned` are Port entity bodies (as `search_owned` returns them) and are the only entities
    that may be deleted. Duplicated (blueprint, identifier) pairs in `desired`: the last wins,
    and `plan.duplicates` counts the ones dropped.
    """
    wanted, duplicates = _last_wins(desired)
    current = {_key_of(body): body for body in owned}
    plan = SyncPlan(duplicates=duplicates, owned=len(current))
    for key, entity in wanted.items():
        existing = current.get(key)
        if existing is None:
            plan.create.append(entity)
        elif entity_matches(entity, existing):
            plan.unchanged.append(entity)
        else:
            plan.update.append(entity)
    gone = [key for key in current if key not in wanted]
    plan.would_delete = len(gone)
    plan.deletion_skipped_reason = deletion_guard(
        len(gone), len(current), listing_complete=listing_complete, threshold=deletion_threshold
    )
    if plan.deletion_skipped_reason is None:
        plan.delete = gone
    everything = [*wanted.values(), *(Entity.from_port(body) for body in current.values())]
    plan.relation_order = infer_relation_order(everything, relation_order)
    return plan


def deletion_guard(
    to_delete: int, owned: int, *, listing_complete: bool, threshold: float
) -> str | None:
    """Why deletion must not happen in this scope, or None when it may.

    Mirrors Ocean: deletion proceeds when deleted/owned <= threshold, and is skipped as a whole
    (not trimmed) above it, since a mass deletion usually means a broken listing or mapping.
    """
    if not listing_complete:
        return (
            f"Azure listing for this scope was incomplete; {to_delete} of {owned} owned "
            "entities not deleted"
        )
    if to_delete == 0 or owned == 0:
        return None
    share = to_delete / owned
    if share > threshold:
        return (
            f"would delete {to_delete} of {owned} owned entities ({share:.0%}), above the "
            f"entity deletion threshold {threshold:.0%}; nothing deleted"
        )
    return None


def _last_wins(desired: list[Entity]) -> tuple[dict[EntityKey, Entity], int]:
    wanted: dict[EntityKey, Entity] = {}
    duplicates = 0
    for entity in desired:
        key = (entity.blueprint, entity.identifier)
        if key in wanted:
            duplicates += 1
            del wanted[key]  # re-insert so the survivor keeps the last position
        wanted[key] = entity
    return wanted, duplicates


def _key_of(body: dict[str, Any]) -> EntityKey:
    return (body["blueprint"], body["identifier"])
