"""search_owned + plan_sync + apply_plan through the real client against the emulator."""

from __future__ import annotations

from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port import PortClient, apply_plan, plan_sync
from azure_port_pipeline_tests.port.conftest import (
    cloud_resources,
    desired_view,
    resource_groups,
    stored_view,
)

SCOPE = "sub-1:cloudResource"


def sync(
    client: PortClient, desired: list[Entity], *, complete: bool = True, threshold: float = 0.9
):
    owned = [
        body
        for blueprint in ("azureResourceGroup", "azureCloudResource")
        for body in client.search_owned(blueprint, SCOPE)
    ]
    plan = plan_sync(desired, owned, listing_complete=complete, deletion_threshold=threshold)
    report = apply_plan(
        client, plan, scope=SCOPE, create_missing_related_entities=False, delete_dependents=False
    )
    return plan, report


def test_sync_converges_writes_nothing_twice_and_deletes_only_what_it_owns(
    emulator: PortEmulator, client: PortClient
) -> None:
    rgs = resource_groups(2)
    resources = [e for rg in rgs for e in cloud_resources(15, rg.identifier)]
    emulator.put_entity(
        "azureCloudResource",
        {"identifier": "theirs", "title": "t", "properties": {}},
        datasource="other-tool/1",
    )
    desired = [*resources, *rgs]  # sources listed first: the plan must write targets first
    plan, report = sync(client, desired)
    assert plan.relation_order == ["azureResourceGroup", "azureCloudResource"]
    assert (report.created, report.updated, report.failed) == (32, 0, 0)
    assert stored_view(emulator, "azureCloudResource") == {
        **desired_view(resources),
        "theirs": ("t", {}, {}),
    }

    writes = client.metrics.writes
    plan, report = sync(client, desired)
    assert (report.unchanged, report.created, report.updated) == (32, 0, 0)
    assert client.metrics.writes == writes  # a second sync writes nothing

    changed = Entity(**{**_fields(resources[0]), "title": "renamed"})
    bad = Entity("azureCloudResource", "bad", properties={"location": 1})
    kept = [changed, *resources[1:-3], bad, *rgs]
    plan, report = sync(client, kept)
    assert (report.updated, report.deleted, report.failed) == (1, 3, 1)
    assert [(f.identifier, f.status, f.code) for f in report.failures] == [
        ("bad", 422, "blueprint_schema_mismatch")
    ]
    assert emulator.entity("azureCloudResource", "theirs") is not None
    assert emulator.entity("azureCloudResource", resources[-1].identifier) is None
    assert report.as_dict()["failures"][0]["identifier"] == "bad"


def test_deletion_is_guarded_by_listing_and_threshold(
    emulator: PortEmulator, client: PortClient
) -> None:
    rgs = resource_groups(10)
    sync(client, rgs)
    _, report = sync(client, rgs[:5], complete=False)
    assert report.deleted == 0 and "incomplete" in (report.deletion_skipped_reason or "")
    _, report = sync(client, rgs[:1], threshold=0.5)
    assert report.deleted == 0 and "threshold" in (report.deletion_skipped_reason or "")
    assert emulator.entity_count("azureResourceGroup") == 10
    _, report = sync(client, rgs[:6], threshold=0.5)
    assert report.deleted == 4 and emulator.entity_count("azureResourceGroup") == 6


def _fields(entity: Entity) -> dict:
    return {
        name: getattr(entity, name)
        for name in ("blueprint", "identifier", "title", "icon", "team", "properties", "relations")
    }
