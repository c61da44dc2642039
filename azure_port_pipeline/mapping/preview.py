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
from .loader import load_mapping
from .models import MappingReport


class PreviewError(ValueError):
    """The input file or the requested kind cannot be previewed."""


def preview(mapping_path: str | Path, input_path: str | Path, kind: str | None = None) -> dict:
    """Entities (Port JSON bodies) and the merged mapping report for the items in the file.

    With `kind`, every item goes through the entries of that kind (case-insensitive); without
    it, each item goes through the entries whose kind matches its ARM `type` (a subscription
    record has no `type` but a `subscription_id`). Items no entry matches are counted in
    `report.unmatched`.
    """
    config = load_mapping(mapping_path)
    items = _read_items(Path(input_path))
    if kind is not None:
        entries = [rm for rm in config.resources if rm.kind.lower() == kind.lower()]
        if not entries:
            known = ", ".join(sorted({rm.kind for rm in config.resources}))
            raise PreviewError(
                f"no mapping entry of kind {kind!r} in {mapping_path}; known kinds: {known}"
            )
        groups = [(rm, items) for rm in entries]
        unmatched = 0
    else:
        groups, unmatched = _group_by_kind(config.resources, items)
    report = MappingReport(kind=kind or "*")
    entities: list[dict[str, Any]] = []
    for rm, group in groups:
        result = map_items(rm, group)
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
    resources: list[ResourceMapping], items: list[Any]
) -> tuple[list[tuple[ResourceMapping, list[Any]]], int]:
    groups: dict[int, list[Any]] = {rm.index: [] for rm in resources}
    unmatched = 0
    for item in items:
        matched = [rm for rm in resources if _matches(rm, item)]
        unmatched += not matched
        for rm in matched:
            groups[rm.index].append(item)
    return [(rm, groups[rm.index]) for rm in resources if groups[rm.index]], unmatched


def _matches(rm: ResourceMapping, item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    arm_type = item.get("type")
    if isinstance(arm_type, str):
        return rm.matches_type(arm_type)
    return rm.kind == SUBSCRIPTION_KIND and "subscription_id" in item
