"""Carry out a SyncPlan through the client and account for every entity in a SyncReport."""

from __future__ import annotations

from typing import Protocol

from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port.models import EntityKey, EntityOutcome, SyncPlan, SyncReport


class PortWriter(Protocol):
    """The part of PortClient that applying a plan needs."""

    def bulk_upsert(
        self,
        entities: list[Entity],
        *,
        scope: str,
        merge: bool = True,
        create_missing_related_entities: bool = True,
    ) -> list[EntityOutcome]: ...

    def bulk_delete(
        self,
        blueprint: str,
        identifiers: list[str],
        *,
        delete_dependents: bool,
        foreign_cascade: bool = False,
    ) -> list[EntityOutcome]: ...


def apply_plan(
    client: PortWriter,
    plan: SyncPlan,
    *,
    scope: str,
    merge: bool = True,
    create_missing_related_entities: bool = True,
    delete_dependents: bool = False,
    foreign_cascade: bool = False,
) -> SyncReport:
    """Upsert by blueprint in relation order (targets first), then delete in reverse order.

    A rejected entity is counted and listed and never stops the others. Deletes run even when
    some upserts failed: they only remove owned entities the (complete) listing no longer has.
    """
    report = SyncReport(
        unchanged=len(plan.unchanged),
        duplicates=plan.duplicates,
        deletion_skipped_reason=plan.deletion_skipped_reason,
    )
    planned_creates = {(entity.blueprint, entity.identifier) for entity in plan.create}
    for blueprint in plan.relation_order:
        group = [entity for entity in plan.writes if entity.blueprint == blueprint]
        if not group:
            continue
        outcomes = client.bulk_upsert(
            group,
            scope=scope,
            merge=merge,
            create_missing_related_entities=create_missing_related_entities,
        )
        for outcome in outcomes:
            _count_upsert(report, outcome, planned_creates)
    for blueprint, identifiers in _deletes_by_blueprint(plan.delete, plan.relation_order):
        for outcome in client.bulk_delete(
            blueprint,
            identifiers,
            delete_dependents=delete_dependents,
            foreign_cascade=foreign_cascade,
        ):
            _note_foreign_dependents(report, outcome, cascaded=foreign_cascade)
            if outcome.kept_for_foreign_dependents:  # kept on purpose: not a Port failure
                report.kept_for_foreign_dependents += 1
            elif outcome.already_gone:  # deleted by someone else first: not this run's work
                report.already_gone += 1
            elif outcome.ok:
                report.deleted += 1
            else:
                _count_failure(report, outcome)
    return report


def _count_upsert(report: SyncReport, outcome: EntityOutcome, creates: set[EntityKey]) -> None:
    """Port's `created` flag decides; without it the plan's guess does."""
    if not outcome.ok:
        _count_failure(report, outcome)
        return
    created = outcome.created
    if created is None:
        created = (outcome.blueprint, outcome.identifier) in creates
    if created:
        report.created += 1
    else:
        report.updated += 1


def _note_foreign_dependents(report: SyncReport, outcome: EntityOutcome, *, cascaded: bool) -> None:
    """List the entities written by others that depend on one this run deleted or kept."""
    if outcome.kept_for_foreign_dependents:
        fate = "kept: the entity it depends on was not deleted"
    elif not outcome.ok:
        fate = "untouched: deleting the entity it depends on failed"
    elif cascaded:
        fate = "deleted with it by Port's cascade (AZURE_PORT_FOREIGN_CASCADE=true)"
    else:
        fate = "kept: its target went without cascade; Port clears relations to it"
    for blueprint, identifier in outcome.foreign_dependents:
        report.foreign_dependents.append(
            {
                "blueprint": blueprint,
                "identifier": identifier,
                "depends_on_blueprint": outcome.blueprint,
                "depends_on": outcome.identifier,
                "outcome": fate,
            }
        )


def _count_failure(report: SyncReport, outcome: EntityOutcome) -> None:
    report.failed += 1
    report.failures.append(outcome)


def _deletes_by_blueprint(keys: list[EntityKey], order: list[str]) -> list[tuple[str, list[str]]]:
    """Sources before the targets they point at, so no delete meets a dependent."""
    groups: dict[str, list[str]] = {}
    for blueprint, identifier in keys:
        groups.setdefault(blueprint, []).append(identifier)
    rank = {blueprint: index for index, blueprint in enumerate(reversed(order))}
    return sorted(groups.items(), key=lambda item: rank.get(item[0], -1))
