"""`azure_read`: one step per subscription lists every kind and maps it to Port entities.

The kinds are read concurrently (each with a reader of its own, so each asset's request
counters are its own, all sharing the run's credential), at most `concurrency` at once so a
subscription stays within ARM's read budget; each kind is mapped as soon as it is read. Every
kind still gets its `azure/<kind>` and `port_entities/<kind>` materializations, metadata and
mapping check, yielded in mapping order once all are read.

A kind whose read fails does not stop the others' reads: their assets are materialized, then
the step fails naming it, and the run writes nothing to Port (a partial read must never
delete) and is retried.
"""

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from azure_port_pipeline.azure import AzureError
from azure_port_pipeline.defs.assets import (
    CHECK_MAPPING_ERRORS,
    ENTITIES_GROUP,
    RAW_GROUP,
    READ_STEP,
    KindAssetKeys,
    describe,
    run_subscription_name,
    subscription_item_name,
    subscription_label,
)
from azure_port_pipeline.defs.blueprints import BLUEPRINTS_KEY
from azure_port_pipeline.defs.history import previous_snapshot, written_to_port
from azure_port_pipeline.defs.incremental import carry_changes, reads_changes
from azure_port_pipeline.defs.jobs import SUBSCRIPTION_NAME_TAG
from azure_port_pipeline.defs.partitions import subscription_partitions
from azure_port_pipeline.defs.pools import AZURE_POOL
from azure_port_pipeline.defs.resources import AzureResource, SyncOptions
from azure_port_pipeline.defs.snapshot_steps import brought_forward, changes_of, listed, mapped
from azure_port_pipeline.defs.snapshot_store import SnapshotStore
from azure_port_pipeline.defs.snapshots import EntitySnapshot, RawSnapshot
from azure_port_pipeline.defs.summaries import error_table, resource_summary, tag_coverage
from azure_port_pipeline.mapping import IdentifierPolicy, ResourceMapping

DEFAULT_LIST_CONCURRENCY = 4
"""Kinds of one subscription listed at once: with up to 3 runs at once, at most 12 readers,
well inside ARM's per-principal read budget (hundreds of reads a minute per subscription)."""


@dataclass
class KindRead:
    """What one kind's read and mapping produced, for the main thread to report."""

    entry: ResourceMapping
    raw: RawSnapshot | None = None
    raw_path: str | None = None
    raw_seconds: float = 0.0
    counters: Any = None
    entities: EntitySnapshot | None = None
    entities_path: str | None = None
    mapping_seconds: float = 0.0
    error: BaseException | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def build_read_assets(
    entries: Sequence[ResourceMapping],
    policy: IdentifierPolicy,
    concurrency: int = DEFAULT_LIST_CONCURRENCY,
) -> AssetsDefinition:
    specs: list[AssetSpec] = []
    checks: list[AssetCheckSpec] = []
    for entry in entries:
        keys = KindAssetKeys.for_entry(entry)
        specs.append(
            AssetSpec(
                keys.raw,
                deps=[BLUEPRINTS_KEY],  # the credential check runs first
                group_name=RAW_GROUP,
                kinds={"azure"},
                description=(
                    f"Azure objects of {describe(entry)} in one subscription, in ARM's REST "
                    "shape, with whether every page was read (deletion downstream depends on it)."
                ),
                metadata={"mapping_kind": entry.kind, "mapping_index": entry.index},
            )
        )
        specs.append(
            AssetSpec(
                keys.entities,
                deps=[keys.raw],
                group_name=ENTITIES_GROUP,
                kinds={"port"},
                description=(
                    f"Port entities mapped from {describe(entry)} by mapping entry "
                    f"#{entry.index}, with the mapping report (skips and per-item errors)."
                ),
            )
        )
        checks.append(
            AssetCheckSpec(
                CHECK_MAPPING_ERRORS,
                asset=keys.entities,
                description="Every item mapped without a jq error or an unusable identifier.",
            )
        )

    @multi_asset(
        name=READ_STEP,
        specs=specs,
        check_specs=checks,
        can_subset=True,
        partitions_def=subscription_partitions,
        pool=AZURE_POOL,
        description="Lists every kind of one subscription in Azure and maps it to Port entities.",
    )
    def azure_read(
        context: AssetExecutionContext,
        azure: AzureResource,
        sync_options: SyncOptions,
        snapshots: SnapshotStore,
    ) -> Iterator[Any]:
        selected = context.selected_asset_keys
        work = [
            entry
            for entry in entries
            if {KindAssetKeys.for_entry(entry).raw, KindAssetKeys.for_entry(entry).entities}
            & selected
        ]
        reader = _KindReader(context, azure, sync_options, snapshots, policy, selected)
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(work)))) as pool:
            reads = list(pool.map(reader.read, work))
        label = subscription_label(context, _name_the_run(context, azure, reads))
        for read in reads:
            yield from _report(context, read, label)
        failed = [read for read in reads if read.error is not None]
        if failed:  # the write step is then skipped: nothing is deleted on a partial read
            raise Failure(
                description="not read: "
                + "; ".join(f"{read.entry.key} ({read.error})" for read in failed),
                metadata={"failed_kinds": ", ".join(read.entry.key for read in failed)},
            ) from failed[0].error

    return azure_read


