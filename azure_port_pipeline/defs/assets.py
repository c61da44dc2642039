"""Three assets per mapping entry: raw Azure objects, mapped entities, and the Port sync.

Generated from the mapping, so adding a kind to `mapping/azure.yaml` adds its three assets.
Every run mode (full today; incremental and event later) materializes these same assets, so
the UI keeps one history per asset and subscription.
"""

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)
from upath import UPath

from azure_port_pipeline.azure import AzureError
from azure_port_pipeline.defs.blueprints import BLUEPRINTS_KEY
from azure_port_pipeline.defs.history import previous_snapshot, written_to_port
from azure_port_pipeline.defs.incremental import carry_changes, reads_changes
from azure_port_pipeline.defs.io_manager import KEYS_ONLY, StoredKeys
from azure_port_pipeline.defs.jobs import SUBSCRIPTION_NAME_TAG
from azure_port_pipeline.defs.partitions import subscription_names, subscription_partitions
from azure_port_pipeline.defs.resources import AzureResource, PortResource, SyncOptions
from azure_port_pipeline.defs.snapshot_steps import brought_forward, changes_of, listed, mapped
from azure_port_pipeline.defs.snapshots import EntitySnapshot, RawSnapshot
from azure_port_pipeline.defs.summaries import error_table, resource_summary, tag_coverage
from azure_port_pipeline.defs.sync_step import (
    DEFAULT_DELETION,
    DeletionOptions,
    fail_on_transient_failures,
    sync_scope,
)
from azure_port_pipeline.mapping import IdentifierPolicy, PortAppConfig, ResourceMapping

RAW_GROUP, ENTITIES_GROUP, SYNC_GROUP = "azure_raw", "port_entities", "port_sync"
SUBSCRIPTION_LISTING_KEY = AssetKey([ENTITIES_GROUP, "subscription_listing"])
SNAPSHOT_PATHS = "snapshot_paths"
SNAPSHOT_IO = "snapshot_io_manager"

CHECK_MAPPING_ERRORS = "no_mapping_errors"
CHECK_WRITE_FAILURES = "no_port_write_failures"
CHECK_COUNTS = "azure_port_counts_match"


@dataclass(frozen=True, slots=True)
class KindAssetKeys:
    raw: AssetKey
    entities: AssetKey
    sync: AssetKey

    @classmethod
    def for_entry(cls, entry: ResourceMapping) -> "KindAssetKeys":
        return cls(
            raw=AssetKey(["azure", entry.key]),
            entities=AssetKey(["port_entities", entry.key]),
            sync=AssetKey(["port_sync", entry.key]),
        )


def build_kind_assets(
    entry: ResourceMapping,
    config: PortAppConfig,
    blueprints: Sequence[dict[str, Any]],
    sync_upstream: Sequence[ResourceMapping],
    freshness: FreshnessPolicy,
    policy: IdentifierPolicy,
    deletion: DeletionOptions = DEFAULT_DELETION,
) -> list[AssetsDefinition]:
    keys = KindAssetKeys.for_entry(entry)
    return [
        _raw_asset(entry, keys),
        _entities_asset(entry, keys, policy),
        _sync_asset(entry, keys, config, blueprints, sync_upstream, freshness, deletion),
    ]


def _describe(entry: ResourceMapping) -> str:
    if entry.resource_kinds:
        return ", ".join(f"`{t}` ({v})" for t, v in sorted(entry.resource_kinds.items()))
    version = f" (api-version {entry.api_version})" if entry.api_version else ""
    return f"`{entry.kind}`{version}"


