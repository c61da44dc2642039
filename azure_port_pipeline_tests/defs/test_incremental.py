"""The pure parts of an incremental run: which ARM types an entry concerns, how a window's
reads merge into the previous raw snapshot, when listing is cheaper, and how only the changed
items are mapped again. No emulator, no Dagster run."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from azure_port_pipeline.azure.models import ResourceChange
from azure_port_pipeline.defs.incremental import (
    CHANGE_KEY,
    RawUpdate,
    carry_changes,
    diff_entities,
    entry_api_versions,
    entry_types,
    listing_cost,
    mapped_types,
    merge_raw,
    reads_changes,
    remap,
)
from azure_port_pipeline.defs.snapshots import EntitySnapshot, RawSnapshot
from azure_port_pipeline.mapping import (
    IdentifierPolicy,
    ResourceMapping,
    load_default_mapping,
    load_mapping,
    map_items,
)

SUB = "8f3c1a52-6d7e-4b8a-9c0d-1e2f3a4b5c6d"
RG1 = f"/subscriptions/{SUB}/resourceGroups/RG1"
RG2 = f"/subscriptions/{SUB}/resourceGroups/Other-RG"
STORAGE_KIND = "Microsoft.Storage/storageAccounts"
STORAGE_TYPE = "microsoft.storage/storageaccounts"
RG_TYPE = "microsoft.resources/resourcegroups"
POLICY = IdentifierPolicy.ESCAPE
WHEN = datetime(2024, 5, 20, 11, 50, tzinfo=UTC)


@cache
def default_entries() -> tuple[ResourceMapping, ...]:
    """The packaged default mapping's entries, compiled once (jq compilation is slow)."""
    return tuple(load_default_mapping().entries)


def default_entry(kind: str) -> ResourceMapping:
    return next(entry for entry in default_entries() if entry.kind.lower() == kind.lower())


def account_id(group_id: str, name: str) -> str:
    return f"{group_id}/providers/Microsoft.Storage/storageAccounts/{name}"


def account(group_id: str, name: str, **tags: str) -> dict[str, Any]:
    """A storage account as ARM lists it (api-version 2023-01-01)."""
    return {
        "id": account_id(group_id, name),
        "name": name,
        "type": STORAGE_KIND,
        "location": "westeurope",
        "tags": dict(tags),
        "sku": {"name": "Standard_LRS", "tier": "Standard"},
        "kind": "StorageV2",
        "properties": {
            "provisioningState": "Succeeded",
            "primaryLocation": "westeurope",
            "accessTier": "Hot",
            "minimumTlsVersion": "TLS1_2",
            "supportsHttpsTrafficOnly": True,
        },
    }


def change(
    resource_id: str,
    change_type: str = "Update",
    resource_type: str = STORAGE_TYPE,
    when: datetime = WHEN,
) -> ResourceChange:
    return ResourceChange(
        resource_id=resource_id,
        resource_type=resource_type,
        subscription_id=SUB,
        change_type=change_type,
        change_time=when,
        changed_by="alice@contoso.com",
        client_type="Azure Portal",
        operation="Microsoft.Storage/storageAccounts/write",
    )


def raw_snapshot(items: list[dict[str, Any]], **fields: Any) -> RawSnapshot:
    return RawSnapshot(
        kind=STORAGE_KIND,
        subscription_id=SUB,
        items=items,
        complete=fields.pop("complete", True),
        stats=fields.pop("stats", {"listing_requests": 3}),
        **fields,
    )


def by_id(snapshot: RawSnapshot) -> dict[str, dict[str, Any]]:
    return {item["id"].lower(): item for item in snapshot.items}


# --- entry_types / entry_api_versions / mapped_types --------------------------------------


def test_storage_entry_covers_storage_accounts():
    entry = default_entry(STORAGE_KIND)

    assert entry_types(entry) == {STORAGE_TYPE}


def test_storage_entry_api_version_is_the_mappings():
    entry = default_entry(STORAGE_KIND)

    assert entry_api_versions(entry) == {STORAGE_TYPE: "2023-01-01"}


