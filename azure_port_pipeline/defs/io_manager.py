"""Stores snapshots as gzip-compressed JSON lines, on local disk or any fsspec object store.

Pickles would tie stored values to today's classes and hide them from people; JSON lines stay
readable and stream at 100k resources. Built on Dagster's UPathIOManager, so a `base_path` of
`s3://...`, `az://...` or `gs://...` works with the matching fsspec package installed.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

from dagster import (
    ConfigurableIOManagerFactory,
    InitResourceContext,
    InputContext,
    OutputContext,
    UPathIOManager,
)
from pydantic import Field
from upath import UPath

from azure_port_pipeline.defs.snapshots import (
    SNAPSHOT_TYPES,
    EntitySnapshot,
    RawSnapshot,
    SnapshotKeys,
)

KEYS_ONLY = "azure_port_pipeline/keys_only"
"""Input metadata: load an entity snapshot lazily, as the keys it holds (StoredKeys)."""


class JsonLinesSnapshotIOManager(UPathIOManager):
    extension = ".jsonl.gz"

    def dump_to_path(
        self, context: OutputContext, obj: RawSnapshot | EntitySnapshot, path: UPath
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as raw, gzip.open(raw, "wt", encoding="utf-8", compresslevel=5) as out:
            out.write(json.dumps(obj.header(), separators=(",", ":")) + "\n")
            for row in obj.rows():
                out.write(json.dumps(row, separators=(",", ":")) + "\n")

    def load_from_path(
        self, context: InputContext, path: UPath
    ) -> RawSnapshot | EntitySnapshot | StoredKeys:
        if (context.definition_metadata or {}).get(KEYS_ONLY):
            if not path.exists():  # with `allow_missing_partitions`, the input is then None
                raise FileNotFoundError(str(path))
            return StoredKeys(path)
        return read_snapshot(path)


def read_snapshot(path: UPath) -> RawSnapshot | EntitySnapshot:
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        header = json.loads(next(lines))
        snapshot_type = SNAPSHOT_TYPES[header["record_type"]]
        return snapshot_type.from_lines(header, _rows(lines))


class StoredKeys:
    """An entity snapshot another kind's sync step may need: read (keys only) when asked.

    Inputs whose definition metadata sets KEYS_ONLY load as this: a sync step that deletes
    nothing never reads the other kinds' snapshots.
    """

    def __init__(self, path: UPath) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"StoredKeys({str(self.path)!r})"

    def read(self) -> SnapshotKeys:
        with self.path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
            return SnapshotKeys.from_lines(json.loads(next(lines)), _rows(lines))


def _rows(lines: Any) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.strip():
            yield json.loads(line)


class SnapshotIOManager(ConfigurableIOManagerFactory[JsonLinesSnapshotIOManager]):
    """Where snapshots live; defaults to `<DAGSTER_HOME>/storage/snapshots`."""

    base_path: str | None = Field(
        default=None,
        description="Directory or object-store URL (e.g. az://container/prefix) for snapshots.",
    )

    def create_io_manager(self, context: InitResourceContext) -> JsonLinesSnapshotIOManager:
        if self.base_path:
            base = UPath(self.base_path)
        else:
            base = UPath(context.instance.storage_directory()) / "snapshots"  # type: ignore[union-attr]
        return JsonLinesSnapshotIOManager(base_path=base)
