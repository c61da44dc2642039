"""Builds the whole Dagster `Definitions` from the mapping and blueprint files.

Everything is derived from the mapping, so an invalid mapping fails definition loading with the
mapping loader's message (file, entry, field, jq error) instead of failing later in a run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    FreshnessPolicy,
    OpExecutionContext,
)

from azure_port_pipeline.defs.assets import KindAssetKeys, build_kind_assets
from azure_port_pipeline.defs.checks import build_freshness_check
from azure_port_pipeline.defs.io_manager import SnapshotIOManager
from azure_port_pipeline.defs.jobs import build_freshness_job, build_retire_job, build_sync_job
from azure_port_pipeline.defs.lineage import sync_dependencies
from azure_port_pipeline.defs.profiles import active_profile
from azure_port_pipeline.defs.resources import AzureResource, PortResource, SyncOptions
from azure_port_pipeline.defs.schedules import build_freshness_schedule, build_full_resync_schedule
from azure_port_pipeline.defs.sensors import build_discovery_sensor
from azure_port_pipeline.defs.sync_step import scope_of
from azure_port_pipeline.mapping import PortAppConfig, ResourceMapping, load_mapping

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MAPPING = PROJECT_ROOT / "mapping" / "azure.yaml"
DEFAULT_BLUEPRINTS = PROJECT_ROOT / "mapping" / "blueprints.json"


def build_definitions(
    mapping_path: str | os.PathLike[str] | None = None,
    blueprints_path: str | os.PathLike[str] | None = None,
    environ: dict[str, str] | None = None,
) -> Definitions:
    env = dict(os.environ if environ is None else environ)
    mapping_file = Path(mapping_path or env.get("AZURE_PORT_MAPPING_FILE") or DEFAULT_MAPPING)
    blueprints_file = Path(
        blueprints_path or env.get("AZURE_PORT_BLUEPRINTS_FILE") or DEFAULT_BLUEPRINTS
    )
    config = load_mapping(mapping_file)
    blueprints = load_blueprints(blueprints_file)
    profile = active_profile(env)
    autostart = env.get("AZURE_PORT_AUTOSTART", "true").strip().lower() != "false"
    sensor_status = DefaultSensorStatus.RUNNING if autostart else DefaultSensorStatus.STOPPED
    schedule_status = DefaultScheduleStatus.RUNNING if autostart else DefaultScheduleStatus.STOPPED

    resources = config.resources
    dependencies = sync_dependencies(resources, blueprints)
    by_key = {resource.key: resource for resource in resources}
    freshness = FreshnessPolicy.time_window(
        fail_window=profile.freshness, warn_window=profile.freshness * 0.8
    )
    assets = [
        definition
        for resource in resources
        for definition in build_kind_assets(
            resource,
            config,
            blueprints,
            [by_key[key] for key in dependencies[resource.key]],
            freshness,
        )
    ]
    sync_keys = [KindAssetKeys.for_entry(resource).sync for resource in resources]
    freshness_check = build_freshness_check(sync_keys[0], sync_keys, profile.freshness)
    freshness_selection = AssetSelection.checks(freshness_check)

    return Definitions(
        assets=assets,
        asset_checks=[freshness_check],
        jobs=[
            build_sync_job(freshness_selection),
            build_freshness_job(freshness_selection),
            build_retire_job(_retire_entities(config, resources, dependencies)),
        ],
        sensors=[build_discovery_sensor(profile.discovery_interval_seconds, sensor_status)],
        schedules=[
            build_full_resync_schedule(profile.full_sync_cron, schedule_status),
            build_freshness_schedule(schedule_status),
        ],
        resources={
            "azure": AzureResource(),
            "port": PortResource(),
            "sync_options": SyncOptions(),
            "snapshot_io_manager": SnapshotIOManager(base_path=env.get("AZURE_PORT_STORAGE_URL")),
        },
    )


def load_blueprints(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read blueprints: {error}") from error
    blueprints = data["blueprints"] if isinstance(data, dict) else data
    if not isinstance(blueprints, list) or not all(
        isinstance(b, dict) and "identifier" in b for b in blueprints
    ):
        raise ValueError(f"{path}: expected a list of blueprints, each with an identifier")
    return blueprints


def _retire_entities(
    config: PortAppConfig,
    resources: Sequence[ResourceMapping],
    dependencies: dict[str, list[str]],
):
    """Deletes a subscription's owned entities, sources before the targets they relate to."""
    order = _reverse_dependency_order(resources, dependencies)

    def retire(context: OpExecutionContext, subscription_id: str) -> None:
        with context.resources.port.client() as client:
            for resource in order:
                scope = scope_of(resource, subscription_id)
                for blueprint in sorted(resource.blueprints or ()):
                    owned = client.search_owned(blueprint, scope)
                    if not owned:
                        continue
                    outcomes = client.bulk_delete(
                        blueprint,
                        [entity["identifier"] for entity in owned],
                        delete_dependents=config.delete_dependent_entities,
                    )
                    failed = [o for o in outcomes if not o.ok]
                    context.log.info(
                        f"{scope}: deleted {len(outcomes) - len(failed)} {blueprint} entities"
                    )
                    if failed:
                        raise RuntimeError(
                            f"{scope}: {len(failed)} deletions failed, first: "
                            f"{failed[0].identifier}: {failed[0].status} {failed[0].message}"
                        )

    return retire


def _reverse_dependency_order(
    resources: Sequence[ResourceMapping], dependencies: dict[str, list[str]]
) -> list[ResourceMapping]:
    by_key = {resource.key: resource for resource in resources}
    ordered: list[str] = []

    def visit(key: str) -> None:
        if key in ordered:
            return
        for upstream in dependencies[key]:
            visit(upstream)
        ordered.append(key)

    for resource in resources:
        visit(resource.key)
    return [by_key[key] for key in reversed(ordered)]