def _raw_asset(entry: ResourceMapping, keys: KindAssetKeys) -> AssetsDefinition:
    @asset(
        key=keys.raw,
        deps=[BLUEPRINTS_KEY],  # the credential check runs first
        partitions_def=subscription_partitions,
        group_name=RAW_GROUP,
        kinds={"azure"},
        pool="azure_api",
        io_manager_key=SNAPSHOT_IO,
        description=(
            f"Azure objects of {_describe(entry)} in one subscription, in ARM's REST shape, "
            "with whether every page was read (deletion downstream depends on it)."
        ),
        metadata={"mapping_kind": entry.kind, "mapping_index": entry.index},
    )
    def raw(
        context: AssetExecutionContext, azure: AzureResource, sync_options: SyncOptions
    ) -> Output[RawSnapshot]:
        subscription_id = context.partition_key
        started = time.monotonic()
        with azure.reader() as reader:
            if sync_options.mode == "full":
                snapshot = listed(reader, entry, subscription_id, sync_options.mode)
                if reads_changes(entry):
                    carry_changes(previous_snapshot(context, keys.raw, RawSnapshot), snapshot)
            else:
                changes = changes_of(sync_options, subscription_id)
                previous = previous_snapshot(context, keys.raw, RawSnapshot)
                snapshot = brought_forward(reader, entry, subscription_id, previous, changes)
            counters = reader.counters
        seconds = round(time.monotonic() - started, 3)
        snapshot.stats.update(
            {
                "azure_requests": counters.requests,
                "azure_pages": counters.pages,
                "azure_retries": counters.retries,
                "azure_throttle_waits": counters.throttle_waits,
                "azure_seconds": seconds,
            }
        )
        if snapshot.changed_ids is None:  # a listing: what the next window's fallback weighs
            snapshot.stats["listing_requests"] = counters.requests
        _tag_subscription_name(context, azure, entry, snapshot.items)
        if not snapshot.complete:
            context.log.warning(
                f"{entry.kind} in {subscription_id}: listing incomplete ({snapshot.error}); "
                "nothing will be deleted in this scope"
            )
        read = snapshot.items if snapshot.changed_ids is None else snapshot.changed_ids
        metadata: dict[str, Any] = {
            **_subscription_label(context, entry, snapshot.items),
            "mode": snapshot.mode,
            "fetched": len(read),
            "complete": snapshot.complete,
            "listing_error": snapshot.error or "",
            "azure_requests": counters.requests,
            "azure_pages": counters.pages,
            "azure_retries": counters.retries,
            "throttle_waits": counters.throttle_waits,
            "seconds": seconds,
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
        return Output(snapshot, metadata=metadata)

    return raw


def _entities_asset(
    entry: ResourceMapping, keys: KindAssetKeys, policy: IdentifierPolicy
) -> AssetsDefinition:
    @asset(
        key=keys.entities,
        ins={"raw": AssetIn(key=keys.raw)},
        partitions_def=subscription_partitions,
        group_name=ENTITIES_GROUP,
        kinds={"port"},
        io_manager_key=SNAPSHOT_IO,
        description=(
            f"Port entities mapped from {_describe(entry)} by mapping entry "
            f"#{entry.index}, with the mapping report (skips and per-item errors)."
        ),
        check_specs=[
            AssetCheckSpec(
                CHECK_MAPPING_ERRORS,
                asset=keys.entities,
                description="Every item mapped without a jq error or an unusable identifier.",
            )
        ],
    )
    def entities(context: AssetExecutionContext, raw: RawSnapshot) -> Iterator[Any]:
        started = time.monotonic()
        previous, in_port = None, False
        if raw.mode != "full":
            previous = previous_snapshot(context, keys.entities, EntitySnapshot)
            in_port = previous is not None and written_to_port(context, keys.entities, keys.sync)
        snapshot = mapped(entry, raw, previous, in_port, policy)
        report = snapshot.report
        seconds = round(time.monotonic() - started, 3)
        snapshot.stats["mapping_seconds"] = seconds
        errors = [error.as_dict() for error in report.errors]
        metadata: dict[str, Any] = {
            **_subscription_label(context),
            "mode": snapshot.mode,
            "fetched": report.items_in,
            "mapped": report.entities_out,
            "skipped_by_selector": report.skipped_by_selector,
            "skipped_empty": report.skipped_empty,
            "invalid_identifier": report.invalid_identifier,
            "escaped_identifiers": report.escaped_identifiers,
            "mapping_errors": len(errors),
            "seconds": seconds,
            "dagster/row_count": len(snapshot.entities),
        }
        if snapshot.incremental:
            metadata["deleted_in_azure"] = len(snapshot.deleted_keys)
        if errors:
            metadata["errors"] = error_table(errors, ["item_id", "field", "message"])
        yield Output(snapshot, metadata=metadata)
        yield AssetCheckResult(
            check_name=CHECK_MAPPING_ERRORS,
            passed=not errors and not report.skipped_empty and not report.invalid_identifier,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                **_subscription_label(context),
                "mapping_errors": len(errors),
                "skipped_empty": report.skipped_empty,
                "invalid_identifier": report.invalid_identifier,
                "escaped_identifiers": report.escaped_identifiers,
                **({"first_errors": MetadataValue.json(errors[:20])} if errors else {}),
            },
        )

    return entities


