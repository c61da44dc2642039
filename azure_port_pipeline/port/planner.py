"""Decide what one scope needs written, before anything is sent (pure: no I/O).

A scope is one (subscription, mapping entry). The planner compares the entities the mapping
wants with the entities this installation owns in that scope and sorts each into create,
update, unchanged or delete. Deletion is guarded twice: nothing is deleted in a scope whose
Azure listing did not complete, and nothing when a mass disappearance shows, judged over the
whole subscription (every scope of it), not one scope: in a small scope an ordinary deletion
(the last storage account of a subscription) is 100% of the scope.

The mass-disappearance rule (`deletion_guard`): with D the owned entities that would be
deleted and E the entities there are (owned in Port or listed by Azure, D included), deletion
is refused when E >= min_entities and D / E > threshold. E counts what Azure lists as well as
what Port holds so that the verdict cannot flip while the scopes of one subscription sync one
after another (an earlier scope's creates do not change E; its deletes lower D and E alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port.compare import entity_matches
from azure_port_pipeline.port.models import EntityKey, SyncPlan
from azure_port_pipeline.port.ordering import relation_order as infer_relation_order

DEFAULT_MIN_ENTITIES = 20
"""Below this many entities (in the subscription) the deletion threshold does not apply."""


@dataclass(frozen=True, slots=True)
class DeletionTotals:
    """The part of a deletion guard's count that lies outside the scope being planned.

    `to_delete`: owned entities the other scopes of the subscription would delete; `entities`:
    the entities those scopes have (owned in Port, or listed by Azure); `left_out`: kinds not
    counted because their listing is missing or unusable (named in the guard's reason).
    """

    to_delete: int = 0
    entities: int = 0
    left_out: tuple[str, ...] = ()


def plan_sync(
    desired: list[Entity],
    owned: list[dict[str, Any]],
    *,
    listing_complete: bool,
    deletion_threshold: float,
    relation_order: list[str] | None = None,
    min_entities: int = DEFAULT_MIN_ENTITIES,
    elsewhere: DeletionTotals | None = None,
) -> SyncPlan:
    """Sort every desired and owned entity into exactly one bucket of a SyncPlan.

    `owned` are Port entity bodies (as `search_owned` returns them) and are the only entities
    that may be deleted. Duplicated (blueprint, identifier) pairs in `desired`: the last wins,
    and `plan.duplicates` counts the ones dropped. `elsewhere`: the rest of the subscription,
    for the deletion guard (None: the scope is judged alone).
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
    rest = elsewhere or DeletionTotals()
    plan.guard_to_delete = len(gone) + rest.to_delete
    plan.guard_entities = len(wanted.keys() | current.keys()) + rest.entities
    plan.deletion_skipped_reason = deletion_guard(
        plan.guard_to_delete,
        plan.guard_entities,
        listing_complete=listing_complete,
        threshold=deletion_threshold,
        min_entities=min_entities,
        here=len(gone),
        where="this scope" if elsewhere is None else "this subscription",
        left_out=rest.left_out,
    )
    if plan.deletion_skipped_reason is None:
        plan.delete = gone
    everything = [*wanted.values(), *(Entity.from_port(body) for body in current.values())]
    plan.relation_order = infer_relation_order(everything, relation_order)
    return plan


def deletion_guard(
    to_delete: int,
    entities: int,
    *,
    listing_complete: bool,
    threshold: float,
    min_entities: int = DEFAULT_MIN_ENTITIES,
    here: int | None = None,
    where: str = "this scope",
    left_out: tuple[str, ...] = (),
) -> str | None:
    """Why deletion must not happen, or None when it may.

    `to_delete` of `entities` (owned in Port or listed by Azure) would be deleted in `where`;
    `here` of them in the scope being planned. Refused as a whole (not trimmed) when the
    listing of the scope is incomplete, or when `entities >= min_entities` and
    `to_delete / entities > threshold`: a mass deletion usually means a broken listing or
    mapping, while below `min_entities` any share is an ordinary deletion.
    """
    here = to_delete if here is None else here
    if not listing_complete:
        return f"Azure listing for this scope was incomplete; {here} owned entities not deleted"
    if here == 0 or entities < min_entities:  # nothing to hold back, or a small estate
        return None
    share = to_delete / entities
    if share <= threshold:
        return None
    unlisted = f" (not counted: {', '.join(left_out)})" if left_out else ""
    return (
        f"would delete {to_delete} of the {entities} entities of {where}{unlisted} ({share:.0%}), "
        f"above the entity deletion threshold {threshold:.0%}: Azure now lists only "
        f"{entities - to_delete} of them, which looks like a broken listing or mapping, not "
        f"deletions; nothing deleted in {where} ({here} here). Fix the listing or mapping, or "
        "raise entityDeletionThreshold in the mapping to let it through"
    )


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
