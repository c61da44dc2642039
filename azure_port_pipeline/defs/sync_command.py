"""`azure-port-pipeline sync`: one sync of some or all subscriptions, from a terminal or a script.

It does what a user would otherwise click through: discover the subscriptions (adding the
partitions Dagster needs), then run the code location's sync job for each on the instance in
`$DAGSTER_HOME`, so the runs show in the UI like any other, as many at once as the daemon would
run them (`max_concurrent_runs`, or `AZURE_PORT_HEADLESS_CONCURRENCY`). It prints one line per
subscription and exits non-zero when a run or a check failed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from dagster import AssetKey, DagsterInstance, Definitions

from azure_port_pipeline.defs.assets import KindAssetKeys
from azure_port_pipeline.defs.blueprints import BLUEPRINTS_KEY
from azure_port_pipeline.defs.change_windows import WindowSettings, evaluate_window
from azure_port_pipeline.defs.factory import configured_mapping
from azure_port_pipeline.defs.headless import (
    PartitionRun,
    RunSummary,
    code_location_definitions,
    format_runs,
    sync_partitions,
)
from azure_port_pipeline.defs.jobs import MODE_TAG, SUBSCRIPTION_NAME_TAG
from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION
from azure_port_pipeline.defs.profiles import active_profile
from azure_port_pipeline.defs.resources import AzureResource
from azure_port_pipeline.defs.settings import PipelineSettings

MODES = ("full", "incremental")
COLUMNS = (
    "fetched",
    "mapping_errors",
    "created",
    "updated",
    "unchanged",
    "deleted",
    "write_failures",
)


class SyncCommandError(Exception):
    """A request the command cannot run (exit code 2); the message says what to change."""


@dataclass(frozen=True)
class SyncOutcome:
    summaries: list[RunSummary]
    window: str | None = None  # --mode incremental: what the change window found

    @property
    def exit_code(self) -> int:
        failed = [s for s in self.summaries if not s.success or s.failed_checks]
        return 1 if failed else 0


def run_sync(
    subscriptions: Sequence[str], mode: str, kinds: Sequence[str], log_level: str = "WARNING"
) -> SyncOutcome:
    if mode not in MODES:
        raise SyncCommandError(f"--mode {mode}: choose one of {', '.join(MODES)}")
    if mode == "incremental" and kinds:
        raise SyncCommandError(
            "--mode incremental syncs what changed in every kind; --kind needs --mode full"
        )
    if not os.environ.get("DAGSTER_HOME"):
        raise SyncCommandError(
            "DAGSTER_HOME is not set: set it to the instance directory the UI uses "
            "(for the demo: .dagster_home), so the runs show there"
        )
    settings = PipelineSettings.from_env()
    # The code location's definitions, which the runs use too (from_code_location): built once.
    defs = code_location_definitions()
    selection = _selection(settings, kinds)
    with DagsterInstance.get() as instance:
        # a resource of its own: the runs' resources start without this credential
        names = _discover(AzureResource.from_env(), instance)
        targets = _targets(subscriptions, names)
        if mode == "incremental":
            return _sync_window(defs, settings, instance, targets, log_level)
        runs = [
            PartitionRun(subscription_id, tags={SUBSCRIPTION_NAME_TAG: names[subscription_id]})
            for subscription_id in targets
        ]
        summaries = sync_partitions(
            defs,
            instance,
            runs,
            log_level=log_level,
            concurrency=settings.headless_concurrency,
            asset_selection=selection,
            tags={MODE_TAG: mode},
            from_code_location=True,
        )
    return SyncOutcome(summaries)


def _sync_window(
    defs: Definitions,
    settings: PipelineSettings,
    instance: DagsterInstance,
    targets: list[str],
    log_level: str,
) -> SyncOutcome:
    """One change window for the targets, as the `incremental_windows` sensor reads it, with
    the watermarks rebuilt from the instance's runs (the sensor's cursor is the daemon's);
    then the runs it asks for: incremental where something changed, full where no watermark
    can be trusted."""
    window = WindowSettings.of(active_profile(settings), configured_mapping(settings).entries)
    with AzureResource.from_env().reader() as reader:  # not the runs' resource, as above
        tick = evaluate_window(instance, None, reader, window, subscriptions=targets)
    if tick.error:
        raise SyncCommandError(f"cannot read the change window: {tick.error}")
    runs = [
        PartitionRun(request.partition_key or "", request.run_config, dict(request.tags))
        for request in tick.requests
    ]
    summaries = sync_partitions(
        defs,
        instance,
        runs,
        log_level=log_level,
        concurrency=settings.headless_concurrency,
        from_code_location=True,
    )
    return SyncOutcome(summaries, window=tick.summary())


def report(outcome: SyncOutcome) -> str:
    """The per-subscription table, then every failed run and check by name."""
    lines = [outcome.window] if outcome.window else []
    lines.append(format_runs(outcome.summaries, COLUMNS))
    for summary in outcome.summaries:
        if not summary.success:
            lines.append(f"FAILED: run of {summary.subscription_id} (see the run in the UI)")
        for check in summary.failed_checks:
            lines.append(f"FAILED: check {check} of {summary.subscription_id}")
    return "\n".join(lines)


def _discover(azure: AzureResource, instance: DagsterInstance) -> dict[str, str]:
    """Enabled subscriptions by id with display names; adds the partitions that are new."""
    with azure.reader() as reader:
        listing = reader.list_subscriptions()
    if not listing.complete:
        raise SyncCommandError(f"cannot list Azure subscriptions: {listing.error}")
    names = {
        record["subscription_id"]: str(record.get("display_name") or record["subscription_id"])
        for record in listing.enabled
    }
    known = set(instance.get_dynamic_partitions(SUBSCRIPTIONS_PARTITION))
    new = sorted(set(names) - known)
    if new:
        instance.add_dynamic_partitions(SUBSCRIPTIONS_PARTITION, new)
    return names


def _targets(requested: Sequence[str], names: dict[str, str]) -> list[str]:
    if not requested:
        if not names:
            raise SyncCommandError("no enabled Azure subscription is visible to the credential")
        return sorted(names)
    wanted = [subscription_id.lower() for subscription_id in requested]
    unknown = [subscription_id for subscription_id in wanted if subscription_id not in names]
    if unknown:
        raise SyncCommandError(
            f"--subscription {', '.join(unknown)}: not an enabled subscription visible to the "
            f"credential; visible: {', '.join(sorted(names)) or 'none'}"
        )
    return list(dict.fromkeys(wanted))


def _selection(settings: PipelineSettings, kinds: Sequence[str]) -> list[AssetKey] | None:
    """The assets of the asked kinds (and the credential/blueprint step they all wait for)."""
    if not kinds:
        return None
    mapping = configured_mapping(settings)
    by_name = {}
    for entry in mapping.entries:
        by_name[entry.key] = entry
        by_name[entry.kind.lower()] = entry
    unknown = [kind for kind in kinds if kind.lower() not in by_name]
    if unknown:
        keys = ", ".join(entry.key for entry in mapping.entries)
        raise SyncCommandError(f"--kind {', '.join(unknown)}: not in the mapping; kinds: {keys}")
    selection: list[AssetKey] = [BLUEPRINTS_KEY]
    for kind in dict.fromkeys(kind.lower() for kind in kinds):
        keys = KindAssetKeys.for_entry(by_name[kind])
        selection.extend([keys.raw, keys.entities, keys.sync])
    return selection
