"""Resource Graph change windows: exactly [start, end), latest per resource, every page."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from azure_port_pipeline.azure import AzureQueryError

STORAGE = "Microsoft.Storage/storageAccounts"
VERSIONS = {STORAGE: "2023-01-01", "Microsoft.Resources/resourceGroups": "2022-09-01"}


@pytest.fixture
def window_start() -> datetime:
    # inside Resource Graph's 14-day retention, whole seconds like Azure's timestamps
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _storage(emulator, sub_index=0):
    sub = emulator.estate.subscription_ids[sub_index]
    return sub, list(emulator.estate.resources(sub, STORAGE))


def _new_storage_account(template: dict, name: str) -> dict:
    body = copy.deepcopy(template)
    body["id"] = template["id"].rsplit("/", 1)[0] + "/" + name
    body["name"] = name
    return body


def test_window_holds_exactly_the_changes_in_it_across_pages(
    azure_emulator_factory, make_reader, window_start
):
    emulator = azure_emulator_factory()
    sub, accounts = _storage(emulator)
    group = emulator.estate.resource_groups(sub)[0]
    t0, t1 = window_start, window_start + timedelta(minutes=10)
    emulator.update_resource(accounts[0]["id"], {"tags.x": "before"}, at=t0 - timedelta(seconds=1))
    emulator.update_resource(accounts[1]["id"], {"tags.x": "at-start"}, at=t0)
    emulator.delete_resource(accounts[2]["id"], at=t0 + timedelta(minutes=1))
    emulator.update_resource(accounts[3]["id"], {"tags.x": "1"}, at=t0 + timedelta(minutes=2))
    emulator.update_resource(accounts[3]["id"], {"tags.x": "2"}, at=t0 + timedelta(minutes=3))
    created = emulator.create_resource(
        _new_storage_account(accounts[4], "stcreatedinwindow01"), at=t0 + timedelta(minutes=4)
    )
    emulator.update_resource(group["id"], {"tags.x": "1"}, at=t0 + timedelta(minutes=5))
    emulator.update_resource(accounts[5]["id"], {"tags.x": "at-end"}, at=t1)
    emulator.update_resource(accounts[6]["id"], {"tags.x": "after"}, at=t1 + timedelta(minutes=1))
    reader = make_reader(emulator, AZURE_GRAPH_PAGE_SIZE="1")

    window = reader.change_window([sub], t0, t1)

    assert window.complete and window.error is None
    got = [(c.resource_id, c.change_type, c.change_time) for c in window.changes]
    assert got == [
        (accounts[1]["id"], "Update", t0),
        (accounts[2]["id"], "Delete", t0 + timedelta(minutes=1)),
        (accounts[3]["id"], "Update", t0 + timedelta(minutes=3)),  # latest of two
        (created["id"], "Create", t0 + timedelta(minutes=4)),
        (group["id"], "Update", t0 + timedelta(minutes=5)),  # from resourcecontainerchanges
    ]
    assert window.counters.pages == 5  # one row per page: 4 resource + 1 container
    first = window.changes[0]
    assert first.subscription_id == sub.lower()
    assert first.resource_type == STORAGE.lower()
    assert first.changed_by and first.client_type and first.operation
    assert window.changes[1].is_delete


def test_fetch_current_gets_each_changed_resource_and_reports_the_rest(
    azure_emulator_factory, make_reader, window_start
):
    emulator = azure_emulator_factory()
    sub, accounts = _storage(emulator)
    vm = next(emulator.estate.resources(sub, "Microsoft.Compute/virtualMachines"))
    t0 = window_start
    emulator.update_resource(accounts[0]["id"], {"tags.x": "new"}, at=t0)
    emulator.delete_resource(accounts[1]["id"], at=t0 + timedelta(seconds=1))
    emulator.update_resource(accounts[2]["id"], {"tags.x": "1"}, at=t0 + timedelta(seconds=2))
    emulator.update_resource(vm["id"], {"tags.x": "1"}, at=t0 + timedelta(seconds=3))
    group = emulator.estate.resource_groups(sub)[1]
    emulator.update_resource(group["id"], {"tags.x": "1"}, at=t0 + timedelta(seconds=4))
    reader = make_reader(emulator)
    window = reader.change_window([sub], t0, t0 + timedelta(minutes=1))
    emulator.delete_resource(accounts[2]["id"])  # gone by the time we read it: a 404

    current = reader.fetch_current(window.changes, VERSIONS)

    assert current.complete
    assert [item["id"] for item in current.items] == [accounts[0]["id"], group["id"]]
    assert current.items[0]["tags"]["x"] == "new"
    assert current.items[1]["properties"]["provisioningState"] == "Succeeded"
    assert sorted(current.deleted) == sorted([accounts[1]["id"], accounts[2]["id"]])
    assert current.skipped == [vm["id"]]  # not a mapped kind


def test_fetch_current_applies_the_resource_group_tag_filters(
    azure_emulator_factory, make_reader, window_start
):
    emulator = azure_emulator_factory()
    sub, accounts = _storage(emulator)
    groups = emulator.estate.resource_groups(sub)
    tagged = groups[0]
    for group in groups:  # tag one group only, so the filter splits the accounts
        emulator.update_resource(
            group["id"], {"tags.sync": "yes" if group is tagged else "no"}, at=window_start
        )
    selected = tagged["name"].lower()
    inside = [a for a in accounts if a["id"].split("/")[4].lower() == selected][:2]
    outside = [a for a in accounts if a["id"].split("/")[4].lower() != selected][:2]
    assert inside and outside
    for offset, account in enumerate(inside + outside):
        emulator.update_resource(
            account["id"], {"tags.x": "1"}, at=window_start + timedelta(seconds=offset + 1)
        )
    reader = make_reader(emulator, AZURE_RG_TAGS_INCLUDE="sync=yes")
    window = reader.change_window([sub], window_start, window_start + timedelta(minutes=1))

    current = reader.fetch_current(window.changes, VERSIONS)

    # resources by their group's tags, groups by their own (as a full listing filters them)
    others = [g["id"] for g in groups if g is not tagged]
    assert sorted(i["id"] for i in current.items) == sorted(
        [a["id"] for a in inside] + [tagged["id"]]
    )
    assert sorted(current.filtered_out) == sorted([a["id"] for a in outside] + others)


def test_subscriptions_are_queried_in_batches(azure_emulator_factory, make_reader, window_start):
    emulator = azure_emulator_factory()
    subs = emulator.estate.subscription_ids
    changed = []
    for index in range(len(subs)):
        _, accounts = _storage(emulator, index)
        emulator.update_resource(accounts[0]["id"], {"tags.x": "1"}, at=window_start)
        changed.append(accounts[0]["id"])
    reader = make_reader(emulator, AZURE_GRAPH_BATCH_SIZE="1")

    window = reader.change_window(subs, window_start, window_start + timedelta(minutes=1))

    assert window.complete
    assert sorted(c.resource_id for c in window.changes) == sorted(changed)
    graph_posts = emulator.counters["POST /providers/Microsoft.ResourceGraph/resources"]
    assert graph_posts == 2 * len(subs)  # two change tables per one-subscription batch


def test_graph_throttling_is_waited_out_with_the_quota_headers(
    azure_emulator_factory, make_reader, window_start
):
    emulator = azure_emulator_factory(rg_quota=2, rg_quota_window=0.5)
    sub, accounts = _storage(emulator)
    for offset in range(3):
        emulator.update_resource(
            accounts[offset]["id"], {"tags.x": "1"}, at=window_start + timedelta(seconds=offset)
        )
    emulator.faults.throttle_graph(times=1)
    reader = make_reader(emulator, AZURE_GRAPH_PAGE_SIZE="1")

    window = reader.change_window([sub], window_start, window_start + timedelta(minutes=1))

    assert window.complete
    assert [c.resource_id for c in window.changes] == [a["id"] for a in accounts[:3]]
    # one 429 waited out, and at least one wait for an exhausted quota (2 per window, 4 pages)
    assert window.counters.throttle_waits >= 2
    assert window.counters.throttle_seconds > 0
    assert reader.counters.throttle_waits == window.counters.throttle_waits


def test_graph_server_errors_are_retried_then_reported_incomplete(
    azure_emulator_factory, make_reader, window_start
):
    emulator = azure_emulator_factory()
    sub, accounts = _storage(emulator)
    emulator.update_resource(accounts[0]["id"], {"tags.x": "1"}, at=window_start)
    end = window_start + timedelta(minutes=1)

    emulator.faults.server_error(times=1, status=503, route="*ResourceGraph*")
    retried = make_reader(emulator).change_window([sub], window_start, end)
    assert retried.complete and len(retried.changes) == 1
    assert retried.counters.retries == 1

    emulator.faults.server_error(times=100, status=500, route="*ResourceGraph*")
    failed = make_reader(emulator, AZURE_RETRY_TOTAL="1").change_window([sub], window_start, end)
    assert not failed.complete
    assert "500" in failed.error


def test_unsupported_kql_is_a_clear_400(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    reader = make_reader(emulator)
    with pytest.raises(AzureQueryError) as caught:
        reader.query_resource_graph(
            "resources | evaluate bag_unpack(tags)", emulator.estate.subscription_ids
        )
    assert "400" in str(caught.value)
    assert "evaluate" in str(caught.value)


def test_any_query_is_paged_to_the_end(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[0]
    reader = make_reader(emulator, AZURE_GRAPH_PAGE_SIZE="7")

    result = reader.query_resource_graph("resources | project id | order by id asc", [sub])

    expected = len(emulator.estate.graph_resources({sub.lower()}))  # children included
    assert result.complete
    assert len(result.rows) == len({r["id"] for r in result.rows}) == expected
    assert result.counters.pages == -(-expected // 7)


def test_window_needs_aware_datetimes_and_an_empty_window_costs_nothing(
    azure_emulator_clean, make_reader
):
    emulator = azure_emulator_clean
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]
    with pytest.raises(ValueError, match="timezone"):
        reader.change_window([sub], datetime(2026, 1, 1), datetime(2026, 1, 2))
    now = datetime.now(UTC)
    empty = reader.change_window([sub], now, now)
    assert empty.complete and empty.changes == [] and empty.counters.requests == 0
