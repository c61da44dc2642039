"""The Port half of a sync for one scope (subscription x mapping entry), shared by all modes.

Kept apart from the asset factory so the order of the steps reads top-down: read what this
installation owns, plan, apply under the deletion guards, then count again so the
reconciliation check compares Azure with what Port really holds. (The blueprints exist by
then: `port/blueprints` is upstream of every sync asset.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import Failure

from azure_port_pipeline.defs.resources import PortResource
from azure_port_pipeline.defs.snapshots import EntitySnapshot, SnapshotKeys
from azure_port_pipeline.defs.summaries import change_table, error_table
from azure_port_pipeline.mapping import PortAppConfig, ResourceMapping
from azure_port_pipeline.port import (
    DeletionTotals,
    PortClient,
    SyncPlan,
    SyncReport,
    apply_plan,
    plan_sync,
)
from azure_port_pipeline.port.planner import DEFAULT_MIN_ENTITIES


@dataclass(frozen=True, slots=True)
class DeletionOptions:
    """How deletions are guarded and cascaded (`AZURE_PORT_DELETION_GUARD_MIN_ENTITIES`,
    `AZURE_PORT_FOREIGN_CASCADE`); the threshold itself is the mapping's."""

    min_entities: int = DEFAULT_MIN_ENTITIES
    foreign_cascade: bool = False


DEFAULT_DELETION = DeletionOptions()

Sibling = tuple[ResourceMapping, Callable[[], SnapshotKeys] | None]
"""Another mapping entry of the subscription, and how to read its latest entity snapshot."""


def scope_of(entry: ResourceMapping, subscription_id: str) -> str:
    """The ownership scope: entities written for this (subscription, mapping entry)."""
    return f"{subscription_id}:{entry.kind}"


@dataclass(slots=True)
class SyncOutcome:
    snapshot: EntitySnapshot
    plan: SyncPlan
    report: SyncReport
    port_count: int
    azure_count: int
    counts_match: bool
    counts_reason: str
    deletion_blocker: str | None
    port_stats: dict[str, float]
    seconds: float
    subscription_totals: DeletionTotals | None = None

    def metadata(self) -> dict[str, Any]:
        report, mapping = self.report, self.snapshot.report
        metadata: dict[str, Any] = {
            "fetched": self.snapshot.fetched,
            "mapped": mapping.entities_out,
            "skipped": mapping.skipped_by_selector
            + mapping.skipped_empty
            + mapping.invalid_identifier,
            "mapping_errors": len(mapping.errors),
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "deleted": report.deleted,
            "already_gone": report.already_gone,
            "write_failures": report.failed,
            "owned_before": self.plan.owned,
            "azure_count": self.azure_count,
            "port_count": self.port_count,
            "listing_complete": self.snapshot.listing_complete,
            "deletion_skipped_reason": report.deletion_skipped_reason or "",
            "would_delete": self.plan.would_delete,
            "kept_for_foreign_dependents": report.kept_for_foreign_dependents,
            "foreign_dependents": len(report.foreign_dependents),
            **{key: value for key, value in self.snapshot.stats.items()},
            **self.port_stats,
            "seconds": self.seconds,
            "dagster/row_count": self.port_count,
        }
        metadata["mode"] = self.snapshot.mode
        if self.snapshot.mode != "full":
            metadata["changes"] = len(self.snapshot.changes)
        if self.snapshot.incremental:  # Port was asked about the changed entities only
            del metadata["port_count"], metadata["owned_before"]
            metadata["dagster/row_count"] = self.azure_count
            metadata["deleted_in_azure"] = len(self.snapshot.deleted_keys)
        if self.snapshot.changes:
            metadata["window_changes"] = change_table(self.snapshot.changes)
        if self.snapshot.fallback:
            metadata["listed_instead"] = self.snapshot.fallback
        if self.subscription_totals is not None:  # the guard judged the whole subscription
            metadata["subscription_would_delete"] = self.plan.guard_to_delete
            metadata["subscription_entities"] = self.plan.guard_entities
        if report.foreign_dependents:
            metadata["foreign_dependent_entities"] = error_table(
                report.foreign_dependents,
                ["blueprint", "identifier", "depends_on_blueprint", "depends_on", "outcome"],
            )
        if report.failures:
            metadata["write_errors"] = error_table(
                [failure.as_dict() for failure in report.failures],
                ["operation", "blueprint", "identifier", "status", "code", "message"],
            )
        return metadata