def test_subscription_entry_covers_subscriptions_without_api_version():
    entry = default_entry("subscription")

    assert entry_types(entry) == {"microsoft.resources/subscriptions"}
    assert entry_api_versions(entry) == {}


def test_resource_group_entry_covers_resource_groups_with_api_version():
    entry = default_entry("Microsoft.Resources/resourceGroups")

    assert entry_types(entry) == {RG_TYPE}
    assert entry_api_versions(entry) == {RG_TYPE: "2022-09-01"}


def test_mapped_types_of_default_mapping():
    assert mapped_types(default_entries()) == {
        "microsoft.resources/subscriptions",
        RG_TYPE,
        "microsoft.app/containerapps",
        STORAGE_TYPE,
        "microsoft.compute/virtualmachines",
        "microsoft.containerservice/managedclusters",
        "microsoft.network/loadbalancers",
    }


@pytest.mark.parametrize("kinds", [[], [STORAGE_KIND], ["subscription"]])
def test_mapped_types_always_include_resource_groups(kinds):
    entries = [default_entry(kind) for kind in kinds]

    assert RG_TYPE in mapped_types(entries)


CLOUD_RESOURCE_YAML = """\
resources:
  - kind: cloudResource
    selector:
      query: 'true'
      resourceKinds:
        Microsoft.Storage/storageAccounts: '2023-01-01'
        Microsoft.Compute/virtualMachines: '2023-03-01'
    port:
      entity:
        mappings:
          identifier: .id | ascii_downcase
          title: .name
          blueprint: '"azureCloudResource"'
          properties:
            type: .type
"""


@pytest.fixture
def cloud_resource_entry(tmp_path) -> ResourceMapping:
    path = tmp_path / "cloud.yaml"
    path.write_text(CLOUD_RESOURCE_YAML, encoding="utf-8")
    (entry,) = load_mapping(path).entries
    return entry


def test_cloud_resource_entry_covers_its_resource_kinds(cloud_resource_entry):
    assert entry_types(cloud_resource_entry) == {
        STORAGE_TYPE,
        "microsoft.compute/virtualmachines",
    }


def test_cloud_resource_entry_api_versions_per_resource_kind(cloud_resource_entry):
    assert entry_api_versions(cloud_resource_entry) == {
        STORAGE_TYPE: "2023-01-01",
        "microsoft.compute/virtualmachines": "2023-03-01",
    }


def test_mapped_types_with_cloud_resource_entry(cloud_resource_entry):
    assert mapped_types([cloud_resource_entry]) == {
        RG_TYPE,
        STORAGE_TYPE,
        "microsoft.compute/virtualmachines",
    }


# --- merge_raw ----------------------------------------------------------------------------

A1, A2, B1 = account_id(RG1, "a1"), account_id(RG1, "a2"), account_id(RG2, "b1")


@pytest.fixture
def previous() -> RawSnapshot:
    return raw_snapshot(
        [account(RG1, "a1", env="dev"), account(RG1, "a2"), account(RG2, "b1")],
        changed_ids=None,  # a listing
    )


def test_merge_replaces_read_item_with_its_new_copy(previous):
    update = RawUpdate(items=[account(RG1, "a1", env="prod")])

    merged = merge_raw(previous, update, [change(A1)], stats={})

    assert by_id(merged)[A1.lower()]["tags"] == {"env": "prod"}
    assert len(merged.items) == 3


def test_merge_attaches_the_change_to_a_read_item(previous):
    update = RawUpdate(items=[account(RG1, "a1", env="prod")])

    merged = merge_raw(previous, update, [change(A1)], stats={})

    assert by_id(merged)[A1.lower()][CHANGE_KEY] == {
        "changeType": "Update",
        "changedBy": "alice@contoso.com",
        "clientType": "Azure Portal",
        "operation": "Microsoft.Storage/storageAccounts/write",
        "timestamp": WHEN.isoformat(),
    }


def test_merge_matches_changes_to_items_case_insensitively(previous):
    update = RawUpdate(items=[account(RG1, "a1", env="prod")])

    merged = merge_raw(previous, update, [change(A1.lower())], stats={})

    assert by_id(merged)[A1.lower()][CHANGE_KEY]["changeType"] == "Update"


