"""Full sync end to end: real Dagster runs, real SDK clients, both emulators over HTTP(S)."""

from __future__ import annotations

from typing import Any

import pytest
from dagster import AssetKey, DagsterEventType, EventRecordsFilter

from azure_port_pipeline.defs.headless import discover, discover_and_sync, sync_partition
from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION
from azure_port_pipeline.demo.environment import EmulatorCredentials
from azure_port_pipeline.mapping import map_items, unescape_identifier
from azure_port_pipeline.mapping.defaults import load_default_mapping
from azure_port_pipeline_tests.azure_fixtures import CLIENT_SECRET
from azure_port_pipeline_tests.defs.conftest import CREDENTIALS, PORT_ID, PORT_SECRET, Pipeline

pytestmark = pytest.mark.e2e

BULK_UPSERT = "POST /v1/blueprints/{bp}/entities/bulk"
STORAGE = "Microsoft.Storage/storageAccounts"
VMS = "Microsoft.Compute/virtualMachines"


def expected_from_estate(pipeline: Pipeline, subscription_id: str) -> dict[tuple[str, str], Any]:
    """What Port should hold, mapped straight from the estate's REST bodies (no reader)."""
    config = load_default_mapping()
    estate = pipeline.azure.estate
    expected: dict[tuple[str, str], Any] = {}
    for entry in config.entries:
        if entry.kind == "subscription":
            continue
        if entry.kind == "Microsoft.Resources/resourceGroups":
            items = estate.resource_groups(subscription_id)
        else:
            items = list(estate.resources(subscription_id, entry.kind))
        for entity in map_items(entry, items).entities:
            expected[(entity.blueprint, entity.identifier)] = (entity.title, entity.relations)
    return expected


def port_state(pipeline: Pipeline, subscription_id: str) -> dict[tuple[str, str], Any]:
    root = f"/subscriptions/{subscription_id}"
    return {
        (body["blueprint"], body["identifier"]): (body["title"], body["relations"])
        for body in pipeline.port.entities()
        if body["identifier"] == root or body["identifier"].startswith(root + "/")
    }


def materialization(
    pipeline: Pipeline, key: list[str], subscription_id: str | None
) -> dict[str, Any]:
    result = pipeline.instance.fetch_materializations(AssetKey(key), limit=50)
    for record in result.records:
        if record.partition_key == subscription_id:
            metadata = record.asset_materialization.metadata
            return {name: value.value for name, value in metadata.items()}
    raise AssertionError(f"no materialization of {key} for {subscription_id}")


def test_full_sync_writes_exactly_the_mapped_entities_and_relations(pipeline: Pipeline) -> None:
    summaries = discover_and_sync(pipeline.defs, pipeline.instance)

    assert sorted(s.subscription_id for s in summaries) == sorted(pipeline.enabled_subscriptions)
    assert all(s.success for s in summaries)
    for subscription_id in pipeline.enabled_subscriptions:
        expected = expected_from_estate(pipeline, subscription_id)
        actual = port_state(pipeline, subscription_id)
        subscription_entity = ("azureSubscription", f"/subscriptions/{subscription_id}")
        assert subscription_entity in actual
        del actual[subscription_entity]
        assert actual == expected
    groups = {body["identifier"] for body in pipeline.port.entities("azureResourceGroup")}
    for body in pipeline.port.entities("azureCloudResource"):
        assert body["relations"]["resource_group"] in groups
    for body in pipeline.port.entities("azureResourceGroup"):
        subscription = body["relations"]["subscription"]
        assert pipeline.port.entity("azureSubscription", subscription) is not None


def test_a_run_shares_one_entra_token_and_one_port_token_across_its_steps(
    pipeline: Pipeline,
) -> None:
    discover_and_sync(pipeline.defs, pipeline.instance)  # blueprints and partitions in place
    subscription_id = pipeline.enabled_subscriptions[0]
    pipeline.azure.reset_counters()
    pipeline.port.reset_counters()

    summary = sync_partition(pipeline.defs, pipeline.instance, subscription_id)

    assert summary.success
    azure = pipeline.azure.counters
    assert azure["POST /{tenant}/oauth2/v2.0/token"] == 1
    assert azure["GET /{tenant}/v2.0/.well-known/openid-configuration"] == 1
    assert pipeline.port.counters["POST /v1/auth/access_token"] == 1
    blueprints = materialization(pipeline, ["port", "blueprints"], None)
    assert blueprints["blueprints"] == 3 and blueprints["created"] == 0


