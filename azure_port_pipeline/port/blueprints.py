"""Blueprint setup in Ocean's order: every missing blueprint bare first, relations after.

A relation may only target an existing blueprint, and default blueprints point at each other,
so each is created without its relations (and without the properties computed through them),
and the relations are patched in once all exist. Existing blueprints are never changed:
they belong to the user, who may have customised them.
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
