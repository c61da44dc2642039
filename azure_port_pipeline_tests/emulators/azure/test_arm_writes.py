"""ARM writes over HTTPS through the unmodified azure-mgmt-resource SDK: PUT, PATCH and DELETE
of resources and resource groups (long-running operations polled as ARM answers them), and a
subscription disabled and enabled again."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest

from azure_port_pipeline_tests.azure_fixtures import CLIENT_ID, credential_for, sdk_kwargs

STORAGE = "Microsoft.Storage/storageAccounts"
VERSION = "2023-01-01"
ASYNC_MONITOR = (
    "GET /subscriptions/{sub}/providers/{namespace}/locations/{location}/operations/{operationId}"
)
LOCATION_MONITOR = (
    "GET /subscriptions/{sub}/providers/{namespace}/locations/{location}/"
    "operationresults/{operationId}"
)
GROUP_MONITOR = "GET /subscriptions/{sub}/operationresults/{operationId}"


@pytest.fixture
def emu(azure_emulator_factory):
    return azure_emulator_factory(resources=60, rg_quota=None)


@pytest.fixture
def sub(emu):
    return emu.estate.subscription_ids[0]


@pytest.fixture
def client(emu, sub):
    return ResourceManagementClient(credential_for(emu), sub, **sdk_kwargs(emu))


def _graph(emu, query):
    graph = ResourceGraphClient(credential_for(emu), **sdk_kwargs(emu))
    return graph.resources(
        QueryRequest(subscriptions=emu.estate.subscription_ids, query=query)
    ).data


def _account_id(sub, name, group="My-RG"):
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/{STORAGE}/{name}"


def _account(**overrides):
    body = {
        "location": "westeurope",
        "kind": "StorageV2",
        "sku": {"name": "Standard_LRS"},
        "tags": {"env": "dev"},
        "properties": {"accessTier": "Hot", "minimumTlsVersion": "TLS1_2"},
    }
    body.update(overrides)
    return body


def _in_graph(emu, resource_id):
    return _graph(emu, f"resources | where id =~ '{resource_id}' | project id, tags, properties")


def test_put_creates_a_resource_through_a_long_running_operation(emu, sub, client):
    resource_id = _account_id(sub, "stwrite0001")

    created = client.resources.begin_create_or_update_by_id(
        resource_id, api_version=VERSION, parameters=_account()
    ).result()

    assert created.id == resource_id and created.type == STORAGE
    assert created.properties["provisioningState"] == "Succeeded"
    assert created.properties["accessTier"] == "Hot" and created.tags == {"env": "dev"}
    assert created.system_data.created_by == CLIENT_ID
    # 201 + Azure-AsyncOperation: the SDK polled the monitor once, then read the resource
    assert emu.counters["PUT /{resourceId}"] == 1
    assert emu.counters[ASYNC_MONITOR] == 1
    assert emu.counters["GET /{resourceId}"] == 1
    got = client.resources.get_by_id(resource_id, api_version=VERSION)
    assert got.as_dict() == created.as_dict()
    (row,) = _in_graph(emu, resource_id)
    assert row["tags"] == {"env": "dev"} and row["properties"]["accessTier"] == "Hot"


def test_put_on_an_existing_resource_replaces_it_synchronously(emu, sub, client):
    account = next(iter(emu.estate.resources(sub, STORAGE)))
    before = client.resources.get_by_id(account["id"], api_version=VERSION)
    emu.reset_counters()

    replaced = client.resources.begin_create_or_update_by_id(
        account["id"],
        api_version=VERSION,
        parameters={
            "location": before.location,
            "kind": before.kind,
            "sku": before.sku.as_dict(),
            "properties": {"accessTier": "Cool"},
        },
    ).result()

    assert emu.counters["PUT /{resourceId}"] == 1 and emu.counters[ASYNC_MONITOR] == 0  # a 200
    assert replaced.properties["accessTier"] == "Cool"
    assert replaced.tags is None  # a PUT replaces: tags it leaves out are gone
    # what the provider computed (endpoints, creation time) stays
    assert replaced.properties["primaryEndpoints"] == before.properties["primaryEndpoints"]
    assert replaced.properties["creationTime"] == before.properties["creationTime"]
    after = client.resources.get_by_id(account["id"], api_version=VERSION)
    assert after.properties["accessTier"] == "Cool" and after.tags is None
    (row,) = _in_graph(emu, account["id"])
    assert row["properties"]["accessTier"] == "Cool" and row["tags"] == {}


def test_patch_replaces_the_tags_and_leaves_the_rest(emu, sub, client):
    resource_id = _account_id(sub, "stpatch0001")
    client.resources.begin_create_or_update_by_id(
        resource_id, api_version=VERSION, parameters=_account(tags={"env": "dev", "team": "a"})
    ).result()

    patched = client.resources.begin_update_by_id(
        resource_id, api_version=VERSION, parameters={"tags": {"env": "prod"}}
    ).result()

    assert patched.tags == {"env": "prod"}  # ARM's PATCH replaces the tags as a whole
    assert patched.properties["accessTier"] == "Hot" and patched.sku.name == "Standard_LRS"
    assert client.resources.get_by_id(resource_id, api_version=VERSION).tags == {"env": "prod"}
    (row,) = _in_graph(emu, resource_id)
    assert row["tags"] == {"env": "prod"}


def test_delete_removes_the_resource_from_arm_and_resource_graph(emu, sub, client):
    account = next(iter(emu.estate.resources(sub, STORAGE)))
    emu.reset_counters()

    client.resources.begin_delete_by_id(account["id"], api_version=VERSION).result()

    # 202 + Location: the SDK polled the monitor once
    assert emu.counters["DELETE /{resourceId}"] == 1 and emu.counters[LOCATION_MONITOR] == 1
    with pytest.raises(ResourceNotFoundError):
        client.resources.get_by_id(account["id"], api_version=VERSION)
    assert _in_graph(emu, account["id"]) == []
    # deleting what is not there is a success (204), as in ARM
    client.resources.begin_delete_by_id(account["id"], api_version=VERSION).result()
    assert emu.counters[LOCATION_MONITOR] == 1


def test_resource_group_create_update_and_delete_cascade(emu, sub, client):
    created = client.resource_groups.create_or_update(
        "rg-writes", {"location": "westeurope", "tags": {"app": "x"}}
    )
    assert created.id == f"/subscriptions/{sub}/resourceGroups/rg-writes"
    assert created.properties.provisioning_state == "Succeeded"
    updated = client.resource_groups.create_or_update(
        "rg-writes", {"location": "westeurope", "tags": {"app": "y"}}
    )
    assert updated.tags == {"app": "y"}
    assert client.resource_groups.update("rg-writes", {"tags": {"app": "z"}}).tags == {"app": "z"}
    inside = [_account_id(sub, f"stinrg000{i}", "rg-writes") for i in range(2)]
    for resource_id in inside:
        client.resources.begin_create_or_update_by_id(
            resource_id, api_version=VERSION, parameters=_account()
        ).result()
    assert len(_graph(emu, "resources | where resourceGroup == 'rg-writes' | project id")) == 2

    client.resource_groups.begin_delete("rg-writes").result()

    assert emu.counters[GROUP_MONITOR] == 1  # 202 + Location under /operationresults
    with pytest.raises(ResourceNotFoundError):
        client.resource_groups.get("rg-writes")
    for resource_id in inside:
        with pytest.raises(ResourceNotFoundError, match="ResourceGroupNotFound"):
            client.resources.get_by_id(resource_id, api_version=VERSION)
    assert _graph(emu, "resources | where resourceGroup == 'rg-writes' | project id") == []
    groups = _graph(emu, "resourcecontainers | where name == 'rg-writes' | project id")
    assert groups == []
    assert "rg-writes" not in [g.name for g in client.resource_groups.list()]


def test_child_resources_need_their_parent(emu, sub, client):
    server_id = f"/subscriptions/{sub}/resourceGroups/My-RG/providers/Microsoft.Sql/servers/sql-w1"
    client.resources.begin_create_or_update_by_id(
        server_id,
        api_version="2023-08-01",
        parameters={"location": "westeurope", "properties": {"version": "12.0"}},
    ).result()
    database_id = f"{server_id}/databases/db-written"

    created = client.resources.begin_create_or_update_by_id(
        database_id,
        api_version="2023-08-01",
        parameters={"location": "westeurope", "sku": {"name": "S0"}, "properties": {}},
    ).result()

    assert created.type == "Microsoft.Sql/servers/databases"
    assert client.resources.get_by_id(database_id, api_version="2023-08-01").id == database_id
    children = emu.estate.children(server_id, "Microsoft.Sql/servers/databases")
    assert [c.id for c in children] == [database_id]
    with pytest.raises(ResourceNotFoundError, match="ParentResourceNotFound"):
        client.resources.begin_create_or_update_by_id(
            f"{server_id}-gone/databases/db-orphan",
            api_version="2023-08-01",
            parameters={"location": "westeurope"},
        )
    client.resources.begin_delete_by_id(server_id, api_version="2023-08-01").result()
    with pytest.raises(ResourceNotFoundError):
        client.resources.get_by_id(database_id, api_version="2023-08-01")  # went with it


def test_bad_writes_get_arms_errors(emu, sub, client):
    resource_id = _account_id(sub, "stbad0001")
    with pytest.raises(HttpResponseError, match="LocationRequired"):
        client.resources.begin_create_or_update_by_id(
            resource_id, api_version=VERSION, parameters={"kind": "StorageV2"}
        )
    with pytest.raises(HttpResponseError, match="NoRegisteredProviderFound"):
        client.resources.begin_create_or_update_by_id(
            resource_id, api_version="2015-01-01", parameters=_account()
        )
    with pytest.raises(ResourceNotFoundError, match="ResourceGroupNotFound"):
        client.resources.begin_create_or_update_by_id(
            _account_id(sub, "stbad0001", "rg-missing"), api_version=VERSION, parameters=_account()
        )
    with pytest.raises(ResourceNotFoundError, match="ResourceNotFound"):
        client.resources.begin_update_by_id(
            resource_id, api_version=VERSION, parameters={"tags": {}}
        )
    with pytest.raises(ResourceNotFoundError, match="ResourceGroupNotFound"):
        client.resource_groups.begin_delete("rg-missing")
    group = emu.estate.resource_groups(sub)[0]
    elsewhere = "eastasia" if group["location"] != "eastasia" else "westus"
    with pytest.raises(HttpResponseError, match="InvalidResourceGroupLocation"):
        client.resource_groups.create_or_update(group["name"], {"location": elsewhere})
    account = next(iter(emu.estate.resources(sub, STORAGE)))
    with pytest.raises(HttpResponseError, match="InvalidResourceLocation"):
        client.resources.begin_create_or_update_by_id(
            account["id"], api_version=VERSION, parameters=_account(location=elsewhere)
        )
    assert emu.changes.resource_changes == [] and emu.changes.container_changes == []


def _states(emu):
    subscriptions = SubscriptionClient(credential_for(emu), **sdk_kwargs(emu))
    return {s.subscription_id: s.state for s in subscriptions.subscriptions.list()}


def test_a_disabled_subscription_is_listed_so_and_read_only(emu, sub, client):
    assert _states(emu)[sub] == "Enabled"

    emu.disable_subscription(sub)

    assert _states(emu)[sub] == "Disabled"
    with pytest.raises(HttpResponseError, match="ReadOnlyDisabledSubscription"):
        client.resources.begin_create_or_update_by_id(
            _account_id(sub, "stdisabled01"), api_version=VERSION, parameters=_account()
        )
    assert len(list(client.resource_groups.list())) == 4  # reads still work
    emu.enable_subscription(sub)
    assert _states(emu)[sub] == "Enabled"


def test_microsoft_subscription_cancel_and_enable_over_https(emu, sub, client):
    """ARM's own API for it (what `Disable-AzSubscription` calls), sent through the SDK's
    authenticated pipeline."""
    base = f"/subscriptions/{sub}/providers/Microsoft.Subscription"

    cancelled = client.send_request(
        HttpRequest("POST", f"{base}/cancel", params={"api-version": "2021-10-01"})
    )

    assert cancelled.status_code == 200 and cancelled.json() == {"subscriptionId": sub}
    assert _states(emu)[sub] == "Disabled"
    enabled = client.send_request(
        HttpRequest("POST", f"{base}/enable", params={"api-version": "2021-10-01"})
    )
    assert enabled.status_code == 200 and _states(emu)[sub] == "Enabled"
    wrong = client.send_request(
        HttpRequest("POST", f"{base}/cancel", params={"api-version": "2015-01-01"})
    )
    assert wrong.status_code == 400 and _states(emu)[sub] == "Enabled"
