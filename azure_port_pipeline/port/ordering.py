"""The order blueprints are written in, so a relation's target exists before its source.

Port needs a relation target to exist when `create_missing_related_entities` is false, and
deleting a target before its sources fails with `has_dependents` when `delete_dependents`
is false. The relations between blueprints are read from the entities themselves (which
blueprint holds each related identifier), so no blueprint schema is needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from graphlib import CycleError, TopologicalSorter
from typing import Any

from azure_port_pipeline.entities import Entity


def relation_order(entities: Iterable[Entity], override: list[str] | None = None) -> list[str]:
    """Blueprints in write order: targets before sources, first-seen order among equals.

    `override` (a list of blueprint ids) wins for the blueprints it names; the rest follow in
    the inferred order. Cycles cannot be ordered: their blueprints (and those pointing at them)
    come after the others, in first-seen order.
    """
    entities = list(entities)
    seen = list(dict.fromkeys(entity.blueprint for entity in entities))
    targets = _blueprint_targets(entities)
    inferred = _topological(seen, targets)
    if not override:
        return inferred
    listed = [blueprint for blueprint in dict.fromkeys(override) if blueprint in set(seen)]
    return listed + [blueprint for blueprint in inferred if blueprint not in set(listed)]


def _blueprint_targets(entities: list[Entity]) -> dict[str, set[str]]:
    """For each blueprint, the other blueprints its entities point at."""
    holders: dict[str, set[str]] = {}
    for entity in entities:
        holders.setdefault(entity.identifier, set()).add(entity.blueprint)
    targets: dict[str, set[str]] = {entity.blueprint: set() for entity in entities}
    for entity in entities:
        for identifier in _related_identifiers(entity.relations):
            targets[entity.blueprint].update(holders.get(identifier, ()))
    for blueprint, pointed in targets.items():
        pointed.discard(blueprint)
    return targets


def _related_identifiers(relations: dict[str, Any]) -> Iterable[str]:
    for value in relations.values():
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            yield from (item for item in value if isinstance(item, str))


def _topological(blueprints: list[str], targets: dict[str, set[str]]) -> list[str]:
    """Targets before sources, in rounds; among the blueprints ready together, first seen first.

    A blueprint on a cycle, or pointing (directly or not) at one, cannot be ordered: those go
    last, in first-seen order, after everything that can be ordered.
    """
    rank = {blueprint: position for position, blueprint in enumerate(blueprints)}
    stuck: set[str] = set()
    while True:
        stuck = _with_dependents(stuck, blueprints, targets)
        sorter = TopologicalSorter(
            {bp: targets.get(bp, set()) for bp in blueprints if bp not in stuck}
        )
        try:
            sorter.prepare()
        except CycleError as error:
            stuck.update(error.args[1])  # the nodes of one cycle; look for more
            continue
        order: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=rank.__getitem__)
            order.extend(ready)
            sorter.done(*ready)
        return order + [bp for bp in blueprints if bp in stuck]


def _with_dependents(
    stuck: set[str], blueprints: list[str], targets: dict[str, set[str]]
) -> set[str]:
    """`stuck` plus every blueprint that points at one of them or outside `blueprints`."""
    stuck = set(stuck)
    grew = True
    while grew:
        orderable = set(blueprints) - stuck
        grown = {bp for bp in orderable if not targets.get(bp, set()) <= orderable}
        stuck |= grown
        grew = bool(grown)
    return stuck
