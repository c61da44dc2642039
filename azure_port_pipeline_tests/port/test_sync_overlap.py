"""Two writers at once: a run counts only what its own requests did, as Port confirms it.

Real clients over real HTTP against the Port emulator. The other writer is a second client of
the same installation (an overlapping run of the same subscription), writing between the
first run's plan and its writes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port import PortClient, SyncPlan, SyncReport, apply_plan, plan_sync
from azure_port_pipeline_tests.port.conftest import (
    desired_view,
    fast_settings,
    resource_groups,
    stored_view,
)

SCOPE = "sub-1:Microsoft.Resources/resourceGroups"
RG = "azureResourceGroup"


@pytest.fixture
def other_run(emulator: PortEmulator) -> Iterator[PortClient]:
    with PortClient(fast_settings(emulator)) as port:
        yield port


def plan(client: PortClient, desired: list[Entity]) -> SyncPlan:
    owned = client.search_owned(RG, SCOPE)
    return plan_sync(desired, owned, listing_complete=True, deletion_threshold=0.9)


def apply(client: PortClient, planned: SyncPlan) -> SyncReport:
    return apply_plan(client, planned, scope=SCOPE, delete_dependents=False)


def retitled(entity: Entity, title: str) -> Entity:
    return Entity(entity.blueprint, entity.identifier, title=title, properties=entity.properties)


def test_an_overlapping_run_counts_only_what_its_own_requests_did(
    emulator: PortEmulator, client: PortClient, other_run: PortClient
) -> None:
    before = resource_groups(13)
    apply(client, plan(client, before[:10]))
    changed = [retitled(rg, f"renamed {rg.title}") for rg in before[:3]]
    desired = [*changed, *before[3:8], *before[10:13]]  # 3 updated, 3 new, 2 gone

    late = plan(client, desired)  # this run plans ...
    assert (len(late.create), len(late.update), len(late.delete)) == (3, 3, 2)
    first = apply(other_run, plan(other_run, desired))  # ... the overlapping run writes ...
    second = apply(client, late)  # ... then this run writes what the other already did

    assert (first.created, first.updated, first.deleted, first.already_gone) == (3, 3, 2, 0)
    # Port answered `created: false` for the 3 the other run created first, and found nothing
    # to delete for the 2 it had deleted: none of that is this run's creation or deletion
    assert (second.created, second.deleted, second.already_gone) == (0, 0, 2)
    assert (second.updated, second.failed) == (6, 0)
    assert first.created + second.created == 3 and first.deleted + second.deleted == 2
    assert stored_view(emulator, RG) == desired_view(desired)


def test_a_delete_that_finds_nothing_counts_as_already_gone_not_deleted(
    emulator: PortEmulator, client: PortClient, other_run: PortClient
) -> None:
    rgs = resource_groups(4)
    apply(client, plan(client, rgs))
    late = plan(client, rgs[:1])
    assert len(late.delete) == 3
    other_run.bulk_delete(RG, [rgs[1].identifier], delete_dependents=False)
    # Port refuses the bulk request: every id is deleted alone, the gone one answers 404
    refusal = {"ok": False, "error": "invalid_request", "message": "refused"}
    emulator.faults.answer_next(1, status=422, body=refusal, route="bulk/entities/delete")
    report = apply(client, late)
    assert (report.deleted, report.already_gone, report.failed) == (2, 1, 0)
    assert emulator.counters["DELETE /v1/blueprints/{bp}/entities/{id}"] == 3
    assert [e["identifier"] for e in emulator.entities(RG)] == [rgs[0].identifier]
