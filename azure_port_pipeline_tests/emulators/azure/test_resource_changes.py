"""What ARM writes leave in Resource Graph's `resourcechanges` / `resourcecontainerchanges`:
Azure's row shape, attributed to the caller's token, visible only after the ingestion delay
and for 14 days, both on the emulator's clock (moved here, never slept on)."""

from __future__ import annotations

import base64
import json
import random
import signal
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest

from azure_port_pipeline.demo.environment import DEMO_AUTHORS, change_estate
from azure_port_pipeline.emulators.azure import DEFAULT_CHANGE_DELAY
from azure_port_pipeline_tests.azure_fixtures import (
    ARM_SCOPE,
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT_ID,
    credential_for,
    sdk_kwargs,
)
from azure_port_pipeline_tests.emulators.standalone import serving

STORAGE = "Microsoft.Storage/storageAccounts"
VERSION = "2023-01-01"
ROWS = """{table}
| extend changeTime = todatetime(properties.changeAttributes.timestamp)
| order by changeTime asc
| project id, subscriptionId, resourceGroup, properties"""


class Clock:
    """The emulator's clock, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def emu(azure_emulator_factory):
    return azure_emulator_factory(resources=60, rg_quota=None)


@pytest.fixture
def sub(emu):
    return emu.estate.subscription_ids[0]


@pytest.fixture
def client(emu, sub):
    return ResourceManagementClient(credential_for(emu), sub, **sdk_kwargs(emu))


def _rows(emu, table="resourcechanges"):
    graph = ResourceGraphClient(credential_for(emu), **sdk_kwargs(emu))
    request = QueryRequest(
        subscriptions=emu.estate.subscription_ids, query=ROWS.format(table=table)
    )
    return graph.resources(request).data


def _account_id(sub, name):
    return f"/subscriptions/{sub}/resourceGroups/My-RG/providers/{STORAGE}/{name}"


def _account(**overrides):
    body = {
        "location": "westeurope",
        "kind": "StorageV2",
        "sku": {"name": "Standard_LRS"},
        "properties": {"accessTier": "Hot"},
    }
    return {**body, **overrides}


def _claims(credential):
    payload = credential.get_token(ARM_SCOPE).token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_sdk_writes_are_recorded_in_azures_shape_and_attributed_to_the_token(emu, sub):
    emu.add_client("ci-deployer", "ci-secret")
    credential = ClientSecretCredential(
        TENANT_ID,
        "ci-deployer",
        "ci-secret",
        authority=emu.authority_host,
        disable_instance_discovery=True,
        connection_verify=emu.ca_file,
    )
    claims = _claims(credential)
    client = ResourceManagementClient(credential, sub, **sdk_kwargs(emu))
    resource_id = _account_id(sub, "stchanged01")

    client.resources.begin_create_or_update_by_id(
        resource_id, api_version=VERSION, parameters=_account(tags={"env": "dev"})
    ).result()
    client.resources.begin_update_by_id(
        resource_id, api_version=VERSION, parameters={"tags": {"env": "prod"}}
    ).result()
    client.resources.begin_delete_by_id(resource_id, api_version=VERSION).result()

    rows = _rows(emu)
    assert [r["properties"]["changeType"] for r in rows] == ["Create", "Update", "Delete"]
    create, update, delete = rows
    for row in rows:
        props = row["properties"]
        assert row["id"].startswith(f"{resource_id}/providers/Microsoft.Resources/changes/")
        assert row["subscriptionId"] == sub and row["resourceGroup"] == "my-rg"
        assert props["targetResourceId"] == resource_id
        assert props["targetResourceType"] == "microsoft.storage/storageaccounts"
        attributes = props["changeAttributes"]
        assert attributes["changedBy"] == claims["appid"] == "ci-deployer"
        assert attributes["changedByType"] == "Application"
        assert attributes["clientType"] == "Azure SDK for Python"  # from the User-Agent
        assert attributes["timestamp"].endswith("Z") and attributes["correlationId"]
    assert [r["properties"]["changeAttributes"]["operation"] for r in rows] == [
        "Microsoft.Storage/storageAccounts/write",
        "Microsoft.Storage/storageAccounts/write",
        "Microsoft.Storage/storageAccounts/delete",
    ]
    assert len({r["properties"]["changeAttributes"]["correlationId"] for r in rows}) == 3
    # snapshots chain: each change starts from the snapshot the previous one left
    first, second, third = (r["properties"]["changeAttributes"] for r in rows)
    assert first["previousResourceSnapshotId"] is None and first["newResourceSnapshotId"]
    assert second["previousResourceSnapshotId"] == first["newResourceSnapshotId"]
    assert third["previousResourceSnapshotId"] == second["newResourceSnapshotId"]
    assert third["newResourceSnapshotId"] is None
    assert "changes" not in create["properties"] and "changes" not in delete["properties"]
    assert update["properties"]["changes"] == {
        "tags.env": {
            "previousValue": "dev",
            "newValue": "prod",
            "propertyChangeType": "Update",
            "changeCategory": "User",
        }
    }
    assert update["properties"]["changeAttributes"]["changesCount"] == 1


def test_update_rows_list_every_changed_property(emu, sub, client):
    account = next(a for a in emu.estate.resources(sub, STORAGE) if "app" in (a.get("tags") or {}))
    before = client.resources.get_by_id(account["id"], api_version=VERSION)
    assert before.properties["accessTier"] == "Hot"
    assert before.tags["owner"] != "payments"

    client.resources.begin_create_or_update_by_id(
        account["id"],
        api_version=VERSION,
        parameters={
            "location": before.location,
            "kind": before.kind,
            "sku": before.sku.as_dict(),
            "tags": {**{k: v for k, v in before.tags.items() if k != "app"}, "owner": "payments"},
            "properties": {"accessTier": "Cool", "minimumTlsVersion": None},
        },
    ).result()
    # an identical PUT changes nothing and records nothing
    client.resources.begin_update_by_id(
        account["id"], api_version=VERSION, parameters={"properties": {"accessTier": "Cool"}}
    ).result()

    (row,) = _rows(emu)
    changes = row["properties"]["changes"]
    assert row["properties"]["changeAttributes"]["changesCount"] == len(changes)
    assert changes["properties.accessTier"] == {
        "previousValue": "Hot",
        "newValue": "Cool",
        "propertyChangeType": "Update",
        "changeCategory": "User",
    }
    assert changes["properties.minimumTlsVersion"]["propertyChangeType"] == "Remove"
    assert changes["properties.minimumTlsVersion"]["newValue"] is None
    assert changes["tags.owner"] == {
        "previousValue": before.tags["owner"],
        "newValue": "payments",
        "propertyChangeType": "Update",
        "changeCategory": "User",
    }
    assert changes["tags.app"]["previousValue"] == before.tags["app"]
    assert changes["tags.app"]["propertyChangeType"] == "Remove"
    assert set(changes) == {
        "properties.accessTier",
        "properties.minimumTlsVersion",
        "tags.owner",
        "tags.app",
    }
    assert not any(path.startswith("systemData") for path in changes)


def test_rows_are_visible_only_after_the_ingestion_delay(azure_emulator_factory):
    emu = azure_emulator_factory(resources=60, rg_quota=None, change_delay=120)
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    emu.clock = clock
    sub = emu.estate.subscription_ids[0]
    client = ResourceManagementClient(credential_for(emu), sub, **sdk_kwargs(emu))
    resource_id = _account_id(sub, "stlate0001")

    client.resources.begin_create_or_update_by_id(
        resource_id, api_version=VERSION, parameters=_account()
    ).result()

    assert client.resources.get_by_id(resource_id, api_version=VERSION).id == resource_id
    assert _rows(emu) == [] and emu.pending_changes() == 1  # written, not ingested yet
    clock.advance(seconds=119)
    assert _rows(emu) == []
    clock.advance(seconds=1)
    (row,) = _rows(emu)
    stamp = row["properties"]["changeAttributes"]["timestamp"]
    assert stamp == (clock.now - timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert emu.pending_changes() == 0

    # a row that arrives late: stamped inside a window that closed long before it shows up
    emu.change_delay = 0
    late = clock.now - timedelta(minutes=30)
    emu.update_resource(resource_id, {"tags.x": "late"}, at=late, delay=600)
    assert len(_rows(emu)) == 1
    clock.advance(seconds=600)
    rows = _rows(emu)
    assert [r["properties"]["changeType"] for r in rows] == ["Update", "Create"]  # by time
    assert rows[0]["properties"]["changeAttributes"]["timestamp"].startswith(
        late.strftime("%Y-%m-%dT%H:%M:%S")
    )


def test_rows_are_kept_fourteen_days_on_the_emulators_clock(emu, sub, client):
    clock = Clock(datetime(2030, 3, 1, tzinfo=UTC))
    emu.clock = clock
    client.resources.begin_create_or_update_by_id(
        _account_id(sub, "stold00001"), api_version=VERSION, parameters=_account()
    ).result()
    clock.advance(days=13)
    client.resources.begin_create_or_update_by_id(
        _account_id(sub, "stnew00001"), api_version=VERSION, parameters=_account()
    ).result()
    assert len(_rows(emu)) == 2

    clock.advance(days=2)  # the first write is now 15 days old

    (row,) = _rows(emu)
    assert row["properties"]["targetResourceId"].endswith("/stnew00001")
    clock.advance(days=13)
    assert _rows(emu) == []
    assert len(emu.changes.resource_changes) == 2  # retention hides, the log keeps


def test_group_and_subscription_changes_go_to_resourcecontainerchanges(emu, sub, client):
    client.resource_groups.create_or_update("rg-audit", {"location": "westeurope"})
    client.resource_groups.update("rg-audit", {"tags": {"app": "audit"}})
    client.resources.begin_create_or_update_by_id(
        f"/subscriptions/{sub}/resourceGroups/rg-audit/providers/{STORAGE}/staudit0001",
        api_version=VERSION,
        parameters=_account(),
    ).result()
    client.resource_groups.begin_delete("rg-audit").result()
    client.send_request(
        HttpRequest(
            "POST",
            f"/subscriptions/{sub}/providers/Microsoft.Subscription/cancel",
            params={"api-version": "2021-10-01"},
        )
    )

    containers = _rows(emu, "resourcecontainerchanges")
    summary = [
        (
            r["properties"]["changeType"],
            r["properties"]["targetResourceType"],
            r["properties"]["changeAttributes"]["operation"],
        )
        for r in containers
    ]
    groups = "Microsoft.Resources/subscriptions/resourceGroups"
    assert summary == [
        ("Create", "microsoft.resources/subscriptions/resourcegroups", f"{groups}/write"),
        ("Update", "microsoft.resources/subscriptions/resourcegroups", f"{groups}/write"),
        ("Delete", "microsoft.resources/subscriptions/resourcegroups", f"{groups}/delete"),
        ("Update", "microsoft.resources/subscriptions", "Microsoft.Subscription/cancel/action"),
    ]
    assert containers[1]["properties"]["changes"]["tags.app"]["newValue"] == "audit"
    assert containers[3]["properties"]["targetResourceId"] == f"/subscriptions/{sub}"
    assert containers[3]["resourceGroup"] == ""
    assert containers[3]["properties"]["changes"] == {
        "properties.state": {
            "previousValue": "Enabled",
            "newValue": "Disabled",
            "propertyChangeType": "Update",
            "changeCategory": "User",
        }
    }
    assert {r["properties"]["changeAttributes"]["changedBy"] for r in containers} == {CLIENT_ID}
    # the group's deletion deleted its account: one request, one correlation id
    resources = _rows(emu)
    assert [r["properties"]["changeType"] for r in resources] == ["Create", "Delete"]
    correlation = resources[1]["properties"]["changeAttributes"]["correlationId"]
    assert containers[2]["properties"]["changeAttributes"]["correlationId"] == correlation


def test_the_demos_changes_take_the_same_write_path(azure_emulator_factory):
    emu = azure_emulator_factory(resources=300, rg_quota=None)

    done = change_estate(emu, random.Random(5), count=9)

    rows = _rows(emu)
    assert all(done.operations.values()), done  # creates, updates and deletes all happened
    assert sum(done.operations.values()) == len(rows) == 9
    by_type = {"Create": "created", "Update": "updated", "Delete": "deleted"}
    counted = {name: 0 for name in by_type.values()}
    for row in rows:
        counted[by_type[row["properties"]["changeType"]]] += 1
    assert counted == done.operations
    authors = {a.changed_by: a.client_type for a in DEMO_AUTHORS}
    for row in rows:
        attributes = row["properties"]["changeAttributes"]
        assert authors[attributes["changedBy"]] == attributes["clientType"]
    updates = [r for r in rows if r["properties"]["changeType"] == "Update"]
    assert updates and all("tags.demo-touched" in r["properties"]["changes"] for r in updates)


def test_the_cli_sets_the_ingestion_delay(tmp_path):
    from azure_port_pipeline.cli import _parser

    args = _parser().parse_args(["emulate", "azure", "--ca-file", "ca.pem"])
    assert args.change_delay == DEFAULT_CHANGE_DELAY
    ca = tmp_path / "ca.pem"
    code = (
        "from azure_port_pipeline.cli import main; "
        f"main(['emulate', 'azure', '--port', '0', '--ca-file', {str(ca)!r}, "
        "'--subscriptions', '1', '--resources', '20', '--change-delay', '3600'])"
    )
    env = {
        "AZURE_TENANT_ID": TENANT_ID,
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_CLIENT_SECRET": CLIENT_SECRET,
    }
    with serving(code, env) as child:
        line = child.wait_for_line("Azure emulator on ")
        base = line.split(" on ", 1)[1].split(" ", 1)[0]
        credential = ClientSecretCredential(
            TENANT_ID,
            CLIENT_ID,
            CLIENT_SECRET,
            authority=base,
            disable_instance_discovery=True,
            connection_verify=str(ca),
        )
        options = {"base_url": base, "connection_verify": str(ca), "credential_scopes": [ARM_SCOPE]}
        graph = ResourceGraphClient(credential, **options)
        sub = graph.resources(
            QueryRequest(
                query="resourcecontainers | where type =~ "
                "'microsoft.resources/subscriptions' | project subscriptionId"
            )
        ).data[0]["subscriptionId"]
        client = ResourceManagementClient(credential, sub, **options)
        group = next(iter(client.resource_groups.list())).name
        resource_id = f"/subscriptions/{sub}/resourceGroups/{group}/providers/{STORAGE}/stcli01"
        client.resources.begin_create_or_update_by_id(
            resource_id, api_version=VERSION, parameters=_account()
        ).result()
        listed = graph.resources(QueryRequest(query=f"resources | where id =~ '{resource_id}'"))
        changes = graph.resources(QueryRequest(query="resourcechanges | project id"))
        exit_code = child.stop_with(signal.SIGTERM)
    assert "change rows visible to Resource Graph after 3600 s" in line
    assert listed.count == 1  # the write is there at once...
    assert changes.count == 0  # ...its change row only after an hour
    assert exit_code == 0, child.output
