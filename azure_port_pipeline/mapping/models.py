"""Plain records the mapping produces and every later layer consumes.

They live apart from the engine so the Dagster layer can import them without depending on how
the mapping is evaluated. `Entity` itself lives in `azure_port_pipeline.entities` (the Port
layer writes it without importing the mapping) and is re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from azure_port_pipeline.entities import Entity

__all__ = ["Entity", "MappingError", "MappingReport", "MappingResult"]


@dataclass(slots=True, frozen=True)
class MappingError:
    """A field that could not be evaluated for one item (the item may still map)."""

    kind: str
    item_id: str | None
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "item_id": self.item_id,
            "field": self.field,
            "message": self.message,
        }


@dataclass(slots=True)
class MappingReport:
    """What happened to every item of one kind: nothing is dropped without a count."""

    kind: str
    items_in: int = 0
    entities_out: int = 0
    skipped_by_selector: int = 0
    skipped_empty: int = 0
    # items not emitted because of their identifier: Port would reject it (or, under the
    # `escape` policy, still would after escaping: too long), or it collides after escaping
    invalid_identifier: int = 0
    errors: list[MappingError] = field(default_factory=list)
    # items not mapped because of an error: selector failed or not boolean, itemsToParse not
    # an array, blueprint not a string (field errors of mapped items do not count here)
    failed: int = 0
    # entities emitted with an identifier the `escape` policy rewrote (Port would have
    # rejected the original)
    escaped_identifiers: int = 0
    # items not emitted because their escaped identifier equals another item's identifier
    # (of the same blueprint); these are also counted in `invalid_identifier`
    identifier_collisions: int = 0

    def merge(self, other: MappingReport) -> None:
        self.items_in += other.items_in
        self.entities_out += other.entities_out
        self.skipped_by_selector += other.skipped_by_selector
        self.skipped_empty += other.skipped_empty
        self.invalid_identifier += other.invalid_identifier
        self.errors.extend(other.errors)
        self.failed += other.failed
        self.escaped_identifiers += other.escaped_identifiers
        self.identifier_collisions += other.identifier_collisions

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "items_in": self.items_in,
            "entities_out": self.entities_out,
            "skipped_by_selector": self.skipped_by_selector,
            "skipped_empty": self.skipped_empty,
            "invalid_identifier": self.invalid_identifier,
            "failed": self.failed,
            "escaped_identifiers": self.escaped_identifiers,
            "identifier_collisions": self.identifier_collisions,
            "errors": [error.as_dict() for error in self.errors],
        }


@dataclass(slots=True)
class MappingResult:
    entities: list[Entity]
    report: MappingReport
    #: the `id` of the raw item each entity came from (parallel to `entities`): an incremental
    #: sync replaces or removes exactly the entities of the items that changed
    sources: list[str | None] = field(default_factory=list)
    #: ids of items whose identifier could not be computed (a failed selector or field, an
    #: empty identifier): their entity, if any, may still exist and must not be deleted
    unknown: list[str | None] = field(default_factory=list)
