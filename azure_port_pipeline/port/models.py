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

FOREIGN_DEPENDENTS = "foreign_dependents"
"""The code of a delete kept back because entities written by others depend on the entity."""


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
    foreign_dependents: tuple[EntityKey, ...] = ()
    """For deletes: entities this installation did not write that relate to this one (directly
    or through others). They are never deleted by a cascade unless the user opted in."""

    @property
    def kept_for_foreign_dependents(self) -> bool:
        """A delete not done because entities written by others depend on this one."""
        return not self.ok and self.operation == "delete" and self.code == FOREIGN_DEPENDENTS

    @property
    def already_gone(self) -> bool:
        """A delete that found nothing to delete (a 404, or an id a bulk delete skipped):
        fine, but someone else's deletion, not this run's."""
        return self.ok and self.operation == "delete" and self.status == 404

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
            "foreign_dependents": [list(key) for key in self.foreign_dependents],
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
    guard_to_delete: int = 0
    guard_entities: int = 0
    """The deletion guard's count: `guard_to_delete` of `guard_entities` (owned in Port or
    listed by Azure) would be deleted, in the scope's whole subscription when it was known."""

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
            "guard_to_delete": self.guard_to_delete,
            "guard_entities": self.guard_entities,
        }


@dataclass(slots=True)
class SyncReport:
    """Every planned entity ends in exactly one count; every failure is listed with its reason.

    The counts are what this run's own requests did, as Port's answers confirm: `created` /
    `updated` from Port's `created` flag (the plan only when Port does not say), `deleted`
    only for entities Port says it deleted now; `already_gone` for planned deletes another
    writer (an overlapping run, a person) had already done.
    """

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    already_gone: int = 0
    failed: int = 0
    duplicates: int = 0
    failures: list[EntityOutcome] = field(default_factory=list)
    deletion_skipped_reason: str | None = None
    kept_for_foreign_dependents: int = 0
    """Planned deletes not done: entities written by others depend on them (see
    `foreign_dependents`); they stay until those go or the user opts into Port's cascade."""
    foreign_dependents: list[dict[str, Any]] = field(default_factory=list)
    """Each entity written by others found depending on one this run deleted or kept:
    its blueprint and identifier, the entity it depends on, and what became of that one."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "already_gone": self.already_gone,
            "failed": self.failed,
            "duplicates": self.duplicates,
            "failures": [failure.as_dict() for failure in self.failures],
            "deletion_skipped_reason": self.deletion_skipped_reason,
            "kept_for_foreign_dependents": self.kept_for_foreign_dependents,
            "foreign_dependents": [dict(row) for row in self.foreign_dependents],
        }