def test_merge_leaves_unread_items_as_they_were(previous):
    update = RawUpdate(items=[account(RG1, "a1", env="prod")])

    merged = merge_raw(previous, update, [change(A1)], stats={})

    assert by_id(merged)[A2.lower()] == account(RG1, "a2")
    assert by_id(merged)[B1.lower()] == account(RG2, "b1")


def test_merge_adds_new_ids(previous):
    new = account_id(RG1, "a3")
    update = RawUpdate(items=[account(RG1, "a3")])

    merged = merge_raw(previous, update, [change(new, "Create")], stats={})

    assert by_id(merged)[new.lower()][CHANGE_KEY]["changeType"] == "Create"
    assert set(by_id(merged)) == {A1.lower(), A2.lower(), B1.lower(), new.lower()}


def test_merge_drops_removed_ids(previous):
    update = RawUpdate(removed={A2.lower()})

    merged = merge_raw(previous, update, [change(A2, "Delete")], stats={})

    assert set(by_id(merged)) == {A1.lower(), B1.lower()}
    assert merged.removed_ids == [A2.lower()]
    assert merged.changed_ids == []


def test_merge_removes_every_item_of_a_removed_group(previous):
    update = RawUpdate(groups_removed={(SUB, "rg1")})

    merged = merge_raw(previous, update, [change(RG1, "Delete", RG_TYPE)], stats={})

    assert set(by_id(merged)) == {B1.lower()}
    assert merged.removed_ids == sorted([A1.lower(), A2.lower()])


def test_merge_compares_group_of_removed_group_lower_case():
    mixed_group = f"/subscriptions/{SUB.upper()}/ResourceGroups/My-RG"
    previous = raw_snapshot([account(mixed_group, "m1"), account(RG2, "b1")])
    update = RawUpdate(groups_removed={(SUB, "my-rg")})

    merged = merge_raw(previous, update, [], stats={})

    assert set(by_id(merged)) == {B1.lower()}


def test_merge_replaces_a_relisted_group_with_its_listing(previous):
    new = account_id(RG1, "a3")
    update = RawUpdate(
        groups_relisted={(SUB, "rg1"): [account(RG1, "a1", env="prod"), account(RG1, "a3")]}
    )

    merged = merge_raw(previous, update, [change(RG1, "Update", RG_TYPE)], stats={})

    items = by_id(merged)
    assert set(items) == {A1.lower(), new.lower(), B1.lower()}
    assert items[A1.lower()]["tags"] == {"env": "prod"}
    assert merged.removed_ids == [A2.lower()]
    assert merged.changed_ids == sorted([A1.lower(), new.lower()])


def test_merge_relisted_item_keeps_the_change_its_previous_copy_carried():
    record = {"changeType": "Update", "timestamp": WHEN.isoformat()}
    previous = raw_snapshot([{**account(RG1, "a1"), CHANGE_KEY: record}])
    update = RawUpdate(groups_relisted={(SUB, "rg1"): [account(RG1, "a1", env="prod")]})

    merged = merge_raw(previous, update, [], stats={})

    assert by_id(merged)[A1.lower()][CHANGE_KEY] == record


def test_merge_changed_ids_are_read_and_relisted_ids_lower_cased_minus_removed(previous):
    b2 = account_id(RG2, "B2")
    update = RawUpdate(
        items=[account(RG1, "a1", env="prod"), account(RG2, "B2"), account(RG1, "a2")],
        removed={A2.lower()},
        groups_relisted={(SUB, "other-rg"): [account(RG2, "b1"), account(RG2, "B2")]},
    )

    merged = merge_raw(previous, update, [change(A1), change(b2, "Create")], stats={})

    assert merged.changed_ids == sorted([A1.lower(), b2.lower(), B1.lower()])
    assert A2.lower() not in by_id(merged)
    assert merged.removed_ids == [A2.lower()]


def test_merge_lists_removed_ids_never_seen_before(previous):
    ghost = account_id(RG1, "ghost")
    update = RawUpdate(removed={ghost.lower()})

    merged = merge_raw(previous, update, [change(ghost, "Delete")], stats={})

    assert merged.removed_ids == [ghost.lower()]
    assert len(merged.items) == 3


