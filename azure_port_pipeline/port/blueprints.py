"""Blueprint setup: each missing blueprint created whole, after the blueprints it points at.

A relation may only target an existing blueprint. Creating each blueprint in one request, once
its targets exist, leaves no half-made blueprint behind a crash: a run killed between Ocean's two
steps (every blueprint bare, then relations patched in) left blueprints without relations, which
the next run, leaving existing blueprints alone, never completed, so every entity with a relation
was refused. Only blueprints that point at each other in a cycle (or at themselves) still go
bare first and get their relations patched in once all exist. Existing blueprints are never
changed: they belong to the user, who may have customised them.
"""

from __future__ import annotations

from typing import Any

RELATION_FIELDS = (
    "relations",
    "mirrorProperties",
    "calculationProperties",
    "aggregationProperties",
)
"""Blueprint fields that may point at other blueprints (mirror/aggregation go via relations;
calculations may read mirrors)."""


def bare(blueprint: dict[str, Any]) -> dict[str, Any]:
    """The blueprint without anything that refers to other blueprints."""
    body = {key: value for key, value in blueprint.items() if key not in RELATION_FIELDS}
    body["relations"] = {}
    return body


def relations_patch(blueprint: dict[str, Any]) -> dict[str, Any] | None:
    """The fields to PATCH in after every blueprint exists (None when there are none)."""
    patch = {key: blueprint[key] for key in RELATION_FIELDS if blueprint.get(key)}
    return patch or None


def creation_order(
    blueprints: list[dict[str, Any]], existing: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The missing blueprints to create whole, each after those it points at (in the given
    order otherwise), and those left in a cycle, to create bare and patch."""
    missing = [bp for bp in blueprints if bp["identifier"] not in existing]
    ready = set(existing)
    whole: list[dict[str, Any]] = []
    progress = True
    while progress:
        progress = False
        for blueprint in [bp for bp in missing if bp not in whole]:
            if pointed_at(blueprint) <= ready:
                whole.append(blueprint)
                ready.add(blueprint["identifier"])
                progress = True
    return whole, [bp for bp in missing if bp not in whole]


def pointed_at(blueprint: dict[str, Any]) -> set[str]:
    """The blueprints this one's relations and aggregations name (itself included)."""
    names = {
        str(relation["target"])
        for relation in (blueprint.get("relations") or {}).values()
        if isinstance(relation, dict) and relation.get("target")
    }
    names |= {
        str(aggregation["target"])
        for aggregation in (blueprint.get("aggregationProperties") or {}).values()
        if isinstance(aggregation, dict) and aggregation.get("target")
    }
    return names
