"""ARM reads through the real azure-mgmt clients over HTTPS."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient

from azure_port_pipeline_tests.azure_fixtures import credential_for, sdk_kwargs

STORAGE = "Microsoft.Storage/storageAccounts"


def _rm(emu, sub=None):
    sub = sub or emu.estate.subscription_ids[0]
    return ResourceManagementClient(credential_for(emu), sub, **sdk_kwargs(emu))


def _get(client, url):
    response = client.send_request(HttpRequest("GET", url))
    return response.status_code, response.json()


def _walk(client, url):
    """Follow nextLinks like a reader does; returns (items, pages, next links)."""
    items, links = [], []
    while url:
        status, body = _get(client, url)
        assert status == 200, body
        items.extend(body["value"])
        url = body.get("nextLink")
        if url:
            links.append(url)
    return items, len(links) + 1, links


def test_subscriptions_page_and_include_the_disabled_one(azure_emulator_factory):
    emu = azure_emulator_factory(subscriptions=5, resources=20, page_size=2)
    client = SubscriptionClient(credential_for(emu), **sdk_kwargs(emu))
    subs = [s.as_dict() for s in client.subscriptions.list()]
    assert [s["subscriptionId"] for s in subs] == emu.estate.subscription_ids
    assert [s["state"] for s in subs] == ["Enabled"] * 4 + ["Disabled"]
    first = subs[0]
    assert first["displayName"] == "Contoso Production" and first["tenantId"] == emu.tenant_id
    assert first["subscriptionPolicies"]["quotaId"] and first["authorizationSource"]
    assert emu.counters["GET /subscriptions"] == 3  # 2 + 2 + 1, nextLinks followed by the SDK
    one = client.subscriptions.get(subs[4]["subscriptionId"]).as_dict()
    assert one["state"] == "Disabled"


def test_unknown_and_malformed_subscriptions(azure_emulator_clean):
    emu = azure_emulator_clean
    client = SubscriptionClient(credential_for(emu), **sdk_kwargs(emu))
    with pytest.raises(ResourceNotFoundError) as caught:
        client.subscriptions.get("00000000-0000-4000-8000-000000000000")
    assert caught.value.error.code == "SubscriptionNotFound"
    with pytest.raises(HttpResponseError) as bad:
        client.subscriptions.get("not-a-guid")
    assert bad.value.status_code == 400 and bad.value.error.code == "InvalidSubscriptionId"


def test_resource_groups_list_page_and_get(azure_emulator_factory):
    emu = azure_emulator_factory(page_size=3)
    client = _rm(emu)
    groups = [g.as_dict() for g in client.resource_groups.list()]
    assert [g["name"] for g in groups] == [
        "rg-platform-prod",
        "My-RG",
        "rg_legacy.app(old)",
        "rg-data.weu",
    ]
    assert groups[0]["properties"]["provisioningState"] == "Succeeded"
    assert emu.counters["GET /subscriptions/{sub}/resourcegroups"] == 2
    assert client.resource_groups.get("my-rg").name == "My-RG"  # case-insensitive, casing kept
    with pytest.raises(ResourceNotFoundError) as caught:
        client.resource_groups.get("rg-missing")
    assert caught.value.error.code == "ResourceGroupNotFound"


def test_provider_listing_pages_with_encoded_skip_tokens(azure_emulator_clean):
    emu = azure_emulator_clean
    emu.page_size = 4
    sub = emu.estate.subscription_ids[0]
    client = _rm(emu, sub)
    url = f"/subscriptions/{sub}/PROVIDERS/microsoft.storage/STORAGEACCOUNTS?api-version=2023-01-01"
    items, pages, links = _walk(client, url)
    expected = [r.id for r in emu.estate.list_type(sub, STORAGE)]
    assert [i["id"] for i in items] == expected and len(expected) > emu.page_size
    assert pages == -(-len(expected) // emu.page_size)
    assert all(link.startswith(emu.base_url + "/") and "%24skiptoken=" in link for link in links)
    assert items[0]["properties"]["provisioningState"] == "Succeeded"
    assert emu.counters["GET /subscriptions/{sub}/providers/{namespace}/{type}"] == pages


def test_next_link_survives_the_sdk_replacing_its_api_version(azure_emulator_clean):
    emu = azure_emulator_clean
    emu.page_size = 4
    sub = emu.estate.subscription_ids[1]
    client = _rm(emu, sub)
    listed = list(client.resources.list(filter=f"resourceType eq '{STORAGE}'"))
    assert [r.id for r in listed] == [r.id for r in emu.estate.list_type(sub, STORAGE)]
    assert emu.counters["GET /subscriptions/{sub}/resources"] > 1
    assert listed[0].as_dict().get("properties") is None  # the generic listing is thin


def test_resource_group_scoped_listing(azure_emulator_clean):
    emu = azure_emulator_clean
    sub = emu.estate.subscription_ids[0]
    client = _rm(emu, sub)
    items, _, _ = _walk(
        client,
        f"/subscriptions/{sub}/resourceGroups/my-rg/providers/{STORAGE}?api-version=2023-01-01",
    )
    expected = [r.id for r in emu.estate.list_type(sub, STORAGE) if r.rg == "My-RG"]
    assert [i["id"] for i in items] == expected and expected


def test_unsupported_api_version_is_no_registered_provider(azure_emulator_clean):
    emu = azure_emulator_clean
    sub = emu.estate.subscription_ids[0]
    client = _rm(emu, sub)
    status, body = _get(client, f"/subscriptions/{sub}/providers/{STORAGE}?api-version=2015-01-01")
    assert status == 400
    assert body["error"]["code"] == "NoRegisteredProviderFound"
    assert "The supported api-versions are '" in body["error"]["message"]
    assert "2023-01-01" in body["error"]["message"]
    some_id = emu.estate.list_type(sub, STORAGE)[0].id
    with pytest.raises(HttpResponseError) as caught:
        client.resources.get_by_id(some_id, api_version="2015-01-01")
    assert caught.value.status_code == 400
    status, body = _get(
        client, f"/subscriptions/{sub}/providers/Microsoft.Nope/things?api-version=2023-01-01"
    )
    assert status == 400 and body["error"]["code"] == "InvalidResourceNamespace"


def test_extension_types_are_listed_under_each_parent(azure_emulator_clean):
    emu = azure_emulator_clean
    sub = emu.estate.subscription_ids[0]
    client = _rm(emu, sub)
    vnet = next(emu.estate.records(resource_type="Microsoft.Network/virtualNetworks"))
    items, _, _ = _walk(client, f"{vnet.id}/subnets?api-version=2023-02-01")
    assert items and all(i["type"] == "Microsoft.Network/virtualNetworks/subnets" for i in items)
    assert all(i["id"].startswith(vnet.id + "/subnets/") for i in items)
    server = next(emu.estate.records(resource_type="Microsoft.Sql/servers"))
    dbs, _, _ = _walk(client, f"{server.id.lower()}/DATABASES?api-version=2021-11-01")
    assert dbs[0]["name"] == "master" and dbs[0]["id"].startswith(server.id)
    status, body = _get(client, f"{vnet.id}-gone/subnets?api-version=2023-02-01")
    assert status == 404 and body["error"]["code"] == "ParentResourceNotFound"


def test_get_by_id_is_case_insensitive_and_404s_like_arm(azure_emulator_clean):
    emu = azure_emulator_clean
    sub = emu.estate.subscription_ids[0]
    client = _rm(emu, sub)
    record = next(
        r
        for r in emu.estate.list_type(sub, "Microsoft.Compute/virtualMachines")
        if "." in r.name or "/MY-RG/" in r.id
    )
    got = client.resources.get_by_id(record.id.lower(), api_version="2023-03-01")
    assert got.id == record.id  # the estate's casing, whatever the request's
    assert got.properties["provisioningState"] == "Succeeded"
    missing = record.id.rsplit("/", 1)[0] + "/vm-missing"
    with pytest.raises(ResourceNotFoundError) as caught:
        client.resources.get_by_id(missing, api_version="2023-03-01")
    assert caught.value.error.code == "ResourceNotFound"
    assert "Microsoft.Compute/virtualMachines/vm-missing" in caught.value.error.message
    no_rg = f"/subscriptions/{sub}/resourceGroups/rg-gone/providers/{STORAGE}/x"
    with pytest.raises(ResourceNotFoundError) as caught:
        client.resources.get_by_id(no_rg, api_version="2023-01-01")
    assert caught.value.error.code == "ResourceGroupNotFound"


def test_missing_api_version_and_unknown_routes(azure_emulator_clean):
    emu = azure_emulator_clean
    client = _rm(emu)
    status, body = _get(client, "/subscriptions")
    assert status == 400 and body["error"]["code"] == "MissingApiVersionParameter"
    status, _ = _get(client, "/nothing/here?api-version=2022-12-01")
    assert status == 404
    assert urlsplit(emu.base_url).hostname == "127.0.0.1"
