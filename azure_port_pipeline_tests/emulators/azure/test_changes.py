"""Mutations recorded as Resource Graph changes and published as Event Grid events."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest

from azure_port_pipeline_tests.azure_fixtures import credential_for, sdk_kwargs
from azure_port_pipeline_tests.azurite import running_azurite_queue

WINDOW_QUERY = """resourcechanges
| extend changeTime = todatetime(properties.changeAttributes.timestamp),
         targetResourceId = tostring(properties.targetResourceId),
         changeType = tostring(properties.changeType)
| where changeTime > datetime({since})
| order by changeTime asc"""


@pytest.fixture
def emu(azure_emulator_factory):
    return azure_emulator_factory(resources=60, rg_quota=None)


def _graph(emu, query):
    client = ResourceGraphClient(credential_for(emu), **sdk_kwargs(emu))
    return client.resources(
        QueryRequest(subscriptions=emu.estate.subscription_ids, query=query)
    ).data


def _new_account(sub: str, name: str = "stchanges0001") -> dict:
    return {
        "id": f"/subscriptions/{sub}/resourceGroups/My-RG/providers/"
        f"Microsoft.Storage/storageAccounts/{name}",
        "type": "Microsoft.Storage/storageAccounts",
        "location": "westeurope",
        "kind": "StorageV2",
        "sku": {"name": "Standard_LRS", "tier": "Standard"},
        "properties": {"provisioningState": "Succeeded", "accessTier": "Hot"},
    }


def test_create_update_delete_are_recorded_and_visible_in_resourcechanges(emu):
    sub = emu.estate.subscription_ids[0]
    start = datetime(2030, 1, 1, tzinfo=UTC)
    emu.clock = lambda: start + timedelta(days=1)
    account = _new_account(sub)
    emu.create_resource(account, at=start + timedelta(minutes=1))
    emu.update_resource(
        account["id"],
        {"properties.accessTier": "Cool", "tags": {"env": "prod"}},
        at=start + timedelta(minutes=2),
    )
    emu.delete_resource(account["id"], at=start + timedelta(minutes=3))
    rows = _graph(emu, WINDOW_QUERY.format(since="2030-01-01T00:00:00Z"))
    assert [r["changeType"] for r in rows] == ["Create", "Update", "Delete"]
    assert {r["targetResourceId"] for r in rows} == {account["id"]}
    update = rows[1]
    assert update["type"] == "microsoft.resources/changes"
    assert update["subscriptionId"] == sub and update["resourceGroup"] == "my-rg"
    props = update["properties"]
    assert props["targetResourceType"] == "microsoft.storage/storageaccounts"
    assert props["changes"] == {
        "properties.accessTier": {
            "previousValue": "Hot",
            "newValue": "Cool",
            "propertyChangeType": "Update",
            "changeCategory": "User",
        },
        "tags.env": {
            "previousValue": None,
            "newValue": "prod",
            "propertyChangeType": "Insert",
            "changeCategory": "User",
        },
    }
    attributes = props["changeAttributes"]
    assert attributes["timestamp"] == "2030-01-01T00:02:00.000Z"
    assert attributes["changesCount"] == 2 and attributes["operation"] == (
        "Microsoft.Storage/storageAccounts/write"
    )
    assert attributes["previousResourceSnapshotId"] and attributes["newResourceSnapshotId"]
    assert "changes" not in rows[0]["properties"]
    assert rows[0]["properties"]["changeAttributes"]["previousResourceSnapshotId"] is None


def test_changes_are_visible_through_arm_reads(emu):
    sub = emu.estate.subscription_ids[0]
    client = ResourceManagementClient(credential_for(emu), sub, **sdk_kwargs(emu))
    vm = emu.estate.list_type(sub, "Microsoft.Compute/virtualMachines")[0]
    emu.update_resource(vm.id, {"properties": {"hardwareProfile": {"vmSize": "Standard_D8s_v5"}}})
    got = client.resources.get_by_id(vm.id, api_version="2023-03-01")
    assert got.properties["hardwareProfile"]["vmSize"] == "Standard_D8s_v5"
    assert got.properties["provisioningState"] == "Succeeded"  # merge patch kept the rest
    emu.delete_resource(vm.id)
    with pytest.raises(ResourceNotFoundError):
        client.resources.get_by_id(vm.id, api_version="2023-03-01")


def test_resource_group_changes_go_to_resourcecontainerchanges(emu):
    sub = emu.estate.subscription_ids[0]
    rg_id = f"/subscriptions/{sub}/resourceGroups/rg-fresh"
    emu.create_resource(
        {"id": rg_id, "type": "Microsoft.Resources/resourceGroups", "location": "eastus"}
    )
    account = _new_account(sub, "stinfresh01")
    account["id"] = account["id"].replace("/My-RG/", "/rg-fresh/")
    emu.create_resource(account)
    removed = emu.delete_resource(rg_id)
    assert [b["id"] for b in removed] == [account["id"], rg_id]
    containers = _graph(
        emu,
        "resourcecontainerchanges | project "
        "changeType = tostring(properties.changeType), "
        "target = tostring(properties.targetResourceId)",
    )
    assert [(r["changeType"], r["target"]) for r in containers] == [
        ("Create", rg_id),
        ("Delete", rg_id),
    ]
    resources = _graph(
        emu, "resourcechanges | project changeType = tostring(properties.changeType)"
    )
    assert [r["changeType"] for r in resources] == ["Create", "Delete"]


def test_changes_older_than_fourteen_days_expire(emu):
    sub = emu.estate.subscription_ids[0]
    now = datetime(2030, 6, 1, tzinfo=UTC)
    emu.clock = lambda: now
    emu.create_resource(_new_account(sub, "stold0001"), at=now - timedelta(days=15))
    emu.create_resource(_new_account(sub, "stnew0001"), at=now - timedelta(days=1))
    rows = _graph(emu, "resourcechanges | project id")
    assert len(rows) == 1 and "stnew0001" in rows[0]["id"]


@pytest.fixture
def azurite_queue():
    with running_azurite_queue() as connection_string:
        yield connection_string


def test_event_grid_events_reach_the_storage_queue(emu, azurite_queue):
    from azure.storage.queue import QueueClient

    queue = QueueClient.from_connection_string(azurite_queue, "azure-events")
    queue.create_queue()
    emu.event_queue = (azurite_queue, "azure-events")
    sub = emu.estate.subscription_ids[0]
    account = _new_account(sub)
    emu.create_resource(account)
    emu.delete_resource(account["id"])
    messages = list(queue.receive_messages(messages_per_page=32))
    events = [json.loads(base64.b64decode(m.content)) for m in messages]
    assert [e["eventType"] for e in events] == [
        "Microsoft.Resources.ResourceWriteSuccess",
        "Microsoft.Resources.ResourceDeleteSuccess",
    ]
    write = events[0]
    assert write["topic"] == f"/subscriptions/{sub}" and write["subject"] == account["id"]
    assert write["dataVersion"] and write["id"] and write["eventTime"].endswith("Z")
    data = write["data"]
    assert data["resourceUri"] == account["id"] and data["status"] == "Succeeded"
    assert data["operationName"] == "Microsoft.Storage/storageAccounts/write"
    assert data["subscriptionId"] == sub and data["tenantId"] == emu.tenant_id
    assert data["httpRequest"]["method"] == "PUT" and data["correlationId"]
    queue.close()
    emu.stop()  # closes the emulator's queue client before Azurite goes away
