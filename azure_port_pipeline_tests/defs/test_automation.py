"""Discovery sensor, schedules, freshness check, retire job and definition loading."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    SensorResult,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)

from azure_port_pipeline.defs.blueprints import BLUEPRINTS_KEY
from azure_port_pipeline.defs.checks import CHECK_FRESHNESS
from azure_port_pipeline.defs.factory import build_definitions
from azure_port_pipeline.defs.headless import discover, discover_and_sync, sync_partition
from azure_port_pipeline.defs.jobs import FRESHNESS_JOB, MODE_TAG, SUBSCRIPTION_NAME_TAG
from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION
from azure_port_pipeline.defs.schedules import FULL_RESYNC_SCHEDULE
from azure_port_pipeline.defs.sensors import DISCOVERY_SENSOR
from azure_port_pipeline.demo.environment import EmulatorCredentials
from azure_port_pipeline.mapping import MappingConfigError
from azure_port_pipeline_tests.defs.conftest import CREDENTIALS, SETTINGS, Pipeline
from azure_port_pipeline_tests.paths import PROJECT_ROOT, USER_MAPPING


def evaluate_discovery(
    pipeline: Pipeline, cursor: str | None = None, resources: dict | None = None
) -> SensorResult:
    sensor = pipeline.defs.resolve_sensor_def(DISCOVERY_SENSOR)
    with build_sensor_context(
        instance=pipeline.instance,
        cursor=cursor,
        resources=resources or dict(pipeline.defs.resources),
        definitions=pipeline.defs,
    ) as context:
        result = sensor(context)
    assert isinstance(result, SensorResult)
    return result


def test_discovery_adds_enabled_subscriptions_and_requests_their_full_sync(
    pipeline: Pipeline,
) -> None:
    result = evaluate_discovery(pipeline)

    added = [
        key for request in result.dynamic_partitions_requests for key in request.partition_keys
    ]
    assert sorted(added) == sorted(pipeline.enabled_subscriptions)
    assert pipeline.azure.estate.disabled_subscription_ids[0] not in added
    (request,) = result.run_requests  # one backfill: see test_backfills.py
    assert request.tags[MODE_TAG] == "full"


@pytest.mark.e2e
def test_runs_of_a_many_subscription_backfill_are_tagged_with_their_subscription_name(
    pipeline: Pipeline,
) -> None:
    """Backfill tags are shared by its runs: each run names its subscription once Azure did."""
    summaries = discover_and_sync(pipeline.defs, pipeline.instance)
    assert len(summaries) == len(pipeline.enabled_subscriptions) > 1
    for run in pipeline.instance.get_runs():
        subscription_id = run.tags["dagster/partition"]
        name = pipeline.azure.estate.subscription(subscription_id)["displayName"]
        assert run.tags[SUBSCRIPTION_NAME_TAG] == name


def test_discovery_is_quiet_when_nothing_is_new_and_reports_vanished_subscriptions(
    pipeline: Pipeline,
) -> None:
    discover(pipeline.defs, pipeline.instance)
    again = evaluate_discovery(pipeline)
    assert not again.run_requests and not again.dynamic_partitions_requests

    gone = pipeline.enabled_subscriptions[0]
    excluding = pipeline.resources(azure_options={"subscriptions_exclude": [gone]})
    result = evaluate_discovery(pipeline, cursor=again.cursor, resources=excluding)

    assert not result.run_requests
    assert json.loads(result.cursor)["missing"] == [gone]
    assert gone in pipeline.instance.get_dynamic_partitions(SUBSCRIPTIONS_PARTITION), (
        "a vanished subscription is reported, never removed by the sensor"
    )


def test_discovery_fails_loudly_on_wrong_credentials(pipeline: Pipeline) -> None:
    wrong = EmulatorCredentials(
        CREDENTIALS.azure_client_id,
        "not-the-secret",
        CREDENTIALS.port_client_id,
        CREDENTIALS.port_client_secret,
    )
    with pytest.raises(Exception, match=r"AADSTS7000215|invalid_client") as raised:
        evaluate_discovery(pipeline, resources=pipeline.resources(credentials=wrong))
    assert "not-the-secret" not in str(raised.value)


def test_full_resync_schedule_requests_one_run_per_partition_with_unique_keys(
    pipeline: Pipeline,
) -> None:
    schedule = pipeline.defs.resolve_schedule_def(FULL_RESYNC_SCHEDULE)
    # A schedule context needs an instance it can reference: the on-disk one here.
    with instance_for_test() as instance:
        discover(pipeline.defs, instance)
        keys = []
        for day in (1, 2):
            tick = datetime(2026, 11, day, 2, 0, tzinfo=UTC)
            requests = schedule(
                build_schedule_context(instance=instance, scheduled_execution_time=tick)
            )
            assert sorted(r.partition_key for r in requests) == sorted(
                pipeline.enabled_subscriptions
            )
            keys.extend(r.run_key for r in requests)
    assert len(set(keys)) == len(keys) == 2 * len(pipeline.enabled_subscriptions)


@pytest.mark.e2e
def test_freshness_check_names_stale_subscriptions_until_they_sync(pipeline: Pipeline) -> None:
    discover(pipeline.defs, pipeline.instance)
    job = pipeline.defs.resolve_job_def(FRESHNESS_JOB)

    def evaluate() -> tuple[bool, int]:
        """All kinds fresh?, and stale (subscription, kind) pairs over every sync asset."""
        result = job.execute_in_process(instance=pipeline.instance)
        evaluations = [
            e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_FRESHNESS
        ]
        assert {e.asset_key.path[0] for e in evaluations} == {"port_sync"}
        assert len(evaluations) == 7, "one freshness evaluation per sync asset"
        stale = sum(e.metadata["stale"].value for e in evaluations)
        return all(e.passed for e in evaluations), stale

    passed, stale = evaluate()
    assert not passed and stale == 7 * len(pipeline.enabled_subscriptions)
    for subscription_id in pipeline.enabled_subscriptions:
        assert sync_partition(pipeline.defs, pipeline.instance, subscription_id).success
    assert evaluate() == (True, 0)


@pytest.mark.e2e
def test_retire_job_removes_only_that_subscriptions_entities_and_partition(
    pipeline: Pipeline,
) -> None:
    discover_and_sync(pipeline.defs, pipeline.instance)
    retired, kept = pipeline.enabled_subscriptions[:2]
    pipeline.port.put_entity(
        "azureCloudResource",
        {
            "identifier": f"/subscriptions/{retired}/hand-made",
            "title": "not ours",
            "properties": {},
            "relations": {},
        },
        datasource="someone-else",
    )
    job = pipeline.defs.resolve_job_def("retire_subscription")
    config = {
        "ops": {
            "delete_subscription_entities": {
                "config": {"subscription_id": retired, "confirm": "wrong"}
            }
        }
    }
    assert not job.execute_in_process(
        run_config=config, instance=pipeline.instance, raise_on_error=False
    ).success
    assert any(
        e["identifier"].startswith(f"/subscriptions/{retired}")
        for e in pipeline.port.entities()
        if e["datasource"] != "someone-else"
    )

    config["ops"]["delete_subscription_entities"]["config"]["confirm"] = retired
    assert job.execute_in_process(run_config=config, instance=pipeline.instance).success

    remaining = {e["identifier"] for e in pipeline.port.entities()}
    assert f"/subscriptions/{retired}/hand-made" in remaining
    assert not [
        i
        for i in remaining
        if i.startswith(f"/subscriptions/{retired}") and not i.endswith("hand-made")
    ]
    assert any(i.startswith(f"/subscriptions/{kept}") for i in remaining)
    assert retired not in pipeline.instance.get_dynamic_partitions(SUBSCRIPTIONS_PARTITION)


def test_definitions_build_assets_per_mapping_entry_with_relation_lineage() -> None:
    defs = build_definitions(settings=SETTINGS)  # loads without any credential set
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    for layer in ("azure", "port_entities", "port_sync"):
        for kind in ("subscription", "resource_groups", "storage_accounts", "load_balancers"):
            assert f"{layer}/{kind}" in keys
    parents = graph.get(AssetKey(["port_sync", "storage_accounts"])).parent_keys
    assert AssetKey(["port_sync", "resource_groups"]) in parents
    parents = graph.get(AssetKey(["port_sync", "resource_groups"])).parent_keys
    assert AssetKey(["port_sync", "subscription"]) in parents
    sync_keys = [key for key in graph.get_all_asset_keys() if key.path[0] == "port_sync"]
    assert len(sync_keys) == 7
    for key in sync_keys:
        assert BLUEPRINTS_KEY in graph.get(key).parent_keys, key


def test_invalid_mapping_fails_definition_loading_clearly(tmp_path: Path) -> None:
    mapping = tmp_path / "broken.yaml"
    text = USER_MAPPING.read_text()
    mapping.write_text(text.replace("title: .name", "title: .name | ascii_downcase(", 1))
    with pytest.raises(MappingConfigError) as raised:
        build_definitions(mapping_path=mapping, settings=SETTINGS)
    message = str(raised.value)
    assert "broken.yaml" in message and "Microsoft.Resources/resourceGroups" in message
    assert "title" in message


def test_dagster_definitions_validate_passes() -> None:
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_instance_config_bounds_runs_per_subscription_and_pools(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        config = instance.get_concurrency_config()
    assert config.run_queue_config.max_concurrent_runs == 3
    assert config.run_queue_config.tag_concurrency_limits == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    assert config.pool_config.default_pool_limit == 3
