"""Three assets per mapping entry: raw Azure objects, mapped entities, and the Port sync.

Generated from the mapping, so adding a kind to `mapping/azure.yaml` adds its three assets.
Every run mode (full today; incremental and event later) materializes these same assets, so
the UI keeps one history per asset and subscription.
"""

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from azure_port_pipeline.defs.blueprints import BLUEPRINTS_KEY
from azure_port_pipeline.defs.jobs import SUBSCRIPTION_NAME_TAG
from azure_port_pipeline.defs.partitions import subscription_partitions
from azure_port_pipeline.defs.resources import AzureResource, PortResource, SyncOptions
from azure_port_pipeline.defs.snapshots import EntitySnapshot, RawSnapshot
from azure_port_pipeline.defs.summaries import error_table, resource_summary, tag_coverage
from azure_port_pipeline.defs.sync_step import sync_scope
from azure_port_pipeline.mapping import IdentifierPolicy, PortAppConfig, ResourceMapping, map_items

RAW_GROUP, ENTITIES_GROUP, SYNC_GROUP = "azure_raw", "port_entities", "port_sync"
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
) -> list[AssetsDefinition]:
    keys = KindAssetKeys.for_entry(entry)
    return [
        _raw_asset(entry, keys),
        _entities_asset(entry, keys, policy),
        _sync_asset(entry, keys, config, blueprints, sync_upstream, freshness),
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
        _require_supported_mode(sync_options)
        subscription_id = context.partition_key
        started = time.monotonic()
        with azure.reader() as reader:
            listing = reader.list_kind(
                subscription_id, entry.kind, entry.api_version, entry.resource_kinds or None
            )
            counters = reader.counters
        seconds = round(time.monotonic() - started, 3)
        stats = {
            "azure_requests": counters.requests,
            "azure_pages": counters.pages,
            "azure_retries": counters.retries,
            "azure_throttle_waits": counters.throttle_waits,
            "azure_seconds": seconds,
        }
        if not listing.complete:
            context.log.warning(
                f"{entry.kind} in {subscription_id}: listing incomplete ({listing.error}); "
                "nothing will be deleted in this scope"
            )
        snapshot = RawSnapshot(
            kind=entry.kind,
            subscription_id=subscription_id,
            items=listing.items,
            complete=listing.complete,
            error=listing.error,
            fetched_at=datetime.now(UTC).isoformat(),
            mode=sync_options.mode,
            stats=stats,
        )
        return Output(
            snapshot,
            metadata={
                **_subscription_label(context, entry, listing.items),
                "fetched": len(listing.items),
                "complete": listing.complete,
                "listing_error": listing.error or "",
                "azure_requests": counters.requests,
                "azure_pages": counters.pages,
                "azure_retries": counters.retries,
                "throttle_waits": counters.throttle_waits,
                "seconds": seconds,
                "tag_coverage": tag_coverage(listing.items),
                "resources_by_type_and_location": resource_summary(listing.items),
                "dagster/row_count": len(listing.items),
            },
        )

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
        result = map_items(entry, raw.items, policy)
        report = result.report
        seconds = round(time.monotonic() - started, 3)
        snapshot = EntitySnapshot(
            kind=entry.kind,
            subscription_id=raw.subscription_id,
            entities=result.entities,
            report=report,
            listing_complete=raw.complete,
            listing_error=raw.error,
            mode=raw.mode,
            fetched=len(raw.items),
            stats={**raw.stats, "mapping_seconds": seconds},
        )
        errors = [error.as_dict() for error in report.errors]
        metadata: dict[str, Any] = {
            **_subscription_label(context),
            "fetched": report.items_in,
            "mapped": report.entities_out,
            "skipped_by_selector": report.skipped_by_selector,
            "skipped_empty": report.skipped_empty,
            "invalid_identifier": report.invalid_identifier,
            "escaped_identifiers": report.escaped_identifiers,
            "mapping_errors": len(errors),
            "seconds": seconds,
            "dagster/row_count": report.entities_out,
        }
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
) -> AssetsDefinition:
    upstream_keys = [BLUEPRINTS_KEY] + [
        KindAssetKeys.for_entry(other).sync for other in sync_upstream
    ]

    @asset(
        key=keys.sync,
        ins={"entities": AssetIn(key=keys.entities)},
        deps=upstream_keys,
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
        context: AssetExecutionContext, entities: EntitySnapshot, port: PortResource
    ) -> MaterializeResult:
        outcome = sync_scope(
            entry=entry,
            snapshot=entities,
            port=port,
            config=config,
            blueprints=blueprints,
            log=context.log,
        )
        label = _subscription_label(context)
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
                        "port_count": outcome.port_count,
                        "reason": outcome.counts_reason,
                    },
                ),
            ],
        )

    return sync


def _subscription_label(
    context: AssetExecutionContext,
    entry: ResourceMapping | None = None,
    items: Sequence[dict[str, Any]] = (),
) -> dict[str, str]:
    """Which subscription a materialization or check is about, by id and display name.

    Partition keys are GUIDs; the name comes from the run's tag (discovery, the schedule and
    the sync command set it) or, for the subscription itself, from what Azure returned.
    """
    name = context.run.tags.get(SUBSCRIPTION_NAME_TAG, "")
    if entry is not None and entry.kind.lower() == "subscription" and items:
        name = str(items[0].get("display_name") or name)
    return {"subscription": context.partition_key, "subscription_name": name}


def _require_supported_mode(sync_options: SyncOptions) -> None:
    if sync_options.mode != "full":
        raise NotImplementedError(
            f"sync mode {sync_options.mode!r} is not available yet; run with mode 'full'"
        )
