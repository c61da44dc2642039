"""Port's default Azure mapping over realistic raw objects gives exactly Port's entities."""

from __future__ import annotations

from pathlib import Path

import pytest

from azure_port_pipeline.mapping import PortAppConfig, load_mapping, map_items

from . import fixtures as fx

DEFAULT_MAPPING = Path(__file__).resolve().parents[2] / "mapping" / "azure.yaml"


@pytest.fixture(scope="module")
def config() -> PortAppConfig:
    return load_mapping(DEFAULT_MAPPING)


def entities_of(config: PortAppConfig, kind: str, items: list[dict]) -> list[dict]:
    (entry,) = [entry for entry in config.entries if entry.kind == kind]
    result = map_items(entry, items)
    assert result.report.errors == []
    assert result.report.entities_out == len(items) == result.report.items_in
    return [entity.to_port() for entity in result.entities]


def test_subscription_from_sdk_record(config: PortAppConfig) -> None:
    assert entities_of(config, "subscription", [fx.SUBSCRIPTION]) == [
        {
            "identifier": fx.SUB_ID,
            "title": "Contoso Production",
            "blueprint": "azureSubscription",
            "properties": {"tags": {"costCenter": "4711", "owner": "platform"}},
            "relations": {},
        }
    ]


def test_resource_groups_lowercase_and_either_provisioning_state(config: PortAppConfig) -> None:
    entities = entities_of(
        config, "Microsoft.Resources/resourceGroups", [fx.RESOURCE_GROUP, fx.RESOURCE_GROUP_REST]
    )
    assert entities == [
        {
            "identifier": fx.RG_ID_PORT,
            "title": "My-RG",
            "blueprint": "azureResourceGroup",
            "properties": {
                "location": "westeurope",
                "provisioningState": "Succeeded",
                "tags": {"env": "prod"},
            },
            "relations": {"subscription": fx.SUB_ID},
        },
        {
            "identifier": f"{fx.SUB_ID}/resourcegroups/data_platform",
            "title": "Data_Platform",
            "blueprint": "azureResourceGroup",
            "properties": {"location": "northeurope", "provisioningState": "Deleting", "tags": {}},
            "relations": {"subscription": fx.SUB_ID},
        },
    ]


def test_subscription_relation_lowercases_the_guid(config: PortAppConfig) -> None:
    upper = {**fx.RESOURCE_GROUP, "id": fx.RG_ID.replace(fx.SUB, fx.SUB.upper())}
    (entity,) = entities_of(config, "Microsoft.Resources/resourceGroups", [upper])
    assert entity["relations"] == {"subscription": fx.SUB_ID}
    assert entity["identifier"] == f"/subscriptions/{fx.SUB.upper()}/resourcegroups/my-rg"


@pytest.mark.parametrize(
    ("raw", "identifier", "resource_group"),
    [
        (
            fx.STORAGE_ACCOUNT,
            f"{fx.RG_ID_PORT}/providers/Microsoft.Storage/storageAccounts/contosoprodst01",
            fx.RG_ID_PORT,
        ),
        (
            fx.VIRTUAL_MACHINE,
            f"{fx.RG_ID_PORT}/providers/Microsoft.Compute/virtualMachines/web-01",
            fx.RG_ID_PORT,
        ),
        (
            fx.MANAGED_CLUSTER,
            f"{fx.SUB_ID}/resourcegroups/aks-prod/providers"
            "/Microsoft.ContainerService/managedClusters/aks-prod",
            f"{fx.SUB_ID}/resourcegroups/aks-prod",
        ),
        (
            fx.CONTAINER_APP,
            f"{fx.RG_ID_PORT}/providers/Microsoft.App/containerApps/orders-api",
            fx.RG_ID_PORT,
        ),
        (
            fx.LOAD_BALANCER,
            f"{fx.RG_ID_PORT}/providers/Microsoft.Network/loadBalancers/web-lb",
            fx.RG_ID_PORT,
        ),
    ],
    ids=lambda value: value["type"] if isinstance(value, dict) else None,
)
def test_cloud_resources(
    config: PortAppConfig, raw: dict, identifier: str, resource_group: str
) -> None:
    assert entities_of(config, raw["type"], [raw]) == [
        {
            "identifier": identifier,
            "title": raw["name"],
            "blueprint": "azureCloudResource",
            "properties": {"location": raw["location"], "type": raw["type"], "tags": raw["tags"]},
            "relations": {"resource_group": resource_group},
        }
    ]


def test_every_default_entry_is_exercised(config: PortAppConfig) -> None:
    kinds = {entry.kind for entry in config.entries}
    raws = [fx.RESOURCE_GROUP, fx.STORAGE_ACCOUNT, fx.VIRTUAL_MACHINE, fx.MANAGED_CLUSTER]
    raws += [fx.CONTAINER_APP, fx.LOAD_BALANCER]
    raw_types = {raw["type"] for raw in raws}
    assert kinds == raw_types | {"subscription"}
