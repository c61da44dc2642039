"""`port_write`: one step per subscription writes every kind's entities to Port.

Kinds are written in relation order (a resource's entity relates to its group's, whose
entity relates to the subscription's: targets first), kinds that do not depend on each other
concurrently, at most `concurrency` at once, all sharing the process's Port budget. Each kind
keeps its own `port_sync/<kind>` materialization, metadata and checks.

The entities come from this run's `azure_read` (the `path` of this run's materializations, or
of the run it re-executes from its failure); in a run that writes without reading (one sync
asset materialized alone), from the latest stored snapshot. The deletion guard judges the
whole subscription from the entity snapshots of this run (keys only, read only when something
would be deleted).

A kind that cannot be written (an outage of Port, or Port not taking its writes in an
incremental run) does not stop the others; the kinds related to it wait for the next run, and
the step fails at the end naming them, so the run is retried and an incremental window is
read again.
"""

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    AssetSpec,
    DagsterEventType,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    multi_asset,
)

from azure_port_pipeline.defs.assets import (
    CHECK_COUNTS,
    CHECK_WRITE_FAILURES,
    ENTITIES_GROUP,
    SYNC_GROUP,
    WRITE_STEP,
    KindAssetKeys,
    describe,
    subscription_label,
)
from azure_port_pipeline.defs.blueprints import BLUEPRINTS_KEY
from azure_port_pipeline.defs.partitions import subscription_partitions
from azure_port_pipeline.defs.pools import PORT_POOL
from azure_port_pipeline.defs.resources import PortResource
from azure_port_pipeline.defs.snapshot_store import SnapshotStore
from azure_port_pipeline.defs.snapshots import EntitySnapshot
from azure_port_pipeline.defs.sync_step import (
    DEFAULT_DELETION,
    DeletionOptions,
    SyncOutcome,
    fail_on_transient_failures,
    sync_scope,
)
from azure_port_pipeline.mapping import PortAppConfig, ResourceMapping

DEFAULT_WRITE_CONCURRENCY = 4
"""Kinds of one subscription written at once; the Port budget is shared by all of them."""
MAX_ANCESTORS = 20
"""Re-executions followed back: more than Dagster's run retries ever chain."""


@dataclass
class KindWrite:
    entry: ResourceMapping
    outcome: SyncOutcome | None = None
    error: str | None = None
    exception: BaseException | None = None