def test_second_full_sync_writes_nothing(pipeline: Pipeline) -> None:
    first = discover_and_sync(pipeline.defs, pipeline.instance)
    assert first and all(s.success for s in first)
    assert pipeline.port.counters[BULK_UPSERT] > 0
    pipeline.port.reset_counters()

    second = [sync_partition(pipeline.defs, pipeline.instance, s.subscription_id) for s in first]

    assert all(s.success for s in second)
    writes = {
        route: count
        for route, count in pipeline.port.counters.items()
        if not route.startswith(("GET ", "POST /v1/auth")) and not route.endswith("/search")
    }
    assert writes == {}
    for summary in second:
        assert summary.totals["created"] == summary.totals["updated"] == 0
        assert summary.totals["deleted"] == 0
        assert summary.totals["unchanged"] > 0


def test_resource_deleted_in_azure_is_deleted_from_port(pipeline: Pipeline) -> None:
    discover_and_sync(pipeline.defs, pipeline.instance)
    subscription_id = pipeline.enabled_subscriptions[0]
    expected = expected_from_estate(pipeline, subscription_id)
    victim = next(i for (bp, i) in expected if "/storageaccounts/" in i.lower())
    assert pipeline.port.entity("azureCloudResource", victim) is not None

    pipeline.azure.delete_resource(unescape_identifier(victim))  # Azure's id, not Port's
    summary = sync_partition(pipeline.defs, pipeline.instance, subscription_id)

    assert summary.success
    assert pipeline.port.entity("azureCloudResource", victim) is None
    assert summary.totals["deleted"] == 1
    assert (
        port_state(pipeline, subscription_id).keys()
        - {("azureSubscription", f"/subscriptions/{subscription_id}")}
        == expected_from_estate(pipeline, subscription_id).keys()
    )


def test_broken_listing_deletes_nothing_in_its_scope_and_fails_its_check(
    pipeline: Pipeline,
) -> None:
    discover_and_sync(pipeline.defs, pipeline.instance)
    subscription_id = pipeline.enabled_subscriptions[0]
    before = port_state(pipeline, subscription_id)
    accounts = sorted(i for (bp, i) in before if "/storageaccounts/" in i.lower())
    for identifier in accounts[:3]:
        pipeline.azure.delete_resource(unescape_identifier(identifier))
    new_vm = next(
        pipeline.azure.estate.resources(subscription_id, "Microsoft.Compute/virtualMachines")
    )
    pipeline.azure.delete_resource(new_vm["id"])
    pipeline.azure.page_size = 5
    pipeline.azure.faults.break_listing(subscription_id, STORAGE, ok_pages=1)

    summary = sync_partition(pipeline.defs, pipeline.instance, subscription_id)

    assert summary.success, "a broken listing is reported, not a crashed run"
    for identifier in accounts[:3]:
        assert pipeline.port.entity("azureCloudResource", identifier) is not None
    checks = summary.checks
    assert checks["port_sync/storage_accounts:azure_port_counts_match"] is False
    assert checks["port_sync/virtual_machines:azure_port_counts_match"] is True
    vm_id = new_vm["id"].split("/")
    vm_id[3], vm_id[4] = vm_id[3].lower(), vm_id[4].lower()
    assert pipeline.port.entity("azureCloudResource", "/".join(vm_id)) is None
    storage = materialization(pipeline, ["port_sync", "storage_accounts"], subscription_id)
    assert storage["deleted"] == 0
    assert "incomplete" in storage["deletion_skipped_reason"]
    raw = materialization(pipeline, ["azure", "storage_accounts"], subscription_id)
    assert raw["complete"] is False


def test_port_rejection_of_one_entity_is_reported_and_the_rest_land(pipeline: Pipeline) -> None:
    subscription_id = pipeline.enabled_subscriptions[0]
    expected = expected_from_estate(pipeline, subscription_id)
    rejected = sorted(i for (bp, i) in expected if "/storageaccounts/" in i.lower())[0]
    pipeline.port.reject(
        lambda blueprint, body: body["identifier"] == rejected and "location must be a region"
    )

    summaries = discover_and_sync(pipeline.defs, pipeline.instance)

    summary = next(s for s in summaries if s.subscription_id == subscription_id)
    assert summary.success
    assert summary.totals["write_failures"] == 1
    assert pipeline.port.entity("azureCloudResource", rejected) is None
    landed = port_state(pipeline, subscription_id)
    assert set(expected) - set(landed) == {("azureCloudResource", rejected)}
    checks = summary.checks
    assert checks["port_sync/storage_accounts:no_port_write_failures"] is False
    assert checks["port_sync/virtual_machines:no_port_write_failures"] is True
    storage = materialization(pipeline, ["port_sync", "storage_accounts"], subscription_id)
    assert storage["write_failures"] == 1
    table = storage["write_errors"]
    assert [row.data["identifier"] for row in table.records] == [rejected]
    assert "location must be a region" in table.records[0].data["message"]


