"""search_owned + plan_sync + apply_plan through the real client against the emulator."""

from __future__ import annotations

from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port import DeletionTotals, PortClient, apply_plan, plan_sync
from azure_port_pipeline_tests.port.conftest import (
    cloud_resources,
    desired_view,
    resource_groups,
    stored_view,
)

SCOPE = "sub-1:cloudResource"


def sync(
    client: PortClient,
    desired: list[Entity],
    *,
    complete: bool = True,
    threshold: float = 0.9,
    elsewhere: DeletionTotals | None = None,
    delete_dependents: bool = False,
    foreign_cascade: bool = False,
):
    owned = [
        body
        for blueprint in ("azureResourceGroup", "azureCloudResource")
        for body in client.search_owned(blueprint, SCOPE)
    ]
    plan = plan_sync(
        desired,
        owned,
        listing_complete=complete,
        deletion_threshold=threshold,
        elsewhere=elsewhere,
    )
    report = apply_plan(
        client,
        plan,
        scope=SCOPE,
        create_missing_related_entities=False,
        delete_dependents=delete_dependents,
        foreign_cascade=foreign_cascade,
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
    rgs = resource_groups(30)
    sync(client, rgs)
    _, report = sync(client, rgs[:5], complete=False)
    assert report.deleted == 0 and "incomplete" in (report.deletion_skipped_reason or "")
    _, report = sync(client, rgs[:2])  # 28 of 30: 93%
    assert report.deleted == 0 and "threshold" in (report.deletion_skipped_reason or "")
    assert emulator.entity_count("azureResourceGroup") == 30
    _, report = sync(client, rgs[:6])  # 24 of 30: 80%
    assert report.deleted == 24 and emulator.entity_count("azureResourceGroup") == 6


def test_the_last_entity_of_a_scope_is_deleted(emulator: PortEmulator, client: PortClient) -> None:
    """1 of 1: the scope's whole content, an ordinary deletion in its subscription."""
    [last] = resource_groups(1)
    sync(client, [last])
    rest_of_subscription = DeletionTotals(to_delete=0, entities=120)
    plan, report = sync(client, [], elsewhere=rest_of_subscription)
    assert plan.deletion_skipped_reason is None
    assert report.deleted == 1 and emulator.entity("azureResourceGroup", last.identifier) is None


def test_three_of_four_are_deleted(emulator: PortEmulator, client: PortClient) -> None:
    four = resource_groups(4)
    sync(client, four)
    _, report = sync(client, four[3:], elsewhere=DeletionTotals())  # the whole subscription
    assert report.deleted == 3 and report.deletion_skipped_reason is None
    stored = [e["identifier"] for e in emulator.entities("azureResourceGroup")]
    assert stored == [four[3].identifier]


def test_91_of_100_deletes_nothing(emulator: PortEmulator, client: PortClient) -> None:
    hundred = resource_groups(100)
    sync(client, hundred)
    writes = client.metrics.writes
    plan, report = sync(client, hundred[:9], elsewhere=DeletionTotals())
    assert plan.would_delete == 91 and report.deleted == 0
    assert "would delete 91 of the 100 entities of this subscription (91%)" in (
        report.deletion_skipped_reason or ""
    )
    assert emulator.entity_count("azureResourceGroup") == 100
    assert client.metrics.writes == writes  # not one delete request


def test_an_owned_group_goes_and_the_foreign_entity_relating_to_it_stays_reported(
    emulator: PortEmulator, client: PortClient
) -> None:
    """deleteDependentEntities: true (Port's default) must not cascade into others' entities."""
    rgs = resource_groups(3)
    ours = cloud_resources(4, rgs[0].identifier)
    sync(client, [*rgs, *ours])
    theirs = {"identifier": "their-dashboard", "relations": {"resource_group": rgs[0].identifier}}
    emulator.put_entity("azureCloudResource", theirs, datasource="another-integration/1.0")

    _, report = sync(client, rgs[1:], delete_dependents=True)  # the group and its resources go

    assert report.deleted == 5 and report.failed == 0
    assert emulator.entity("azureResourceGroup", rgs[0].identifier) is None
    assert all(emulator.entity("azureCloudResource", e.identifier) is None for e in ours)
    kept = emulator.entity("azureCloudResource", "their-dashboard")
    assert kept is not None and kept["datasource"] == "another-integration/1.0"
    assert report.foreign_dependents == [
        {
            "blueprint": "azureCloudResource",
            "identifier": "their-dashboard",
            "depends_on_blueprint": "azureResourceGroup",
            "depends_on": rgs[0].identifier,
            "outcome": "kept: its target went without cascade; Port clears relations to it",
        }
    ]
    assert report.as_dict()["foreign_dependents"][0]["identifier"] == "their-dashboard"


def test_a_group_a_foreign_entity_requires_is_kept_and_reported(
    emulator: PortEmulator, client: PortClient
) -> None:
    emulator.add_blueprint(
        {
            "identifier": "alert",
            "title": "Alert",
            "schema": {"properties": {}},
            "relations": {
                "resource_group": {"target": "azureResourceGroup", "required": True, "many": False}
            },
        }
    )
    rgs = resource_groups(2)
    sync(client, rgs)
    theirs = {"identifier": "cpu-high", "relations": {"resource_group": rgs[0].identifier}}
    emulator.put_entity("alert", theirs, datasource="another-integration/1.0")

    _, report = sync(client, [], delete_dependents=True)

    assert (report.deleted, report.kept_for_foreign_dependents, report.failed) == (1, 1, 0)
    assert emulator.entity("alert", "cpu-high") is not None
    assert emulator.entity("azureResourceGroup", rgs[0].identifier) is not None
    assert [row["outcome"] for row in report.foreign_dependents] == [
        "kept: the entity it depends on was not deleted"
    ]

    _, report = sync(client, [], delete_dependents=True, foreign_cascade=True)  # opted in

    assert report.deleted == 1 and emulator.entity_count() == 0
    assert report.foreign_dependents[0]["outcome"].startswith("deleted with it")


def _fields(entity: Entity) -> dict:
    return {
        name: getattr(entity, name)
        for name in ("blueprint", "identifier", "title", "icon", "team", "properties", "relations")
    }
