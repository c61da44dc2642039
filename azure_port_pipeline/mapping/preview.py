"""`azure-port-pipeline mapping preview`: what would this mapping make of these raw objects?

Reads a JSON file of raw Azure objects (a list, or ARM's `{"value": [...]}` page) and maps each
item with the entries of its kind, so a user can try a mapping without Azure or Port.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import SUBSCRIPTION_KIND, ResourceMapping
from .engine import map_items
from .identifiers import IdentifierPolicy
from .loader import load_mapping
from .models import MappingReport


class PreviewError(ValueError):
    """The input file or the requested kind cannot be previewed."""


def preview(
    mapping_path: str | Path,
    input_path: str | Path,
    kind: str | None = None,
    policy: IdentifierPolicy = IdentifierPolicy.ESCAPE,
) -> dict:
    """Entities (Port JSON bodies) and the merged mapping report for the items in the file.

    Identifiers (and relation values) are shown as `policy` writes them: escaped by default.

    With `kind`, every item goes through the entries of that kind (case-insensitive); without
    it, each item goes through the entries whose kind matches its ARM `type` (a subscription
    record has no `type` but a `subscription_id`). Items no entry matches are counted in
    `report.unmatched`.
    """
    config = load_mapping(mapping_path)
    items = _read_items(Path(input_path))
    if kind is not None:
        of_kind = [entry for entry in config.entries if entry.kind.lower() == kind.lower()]
        if not of_kind:
            known = ", ".join(sorted({entry.kind for entry in config.entries}))
            raise PreviewError(
                f"no mapping entry of kind {kind!r} in {mapping_path}; known kinds: {known}"
            )
        groups = [(entry, items) for entry in of_kind]
        unmatched = 0
    else:
        groups, unmatched = _group_by_kind(config.entries, items)
    report = MappingReport(kind=kind or "*")
    entities: list[dict[str, Any]] = []
    for entry, group in groups:
        result = map_items(entry, group, policy)
        report.merge(result.report)
        entities.extend(entity.to_port() for entity in result.entities)
    return {"entities": entities, "report": {**report.as_dict(), "unmatched": unmatched}}


def _read_items(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PreviewError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise PreviewError(f"{path} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("value"), list):
        return data["value"]
    if isinstance(data, list):
        return data
    raise PreviewError(f"{path} must hold a JSON list or an ARM page {{'value': [...]}}")


def _group_by_kind(
    entries: list[ResourceMapping], items: list[Any]
) -> tuple[list[tuple[ResourceMapping, list[Any]]], int]:
    groups: dict[int, list[Any]] = {entry.index: [] for entry in entries}
    unmatched = 0
    for item in items:
        matched = [entry for entry in entries if _matches(entry, item)]
        unmatched += not matched
        for entry in matched:
            groups[entry.index].append(item)
    return [(entry, groups[entry.index]) for entry in entries if groups[entry.index]], unmatched


def _matches(entry: ResourceMapping, item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    arm_type = item.get("type")
    if isinstance(arm_type, str):
        return entry.matches_type(arm_type)
    return entry.kind == SUBSCRIPTION_KIND and "subscription_id" in item
