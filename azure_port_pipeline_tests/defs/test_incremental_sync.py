"""Incremental sync end to end: real SDK writes against the Azure emulator, the real change-window
sensor, real Dagster runs of the same assets, and Port compared with the mapping of Azure."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.mgmt.resource.resources import ResourceManagementClient
from dagster import DagsterInstance, Definitions
from upath import UPath

from azure_port_pipeline.defs.change_windows import FULL_REASON_TAG, WINDOW_END_TAG
from azure_port_pipeline.defs.factory import build_definitions
from azure_port_pipeline.defs.headless import (
    WindowOutcome,
    discover_and_sync,
    incremental_window,
)
from azure_port_pipeline.defs.incremental import CHANGE_KEY
from azure_port_pipeline.defs.jobs import MODE_TAG, SUBSCRIPTION_NAME_TAG
from azure_port_pipeline.defs.settings import PipelineSettings
from azure_port_pipeline.defs.snapshot_store import read_snapshot
from azure_port_pipeline.defs.watermarks import Watermarks
from azure_port_pipeline.demo.environment import EmulatorEndpoints, emulator_resources
from azure_port_pipeline.mapping import unescape_identifier
from azure_port_pipeline_tests.azure_fixtures import CLIENT_ID, credential_for, sdk_kwargs
from azure_port_pipeline_tests.defs.conftest import CREDENTIALS, FAST_AZURE, Pipeline
from azure_port_pipeline_tests.defs.test_full_sync import (
    expected_from_estate,
    materialization,
    port_state,
)
from azure_port_pipeline_tests.defs.test_port_reliability import STORMY_PORT

pytestmark = pytest.mark.e2e

STORAGE = "Microsoft.Storage/storageAccounts"
STORAGE_VERSION = "2023-01-01"
#: no ingestion lag to wait out: the emulator shows a change row as soon as it is written
WINDOW_SETTINGS = {"AZURE_PORT_CHANGE_LAG_SECONDS": "0"}


class Estate:
    """The pipeline, the cursor the daemon would keep, and the Azure SDK to change things."""

    def __init__(self, pipeline: Pipeline, resources: dict[str, Any] | None = None) -> None:
        self.pipeline = pipeline
        self.cursor: str | None = None
        self.defs: Definitions = self.definitions(resources or pipeline.resources())

    def definitions(self, resources: dict[str, Any]) -> Definitions:
        settings = PipelineSettings.from_env(WINDOW_SETTINGS)
        return build_definitions(settings=settings, resources=resources)

    @property
    def instance(self) -> DagsterInstance:
        return self.pipeline.instance

    def full_sync(self) -> None:
        summaries = discover_and_sync(self.defs, self.instance, log_level="WARNING")
        assert summaries and all(s.success for s in summaries)

    def window(self) -> WindowOutcome:
        outcome = incremental_window(self.defs, self.instance, self.cursor, "WARNING")
        self.cursor = outcome.cursor
        return outcome

    def client(self, subscription_id: str) -> ResourceManagementClient:
        azure = self.pipeline.azure
        return ResourceManagementClient(credential_for(azure), subscription_id, **sdk_kwargs(azure))

    def create_account(self, subscription_id: str, group: str, name: str, **tags: str) -> str:
        resource_id = (
            f"/subscriptions/{subscription_id}/resourceGroups/{group}/providers/{STORAGE}/{name}"
        )
        body = {
            "location": "westeurope",
            "kind": "StorageV2",
            "sku": {"name": "Standard_LRS"},
            "tags": tags,
            "properties": {"minimumTlsVersion": "TLS1_2"},
        }
        resources = self.client(subscription_id).resources
        resources.begin_create_or_update_by_id(
            resource_id, api_version=STORAGE_VERSION, parameters=body
        ).result()
        return resource_id

    def assert_port_matches_azure(self, subscription_id: str) -> None:
        expected = expected_from_estate(self.pipeline, subscription_id)
        actual = port_state(self.pipeline, subscription_id)
        actual.pop(("azureSubscription", f"/subscriptions/{subscription_id}"), None)
        assert actual == expected


@pytest.fixture
def estate(pipeline: Pipeline) -> Estate:
    # Small ARM pages: listing a kind costs several requests, so reading a few changed ids
    # by id is the cheaper way and the by-id path is what these tests exercise.
    pipeline.azure.page_size = 3
    estate = Estate(pipeline)
    estate.full_sync()
    return estate


def modes(outcome: WindowOutcome) -> Counter[str]:
    return Counter(request.tags[MODE_TAG] for request in outcome.result.run_requests or [])


def requested(outcome: WindowOutcome) -> list[str]:
    return sorted(request.partition_key or "" for request in outcome.result.run_requests or [])


def test_a_window_after_the_full_sync_of_a_quiet_estate_requests_no_run(estate: Estate) -> None:
    outcome = estate.window()

    assert outcome.result.run_requests == []
    marks = Watermarks.from_cursor(estate.cursor)
    assert sorted(marks.marks) == sorted(estate.pipeline.enabled_subscriptions)


def test_create_update_and_delete_reach_port_through_one_incremental_run_per_changed_subscription(
    estate: Estate,
) -> None:
    azure = estate.pipeline.azure
    first, second = estate.pipeline.enabled_subscriptions[:2]
    group = azure.estate.resource_groups(first)[0]["name"]
    created = estate.create_account(first, group, "incrnew01", team="payments")
    victim = next(iter(azure.estate.resources(first, STORAGE)))["id"]
    client = estate.client(first)
    client.resources.begin_delete_by_id(victim, api_version=STORAGE_VERSION).result()
    target = next(iter(azure.estate.resources(second, STORAGE)))["id"]
    estate.client(second).resources.begin_update_by_id(
        target, api_version=STORAGE_VERSION, parameters={"tags": {"owner": "someone-else"}}
    ).result()
    azure.reset_counters()
    estate.pipeline.port.reset_counters()

    outcome = estate.window()

    assert requested(outcome) == sorted([first, second])
    assert modes(outcome) == Counter({"incremental": 2})
    subscriptions = estate.pipeline.azure.estate.subscriptions
    names = {s["subscriptionId"]: s["displayName"] for s in subscriptions}
    for request in outcome.result.run_requests or []:
        assert request.tags[SUBSCRIPTION_NAME_TAG] == names[request.partition_key]
    assert all(summary.success for summary in outcome.summaries)
    for subscription_id in estate.pipeline.enabled_subscriptions:
        estate.assert_port_matches_azure(subscription_id)
    sync = materialization(estate.pipeline, ["port_sync", "storage_accounts"], first)
    assert sync["mode"] == "incremental"
    assert (sync["created"], sync["deleted"]) == (1, 1)
    ids = {row.data["resource"].lower() for row in sync["window_changes"].records}
    assert {created.lower(), victim.lower()} <= ids
    # cost: two change tables, then a GET per changed id; no listing
    lists = {
        route: count
        for route, count in azure.counters.items()
        if "{type}" in route and "{name}" not in route
    }
    assert not lists, lists


def test_many_changes_to_one_resource_cost_one_get_and_created_then_deleted_is_never_resurrected(
    estate: Estate,
) -> None:
    first = estate.pipeline.enabled_subscriptions[0]
    group = estate.pipeline.azure.estate.resource_groups(first)[0]["name"]
    flapping = estate.create_account(first, group, "incrflap01")
    client = estate.client(first)
    for value in ("a", "b", "c"):
        client.resources.begin_update_by_id(
            flapping, api_version=STORAGE_VERSION, parameters={"tags": {"step": value}}
        ).result()
    ghost = estate.create_account(first, group, "incrghost1")
    client.resources.begin_delete_by_id(ghost, api_version=STORAGE_VERSION).result()
    estate.pipeline.azure.reset_counters()

    outcome = estate.window()

    assert all(summary.success for summary in outcome.summaries)
    estate.assert_port_matches_azure(first)
    gets = estate.pipeline.azure.counters
    by_id = [route for route in gets if route.startswith("GET /{resourceId}")]
    assert sum(gets[route] for route in by_id) == 2  # one per changed resource
    assert not any("incrghost1" in body["identifier"] for body in estate.pipeline.port.entities())


def owned_under(estate: Estate, prefix: str) -> set[str]:
    prefix = prefix.lower()
    bodies = estate.pipeline.port.entities()
    identifiers = {unescape_identifier(body["identifier"]).lower() for body in bodies}
    return {identifier for identifier in identifiers if identifier.startswith(prefix)}


def test_deleting_a_resource_group_removes_it_and_everything_it_held(estate: Estate) -> None:
    first = estate.pipeline.enabled_subscriptions[0]
    group = estate.pipeline.azure.estate.resource_groups(first)[0]["name"]
    prefix = f"/subscriptions/{first}/resourcegroups/{group}"
    assert len(owned_under(estate, prefix)) > 1

    estate.client(first).resource_groups.begin_delete(group).result()
    outcome = estate.window()

    assert modes(outcome) == Counter({"incremental": 1})
    assert all(summary.success for summary in outcome.summaries)
    assert owned_under(estate, prefix) == set()
    estate.assert_port_matches_azure(first)


def test_a_group_that_gains_an_excluded_tag_leaves_with_its_resources_and_comes_back_without_it(
    pipeline: Pipeline,
) -> None:
    pipeline.azure.page_size = 3
    estate = Estate(
        pipeline, pipeline.resources(azure_options={"rg_tags_exclude": {"sync": "off"}})
    )
    estate.full_sync()
    first = pipeline.enabled_subscriptions[0]
    group = pipeline.azure.estate.resource_groups(first)[0]
    prefix = f"/subscriptions/{first}/resourcegroups/{group['name']}"
    before = owned_under(estate, prefix)
    assert len(before) > 1
    groups = estate.client(first).resource_groups

    groups.update(group["name"], {"tags": {**(group.get("tags") or {}), "sync": "off"}})
    left = estate.window()

    assert modes(left) == Counter({"incremental": 1})
    assert all(summary.success for summary in left.summaries)
    assert owned_under(estate, prefix) == set()

    groups.update(group["name"], {"tags": group.get("tags") or {}})
    back = estate.window()

    assert all(summary.success for summary in back.summaries)
    assert owned_under(estate, prefix) == before


def test_a_disabled_subscription_is_resynced_from_its_current_record(estate: Estate) -> None:
    first = estate.pipeline.enabled_subscriptions[0]

    estate.pipeline.azure.disable_subscription(first)
    outcome = estate.window()

    assert requested(outcome) == [first]
    assert all(summary.success for summary in outcome.summaries)
    raw = materialization(estate.pipeline, ["azure", "subscription"], first)
    assert (raw["mode"], raw["fetched"]) == ("incremental", 1)
    estate.assert_port_matches_azure(first)
    assert estate.pipeline.port.entity("azureSubscription", f"/subscriptions/{first}")


def test_a_change_row_ingested_after_its_window_closed_is_caught_by_the_overlap(
    estate: Estate,
) -> None:
    azure = estate.pipeline.azure
    first = estate.pipeline.enabled_subscriptions[0]
    group = azure.estate.resource_groups(first)[0]["name"]
    azure.change_delay = 3600  # the row stays invisible until the test releases it
    created = estate.create_account(first, group, "incrlate01")

    early = estate.window()  # closes the window the change belongs to, row still invisible

    assert early.result.run_requests == []
    assert azure.pending_changes() == 1
    row = azure.changes.resource_changes[-1]["properties"]
    changed_at = datetime.fromisoformat(row["changeAttributes"]["timestamp"])
    assert Watermarks.from_cursor(estate.cursor).marks[first] > changed_at
    # Resource Graph ingests the row now, after its window closed (the emulator's clock moves)
    azure.clock = lambda: datetime.now(UTC) + timedelta(hours=2)
    assert azure.pending_changes() == 0
    late = estate.window()

    assert requested(late) == [first]
    assert all(summary.success for summary in late.summaries)
    assert created.lower() in owned_under(estate, created)


def test_a_failed_incremental_run_leaves_its_changes_to_the_next_window(estate: Estate) -> None:
    azure = estate.pipeline.azure
    first = estate.pipeline.enabled_subscriptions[0]
    group = azure.estate.resource_groups(first)[0]["name"]
    created = estate.create_account(first, group, "incrfail01")
    azure.faults.server_error(times=None, status=503, route="GET /{resourceId}")

    failed = estate.window()

    assert requested(failed) == [first]
    assert not failed.summaries[0].success
    assert created.lower() not in owned_under(estate, created)
    azure.faults.clear()
    retried = estate.window()

    assert requested(retried) == [first]
    assert all(summary.success for summary in retried.summaries)
    assert created.lower() in owned_under(estate, created)
    estate.assert_port_matches_azure(first)
    assert estate.window().result.run_requests == []  # applied: the overlap reads it no more


def test_a_watermark_older_than_the_change_retention_means_a_full_sync_with_its_reason(
    estate: Estate,
) -> None:
    estate.window()
    first = estate.pipeline.enabled_subscriptions[0]
    marks = Watermarks.from_cursor(estate.cursor)
    marks.marks[first] = datetime.now(UTC) - timedelta(days=15)
    # as if the runs seen so far were 15 days old: none of them is read again
    marks.checked_at = datetime.now(UTC) + timedelta(minutes=10)
    estate.cursor = marks.to_cursor()

    outcome = estate.window()

    (request,) = outcome.result.run_requests
    assert (request.partition_key, request.tags[MODE_TAG]) == (first, "full")
    assert "14-day change retention" in request.tags[FULL_REASON_TAG]
    assert all(summary.success for summary in outcome.summaries)
    after = Watermarks.from_cursor(estate.window().cursor)
    assert after.marks[first] >= datetime.fromisoformat(request.tags[WINDOW_END_TAG])


def test_entities_written_by_an_incremental_run_are_exactly_those_a_full_sync_writes(
    estate: Estate,
) -> None:
    azure = estate.pipeline.azure
    first = estate.pipeline.enabled_subscriptions[0]
    group = azure.estate.resource_groups(first)[0]["name"]
    estate.create_account(first, group, "incrsame01", team="search")
    target = list(azure.estate.resources(first, STORAGE))[1]["id"]
    estate.client(first).resources.begin_update_by_id(
        target, api_version=STORAGE_VERSION, parameters={"tags": {"cost": "42"}}
    ).result()
    assert all(summary.success for summary in estate.window().summaries)

    resync = discover_and_sync_all(estate)

    totals = Counter()
    for summary in resync:
        totals.update(summary.totals)
    assert (totals["created"], totals["updated"], totals["deleted"]) == (0, 0, 0)
    assert totals["unchanged"] > 0


def discover_and_sync_all(estate: Estate) -> list[Any]:
    from azure_port_pipeline.defs.headless import sync_partition

    return [
        sync_partition(estate.defs, estate.instance, subscription_id, log_level="WARNING")
        for subscription_id in estate.pipeline.enabled_subscriptions
    ]


def test_changed_items_carry_their_change_and_the_sync_lists_the_windows_changes(
    estate: Estate,
) -> None:
    first = estate.pipeline.enabled_subscriptions[0]
    target = list(estate.pipeline.azure.estate.resources(first, STORAGE))[2]["id"]
    estate.client(first).resources.begin_update_by_id(
        target, api_version=STORAGE_VERSION, parameters={"tags": {"reviewed": "yes"}}
    ).result()

    assert all(summary.success for summary in estate.window().summaries)

    raw = materialization(estate.pipeline, ["azure", "storage_accounts"], first)
    snapshot = read_snapshot(UPath(raw["path"]))
    (item,) = [item for item in snapshot.items if item["id"].lower() == target.lower()]
    change = item[CHANGE_KEY]
    assert (change["changeType"], change["changedBy"]) == ("Update", CLIENT_ID)
    assert change["clientType"] and change["timestamp"]
    untouched = [item for item in snapshot.items if item["id"].lower() != target.lower()]
    assert untouched and all(CHANGE_KEY not in item for item in untouched)
    sync = materialization(estate.pipeline, ["port_sync", "storage_accounts"], first)
    (row,) = [r.data for r in sync["window_changes"].records if r.data["resource"] == target]
    assert (row["change"], row["who"]) == ("Update", CLIENT_ID)
    assert (sync["updated"], sync["created"], sync["deleted"]) == (1, 0, 0)


def test_a_kind_with_more_changes_than_its_listing_costs_is_listed_instead(
    estate: Estate,
) -> None:
    first = estate.pipeline.enabled_subscriptions[0]
    accounts = [item["id"] for item in estate.pipeline.azure.estate.resources(first, STORAGE)]
    listing = -(-len(accounts) // estate.pipeline.azure.page_size)  # requests a listing takes
    resources = estate.client(first).resources
    for resource_id in accounts[: listing + 1]:
        resources.begin_update_by_id(
            resource_id, api_version=STORAGE_VERSION, parameters={"tags": {"bulk": "edit"}}
        ).result()

    assert all(summary.success for summary in estate.window().summaries)

    raw = materialization(estate.pipeline, ["azure", "storage_accounts"], first)
    assert "would cost more requests than listing the kind" in raw["listed_instead"]
    assert raw["fetched"] == len(accounts)
    # the listing is compared with what the last run wrote: Port is asked about the
    # entities that differ only, not searched whole
    sync = materialization(estate.pipeline, ["port_sync", "storage_accounts"], first)
    assert (sync["updated"], sync["unchanged"]) == (listing + 1, 0)
    assert "port_count" not in sync
    estate.assert_port_matches_azure(first)


def test_writes_port_did_not_take_fail_the_run_and_the_next_window_makes_them(
    pipeline: Pipeline,
) -> None:
    pipeline.azure.page_size = 3
    estate = Estate(pipeline)
    estate.full_sync()
    estate.defs = estate.definitions(  # a short Port deadline: the storm fails the run quickly
        emulator_resources(
            EmulatorEndpoints.of(pipeline.azure, pipeline.port),
            CREDENTIALS,
            installation_id="e2e",
            azure_options=FAST_AZURE,
            port_options=STORMY_PORT,
        )
    )
    first = pipeline.enabled_subscriptions[0]
    target = next(iter(pipeline.azure.estate.resources(first, STORAGE)))["id"]
    estate.client(first).resources.begin_update_by_id(
        target, api_version=STORAGE_VERSION, parameters={"tags": {"storm": "passed"}}
    ).result()
    pipeline.port.faults.fail_next(5_000, status=503, route="entities/bulk")

    failed = estate.window()

    assert requested(failed) == [first] and not failed.summaries[0].success
    pipeline.port.faults.clear()
    retried = estate.window()

    assert requested(retried) == [first]
    assert all(summary.success for summary in retried.summaries)
    estate.assert_port_matches_azure(first)
    (stored,) = [
        body
        for body in pipeline.port.entities("azureCloudResource")
        if unescape_identifier(body["identifier"]).lower() == target.lower()
    ]
    assert stored["properties"]["tags"]["storm"] == "passed"


def test_a_change_to_a_field_the_mapping_does_not_read_costs_port_nothing(estate: Estate) -> None:
    first = estate.pipeline.enabled_subscriptions[0]
    target = list(estate.pipeline.azure.estate.resources(first, STORAGE))[3]["id"]
    estate.client(first).resources.begin_update_by_id(
        target,
        api_version=STORAGE_VERSION,
        parameters={"properties": {"minimumTlsVersion": "TLS1_0", "portTest": "unmapped"}},
    ).result()
    estate.pipeline.port.reset_counters()

    outcome = estate.window()

    assert requested(outcome) == [first]
    assert all(summary.success for summary in outcome.summaries)
    sync = materialization(estate.pipeline, ["port_sync", "storage_accounts"], first)
    assert (sync["changes"], sync["port_requests"]) == (1, 0)
    estate.assert_port_matches_azure(first)


def test_changes_to_types_no_mapping_entry_covers_are_counted_and_cost_no_run(
    estate: Estate,
) -> None:
    first = estate.pipeline.enabled_subscriptions[0]
    group = estate.pipeline.azure.estate.resource_groups(first)[0]["id"]
    estate.pipeline.azure.put_resource(
        {
            "id": f"{group}/providers/Microsoft.Sql/servers/sql-unmapped-01",
            "type": "Microsoft.Sql/servers",
            "location": "westeurope",
            "properties": {"version": "12.0"},
        }
    )

    outcome = estate.window()

    assert outcome.result.run_requests == []
    skipped = outcome.result.skip_reason
    assert skipped is not None
    assert "1 changes of unmapped types ignored: microsoft.sql/servers (1)" in (
        skipped.skip_message or ""
    )
    assert first in Watermarks.from_cursor(estate.cursor).marks
