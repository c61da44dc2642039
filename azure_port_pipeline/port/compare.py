"""Equality between what the mapping wants and what Port holds, as Port sees it.

A second sync of an unchanged estate must write nothing, so the comparison ignores the ways
Port's answer differs from our request without meaning anything: a missing field equals null,
a team may come back as a string or a list, many-relations are sets, timestamps may be
re-formatted, and fields the mapping does not set (icon/team None, extra properties) are left
to whoever set them (a merge upsert would not change them either).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from azure_port_pipeline.entities import Entity

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def entity_matches(desired: Entity, current: dict[str, Any]) -> bool:
    """True when upserting `desired` would not change `current` (a Port entity body)."""
    return (
        same_value(desired.title, current.get("title"))
        and (desired.icon is None or same_value(desired.icon, current.get("icon")))
        and (desired.team is None or team_set(desired.team) == team_set(current.get("team")))
        and _fields_match(desired.properties, current.get("properties"), same_value)
        and _fields_match(desired.relations, current.get("relations"), same_relation)
    )


def team_set(team: Any) -> frozenset[str]:
    """Port accepts a team as a string or a list, and returns it as a list, in any order."""
    if team is None or team == "":
        return frozenset()
    if isinstance(team, str):
        return frozenset((team,))
    return frozenset(str(item) for item in team)


def same_relation(desired: Any, current: Any) -> bool:
    """A many-relation is a set of identifiers; an empty list means no relation, like null."""
    desired, current = _relation_value(desired), _relation_value(current)
    return same_value(desired, current)


def same_value(desired: Any, current: Any) -> bool:
    """Deep JSON equality that keeps booleans apart from numbers and timestamps by instant."""
    if isinstance(desired, bool) or isinstance(current, bool):
        return type(desired) is type(current) and desired == current
    if isinstance(desired, dict) and isinstance(current, dict):
        return desired.keys() == current.keys() and all(
            same_value(value, current[key]) for key, value in desired.items()
        )
    if isinstance(desired, list | tuple) and isinstance(current, list | tuple):
        return len(desired) == len(current) and all(
            same_value(left, right) for left, right in zip(desired, current, strict=True)
        )
    if isinstance(desired, str) and isinstance(current, str) and desired != current:
        return _same_instant(desired, current)
    return desired == current


def _fields_match(desired: dict[str, Any], current: Any, same: Any) -> bool:
    """Only the keys the mapping sets are compared; a missing key on Port's side is null."""
    current = current or {}
    return all(same(value, current.get(key)) for key, value in desired.items())


def _relation_value(value: Any) -> Any:
    if value is None or value == []:
        return None
    if isinstance(value, list):
        return sorted({str(item) for item in value})
    return value


def _same_instant(left: str, right: str) -> bool:
    if not (_ISO_DATETIME.match(left) and _ISO_DATETIME.match(right)):
        return False
    try:
        left_at, right_at = datetime.fromisoformat(left), datetime.fromisoformat(right)
    except ValueError:
        return False
    if (left_at.tzinfo is None) != (right_at.tzinfo is None):
        return False
    return left_at == right_at