def _sync_asset(
    entry: ResourceMapping,
    keys: KindAssetKeys,
    config: PortAppConfig,
    blueprints: Sequence[dict[str, Any]],
    sync_upstream: Sequence[ResourceMapping],
    freshness: FreshnessPolicy,
    deletion: DeletionOptions,
) -> AssetsDefinition:
    upstream_keys = [BLUEPRINTS_KEY] + [
        KindAssetKeys.for_entry(other).sync for other in sync_upstream
    ]
    # The deletion threshold is judged over the whole subscription: a sync step that would
    # delete reads the other kinds' entity snapshots of this run (keys only), found through
    # SUBSCRIPTION_LISTING_KEY, on which every sync step waits.
    siblings = [other for other in config.entries if other != entry]

    @asset(
        key=keys.sync,
        ins={"entities": AssetIn(key=keys.entities)},
        deps=[*upstream_keys, SUBSCRIPTION_LISTING_KEY],
        partitions_def=subscription_partitions,
        group_name=SYNC_GROUP,
        kinds={"port"},
        pool="port_api",
        freshness_policy=freshness,
        description=(
            f"Writes the entities of {_describe(entry)} to Port for one subscription: creates "
            "and updates what changed, deletes what vanished (complete listing, owned entities, "
            "deletion threshold), and reconciles counts."
        ),
        check_specs=[
            AssetCheckSpec(
                CHECK_WRITE_FAILURES,
                asset=keys.sync,
                description="Port accepted every create, update and delete.",
            ),
            AssetCheckSpec(
                CHECK_COUNTS,
                asset=keys.sync,
                description="After the sync, Port holds exactly as many owned entities in this "
                "scope as Azure listed (fails when the listing was incomplete).",
            ),
        ],
    )
    def sync(
        context: AssetExecutionContext,
        entities: EntitySnapshot,
        port: PortResource,
    ) -> MaterializeResult:
        outcome = sync_scope(
            entry=entry,
            snapshot=entities,
            port=port,
            config=config,
            blueprints=blueprints,
            log=context.log,
            siblings=_sibling_snapshots(context, siblings),
            deletion=deletion,
        )
        label = _subscription_label(context)
        fail_on_transient_failures(outcome.snapshot, outcome.report.failures)
        return MaterializeResult(
            metadata={**label, **outcome.metadata()},
            check_results=[
                AssetCheckResult(
                    check_name=CHECK_WRITE_FAILURES,
                    passed=outcome.report.failed == 0,
                    metadata={**label, "write_failures": outcome.report.failed},
                ),
                AssetCheckResult(
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
                ),
            ],
        )

    return sync


