"""Which sync asset must run before which: blueprint relations point from source to target.

A resource's entity relates to its resource group, whose entity relates to its subscription, so
`port_sync` of the subscription comes first. Deriving this from the blueprints (not from a fixed
list) means a user's own kinds and blueprints get the right order and lineage for free.
"""

from __future__ import annotations

from collections.abc import Sequence
from graphlib import CycleError, TopologicalSorter
from typing import Any

from azure_port_pipeline.mapping import ResourceMapping


def relation_targets(blueprints: Sequence[dict[str, Any]]) -> dict[str, set[str]]:
    """blueprint -> blueprints its relations target (self-relations dropped)."""
    targets: dict[str, set[str]] = {}
    for blueprint in blueprints:
        identifier = blueprint["identifier"]
        relations = blueprint.get("relations") or {}
        targets[identifier] = {
            relation["target"]
            for relation in relations.values()
            if relation["target"] != identifier
        }
    return targets


def sync_dependencies(
    entries: Sequence[ResourceMapping], blueprints: Sequence[dict[str, Any]]
) -> dict[str, list[str]]:
    """mapping entry key -> keys of the entries whose entities it relates to.

    Edges that would close a cycle are dropped (first come, first kept) so the asset graph
    stays a DAG even for a mapping whose blueprints relate to each other both ways.
    """
    targets = relation_targets(blueprints)
    producers: dict[str, list[str]] = {}
    for entry in entries:
        for blueprint in entry.blueprints or ():
            producers.setdefault(blueprint, []).append(entry.key)

    dependencies: dict[str, list[str]] = {entry.key: [] for entry in entries}
    for entry in entries:
        upstream: list[str] = []
        for blueprint in sorted(entry.blueprints or ()):
            for target in sorted(targets.get(blueprint, ())):
                upstream.extend(k for k in producers.get(target, []) if k != entry.key)
        for key in dict.fromkeys(upstream):
            if not _closes_cycle(dependencies, entry.key, key):
                dependencies[entry.key].append(key)
    return dependencies


def _closes_cycle(graph: dict[str, list[str]], node: str, dependency: str) -> bool:
    trial = {**graph, node: [*graph[node], dependency]}
    try:
        TopologicalSorter(trial).prepare()
    except CycleError:
        return True
    return False
