"""Tables for the UI: what a partition holds and what went wrong, small enough to read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

MAX_ERROR_ROWS = 50


def resource_summary(items: Sequence[dict[str, Any]]) -> MetadataValue:
    """Resources by type and location, with how many carry tags (tag coverage)."""
    if not items:
        return _table(
            pd.DataFrame(columns=["type", "location", "resources", "tagged", "tag_coverage"])
        )
    frame = pd.DataFrame(
        {
            "type": [str(item.get("type") or "(none)") for item in items],
            "location": [str(item.get("location") or "(none)") for item in items],
            "tagged": [bool(item.get("tags")) for item in items],
        }
    )
    summary = (
        frame.groupby(["type", "location"], sort=True)
        .agg(resources=("tagged", "size"), tagged=("tagged", "sum"))
        .reset_index()
    )
    summary["tag_coverage"] = (summary["tagged"] / summary["resources"]).round(3)
    return _table(summary)


def tag_coverage(items: Sequence[dict[str, Any]]) -> float:
    if not items:
        return 1.0
    return round(sum(1 for item in items if item.get("tags")) / len(items), 4)


def error_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> MetadataValue:
    """The first errors as a table; the count metadata says how many there were in all."""
    frame = pd.DataFrame(list(rows[:MAX_ERROR_ROWS]), columns=list(columns))
    return _table(frame.fillna(""))


def _table(frame: pd.DataFrame) -> MetadataValue:
    schema = TableSchema(
        columns=[TableColumn(name=str(name), type=_column_type(frame[name])) for name in frame]
    )
    records = [
        TableRecord({str(k): _plain(v) for k, v in row.items()})
        for row in frame.to_dict(orient="records")
    ]
    return MetadataValue.table(records=records, schema=schema)


def _column_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    return "string"


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def change_table(changes: Sequence[dict[str, Any]]) -> MetadataValue:
    """A window's changes as a table: resource, type, change, who, when (newest first)."""
    rows = [
        {
            "resource": change.get("resourceId", ""),
            "type": change.get("resourceType", ""),
            "change": change.get("changeType", ""),
            "who": change.get("changedBy", ""),
            "client": change.get("clientType", ""),
            "when": change.get("timestamp", ""),
        }
        for change in sorted(changes, key=lambda c: c.get("timestamp", ""), reverse=True)
    ]
    return error_table(rows, ["resource", "type", "change", "who", "client", "when"])