def build_subscription_listing_asset(config: PortAppConfig) -> AssetsDefinition:
    """Every kind of the subscription listed and mapped in this run, in one node.

    The deletion guard judges the whole subscription, so no sync step may run before every
    kind's entity snapshot of the run exists: this asset waits for all of them and records
    where they are, and every sync step depends on it (one edge each, instead of one per
    pair of kinds). It reads nothing: the snapshots are opened, keys only, by a sync step
    that has something to delete.
    """
    ins = {
        f"entities_{entry.index}": AssetIn(
            key=KindAssetKeys.for_entry(entry).entities,
            metadata={KEYS_ONLY: True, "allow_missing_partitions": True},
        )
        for entry in config.entries
    }

    @asset(
        key=SUBSCRIPTION_LISTING_KEY,
        ins=ins,
        partitions_def=subscription_partitions,
        group_name=ENTITIES_GROUP,
        kinds={"port"},
        description="Every kind of one subscription listed and mapped in this run: the "
        "deletion guard of each sync step judges the whole subscription from these snapshots.",
    )
    def subscription_listing(
        context: AssetExecutionContext, **stored: StoredKeys | None
    ) -> MaterializeResult:
        paths = {
            name.removeprefix("entities_"): str(keys.path)
            for name, keys in stored.items()
            if keys is not None
        }
        return MaterializeResult(
            metadata={
                **_subscription_label(context),
                "kinds_listed": len(paths),
                "kinds_missing": len(stored) - len(paths),
                SNAPSHOT_PATHS: MetadataValue.json(paths),
            }
        )

    return subscription_listing


def _sibling_snapshots(
    context: AssetExecutionContext, siblings: Sequence[ResourceMapping]
) -> list[tuple[ResourceMapping, Any]]:
    """The other kinds' entity snapshots of this run (readers, keys only), as recorded by
    `port_entities/subscription_listing`; None for a kind it did not list in this run (a run
    of some kinds only): the guard then leaves that kind out and names it."""
    result = context.instance.fetch_materializations(
        AssetRecordsFilter(
            asset_key=SUBSCRIPTION_LISTING_KEY, asset_partitions=[context.partition_key]
        ),
        limit=1,
    )
    paths: dict[str, str] = {}
    for record in result.records:
        if record.run_id == context.run.run_id:
            value = record.asset_materialization.metadata.get(SNAPSHOT_PATHS)
            paths = dict(value.value) if value is not None else {}
    readers = {index: StoredKeys(UPath(path)).read for index, path in paths.items()}
    return [(other, readers.get(str(other.index))) for other in siblings]


def _subscription_label(
    context: AssetExecutionContext,
    entry: ResourceMapping | None = None,
    items: Sequence[dict[str, Any]] = (),
) -> dict[str, str]:
    """Which subscription a materialization or check is about, by id and display name.

    Partition keys are GUIDs; the name is the run's tag (set by the schedule, by discovery of
    one subscription, or by the run's first Azure step), else the name recorded by the latest
    `azure/subscription` materialization; for the subscription itself, what Azure returned.
    """
    subscription_id = context.partition_key
    name = _run_subscription_name(context)
    if entry is not None and entry.kind.lower() == "subscription" and items:
        name = str(items[0].get("display_name") or name or "")
    if name is None:
        name = subscription_names(context.instance, [subscription_id]).get(subscription_id, "")
    return {"subscription": subscription_id, "subscription_name": name}


def _tag_subscription_name(
    context: AssetExecutionContext,
    azure: AzureResource,
    entry: ResourceMapping,
    items: Sequence[dict[str, Any]],
) -> None:
    """Name the subscription in the run's tags when its launcher could not.

    A backfill's tags are shared by all its runs, so a backfill over many subscriptions
    cannot name each; its runs are told apart in the runs list by this tag, set by their first
    Azure step (one ARM read, unless the step lists the subscription itself).
    """
    if _run_subscription_name(context) is not None:
        return
    subscription_id = context.partition_key
    if entry.kind.lower() == "subscription" and items:
        name = items[0].get("display_name")
    else:
        try:
            with azure.reader() as reader:
                record = reader.get_subscription(subscription_id)
        except AzureError as error:  # only a label: the listing itself succeeded
            context.log.warning(f"could not read the name of {subscription_id}: {error}")
            return
        name = record.get("display_name") if record else None
    if name:
        context.instance.add_run_tags(context.run.run_id, {SUBSCRIPTION_NAME_TAG: str(name)})


def _run_subscription_name(context: AssetExecutionContext) -> str | None:
    """The run's name tag, as stored now: an earlier step of this run may have set it."""
    name = context.run.tags.get(SUBSCRIPTION_NAME_TAG)
    if name is None:
        stored = context.instance.get_run_by_id(context.run.run_id)
        name = stored.tags.get(SUBSCRIPTION_NAME_TAG) if stored else None
    return name