class _KindReader:
    """Reads (or brings forward) and maps one kind; runs on a worker thread."""

    def __init__(
        self,
        context: AssetExecutionContext,
        azure: AzureResource,
        sync_options: SyncOptions,
        snapshots: SnapshotStore,
        policy: IdentifierPolicy,
        selected: set[Any] | frozenset[Any],
    ) -> None:
        self.context = context
        self.azure = azure
        self.sync_options = sync_options
        self.snapshots = snapshots
        self.policy = policy
        self.selected = selected

    def read(self, entry: ResourceMapping) -> KindRead:
        keys = KindAssetKeys.for_entry(entry)
        result = KindRead(entry)
        try:
            if keys.raw in self.selected:
                self._read_raw(entry, keys, result)
            else:  # mapping alone: from what the raw asset stored last
                result.raw = previous_snapshot(self.context, keys.raw, RawSnapshot, self.snapshots)
                if result.raw is None:
                    raise RuntimeError(f"no stored {keys.raw.to_user_string()} to map from")
            if keys.entities in self.selected:
                self._map(entry, keys, result)
        except Exception as error:  # reported by the main thread, after the other kinds
            result.error = error
        return result

    def _read_raw(self, entry: ResourceMapping, keys: KindAssetKeys, result: KindRead) -> None:
        context, subscription_id = self.context, self.context.partition_key
        started = time.monotonic()
        with self.azure.reader() as reader:
            if self.sync_options.mode == "full":
                snapshot = listed(reader, entry, subscription_id, self.sync_options.mode)
                if reads_changes(entry):
                    carry_changes(
                        previous_snapshot(context, keys.raw, RawSnapshot, self.snapshots), snapshot
                    )
            else:
                changes = changes_of(self.sync_options, subscription_id)
                previous = previous_snapshot(context, keys.raw, RawSnapshot, self.snapshots)
                snapshot = brought_forward(reader, entry, subscription_id, previous, changes)
            counters = reader.counters
        result.raw_seconds = round(time.monotonic() - started, 3)
        snapshot.stats.update(
            {
                "azure_requests": counters.requests,
                "azure_pages": counters.pages,
                "azure_retries": counters.retries,
                "azure_throttle_waits": counters.throttle_waits,
                "azure_seconds": result.raw_seconds,
            }
        )
        if snapshot.changed_ids is None:  # a listing: what the next window's fallback weighs
            snapshot.stats["listing_requests"] = counters.requests
        result.raw, result.counters = snapshot, counters
        path = self.snapshots.write(context.instance, keys.raw, subscription_id, snapshot)
        result.raw_path = str(path)

    def _map(self, entry: ResourceMapping, keys: KindAssetKeys, result: KindRead) -> None:
        context, raw = self.context, result.raw
        assert raw is not None
        started = time.monotonic()
        previous, in_port = None, False
        if raw.mode != "full":
            previous = previous_snapshot(context, keys.entities, EntitySnapshot, self.snapshots)
            in_port = previous is not None and written_to_port(context, keys.entities, keys.sync)
        snapshot = mapped(entry, raw, previous, in_port, self.policy)
        result.mapping_seconds = round(time.monotonic() - started, 3)
        snapshot.stats["mapping_seconds"] = result.mapping_seconds
        result.entities = snapshot
        path = self.snapshots.write(
            context.instance, keys.entities, context.partition_key, snapshot
        )
        result.entities_path = str(path)


