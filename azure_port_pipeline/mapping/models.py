"""Plain records the mapping produces and every later layer consumes.

They live apart from the engine so the Port and Dagster layers can import them without
depending on how the mapping is evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Entity:
    """One Port entity, as the mapping produced it.

    `icon` and `team` are None when the mapping does not define them; they are then left out
    of the Port payload so a merge upsert keeps whatever Port already has.
    """

    blueprint: str
    identifier: str
    title: str | None = None
    icon: str | None = None
    team: str | list[str] | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    relations: dict[str, Any] = field(default_factory=dict)

    def to_port(self) -> dict[str, Any]:
        """The JSON body Port receives for this entity."""
        body: dict[str, Any] = {
            "identifier": self.identifier,
            "title": self.title,
            "blueprint": self.blueprint,
            "properties": self.properties,
            "relations": self.relations,
        }
        if self.icon is not None:
            body["icon"] = self.icon
        if self.team is not None:
            body["team"] = self.team
        return body

    @classmethod
    def from_port(cls, body: dict[str, Any]) -> Entity:
        return cls(
            blueprint=body["blueprint"],
            identifier=body["identifier"],
            title=body.get("title"),
            icon=body.get("icon"),
            team=body.get("team"),
            properties=dict(body.get("properties") or {}),
            relations=dict(body.get("relations") or {}),
        )


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
    invalid_identifier: int = 0
    errors: list[MappingError] = field(default_factory=list)
    # items not mapped because of an error: selector failed or not boolean, itemsToParse not
    # an array, blueprint not a string (field errors of mapped items do not count here)
    failed: int = 0

    def merge(self, other: MappingReport) -> None:
        self.items_in += other.items_in
        self.entities_out += other.entities_out
        self.skipped_by_selector += other.skipped_by_selector
        self.skipped_empty += other.skipped_empty
        self.invalid_identifier += other.invalid_identifier
        self.errors.extend(other.errors)
        self.failed += other.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "items_in": self.items_in,
            "entities_out": self.entities_out,
            "skipped_by_selector": self.skipped_by_selector,
            "skipped_empty": self.skipped_empty,
            "invalid_identifier": self.invalid_identifier,
            "failed": self.failed,
            "errors": [error.as_dict() for error in self.errors],
        }


@dataclass(slots=True)
class MappingResult:
    entities: list[Entity]
    report: MappingReport
