"""Listing mapped kinds with full REST objects, through the real SDK pipeline over HTTPS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azure_port_pipeline.azure import AzureListingError
from azure_port_pipeline.mapping import escape_identifier, load_mapping, map_items

MAPPING = Path(__file__).resolve().parents[2] / "mapping" / "azure.yaml"
STORAGE = "Microsoft.Storage/storageAccounts"


def _lower_rg(resource_id: str) -> str:
    """What the default mapping does to ids: subscriptions/resource-group segments lowered."""
    parts = resource_id.split("/")
    parts[3], parts[4] = parts[3].lower(), parts[4].lower()
    return "/".join(parts)


def test_every_default_kind_lists_completely_and_maps_with_relations(
    azure_emulator_clean, make_reader
):
    emulator = azure_emulator_clean
    emulator.page_size = 4  # most kinds need several pages
    config = load_mapping(MAPPING)
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]

    entities = {}
    escaped_total = 0
    for rm in config.entries:
        listing = reader.list_kind(sub, rm.kind, rm.api_version, rm.resource_kinds)
        assert listing.complete, (rm.kind, listing.error)
        if rm.kind == "subscription":
            expected = 1
        elif rm.kind == "Microsoft.Resources/resourceGroups":
            expected = len(emulator.estate.resource_groups(sub))
        else:
            expected = emulator.estate.count(sub, rm.kind)
        assert len(listing.items) == expected > 0, rm.kind
        result = map_items(rm, listing.items)
        # the estate has a group named "rg_legacy.app(old)": Port refuses "(" in identifiers,
        # so the default identifier policy escapes its items' identifiers; everything maps
        escaped = [i for i in listing.items if "(" in i["id"] and rm.kind != "subscription"]
        escaped_total += len(escaped)
        assert result.report.escaped_identifiers == len(escaped), rm.kind
        assert not result.report.errors and result.report.invalid_identifier == 0, rm.kind
        assert len(result.entities) == expected, rm.kind
        entities[rm.kind] = result.entities

    assert escaped_total > 0, "the estate's rg_legacy.app(old) group holds resources"
    subscription_ids = {e.identifier for e in entities["subscription"]}
    groups = entities["Microsoft.Resources/resourceGroups"]
    group_ids = {e.identifier for e in groups}
    assert all(e.properties["provisioningState"] == "Succeeded" for e in groups)
    assert {e.relations["subscription"] for e in groups} == subscription_ids
    storage = entities[STORAGE]
    assert {e.identifier for e in storage} == {
        escape_identifier(_lower_rg(item["id"])) if "(" in item["id"] else _lower_rg(item["id"])
        for item in emulator.estate.resources(sub, STORAGE)
    }
    for kind, mapped in entities.items():
        if kind in ("subscription", "Microsoft.Resources/resourceGroups"):
            continue
        # relations resolve even where Azure spells the resource-group segment differently
        assert {e.relations["resource_group"] for e in mapped} <= group_ids, kind


def test_listing_keeps_the_kinds_api_version_on_every_page(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    emulator.page_size = 2
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]

    listing = reader.list_kind(sub, STORAGE, "2023-01-01")

    expected = emulator.estate.count(sub, STORAGE)
    assert listing.complete and len(listing.items) == expected
    assert len({item["id"] for item in listing.items}) == expected  # no page read twice
    assert listing.counters.pages == -(-expected // 2)
    # full objects, not the generic /resources shape
    assert all("properties" in item for item in listing.items)


def test_extension_types_are_listed_under_each_parent(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    reader = make_reader(emulator)
    for child, version in (
        ("Microsoft.Network/virtualNetworks/subnets", "2023-02-01"),
        ("Microsoft.Sql/servers/databases", "2023-08-01"),
    ):
        sub = next(s for s in emulator.estate.subscription_ids if emulator.estate.count(s, child))
        parent_type = child.rsplit("/", 1)[0]
        parents = {p["id"].lower() for p in emulator.estate.resources(sub, parent_type)}

        listing = reader.list_kind(sub, child, version)

        assert listing.complete, listing.error
        assert len(listing.items) == emulator.estate.count(sub, child) > 0
        assert all(item["id"].lower().rsplit("/", 2)[0] in parents for item in listing.items)
        assert listing.counters.requests == 1 + len(parents)  # parents + one call per parent


def test_cloud_resource_lists_every_resource_kind(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]
    kinds = {"Microsoft.KeyVault/vaults": "2023-07-01", "Microsoft.Web/sites": "2023-12-01"}

    listing = reader.list_kind(sub, "cloudResource", None, kinds)

    assert listing.complete
    assert len(listing.items) == sum(emulator.estate.count(sub, t) for t in kinds)
    assert {item["type"] for item in listing.items} == set(kinds)


def test_unsupported_api_version_names_kind_subscription_and_supported_versions(
    azure_emulator_clean, make_reader
):
    emulator = azure_emulator_clean
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]

    with pytest.raises(AzureListingError) as caught:
        reader.list_kind(sub, STORAGE, "2015-01-01")

    error = caught.value
    assert error.code == "NoRegisteredProviderFound"
    assert (error.kind, error.subscription_id, error.api_version) == (STORAGE, sub, "2015-01-01")
    assert "2023-01-01" in error.supported_api_versions
    for text in (STORAGE, sub, "2015-01-01", "2023-01-01", "apiVersion"):
        assert text in str(error)


def test_arm_throttling_is_waited_out_and_counted(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    emulator.faults.throttle_arm(times=2, retry_after=0.2, route="*storageAccounts*")
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]

    listing = reader.list_kind(sub, STORAGE, "2023-01-01")

    assert listing.complete
    assert len(listing.items) == emulator.estate.count(sub, STORAGE)
    assert listing.counters.throttle_waits == 2
    assert listing.counters.throttle_seconds == pytest.approx(0.4)
    assert listing.counters.retries == 2
    assert reader.counters.throttle_waits == 2


def test_transient_server_error_is_retried(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    emulator.faults.server_error(times=1, status=503, route="*resourcegroups*")
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]

    listing = reader.list_kind(sub, "Microsoft.Resources/resourceGroups", "2022-09-01")

    assert listing.complete and len(listing.items) == 4
    assert listing.counters.retries == 1
    assert listing.counters.requests == 2


def test_a_listing_that_breaks_midway_is_reported_incomplete_with_what_was_read(
    azure_emulator_clean, make_reader
):
    emulator = azure_emulator_clean
    emulator.page_size = 3
    sub = emulator.estate.subscription_ids[0]
    emulator.faults.break_listing(sub, STORAGE, ok_pages=2, status=500)
    reader = make_reader(emulator, AZURE_RETRY_TOTAL="1")

    listing = reader.list_kind(sub, STORAGE, "2023-01-01")

    assert not listing.complete
    assert len(listing.items) == 6  # the two pages read before the failure
    assert "500" in listing.error and STORAGE in listing.error and sub in listing.error
    assert listing.counters.retries == 1


def test_forbidden_subscription_is_reported_incomplete(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[1]
    emulator.faults.forbid_subscription(sub)
    reader = make_reader(emulator)

    listing = reader.list_kind(sub, STORAGE, "2023-01-01")

    assert not listing.complete
    assert listing.items == []
    assert "403" in listing.error and sub in listing.error
    assert listing.counters.retries == 0  # a 403 is not retried
    other = emulator.estate.subscription_ids[0]
    assert reader.list_kind(other, STORAGE, "2023-01-01").complete


def _partial_tag(emulator):
    """(subscription, tag name, tag value) carried by some but not all of its groups."""
    for sub in emulator.estate.subscription_ids:
        groups = emulator.estate.resource_groups(sub)
        for group in groups:
            for name, value in (group.get("tags") or {}).items():
                having = [g for g in groups if (g.get("tags") or {}).get(name) == value]
                if 0 < len(having) < len(groups) and emulator.estate.count(sub, STORAGE):
                    return sub, name, value
    raise AssertionError("the estate has no tag shared by only some resource groups")


def test_resource_group_tag_include_filter(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    sub, name, value = _partial_tag(emulator)
    groups = emulator.estate.resource_groups(sub)
    chosen = {g["name"].lower() for g in groups if (g.get("tags") or {}).get(name) == value}
    # names and values compare case-insensitively, as Port's KQL (=~) does
    reader = make_reader(emulator, AZURE_RG_TAGS_INCLUDE=f"{name.upper()}={value.upper()}")

    rgs = reader.list_kind(sub, "Microsoft.Resources/resourceGroups", "2022-09-01")
    storage = reader.list_kind(sub, STORAGE, "2023-01-01")

    assert {g["name"].lower() for g in rgs.items} == chosen
    assert rgs.filtered_out == len(groups) - len(chosen)
    expected = [r for r in emulator.estate.resources(sub, STORAGE) if _rg(r["id"]) in chosen]
    assert sorted(i["id"] for i in storage.items) == sorted(r["id"] for r in expected)
    assert storage.filtered_out == emulator.estate.count(sub, STORAGE) - len(expected)
    assert storage.complete


def test_resource_group_tag_exclude_filter(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    sub, name, value = _partial_tag(emulator)
    groups = emulator.estate.resource_groups(sub)
    kept = {g["name"].lower() for g in groups if (g.get("tags") or {}).get(name) != value}
    filters = json.dumps({"exclude": {name: value}})
    reader = make_reader(emulator, AZURE_RESOURCE_GROUP_TAG_FILTERS=filters)

    subnets = reader.list_kind(sub, "Microsoft.Network/virtualNetworks/subnets", "2023-02-01")
    storage = reader.list_kind(sub, STORAGE, "2023-01-01")

    expected = [r for r in emulator.estate.resources(sub, STORAGE) if _rg(r["id"]) in kept]
    assert sorted(i["id"] for i in storage.items) == sorted(r["id"] for r in expected)
    assert all(_rg(item["id"]) in kept for item in subnets.items)


def test_get_by_id_returns_the_full_object_or_none(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]
    resource = next(emulator.estate.resources(sub, STORAGE))

    found = reader.get_by_id(
        resource["id"].upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"), "2023-01-01"
    )
    assert found == resource
    assert reader.get_by_id(resource["id"] + "-gone", "2023-01-01") is None


def _rg(resource_id: str) -> str:
    return resource_id.split("/")[4].lower()