def _name_the_run(
    context: AssetExecutionContext, azure: AzureResource, reads: Sequence[KindRead]
) -> str | None:
    """Name the subscription in the run's tags when its launcher could not.

    A backfill's tags are shared by all its runs, so a backfill over many subscriptions
    cannot name each; its runs are told apart in the runs list by this tag, set here (from
    the subscription's own listing, else one ARM read). Returns the name Azure gave, if any.
    """
    listed_name = next(
        (
            name
            for read in reads
            if read.raw is not None and read.raw_path is not None
            if (name := subscription_item_name(read.entry, read.raw.items))
        ),
        None,
    )
    if run_subscription_name(context) is not None:
        return listed_name
    name = listed_name
    if name is None:
        try:
            with azure.reader() as reader:
                record = reader.get_subscription(context.partition_key)
        except AzureError as error:  # only a label: the listings themselves succeeded
            context.log.warning(f"could not read the name of {context.partition_key}: {error}")
            return None
        name = record.get("display_name") if record else None
    if name:
        context.instance.add_run_tags(context.run.run_id, {SUBSCRIPTION_NAME_TAG: str(name)})
    return listed_name


def _report(context: AssetExecutionContext, read: KindRead, label: dict[str, str]) -> Iterator[Any]:
    keys = KindAssetKeys.for_entry(read.entry)
    if read.raw is not None and read.raw_path is not None:
        yield MaterializeResult(asset_key=keys.raw, metadata=_raw_metadata(context, read, label))
    if read.entities is not None and read.entities_path is not None:
        yield from _entities_results(keys, read, label)


def _raw_metadata(
    context: AssetExecutionContext, read: KindRead, label: dict[str, str]
) -> dict[str, Any]:
    snapshot, counters = read.raw, read.counters
    assert snapshot is not None and read.raw_path is not None
    if not snapshot.complete:
        context.log.warning(
            f"{read.entry.kind} in {snapshot.subscription_id}: listing incomplete "
            f"({snapshot.error}); nothing will be deleted in this scope"
        )
    fetched = snapshot.items if snapshot.changed_ids is None else snapshot.changed_ids
    metadata: dict[str, Any] = {
        **label,
        "path": MetadataValue.path(read.raw_path),
        "mode": snapshot.mode,
        "fetched": len(fetched),
        "complete": snapshot.complete,
        "listing_error": snapshot.error or "",
        "azure_requests": counters.requests,
        "azure_pages": counters.pages,
        "azure_retries": counters.retries,
        "throttle_waits": counters.throttle_waits,
        "seconds": read.raw_seconds,
        "tag_coverage": tag_coverage(snapshot.items),
        "resources_by_type_and_location": resource_summary(snapshot.items),
        "dagster/row_count": len(snapshot.items),
    }
    if snapshot.mode != "full":
        metadata.update(
            {
                "changes": len(snapshot.changes),
                "removed": len(snapshot.removed_ids),
                "listed_instead": snapshot.fallback or "",
            }
        )
    return metadata


def _entities_results(keys: KindAssetKeys, read: KindRead, label: dict[str, str]) -> Iterator[Any]:
    snapshot = read.entities
    assert snapshot is not None and read.entities_path is not None
    report = snapshot.report
    errors = [error.as_dict() for error in report.errors]
    metadata: dict[str, Any] = {
        **label,
        "path": MetadataValue.path(read.entities_path),
        "mode": snapshot.mode,
        "fetched": report.items_in,
        "mapped": report.entities_out,
        "skipped_by_selector": report.skipped_by_selector,
        "skipped_empty": report.skipped_empty,
        "invalid_identifier": report.invalid_identifier,
        "escaped_identifiers": report.escaped_identifiers,
        "mapping_errors": len(errors),
        "seconds": read.mapping_seconds,
        "dagster/row_count": len(snapshot.entities),
    }
    if snapshot.incremental:
        metadata["deleted_in_azure"] = len(snapshot.deleted_keys)
    if errors:
        metadata["errors"] = error_table(errors, ["item_id", "field", "message"])
    yield MaterializeResult(asset_key=keys.entities, metadata=metadata)
    yield AssetCheckResult(
        asset_key=keys.entities,
        check_name=CHECK_MAPPING_ERRORS,
        passed=not errors and not report.skipped_empty and not report.invalid_identifier,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            **label,
            "mapping_errors": len(errors),
            "skipped_empty": report.skipped_empty,
            "invalid_identifier": report.invalid_identifier,
            "escaped_identifiers": report.escaped_identifiers,
            **({"first_errors": MetadataValue.json(errors[:20])} if errors else {}),
        },
    )
