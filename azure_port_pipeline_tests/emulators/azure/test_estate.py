"""The generated estate: deterministic, REST-shaped, with the quirks real estates have."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from azure_port_pipeline.emulators.azure.estate import (
    API_VERSIONS,
    CHILD_TYPES,
    TOP_LEVEL_WEIGHTS,
    generate_estate,
    supported_api_versions,
)
from azure_port_pipeline_tests.paths import USER_MAPPING

MAPPING = USER_MAPPING
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def estate():
    return generate_estate(seed=1, subscriptions=3, resource_groups=4, resources=2000)


def _dump(estate) -> str:
    return json.dumps(
        [
            estate.subscriptions,
            [estate.resource_groups(s) for s in estate.subscription_ids],
            list(estate.resources()),
        ],
        sort_keys=True,
    )


def test_same_seed_same_estate_and_other_seed_differs(estate):
    again = generate_estate(seed=1, subscriptions=3, resource_groups=4, resources=2000)
    other = generate_estate(seed=2, subscriptions=3, resource_groups=4, resources=2000)
    assert _dump(again) == _dump(estate)
    assert other.subscription_ids != estate.subscription_ids
    tenanted = generate_estate(seed=1, subscriptions=3, resources=10, tenant_id="t-1")
    assert tenanted.subscription_ids == estate.subscription_ids  # tenant choice changes nothing
    assert tenanted.subscriptions[0]["tenantId"] == "t-1"
    assert all(GUID.match(s) for s in [*estate.subscription_ids, estate.tenant_id])


def test_counts_and_the_disabled_last_subscription(estate):
    assert estate.count() == 2000  # top-level resources; children come on top
    assert [s["state"] for s in estate.subscriptions] == ["Enabled", "Enabled", "Disabled"]
    disabled = estate.disabled_subscription_ids[0]
    assert estate.count(subscription_id=disabled) > 0
    assert all(len(estate.resource_groups(s)) == 4 for s in estate.subscription_ids)
    single = generate_estate(seed=1, subscriptions=1, resources=10)
    assert single.subscriptions[0]["state"] == "Enabled"


def test_every_type_is_present_with_rest_shape(estate):
    for rtype in TOP_LEVEL_WEIGHTS:
        body = next(estate.resources(resource_type=rtype))
        assert body["type"].lower() == rtype.lower()
        assert body["id"].split("/providers/")[1].lower().startswith(rtype.lower() + "/")
        assert body["name"] == body["id"].rsplit("/", 1)[1]
        assert isinstance(body["properties"], dict) and body["location"]
        if rtype not in ("Microsoft.Sql/servers", "Microsoft.Web/sites"):
            assert body["properties"]["provisioningState"] == "Succeeded"
    storage = next(estate.resources(resource_type="microsoft.storage/STORAGEACCOUNTS"))
    assert storage["kind"] == "StorageV2" and storage["sku"]["name"]
    assert storage["properties"]["primaryEndpoints"]["blob"].startswith(
        f"https://{storage['name']}."
    )
    vm = next(estate.resources(resource_type="Microsoft.Compute/virtualMachines"))
    assert vm["properties"]["hardwareProfile"]["vmSize"].startswith("Standard_")
    group = estate.resource_groups(estate.subscription_ids[0])[0]
    assert group["properties"] == {"provisioningState": "Succeeded"}
    assert group["type"] == "Microsoft.Resources/resourceGroups"


def test_child_types_hang_under_their_parents(estate):
    for child_type, parent_type in CHILD_TYPES.items():
        parent = next(estate.resources(resource_type=parent_type))
        kids = estate.children(parent["id"], child_type)
        assert kids, child_type
        for kid in kids:
            assert kid.id.startswith(parent["id"] + "/")
            assert estate.get(kid.id.upper())["type"] == child_type
    vnet = next(estate.resources(resource_type="Microsoft.Network/virtualNetworks"))
    embedded = [s["id"] for s in vnet["properties"]["subnets"]]
    subnets = estate.children(vnet["id"], "Microsoft.Network/virtualNetworks/subnets")
    listed = [k.id for k in subnets]
    assert embedded == listed
    server = next(estate.resources(resource_type="Microsoft.Sql/servers"))
    names = [k.name for k in estate.children(server["id"], "Microsoft.Sql/servers/databases")]
    assert names[0] == "master"


def test_real_estate_quirks_are_present(estate):
    ids = [r.id for r in estate.records()]
    assert any("/resourcegroups/MY-RG/" in i for i in ids)
    assert any("/resourceGroups/My-RG/" in i for i in ids)
    assert any("/resourcegroups/" in i and "/MY-RG/" not in i for i in ids)
    names = [i.rsplit("/", 1)[1] for i in ids]
    assert any("." in n for n in names) and any("_" in n for n in names)
    rg_names = {g["name"] for s in estate.subscription_ids for g in estate.resource_groups(s)}
    assert "rg_legacy.app(old)" in rg_names
    databases = estate.resources(resource_type="Microsoft.Sql/servers/databases")
    db_names = {r["name"] for r in databases}
    assert "reports(archive)" in db_names
    aks = next(estate.resources(resource_type="Microsoft.ContainerService/managedClusters"))
    assert aks["type"] == "Microsoft.ContainerService/ManagedClusters"
    site = next(estate.resources(resource_type="Microsoft.Web/sites"))
    assert " " in site["location"]  # App Service answers "East US"
    vms = estate.resources(resource_type="Microsoft.Compute/virtualMachines")
    tags = [r.get("tags") for r in vms]
    assert None in tags and {} in tags and any(t and "costCenter" in t for t in tags)


def test_api_versions_cover_the_mapping(estate):
    mapping = yaml.safe_load(MAPPING.read_text())
    for entry in mapping["resources"]:
        kind = entry["kind"]
        rtype = "Microsoft.Resources/subscriptions" if kind == "subscription" else kind
        versions = supported_api_versions(rtype)
        assert entry["selector"]["apiVersion"] in versions, kind
        assert len(versions) >= 3
    assert "2022-12-01" in API_VERSIONS["Microsoft.Resources/subscriptions"]  # SDK default
    assert "2025-04-01" in API_VERSIONS["Microsoft.Resources/resourceGroups"]  # SDK default
    assert supported_api_versions("Microsoft.Nope/things") is None


def test_graph_rows_are_lower_cased_like_resource_graph(estate):
    rows = estate.graph_resources()
    assert len(rows) > estate.count()  # SQL databases are rows of their own
    site = next(r for r in rows if r["type"] == "microsoft.web/sites")
    assert site["location"] == site["location"].lower() and " " not in site["location"]
    quirky = next(r for r in rows if "/MY-RG/" in r["id"])
    assert quirky["resourceGroup"] == "my-rg" and "/MY-RG/" in quirky["id"]
    containers = estate.graph_containers({estate.subscription_ids[0]})
    assert {c["type"] for c in containers} == {
        "microsoft.resources/subscriptions",
        "microsoft.resources/subscriptions/resourcegroups",
    }


def test_large_estate_is_lazy_and_consistent():
    big = generate_estate(seed=5, subscriptions=10, resource_groups=8, resources=50_000)
    assert big.count() == 50_000
    record = next(big.records(resource_type="Microsoft.Compute/virtualMachines"))
    assert record.obj is None  # bodies are built on demand, not stored
    assert big.get(record.id) == big.get(record.id.lower())


def test_add_replace_remove(estate):
    small = generate_estate(seed=3, subscriptions=2, resources=50)
    sub = small.subscription_ids[0]
    rg_id = f"/subscriptions/{sub}/resourceGroups/rg-new"
    small.add(
        {
            "id": rg_id,
            "name": "rg-new",
            "type": "Microsoft.Resources/resourceGroups",
            "location": "eastus",
            "properties": {"provisioningState": "Succeeded"},
        }
    )
    rid = f"{rg_id}/providers/Microsoft.KeyVault/vaults/kv-new"
    small.add(
        {
            "id": rid,
            "name": "kv-new",
            "type": "Microsoft.KeyVault/vaults",
            "location": "eastus",
            "properties": {},
        }
    )
    with pytest.raises(ValueError):
        small.add({"id": rid, "type": "Microsoft.KeyVault/vaults"})
    small.replace(rid, {**small.get(rid), "tags": {"a": "b"}})
    assert small.get(rid.upper())["tags"] == {"a": "b"}
    removed = small.remove(rg_id)
    assert [b["id"] for b in removed] == [rid, rg_id]
    assert small.get(rid) is None and small.resource_group(sub, "rg-new") is None