def build_write_assets(
    config: PortAppConfig,
    blueprints: Sequence[dict[str, Any]],
    dependencies: Mapping[str, Sequence[str]],
    freshness: FreshnessPolicy,
    deletion: DeletionOptions = DEFAULT_DELETION,
    concurrency: int = DEFAULT_WRITE_CONCURRENCY,
) -> AssetsDefinition:
    entries = list(config.entries)
    by_key = {entry.key: entry for entry in entries}
    specs = [
        AssetSpec(
            KindAssetKeys.for_entry(entry).sync,
            deps=[
                KindAssetKeys.for_entry(entry).entities,
                BLUEPRINTS_KEY,
                *(KindAssetKeys.for_entry(by_key[key]).sync for key in dependencies[entry.key]),
            ],
            group_name=SYNC_GROUP,
            kinds={"port"},
            freshness_policy=freshness,
            description=(
                f"Writes the entities of {describe(entry)} to Port for one subscription: "
                "creates and updates what changed, deletes what vanished (complete listing, "
                "owned entities, deletion threshold), and reconciles counts."
            ),
        )
        for entry in entries
    ]
    checks = [
        spec
        for entry in entries
        for spec in (
            AssetCheckSpec(
                CHECK_WRITE_FAILURES,
                asset=KindAssetKeys.for_entry(entry).sync,
                description="Port accepted every create, update and delete.",
            ),
            AssetCheckSpec(
                CHECK_COUNTS,
                asset=KindAssetKeys.for_entry(entry).sync,
                description="After the sync, Port holds exactly as many owned entities in this "
                "scope as Azure listed (fails when the listing was incomplete).",
            ),
        )
    ]

    @multi_asset(
        name=WRITE_STEP,
        specs=specs,
        check_specs=checks,
        can_subset=True,
        partitions_def=subscription_partitions,
        pool=PORT_POOL,
        description="Writes every kind of one subscription to Port, in relation order.",
    )
    def port_write(
        context: AssetExecutionContext, port: PortResource, snapshots: SnapshotStore
    ) -> Iterator[Any]:
        selected = [
            entry
            for entry in entries
            if KindAssetKeys.for_entry(entry).sync in context.selected_asset_keys
        ]
        this_run = _entity_paths_of_run(context)
        writer = _KindWriter(context, port, config, blueprints, deletion, entries, this_run)
        writer.snapshots = snapshots  # where this run's entity snapshots are read from
        order = {
            entry.key: [key for key in dependencies[entry.key] if key in {e.key for e in selected}]
            for entry in selected
        }
        label = subscription_label(context)
        failed: list[KindWrite] = []
        for write in _in_relation_order(selected, order, writer.write, concurrency):
            if write.outcome is None:
                failed.append(write)
                context.log.error(f"{write.entry.key} in {context.partition_key}: {write.error}")
                continue
            yield from _results(label, write.outcome, KindAssetKeys.for_entry(write.entry))
        if failed:
            cause = next((write.exception for write in failed if write.exception), None)
            raise Failure(
                description="not written: "
                + "; ".join(f"{write.entry.key} ({write.error})" for write in failed),
                metadata={"failed_kinds": ", ".join(write.entry.key for write in failed)},
            ) from cause

    return port_write


def _in_relation_order(
    selected: Sequence[ResourceMapping],
    order: Mapping[str, Sequence[str]],
    write: Any,
    concurrency: int,
) -> Iterator[KindWrite]:
    """Each kind once every kind it relates to is written; kinds whose dependencies failed
    are not written (their relations would point at entities Port may not have)."""
    by_key = {entry.key: entry for entry in selected}
    sorter = TopologicalSorter(order)
    sorter.prepare()
    failed: set[str] = set()
    running: dict[Future[KindWrite], str] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        while sorter.is_active():
            for key in sorter.get_ready():
                blocked = [upstream for upstream in order[key] if upstream in failed]
                if blocked:
                    failed.add(key)
                    sorter.done(key)
                    yield KindWrite(
                        by_key[key], error=f"waits for {', '.join(blocked)}, which failed"
                    )
                    continue
                running[pool.submit(write, by_key[key])] = key
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                key = running.pop(future)
                result = future.result()
                if result.outcome is None:
                    failed.add(key)
                sorter.done(key)
                yield result