def sync_scope(
    *,
    entry: ResourceMapping,
    snapshot: EntitySnapshot,
    port: PortResource,
    config: PortAppConfig,
    blueprints: Sequence[dict[str, Any]],
    log: logging.Logger | Any,
    siblings: Sequence[Sibling] = (),
    deletion: DeletionOptions = DEFAULT_DELETION,
) -> SyncOutcome:
    """`siblings`: the subscription's other mapping entries, each with a reader of its latest
    entity snapshot (None when it has none), for the subscription-wide deletion guard."""
    started = time.monotonic()
    scope = scope_of(entry, snapshot.subscription_id)
    if snapshot.incremental:
        return _sync_changes(entry, snapshot, port, config, log, deletion, started)
    with port.client() as client:
        searched = _owned_blueprints(entry, snapshot, blueprints)
        owned = _search_owned(client, searched, scope)
        blocker = snapshot.deletion_blocker()

        def plan_with(elsewhere: DeletionTotals | None) -> SyncPlan:
            return plan_sync(
                snapshot.entities,
                owned,
                listing_complete=blocker is None,
                deletion_threshold=config.entity_deletion_threshold,
                min_entities=deletion.min_entities,
                elsewhere=elsewhere,
            )

        plan = plan_with(None)
        subscription_totals = None
        if plan.would_delete and blocker is None:
            # the threshold is judged over the whole subscription, not this one scope
            subscription_totals = _rest_of_subscription(
                client, snapshot.subscription_id, siblings, blueprints
            )
            plan = plan_with(subscription_totals)
        writes_before = client.metrics.writes
        report = _apply(client, plan, scope, config, deletion)
        if report.kept_for_foreign_dependents:
            log.warning(
                f"{scope}: kept {report.kept_for_foreign_dependents} entities that entities "
                "written by others depend on (see foreign_dependent_entities)"
            )
        if blocker and not report.deletion_skipped_reason:
            report.deletion_skipped_reason = blocker
        if report.deletion_skipped_reason and plan.would_delete:
            log.warning(
                f"{scope}: kept {plan.would_delete} entities: {report.deletion_skipped_reason}"
            )
        if client.metrics.writes == writes_before:
            # Nothing written: Port holds what the search just returned, and a second search
            # would only double the cost of a resync with nothing to do.
            port_count = len({(body["blueprint"], body["identifier"]) for body in owned})
        else:
            port_count = len(_search_owned(client, searched, scope))
        port_stats = _port_stats(client, snapshot)

    azure_count = len({(e.blueprint, e.identifier) for e in snapshot.entities})
    if blocker:
        counts_match, reason = False, f"cannot reconcile: {blocker}"
    elif azure_count != port_count:
        counts_match = False
        reason = f"Azure maps to {azure_count} entities, Port holds {port_count}"
        if report.kept_for_foreign_dependents:
            reason += (
                f"; {report.kept_for_foreign_dependents} kept because entities written by "
                "others depend on them (foreign_dependent_entities)"
            )
        if report.deletion_skipped_reason:
            reason += f"; deletion skipped: {report.deletion_skipped_reason}"
    else:
        counts_match, reason = True, "equal"
    return SyncOutcome(
        snapshot=snapshot,
        plan=plan,
        report=report,
        port_count=port_count,
        azure_count=azure_count,
        counts_match=counts_match,
        counts_reason=reason,
        deletion_blocker=blocker,
        port_stats=port_stats,
        seconds=round(time.monotonic() - started, 3),
        subscription_totals=subscription_totals,
    )


def _sync_changes(
    entry: ResourceMapping,
    snapshot: EntitySnapshot,
    port: PortResource,
    config: PortAppConfig,
    log: logging.Logger | Any,
    deletion: DeletionOptions,
    started: float,
) -> SyncOutcome:
    """An incremental run's writes: the changed entities and the deleted ones only.

    Port is asked only about those identifiers (owned by this scope), so an unchanged entity
    costs no write and a deletion touches only what this installation wrote. The deletion
    guard still applies, judged over the scope as it now stands.
    """
    scope = scope_of(entry, snapshot.subscription_id)
    changed = set(snapshot.changed_keys or [])
    desired = [e for e in snapshot.entities if (e.blueprint, e.identifier) in changed]
    asked: dict[str, list[str]] = {}
    for blueprint, identifier in [*changed, *snapshot.deleted_keys]:
        asked.setdefault(blueprint, []).append(identifier)
    with port.client() as client:
        owned: list[dict[str, Any]] = []
        for blueprint, identifiers in sorted(asked.items()):
            for body in client.search_owned_identifiers(blueprint, scope, identifiers):
                owned.append({**body, "blueprint": body.get("blueprint", blueprint)})
        plan = plan_sync(
            desired,
            owned,
            listing_complete=True,
            deletion_threshold=config.entity_deletion_threshold,
            min_entities=deletion.min_entities,
            elsewhere=DeletionTotals(entities=len(snapshot.entities) - len(desired)),
        )
        report = _apply(client, plan, scope, config, deletion)
        port_stats = _port_stats(client, snapshot)
    if report.deletion_skipped_reason and plan.would_delete:
        log.warning(f"{scope}: kept {plan.would_delete} entities: {report.deletion_skipped_reason}")
    azure_count = len({(e.blueprint, e.identifier) for e in snapshot.entities})
    return SyncOutcome(
        snapshot=snapshot,
        plan=plan,
        report=report,
        port_count=-1,
        azure_count=azure_count,
        counts_match=report.failed == 0 and not report.deletion_skipped_reason,
        counts_reason="incremental run: the changed and deleted entities were checked; the "
        "next full sync counts the whole scope",
        deletion_blocker=None,
        port_stats=port_stats,
        seconds=round(time.monotonic() - started, 3),
    )