def test_merge_result_is_a_complete_incremental_snapshot(previous):
    changes = [change(A1)]
    stats = {"azure_requests": 2.0}

    merged = merge_raw(previous, RawUpdate(items=[account(RG1, "a1")]), changes, stats=stats)

    assert merged.mode == "incremental"
    assert merged.complete is True
    assert merged.kind == STORAGE_KIND
    assert merged.subscription_id == SUB
    assert merged.stats == stats
    assert merged.changes == [c.record() for c in changes]
    assert merged.fetched_at is not None


def test_merge_leaves_the_previous_snapshot_untouched(previous):
    before = copy.deepcopy(previous.items)
    update = RawUpdate(
        items=[account(RG1, "a1", env="prod")],
        removed={A2.lower()},
        groups_removed={(SUB, "other-rg")},
    )

    merge_raw(previous, update, [change(A1)], stats={})

    assert previous.items == before


# --- listing_cost -------------------------------------------------------------------------


def test_listing_cost_without_previous_is_unknown():
    assert listing_cost(None) is None


def test_listing_cost_of_incomplete_previous_is_unknown():
    previous = raw_snapshot([], complete=False, error="page 2 failed")

    assert listing_cost(previous) is None


def test_listing_cost_is_the_listing_requests():
    previous = raw_snapshot([], stats={"listing_requests": 7.0, "azure_requests": 12.0})

    assert listing_cost(previous) == 7


def test_listing_cost_falls_back_to_azure_requests():
    previous = raw_snapshot([], stats={"azure_requests": 4.0})

    assert listing_cost(previous) == 4


@pytest.mark.parametrize(
    "stats", [{}, {"listing_requests": 0.0}, {"listing_requests": 0.0, "azure_requests": 0.0}]
)
def test_listing_cost_is_at_least_one(stats):
    assert listing_cost(raw_snapshot([], stats=stats)) == 1


# --- remap --------------------------------------------------------------------------------

GROUP = f"/subscriptions/{SUB}/resourceGroups/My-RG"
S1, S2, S3 = account_id(GROUP, "st1"), account_id(GROUP, "st2"), account_id(GROUP, "st3")


@pytest.fixture
def storage_entry() -> ResourceMapping:
    return default_entry(STORAGE_KIND)


def previous_items() -> list[dict[str, Any]]:
    return [
        account(GROUP, "st1", env="dev"),
        account(GROUP, "st2", env="dev"),
        account(GROUP, "st3", env="dev"),
    ]


def entity_snapshot(entry: ResourceMapping, items: list[dict[str, Any]]) -> EntitySnapshot:
    result = map_items(entry, items, POLICY)
    return EntitySnapshot(
        kind=entry.kind,
        subscription_id=SUB,
        entities=result.entities,
        report=result.report,
        listing_complete=True,
        sources=result.sources,
    )


def key_of(entry: ResourceMapping, item: dict[str, Any]) -> tuple[str, str]:
    (entity,) = map_items(entry, [item], POLICY).entities
    return entity.blueprint, entity.identifier


def incremental_raw(
    items: list[dict[str, Any]],
    changed: Sequence[str],
    removed: Sequence[str] = (),
    changes: Sequence[dict[str, Any]] = (),
) -> RawSnapshot:
    return raw_snapshot(
        items,
        mode="incremental",
        changed_ids=[rid.lower() for rid in changed],
        removed_ids=[rid.lower() for rid in removed],
        changes=list(changes),
    )


@pytest.fixture
def previous_entities(storage_entry) -> EntitySnapshot:
    return entity_snapshot(storage_entry, previous_items())


def entity_for(entities, identifier_source: str):
    """The entity whose default-mapping identifier comes from this ARM id."""
    (found,) = [e for e in entities if e.identifier.lower() == identifier_source.lower()]
    return found