class _KindWriter:
    """Writes one kind; runs on a worker thread."""

    snapshots: SnapshotStore

    def __init__(
        self,
        context: AssetExecutionContext,
        port: PortResource,
        config: PortAppConfig,
        blueprints: Sequence[dict[str, Any]],
        deletion: DeletionOptions,
        entries: Sequence[ResourceMapping],
        this_run: Mapping[AssetKey, str],
    ) -> None:
        self.context = context
        self.port = port
        self.config = config
        self.blueprints = blueprints
        self.deletion = deletion
        self.entries = entries
        self.this_run = this_run

    def write(self, entry: ResourceMapping) -> KindWrite:
        try:
            snapshot = self._entities(entry)
            if snapshot is None:
                return KindWrite(entry, error="its entities were not read in this run")
            outcome = sync_scope(
                entry=entry,
                snapshot=snapshot,
                port=self.port,
                config=self.config,
                blueprints=self.blueprints,
                log=self.context.log,
                siblings=self._siblings(entry),
                deletion=self.deletion,
            )
            fail_on_transient_failures(outcome.snapshot, outcome.report.failures)
        except Failure as failure:
            return KindWrite(entry, error=failure.description, exception=failure)
        except Exception as error:  # one kind's bug or outage must not hide the others' writes
            return KindWrite(entry, error=f"{type(error).__name__}: {error}", exception=error)
        return KindWrite(entry, outcome=outcome)

    def _entities(self, entry: ResourceMapping) -> EntitySnapshot | None:
        key = KindAssetKeys.for_entry(entry).entities
        path = self.this_run.get(key)
        if path is None:
            selection = self.context.run.asset_selection
            if selection is None or key in selection:
                return None  # read in this run, but failed: never write an older snapshot
            path = _latest_path(self.context, key)
            if path is None:
                return None
        snapshot = self.snapshots.read(path)
        assert isinstance(snapshot, EntitySnapshot), path
        return snapshot

    def _siblings(self, entry: ResourceMapping) -> list[tuple[ResourceMapping, Any]]:
        """The other kinds' entity snapshots of this run (readers, keys only); None for a kind
        not read in this run: the guard then leaves that kind out and names it."""
        siblings = []
        for other in self.entries:
            if other == entry:
                continue
            path = self.this_run.get(KindAssetKeys.for_entry(other).entities)
            siblings.append((other, self.snapshots.stored_keys(path).read if path else None))
        return siblings


def _entity_paths_of_run(context: AssetExecutionContext) -> dict[AssetKey, str]:
    """Where this run's `azure_read` stored each kind's entities (materializations' `path`).

    A run re-executed from its failure (Dagster's run retries do that) does not run
    `azure_read` again when it had succeeded: the snapshots it read then, in the run this one
    retries (or that one's parent, ...), are this run's. The newest run's win.
    """
    paths: dict[AssetKey, str] = {}
    for run_id in reversed(_run_and_ancestors(context)):
        records = context.instance.get_records_for_run(
            run_id=run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
        ).records
        for record in records:
            materialization = record.asset_materialization
            if materialization is None or materialization.partition != context.partition_key:
                continue
            path = materialization.metadata.get("path")
            if path is not None and materialization.asset_key.path[0] == ENTITIES_GROUP:
                paths[materialization.asset_key] = str(path.value)
    return paths


def _run_and_ancestors(context: AssetExecutionContext) -> list[str]:
    """This run's id, then the run it re-executes, and so on (newest first)."""
    run_ids = [context.run.run_id]
    parent = context.run.parent_run_id
    while parent and parent not in run_ids and len(run_ids) < MAX_ANCESTORS:
        run_ids.append(parent)
        stored = context.instance.get_run_by_id(parent)
        parent = stored.parent_run_id if stored else None
    return run_ids


def _latest_path(context: AssetExecutionContext, key: AssetKey) -> str | None:
    result = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[context.partition_key]), limit=1
    )
    for record in result.records:
        path = record.asset_materialization.metadata.get("path")
        return str(path.value) if path is not None else None
    return None


def _results(label: dict[str, str], outcome: SyncOutcome, keys: KindAssetKeys) -> Iterator[Any]:
    yield MaterializeResult(asset_key=keys.sync, metadata={**label, **outcome.metadata()})
    yield AssetCheckResult(
        asset_key=keys.sync,
        check_name=CHECK_WRITE_FAILURES,
        passed=outcome.report.failed == 0,
        metadata={**label, "write_failures": outcome.report.failed},
    )
    yield AssetCheckResult(
        asset_key=keys.sync,
        check_name=CHECK_COUNTS,
        passed=outcome.counts_match,
        metadata={
            **label,
            "azure_count": outcome.azure_count,
            **({"port_count": outcome.port_count} if outcome.port_count >= 0 else {}),
            "reason": outcome.counts_reason,
            "kept_for_foreign_dependents": outcome.report.kept_for_foreign_dependents,
            "foreign_dependents": len(outcome.report.foreign_dependents),
        },
    )