def test_materializations_carry_plottable_run_metrics(pipeline: Pipeline) -> None:
    discover_and_sync(pipeline.defs, pipeline.instance)
    subscription_id = pipeline.enabled_subscriptions[0]

    raw = materialization(pipeline, ["azure", "storage_accounts"], subscription_id)
    entities = materialization(pipeline, ["port_entities", "storage_accounts"], subscription_id)
    sync = materialization(pipeline, ["port_sync", "storage_accounts"], subscription_id)

    count = pipeline.azure.estate.count(subscription_id, STORAGE)
    assert raw["fetched"] == count and raw["dagster/row_count"] == count
    assert raw["azure_requests"] >= 1 and raw["complete"] is True
    summary_rows = raw["resources_by_type_and_location"].records
    assert sum(row.data["resources"] for row in summary_rows) == count
    assert entities["mapped"] + entities["mapping_errors"] == count
    for name in (
        "fetched",
        "mapped",
        "skipped",
        "mapping_errors",
        "created",
        "updated",
        "unchanged",
        "deleted",
        "already_gone",
        "write_failures",
        "azure_requests",
        "port_requests",
        "throttle_waits",
        "seconds",
    ):
        assert isinstance(sync[name], int | float), name
    assert sync["created"] == entities["mapped"]
    assert sync["already_gone"] == 0
    name = pipeline.azure.estate.subscription(subscription_id)["displayName"]
    subscription = materialization(pipeline, ["azure", "subscription"], subscription_id)
    for metadata in (raw, entities, sync, subscription):
        assert metadata["subscription"] == subscription_id
        assert metadata["subscription_name"] == name


def test_partitions_are_the_enabled_subscriptions(pipeline: Pipeline) -> None:
    discover_and_sync(pipeline.defs, pipeline.instance)
    partitions = pipeline.instance.get_dynamic_partitions(SUBSCRIPTIONS_PARTITION)
    assert sorted(partitions) == sorted(pipeline.enabled_subscriptions)


def test_the_last_resource_of_a_kind_is_deleted(pipeline: Pipeline) -> None:
    """The deletion threshold is judged over the subscription: emptying a kind is ordinary."""
    discover_and_sync(pipeline.defs, pipeline.instance)
    subscription_id = pipeline.enabled_subscriptions[0]
    vms = sorted(
        i for (bp, i) in port_state(pipeline, subscription_id) if "/virtualmachines/" in i.lower()
    )
    assert len(vms) >= 3
    bodies = list(pipeline.azure.estate.resources(subscription_id, VMS))
    for body in bodies[1:]:
        pipeline.azure.delete_resource(body["id"])
    assert sync_partition(pipeline.defs, pipeline.instance, subscription_id).success
    pipeline.azure.delete_resource(bodies[0]["id"])  # the last one: 1 of 1 in its scope

    summary = sync_partition(pipeline.defs, pipeline.instance, subscription_id)

    assert summary.success
    assert all(pipeline.port.entity("azureCloudResource", i) is None for i in vms)
    vm_sync = materialization(pipeline, ["port_sync", "virtual_machines"], subscription_id)
    assert vm_sync["deleted"] == 1 and vm_sync["deletion_skipped_reason"] == ""
    assert vm_sync["subscription_would_delete"] == 1
    assert vm_sync["subscription_entities"] > 20
    assert summary.checks["port_sync/virtual_machines:azure_port_counts_match"] is True


def test_a_whole_subscription_wipe_deletes_nothing_and_says_why(pipeline: Pipeline) -> None:
    discover_and_sync(pipeline.defs, pipeline.instance)
    subscription_id = pipeline.enabled_subscriptions[0]
    before = port_state(pipeline, subscription_id)
    for group in pipeline.azure.estate.resource_groups(subscription_id):
        pipeline.azure.delete_resource(group["id"])  # every group, with its resources

    summary = sync_partition(pipeline.defs, pipeline.instance, subscription_id)

    assert summary.success, "a refused mass deletion is reported, not a crashed run"
    assert port_state(pipeline, subscription_id) == before  # not one entity deleted
    assert summary.totals["deleted"] == 0
    groups = materialization(pipeline, ["port_sync", "resource_groups"], subscription_id)
    total = len(before)
    reason = groups["deletion_skipped_reason"]
    assert f"would delete {total - 1} of the {total} entities of this subscription" in reason
    assert "Azure now lists only 1 of them" in reason and "nothing deleted" in reason
    assert summary.checks["port_sync/resource_groups:azure_port_counts_match"] is False
    assert summary.checks["port_sync/storage_accounts:azure_port_counts_match"] is False
    assert summary.checks["port_sync/subscription:azure_port_counts_match"] is True


