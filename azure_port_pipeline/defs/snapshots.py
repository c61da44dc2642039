"""What the raw and entity assets hold for one (subscription, mapping entry).

Each snapshot serialises to JSON lines: one header line, then one line per item or entity, so
a 10k-resource partition streams to and from storage without a second copy in memory and a
human can `zcat | head` it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from azure_port_pipeline.mapping.models import Entity, MappingError, MappingReport

ITEM_KEY = "__item"
"""In a stored entity row: the id of the raw item the entity was mapped from."""


@dataclass(slots=True)
class RawSnapshot:
    """The Azure objects of one mapping entry in one subscription, and how far the read got."""

    kind: str
    subscription_id: str
    items: list[dict[str, Any]]
    complete: bool
    error: str | None = None
    fetched_at: str | None = None
    mode: str = "full"
    stats: dict[str, float] = field(default_factory=dict)
    #: ids (lower-case) of the items read in this run; None when every item was (a listing)
    changed_ids: list[str] | None = None
    #: ids (lower-case) this run found deleted or filtered out (an incremental run)
    removed_ids: list[str] = field(default_factory=list)
    #: the window's change records of this kind (an incremental run), for its metadata
    changes: list[dict[str, Any]] = field(default_factory=list)
    #: why an incremental run listed this kind instead of reading changed ids
    fallback: str | None = None

    record_type: ClassVar[str] = "raw"

    def header(self) -> dict[str, Any]:
        return {
            "record_type": self.record_type,
            "kind": self.kind,
            "subscription_id": self.subscription_id,
            "complete": self.complete,
            "error": self.error,
            "fetched_at": self.fetched_at,
            "mode": self.mode,
            "stats": self.stats,
            "count": len(self.items),
            "changed_ids": self.changed_ids,
            "removed_ids": self.removed_ids,
            "changes": self.changes,
            "fallback": self.fallback,
        }

    def rows(self) -> Iterable[dict[str, Any]]:
        return self.items

    @classmethod
    def from_lines(cls, header: dict[str, Any], rows: Iterator[dict[str, Any]]) -> RawSnapshot:
        return cls(
            kind=header["kind"],
            subscription_id=header["subscription_id"],
            items=list(rows),
            complete=header["complete"],
            error=header.get("error"),
            fetched_at=header.get("fetched_at"),
            mode=header.get("mode", "full"),
            stats=header.get("stats", {}),
            changed_ids=header.get("changed_ids"),
            removed_ids=header.get("removed_ids") or [],
            changes=header.get("changes") or [],
            fallback=header.get("fallback"),
        )


@dataclass(slots=True)
class EntitySnapshot:
    """Mapped entities of one mapping entry in one subscription, with the mapping report.

    `listing_complete` travels with the entities so the sync step can gate deletion on the
    read that produced them, not on a later one.
    """

    kind: str
    subscription_id: str
    entities: list[Entity]
    report: MappingReport
    listing_complete: bool
    listing_error: str | None = None
    mode: str = "full"
    fetched: int = 0
    stats: dict[str, float] = field(default_factory=dict)
    #: the raw item id (lower-case) each entity came from, parallel to `entities`
    sources: list[str | None] = field(default_factory=list)
    #: (blueprint, identifier) of the entities this run mapped; None: all of them (full)
    changed_keys: list[tuple[str, str]] | None = None
    #: (blueprint, identifier) of entities whose items this run found gone (incremental)
    deleted_keys: list[tuple[str, str]] = field(default_factory=list)
    #: the window's change records of this kind (incremental), and a listing fallback
    changes: list[dict[str, Any]] = field(default_factory=list)
    fallback: str | None = None

    record_type: ClassVar[str] = "entities"

    @property
    def incremental(self) -> bool:
        return self.changed_keys is not None

    def source_of(self, index: int) -> str | None:
        return self.sources[index] if index < len(self.sources) else None

    def deletion_blocker(self) -> str | None:
        """Why deleting vanished entities of this scope would be unsafe, or None when it is safe.

        An item whose identifier could not be computed (empty, or a selector or field that
        failed) might be an entity that still exists in Azure: deleting "everything not
        desired" would then delete it wrongly. An item whose identifier Port would reject is
        no such risk: Port cannot hold an entity under that identifier.
        """
        if not self.listing_complete:
            return f"Azure listing incomplete: {self.listing_error or 'not every page was read'}"
        unknown = self.report.skipped_empty + self.report.failed
        if unknown:
            return f"{unknown} item(s) could not be mapped to an identifier"
        return None

    def header(self) -> dict[str, Any]:
        return {
            "record_type": self.record_type,
            "kind": self.kind,
            "subscription_id": self.subscription_id,
            "listing_complete": self.listing_complete,
            "listing_error": self.listing_error,
            "mode": self.mode,
            "fetched": self.fetched,
            "stats": self.stats,
            "report": self.report.as_dict(),
            "count": len(self.entities),
            "changed_keys": self.changed_keys,
            "deleted_keys": self.deleted_keys,
            "changes": self.changes,
            "fallback": self.fallback,
        }

    def rows(self) -> Iterable[dict[str, Any]]:
        for index, entity in enumerate(self.entities):
            yield {**entity.to_port(), ITEM_KEY: self.source_of(index)}

    @classmethod
    def from_lines(cls, header: dict[str, Any], rows: Iterator[dict[str, Any]]) -> EntitySnapshot:
        entities, sources = [], []
        for row in rows:
            sources.append(row.pop(ITEM_KEY, None))
            entities.append(Entity.from_port(row))
        changed = header.get("changed_keys")
        return cls(
            kind=header["kind"],
            subscription_id=header["subscription_id"],
            entities=entities,
            report=report_from_dict(header["report"]),
            listing_complete=header["listing_complete"],
            listing_error=header.get("listing_error"),
            mode=header.get("mode", "full"),
            fetched=header.get("fetched", 0),
            stats=header.get("stats", {}),
            sources=sources,
            changed_keys=None if changed is None else [tuple(key) for key in changed],
            deleted_keys=[tuple(key) for key in header.get("deleted_keys") or []],
            changes=header.get("changes") or [],
            fallback=header.get("fallback"),
        )


@dataclass(slots=True, frozen=True)
class SnapshotKeys:
    """What the deletion guard needs of another kind's entity snapshot: which entities Azure
    lists (by blueprint and identifier) and whether its deletions are blocked (and why)."""

    kind: str
    subscription_id: str
    keys: frozenset[tuple[str, str]]
    deletion_blocker: str | None

    @property
    def blueprints(self) -> set[str]:
        return {blueprint for blueprint, _ in self.keys}

    @classmethod
    def from_lines(cls, header: dict[str, Any], rows: Iterator[dict[str, Any]]) -> SnapshotKeys:
        """Streamed from a stored entity snapshot: one key per row, no Entity built."""
        empty = EntitySnapshot.from_lines(header, iter(()))
        return cls(
            kind=empty.kind,
            subscription_id=empty.subscription_id,
            keys=frozenset((row["blueprint"], row["identifier"]) for row in rows),
            deletion_blocker=empty.deletion_blocker(),
        )


def report_from_dict(data: dict[str, Any]) -> MappingReport:
    return MappingReport(
        kind=data["kind"],
        items_in=data["items_in"],
        entities_out=data["entities_out"],
        skipped_by_selector=data["skipped_by_selector"],
        skipped_empty=data["skipped_empty"],
        invalid_identifier=data.get("invalid_identifier", 0),
        failed=data.get("failed", 0),
        escaped_identifiers=data.get("escaped_identifiers", 0),
        identifier_collisions=data.get("identifier_collisions", 0),
        errors=[MappingError(**error) for error in data["errors"]],
    )


SNAPSHOT_TYPES: dict[str, type[RawSnapshot] | type[EntitySnapshot]] = {
    RawSnapshot.record_type: RawSnapshot,
    EntitySnapshot.record_type: EntitySnapshot,
}