def test_remap_carries_unchanged_entities_over_untouched(storage_entry, previous_entities):
    carried = entity_for(previous_entities.entities, S1)
    snapshot = copy.deepcopy(carried)
    items = [account(GROUP, "st1", env="dev"), account(GROUP, "st2", env="prod")]
    raw = incremental_raw([*items, account(GROUP, "st3", env="dev")], changed=[S2])

    entities, *_ = remap(storage_entry, raw, previous_entities, POLICY)

    assert entity_for(entities, S1) is carried
    assert carried == snapshot
    assert entity_for(entities, S3) is entity_for(previous_entities.entities, S3)


def test_remap_maps_a_changed_item_again(storage_entry, previous_entities):
    items = previous_items()
    items[1] = account(GROUP, "st2", env="prod")
    raw = incremental_raw(items, changed=[S2])

    entities, _, report, changed, deleted = remap(storage_entry, raw, previous_entities, POLICY)

    remapped = entity_for(entities, S2)
    assert remapped.properties["tags"] == {"env": "prod"}
    assert changed == [(remapped.blueprint, remapped.identifier)]
    assert deleted == []
    assert report.items_in == 1
    assert len(entities) == 3


def test_remap_deletes_the_previous_entity_of_a_removed_item(storage_entry, previous_entities):
    gone = entity_for(previous_entities.entities, S3)
    raw = incremental_raw(
        previous_items()[:2],
        changed=[],
        removed=[S3],
        changes=[change(S3, "Delete").record()],
    )

    entities, sources, _, changed, deleted = remap(storage_entry, raw, previous_entities, POLICY)

    assert deleted == [(gone.blueprint, gone.identifier)]
    assert gone not in entities
    assert changed == []
    assert S3.lower() not in sources


def test_remap_adds_an_entity_for_a_created_item(storage_entry, previous_entities):
    new = account(GROUP, "st4")
    raw = incremental_raw([*previous_items(), new], changed=[new["id"]])

    entities, sources, _, changed, deleted = remap(storage_entry, raw, previous_entities, POLICY)

    assert changed == [key_of(storage_entry, new)]
    assert len(entities) == 4
    assert new["id"].lower() in sources
    assert deleted == []


def test_remap_deletes_a_removed_item_never_seen_from_its_change_record(
    storage_entry, previous_entities
):
    ghost = account_id(GROUP, "ghost")
    record = {
        "resourceId": ghost,
        "resourceType": STORAGE_TYPE,
        "subscriptionId": SUB,
        "changeType": "Delete",
        "timestamp": WHEN.isoformat(),
        "changedBy": "alice@contoso.com",
        "clientType": "Azure Portal",
        "operation": "Microsoft.Storage/storageAccounts/delete",
    }
    raw = incremental_raw(previous_items(), changed=[], removed=[ghost], changes=[record])

    entities, _, _, _, deleted = remap(storage_entry, raw, previous_entities, POLICY)

    assert deleted == [key_of(storage_entry, account(GROUP, "ghost"))]
    assert entities == previous_entities.entities


def test_remap_sources_are_parallel_to_entities(storage_entry, previous_entities):
    items = previous_items()
    items[0] = account(GROUP, "st1", env="prod")
    new = account(GROUP, "st4")
    raw = incremental_raw([*items[:2], new], changed=[S1, new["id"]], removed=[S3])

    entities, sources, *_ = remap(storage_entry, raw, previous_entities, POLICY)

    assert len(sources) == len(entities) == 3
    for entity, source in zip(entities, sources, strict=True):
        # the default mapping's identifier is the ARM id, resource group lower-cased
        assert source == entity.identifier.lower()
    assert sorted(sources) == sorted([S1.lower(), S2.lower(), new["id"].lower()])


SELECTIVE_YAML = """\
resources:
  - kind: Microsoft.Storage/storageAccounts
    selector:
      query: '.tags.sync != "off"'
      apiVersion: '2023-01-01'
    port:
      entity:
        mappings:
          identifier: .properties.portId
          title: .name
          blueprint: '"azureCloudResource"'
"""


@pytest.fixture
def selective_entry(tmp_path) -> ResourceMapping:
    path = tmp_path / "selective.yaml"
    path.write_text(SELECTIVE_YAML, encoding="utf-8")
    (entry,) = load_mapping(path).entries
    return entry


def selective_account(name: str, **overrides: Any) -> dict[str, Any]:
    item = account(GROUP, name)
    item["properties"] = {**item["properties"], "portId": name}
    item.update(overrides)
    return item


