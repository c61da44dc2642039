"""Loading: Port's files load unchanged, with Port's defaults and the contract's attributes."""

from __future__ import annotations

import pickle
from pathlib import Path

from azure_port_pipeline.mapping import load_mapping, load_mapping_text, map_items

from . import fixtures as fx

DEFAULT_MAPPING = Path(__file__).resolve().parents[2] / "mapping" / "azure.yaml"

CLOUD_RESOURCE = """
deleteDependentEntities: false
createMissingRelatedEntities: false
enableMergeEntity: false
entityDeletionThreshold: 0.5
resources:
  - kind: cloudResource
    selector:
      query: 'true'
      resourceKinds:
        Microsoft.Storage/storageAccounts: '2023-01-01'
        Microsoft.Compute/virtualMachines: 2023-03-01
    port:
      entity:
        mappings:
          identifier: .id | ascii_downcase
          title: .name
          blueprint: '"azureCloudResource"'
          icon: '"Azure"'
          team: .tags.team
          properties:
            provisioningState: .properties.provisioningState
          relations:
            owners:
              combinator: '"and"'
              rules:
                - property: '"$team"'
                  operator: '"="'
                  value: .tags.team
  - kind: Microsoft.Web/sites
    selector: {query: 'true', apiVersion: '2022-03-01'}
    port:
      entity:
        mappings: {identifier: .id, blueprint: .type | split("/") | last}
  - kind: Microsoft.Web/sites
    selector: {query: .kind == "functionapp", apiVersion: '2022-03-01'}
    port:
      entity:
        mappings: {identifier: .id, blueprint: '"azureFunction"'}
"""


def test_default_mapping_loads_unchanged_with_ports_defaults() -> None:
    config = load_mapping(DEFAULT_MAPPING)
    assert config.delete_dependent_entities is True
    assert config.create_missing_related_entities is True
    assert config.enable_merge_entity is True
    assert config.entity_deletion_threshold == 0.9
    assert [
        (entry.index, entry.kind, entry.key, entry.api_version) for entry in config.entries
    ] == [
        (0, "subscription", "subscription", "2022-09-01"),
        (1, "Microsoft.Resources/resourceGroups", "resource_groups", "2022-09-01"),
        (2, "Microsoft.App/containerApps", "container_apps", "2022-03-01"),
        (3, "Microsoft.Storage/storageAccounts", "storage_accounts", "2023-01-01"),
        (4, "Microsoft.Compute/virtualMachines", "virtual_machines", "2023-03-01"),
        (5, "Microsoft.ContainerService/managedClusters", "managed_clusters", "2023-05-01"),
        (6, "Microsoft.Network/loadBalancers", "load_balancers", "2023-02-01"),
    ]
    assert config.entries[0].blueprints == {"azureSubscription"}
    assert config.entries[1].blueprints == {"azureResourceGroup"}
    assert all(entry.resource_kinds == {} for entry in config.entries)


def test_cloud_resource_with_resource_kinds_and_flags() -> None:
    config = load_mapping_text(CLOUD_RESOURCE, source="cloud.yaml")
    assert (
        config.delete_dependent_entities,
        config.create_missing_related_entities,
        config.enable_merge_entity,
        config.entity_deletion_threshold,
    ) == (False, False, False, 0.5)
    cloud, sites, functions = config.entries
    assert cloud.kind == "cloudResource" and cloud.api_version is None
    assert cloud.resource_kinds == {  # an unquoted YAML date is read back as ARM's text
        "Microsoft.Storage/storageAccounts": "2023-01-01",
        "Microsoft.Compute/virtualMachines": "2023-03-01",
    }
    assert cloud.matches_type("microsoft.storage/STORAGEACCOUNTS")
    assert not cloud.matches_type("Microsoft.Web/sites")
    assert (cloud.key, sites.key, functions.key) == (
        "cloud_resource",
        "microsoft_web_sites",
        "microsoft_web_sites_2",
    )
    assert sites.blueprints is None  # computed blueprint: not known before mapping
    assert functions.blueprints == {"azureFunction"}


def test_cloud_resource_maps_icon_team_and_search_query_relation() -> None:
    cloud = load_mapping_text(CLOUD_RESOURCE).entries[0]
    result = map_items(cloud, [fx.STORAGE_ACCOUNT, fx.VIRTUAL_MACHINE])
    storage, vm = (entity.to_port() for entity in result.entities)
    assert storage["identifier"] == fx.STORAGE_ACCOUNT["id"].lower()
    assert storage["icon"] == "Azure" and storage["team"] == "data"
    assert storage["relations"] == {
        "owners": {
            "combinator": "and",
            "rules": [{"property": "$team", "operator": "=", "value": "data"}],
        }
    }
    assert "team" not in vm  # null team is left out so a merge keeps Port's value
    assert result.report.errors == []


def test_resource_mapping_pickles_by_recompiling() -> None:
    entry = load_mapping(DEFAULT_MAPPING).entries[3]
    copy = pickle.loads(pickle.dumps(entry))
    assert (copy.kind, copy.index, copy.key, copy.blueprints) == (
        entry.kind,
        entry.index,
        entry.key,
        entry.blueprints,
    )
    assert (
        map_items(copy, [fx.STORAGE_ACCOUNT]).entities
        == map_items(entry, [fx.STORAGE_ACCOUNT]).entities
    )


def test_scalar_yaml_values_are_jq_literals() -> None:
    text = CLOUD_RESOURCE.replace("query: 'true'", "query: true")
    cloud = load_mapping_text(text).entries[0]
    assert map_items(cloud, [fx.STORAGE_ACCOUNT]).report.entities_out == 1