def _apply(
    client: PortClient,
    plan: SyncPlan,
    scope: str,
    config: PortAppConfig,
    deletion: DeletionOptions,
) -> SyncReport:
    return apply_plan(
        client,
        plan,
        scope=scope,
        merge=config.enable_merge_entity,
        create_missing_related_entities=config.create_missing_related_entities,
        delete_dependents=config.delete_dependent_entities,
        foreign_cascade=deletion.foreign_cascade,
    )


def _port_stats(client: PortClient, snapshot: EntitySnapshot) -> dict[str, float]:
    metrics = client.metrics
    return {
        "port_requests": metrics.requests,
        "port_write_requests": metrics.writes,
        "port_retries": metrics.retries,
        "throttle_waits": metrics.throttle_waits
        + int(snapshot.stats.get("azure_throttle_waits", 0)),
    }


def _rest_of_subscription(
    client: PortClient,
    subscription_id: str,
    siblings: Sequence[Sibling],
    blueprints: Sequence[dict[str, Any]],
) -> DeletionTotals:
    """The deletion guard's count for the subscription's other scopes: what each would delete
    (owned in Port, not in its latest listing) out of what it has (owned or listed). A kind
    without a usable listing (none yet, incomplete, unmapped items) is left out and named."""
    to_delete = entities = 0
    left_out: list[str] = []
    for other, read in siblings:
        listed = read() if read is not None else None
        if listed is None or listed.deletion_blocker:
            left_out.append(other.kind)
            continue
        searched = _blueprints_of(other, listed.blueprints, blueprints)
        owned = {
            (body["blueprint"], body["identifier"])
            for body in _search_owned(client, searched, scope_of(other, subscription_id))
        }
        to_delete += len(owned - listed.keys)
        entities += len(owned | listed.keys)
    return DeletionTotals(to_delete=to_delete, entities=entities, left_out=tuple(left_out))


def _owned_blueprints(
    entry: ResourceMapping, snapshot: EntitySnapshot, blueprints: Sequence[dict[str, Any]]
) -> list[str]:
    """Blueprints this scope may have written to.

    A mapping entry whose blueprint is a jq expression of the item could have written to any
    blueprint; we then look in the ones it writes now and the default ones, which never
    deletes what we cannot see (missing one only leaves a stale entity, never a wrong delete).
    """
    return _blueprints_of(entry, {entity.blueprint for entity in snapshot.entities}, blueprints)


def _blueprints_of(
    entry: ResourceMapping, seen: set[str], blueprints: Sequence[dict[str, Any]]
) -> list[str]:
    if entry.blueprints:
        return sorted(entry.blueprints)
    return sorted(seen | {blueprint["identifier"] for blueprint in blueprints})


def _search_owned(client: PortClient, blueprints: list[str], scope: str) -> list[dict[str, Any]]:
    owned: list[dict[str, Any]] = []
    for blueprint in blueprints:
        for entity in client.search_owned(blueprint, scope):
            owned.append({**entity, "blueprint": entity.get("blueprint", blueprint)})
    return owned


def fail_on_transient_failures(snapshot: EntitySnapshot, failures: Sequence[Any]) -> None:
    """An incremental run whose writes Port did not take for a passing reason (unreachable,
    throttled, failing) must fail: its window is then read again, instead of its watermark
    moving past changes Port never got. A rejection (4xx) is the entity's own problem: it is
    reported by the check, and retrying would not help."""
    if snapshot.mode == "full":
        return
    transient = [f for f in failures if f.status is None or f.status == 429 or f.status >= 500]
    if transient:
        first = transient[0]
        raise Failure(
            description=(
                f"Port did not take {len(transient)} writes of {snapshot.kind} "
                f"(first: {first.operation} {first.blueprint}/{first.identifier}: "
                f"{first.status or 'no answer'} {first.message or ''}); the run fails so the "
                "next change window reads these changes again"
            ),
            metadata={"write_failures": len(failures), "transient": len(transient)},
        )
