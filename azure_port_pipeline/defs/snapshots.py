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

    record_type: ClassVar[str] = "entities"

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
        }

    def rows(self) -> Iterable[dict[str, Any]]:
        return (entity.to_port() for entity in self.entities)

    @classmethod
    def from_lines(cls, header: dict[str, Any], rows: Iterator[dict[str, Any]]) -> EntitySnapshot:
        return cls(
            kind=header["kind"],
            subscription_id=header["subscription_id"],
            entities=[Entity.from_port(row) for row in rows],
            report=report_from_dict(header["report"]),
            listing_complete=header["listing_complete"],
            listing_error=header.get("listing_error"),
            mode=header.get("mode", "full"),
            fetched=header.get("fetched", 0),
            stats=header.get("stats", {}),
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