def test_a_foreign_entity_relating_to_a_deleted_group_stays_and_is_reported(
    pipeline: Pipeline,
) -> None:
    """The default mapping deletes with deleteDependentEntities: true (Port's default)."""
    discover_and_sync(pipeline.defs, pipeline.instance)
    subscription_id = pipeline.enabled_subscriptions[0]
    group = pipeline.azure.estate.resource_groups(subscription_id)[0]
    group_id = next(
        i
        for (bp, i) in port_state(pipeline, subscription_id)
        if bp == "azureResourceGroup" and i.lower() == group["id"].lower()
    )
    theirs = {
        "identifier": "runbook-42",
        "title": "runbook",
        "relations": {"resource_group": group_id},
    }
    pipeline.port.put_entity("azureCloudResource", theirs, datasource="another-integration/1.0")
    pipeline.azure.delete_resource(group["id"])  # the group and its resources

    summary = sync_partition(pipeline.defs, pipeline.instance, subscription_id)

    assert summary.success
    assert pipeline.port.entity("azureResourceGroup", group_id) is None
    expected = expected_from_estate(pipeline, subscription_id)
    ours = port_state(pipeline, subscription_id)
    del ours[("azureSubscription", f"/subscriptions/{subscription_id}")]
    assert ours.keys() == expected.keys()  # the group's resources are gone too
    kept = pipeline.port.entity("azureCloudResource", "runbook-42")
    assert kept is not None and kept["datasource"] == "another-integration/1.0"
    groups = materialization(pipeline, ["port_sync", "resource_groups"], subscription_id)
    assert groups["deleted"] == 1 and groups["foreign_dependents"] == 1
    table = groups["foreign_dependent_entities"]
    assert [(row.data["identifier"], row.data["depends_on"]) for row in table.records] == [
        ("runbook-42", group_id)
    ]


def test_no_secret_reaches_the_event_log(pipeline: Pipeline) -> None:
    discover_and_sync(pipeline.defs, pipeline.instance)
    pipeline.azure.faults.break_listing(pipeline.enabled_subscriptions[0], STORAGE, ok_pages=0)
    sync_partition(pipeline.defs, pipeline.instance, pipeline.enabled_subscriptions[0])

    records = pipeline.instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_MATERIALIZATION), limit=10_000
    )
    logs = "\n".join(
        repr(entry)
        for run in pipeline.instance.get_runs()
        for entry in pipeline.instance.all_logs(run.run_id)
    )
    assert records and logs
    for secret in (CLIENT_SECRET, PORT_SECRET):
        assert secret not in logs
        assert all(secret not in repr(r.event_log_entry) for r in records)


def _failures(pipeline: Pipeline, run_id: str) -> list[Any]:
    return [
        entry
        for entry in pipeline.instance.all_logs(run_id)
        if entry.dagster_event is not None
        and entry.dagster_event.event_type == DagsterEventType.STEP_FAILURE
    ]


def _started_steps(pipeline: Pipeline, run_id: str) -> list[str]:
    return [
        entry.step_key
        for entry in pipeline.instance.all_logs(run_id)
        if entry.dagster_event is not None
        and entry.dagster_event.event_type == DagsterEventType.STEP_START
    ]


def test_a_wrong_port_secret_fails_once_before_any_azure_read(pipeline: Pipeline) -> None:
    discover(pipeline.defs, pipeline.instance)
    wrong = EmulatorCredentials(
        CREDENTIALS.azure_client_id, CREDENTIALS.azure_client_secret, PORT_ID, "not-the-secret"
    )
    defs = pipeline.definitions(credentials=wrong)
    pipeline.azure.reset_counters()

    summary = sync_partition(defs, pipeline.instance, pipeline.enabled_subscriptions[0])

    assert not summary.success
    (run,) = pipeline.instance.get_runs(limit=1)
    (failure,) = _failures(pipeline, run.run_id)
    assert failure.step_key == "port__blueprints"
    message = failure.dagster_event.step_failure_data.error.message
    assert "credentials refused" in message and "PORT_CLIENT_SECRET" in message
    assert "not-the-secret" not in message
    assert _started_steps(pipeline, run.run_id) == ["port__blueprints"]
    listings = [route for route in pipeline.azure.counters if "/providers/" in route]
    assert listings == [], "no Azure listing after a credential failure"
    assert pipeline.port.entity_count() == 0


def test_a_missing_azure_tenant_is_reported_once(pipeline: Pipeline) -> None:
    discover(pipeline.defs, pipeline.instance)
    defs = pipeline.definitions(azure_options={"tenant_id": None})

    summary = sync_partition(defs, pipeline.instance, pipeline.enabled_subscriptions[0])

    assert not summary.success
    (run,) = pipeline.instance.get_runs(limit=1)
    (failure,) = _failures(pipeline, run.run_id)
    assert "AZURE_TENANT_ID" in failure.dagster_event.step_failure_data.error.message
    assert _started_steps(pipeline, run.run_id) == ["port__blueprints"], "one step, one message"
