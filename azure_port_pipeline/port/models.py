"""Plain records the Port layer hands back: per-entity outcomes, plans and reports.

They are dataclasses (not pydantic) because they are built in hot loops (one per entity) and
only need to travel as plain data to the Dagster layer, which reads `as_dict()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from azure_port_pipeline.entities import Entity

EntityKey = tuple[str, str]
"""(blueprint, identifier): how Port addresses one entity."""


@dataclass(slots=True, frozen=True)
class EntityOutcome:
    """What Port answered for one entity of a bulk write or delete.

    `created` is Port's own flag for upserts (None for deletes and failures); `status`,
    `code` and `message` come from Port's per-entity error (or the request's error when the
    whole request failed), so a failure can be reported without reading logs.
    """

    blueprint: str
    identifier: str
    ok: bool
    created: bool | None = None
    status: int | None = None
    code: str | None = None
    message: str | None = None
    operation: str = "upsert"

    def as_dict(self) -> dict[str, Any]:
        return {
            "blueprint": self.blueprint,
            "identifier": self.identifier,
            "ok": self.ok,
            "created": self.created,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "operation": self.operation,
        }


@dataclass(slots=True)
class BlueprintSetupReport:
    """Which default blueprints were created now and which the user already had (untouched)."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": list(self.created), "existing": list(self.existing)}


@dataclass(slots=True)
class SyncPlan:
    """The writes one scope needs, decided before anything is sent.

    `delete` is already guarded: it is empty when deletion is not allowed, and
    `deletion_skipped_reason` then says why (`would_delete` keeps the count it would have had).
    `relation_order` is the blueprint write order: relation targets before their sources.
    """

    create: list[Entity] = field(default_factory=list)
    update: list[Entity] = field(default_factory=list)
    unchanged: list[Entity] = field(default_factory=list)
    delete: list[EntityKey] = field(default_factory=list)
    duplicates: int = 0
    owned: int = 0
    would_delete: int = 0
    deletion_skipped_reason: str | None = None
    relation_order: list[str] = field(default_factory=list)

    @property
    def writes(self) -> list[Entity]:
        return [*self.create, *self.update]

    def as_dict(self) -> dict[str, Any]:
        return {
            "create": len(self.create),
            "update": len(self.update),
            "unchanged": len(self.unchanged),
            "delete": len(self.delete),
            "duplicates": self.duplicates,
            "owned": self.owned,
            "would_delete": self.would_delete,
            "deletion_skipped_reason": self.deletion_skipped_reason,
            "relation_order": list(self.relation_order),
        }


@dataclass(slots=True)
class SyncReport:
    """Every planned entity ends in exactly one count; every failure is listed with its reason."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    duplicates: int = 0
    failures: list[EntityOutcome] = field(default_factory=list)
    deletion_skipped_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
            "duplicates": self.duplicates,
            "failures": [failure.as_dict() for failure in self.failures],
            "deletion_skipped_reason": self.deletion_skipped_reason,
        }
