"""Builds the whole Dagster `Definitions` from the mapping, the blueprints and the settings.

Everything is derived from the mapping, so an invalid mapping or setting fails definition
loading with the loader's message (file, entry, field, jq error; or the variable) instead of
failing later in a run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    FreshnessPolicy,
    in_process_executor,
)

from azure_port_pipeline.defs.assets import SNAPSHOTS, KindAssetKeys
from azure_port_pipeline.defs.blueprints import build_blueprints_asset
from azure_port_pipeline.defs.change_windows import build_incremental_sensor
from azure_port_pipeline.defs.checks import build_freshness_check
from azure_port_pipeline.defs.event_sensor import build_events_sensor
from azure_port_pipeline.defs.jobs import build_freshness_job, build_sync_job
from azure_port_pipeline.defs.lineage import sync_dependencies
from azure_port_pipeline.defs.profiles import active_profile
from azure_port_pipeline.defs.read_step import build_read_assets
from azure_port_pipeline.defs.resources import (
    AzureResource,
    EventQueueResource,
    PortResource,
    SyncOptions,
)
from azure_port_pipeline.defs.retire import build_retire_job
from azure_port_pipeline.defs.schedules import build_freshness_schedule, build_full_resync_schedule
from azure_port_pipeline.defs.sensors import build_discovery_sensor, build_resync_sensor
from azure_port_pipeline.defs.settings import PipelineSettings
from azure_port_pipeline.defs.snapshot_store import SnapshotStore
from azure_port_pipeline.defs.sync_step import DeletionOptions
from azure_port_pipeline.defs.write_step import build_write_assets
from azure_port_pipeline.mapping import PortAppConfig, load_mapping
from azure_port_pipeline.mapping.defaults import (
    default_blueprints,
    load_blueprints,
    load_default_mapping,
)


def build_definitions(
    *,
    mapping_path: str | os.PathLike[str] | None = None,
    blueprints_path: str | os.PathLike[str] | None = None,
    settings: PipelineSettings | None = None,
    resources: Mapping[str, Any] | None = None,
) -> Definitions:
    """The code location: assets, checks, jobs, sensors, schedules and resources.

    `resources` replaces the ones built from the environment (tests and the demo pass Azure
    and Port resources pointed at the emulators); the rest keep their defaults.
    """
    settings = settings or PipelineSettings.from_env()
    config = configured_mapping(settings, mapping_path)
    blueprints_file = blueprints_path or settings.blueprints_file
    blueprints = load_blueprints(blueprints_file) if blueprints_file else default_blueprints()
    profile = active_profile(settings)
    sensor_status = (
        DefaultSensorStatus.RUNNING if settings.autostart else DefaultSensorStatus.STOPPED
    )
    schedule_status = (
        DefaultScheduleStatus.RUNNING if settings.autostart else DefaultScheduleStatus.STOPPED
    )

    entries = config.entries
    resources = _resources(settings, resources or {})
    # Real-time sync runs by default wherever a queue is configured, and only there.
    events_on = settings.autostart and resources["events_queue"].configured
    events_status = DefaultSensorStatus.RUNNING if events_on else DefaultSensorStatus.STOPPED
    dependencies = sync_dependencies(entries, blueprints)
    freshness = FreshnessPolicy.time_window(
        fail_window=profile.freshness, warn_window=profile.freshness * 0.8
    )
    deletion = DeletionOptions(
        min_entities=settings.deletion_guard_min_entities,
        foreign_cascade=settings.foreign_cascade,
    )
    assets = [
        build_blueprints_asset(blueprints),
        build_read_assets(entries, settings.identifier_policy),
        build_write_assets(config, blueprints, dependencies, freshness, deletion),
    ]
    sync_keys = [KindAssetKeys.for_entry(entry).sync for entry in entries]
    freshness_check = build_freshness_check(sync_keys, profile.freshness)
    freshness_selection = AssetSelection.checks(freshness_check)

    return Definitions(
        assets=assets,
        asset_checks=[freshness_check],
        jobs=[
            build_sync_job(freshness_selection),
            build_freshness_job(freshness_selection),
            build_retire_job(config, dependencies, foreign_cascade=settings.foreign_cascade),
        ],
        sensors=[
            build_discovery_sensor(profile.discovery_interval_seconds, sensor_status),
            build_resync_sensor(),
            build_incremental_sensor(profile, entries, sensor_status),
            build_events_sensor(entries, events_status, settings.events_seconds),
        ],
        schedules=[
            build_full_resync_schedule(profile.full_sync_cron, schedule_status),
            build_freshness_schedule(schedule_status),
        ],
        resources=resources,
        # Backfill runs use the implicit asset job: in-process like the sync job (see jobs.py).
        executor=in_process_executor,
    )


def configured_mapping(
    settings: PipelineSettings, mapping_path: str | os.PathLike[str] | None = None
) -> PortAppConfig:
    """The mapping in use: the given file, else AZURE_PORT_MAPPING_FILE, else the default."""
    mapping_file = mapping_path or settings.mapping_file
    return load_mapping(mapping_file) if mapping_file else load_default_mapping()


def _resources(settings: PipelineSettings, given: Mapping[str, Any]) -> dict[str, Any]:
    """Given resources win; the rest come from the environment (only when not given)."""
    resources: dict[str, Any] = {
        "sync_options": SyncOptions(),
        **given,
    }
    if "azure" not in resources:
        resources["azure"] = AzureResource.from_env()
    if "port" not in resources:
        resources["port"] = PortResource.from_env()
    if "events_queue" not in resources:
        resources["events_queue"] = EventQueueResource.from_env()
    if SNAPSHOTS not in resources:  # an account URL signs in with the pipeline's Azure credential
        resources[SNAPSHOTS] = SnapshotStore.from_settings(settings, azure=resources["azure"])
    return resources