def test_remap_keeps_the_entity_of_an_item_whose_mapping_failed(selective_entry):
    previous = entity_snapshot(selective_entry, [selective_account("x"), selective_account("y")])
    broken = selective_account("y", properties={})  # no identifier any more
    raw = incremental_raw([selective_account("x"), broken], changed=[broken["id"]])

    entities, _, report, _, deleted = remap(selective_entry, raw, previous, POLICY)

    assert report.skipped_empty == 1
    assert sorted(e.identifier for e in entities) == ["x", "y"]
    assert deleted == []


def test_remap_drops_the_entity_of_an_item_its_selector_now_excludes(selective_entry):
    previous = entity_snapshot(selective_entry, [selective_account("x"), selective_account("y")])
    excluded = selective_account("x", tags={"sync": "off"})
    raw = incremental_raw([excluded, selective_account("y")], changed=[excluded["id"]])

    entities, _, _, _, deleted = remap(selective_entry, raw, previous, POLICY)

    assert [e.identifier for e in entities] == ["y"]
    assert deleted == [("azureCloudResource", "x")]


def test_remap_drops_an_excluded_item_even_when_another_changed_item_failed(selective_entry):
    """The docstring: an item its selector now excludes loses its entity; one whose mapping
    failed keeps it. That must not depend on which other items changed in the same window."""
    previous = entity_snapshot(selective_entry, [selective_account("x"), selective_account("y")])
    excluded = selective_account("x", tags={"sync": "off"})
    broken = selective_account("y", properties={})
    raw = incremental_raw([excluded, broken], changed=[excluded["id"], broken["id"]])

    entities, _, _, _, deleted = remap(selective_entry, raw, previous, POLICY)

    assert [e.identifier for e in entities] == ["y"]
    assert deleted == [("azureCloudResource", "x")]


# ---- diff_entities, carry_changes, reads_changes ------------------------------------------------


def test_diff_names_new_and_changed_entities_and_the_ones_gone():
    entry = default_entry(STORAGE_KIND)
    before = map_items(entry, [account(GROUP, "a1"), account(GROUP, "a2", env="dev")]).entities
    after = map_items(
        entry, [account(GROUP, "a2", env="prod"), account(GROUP, "a3")], POLICY
    ).entities

    changed, deleted = diff_entities(before, after)

    keys = {entity.identifier.rsplit("/", 1)[1]: entity for entity in after}
    assert changed == [(e.blueprint, e.identifier) for e in (keys["a2"], keys["a3"])]
    (gone,) = deleted
    assert gone[1].endswith("/a1")


def test_diff_of_identical_entities_is_empty():
    entities = map_items(default_entry(STORAGE_KIND), [account(GROUP, "a1")], POLICY).entities

    assert diff_entities(entities, copy.deepcopy(entities)) == ([], [])


def test_a_listing_keeps_the_change_its_items_had_and_gains_none_elsewhere():
    kept = {**account(GROUP, "a1"), CHANGE_KEY: {"changeType": "Update", "changedBy": "bob"}}
    previous = raw_snapshot([kept, account(GROUP, "a2")])
    listed = raw_snapshot([account(GROUP, "A1"), account(GROUP, "a2"), account(GROUP, "a3")])

    carry_changes(previous, listed)

    assert listed.items[0][CHANGE_KEY]["changedBy"] == "bob"
    assert all(CHANGE_KEY not in item for item in listed.items[1:])


def test_only_a_mapping_that_reads_the_change_asks_listings_to_keep_it(tmp_path):
    assert not reads_changes(default_entry(STORAGE_KIND))
    path = tmp_path / "mapping.yaml"
    path.write_text(
        """\
resources:
- kind: Microsoft.Storage/storageAccounts
  selector: {query: 'true', apiVersion: '2023-01-01'}
  port:
    entity:
      mappings:
        identifier: .id
        title: .name
        blueprint: '"azureCloudResource"'
        properties:
          lastChangedBy: .__change.changedBy
"""
    )
    (entry,) = load_mapping(path).entries

    assert reads_changes(entry)
