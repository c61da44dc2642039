"""Resource-group tag filters follow Port's incremental exporter: include = all, exclude = none."""

from __future__ import annotations

from azure_port_pipeline.azure import ResourceGroupTagFilter
from azure_port_pipeline.azure.filters import resource_group_key, subscription_of


def test_no_filter_allows_everything():
    assert not ResourceGroupTagFilter().active
    assert ResourceGroupTagFilter().allows(None)


def test_include_requires_every_tag_with_case_insensitive_names_and_values():
    rule = ResourceGroupTagFilter(include={"Environment": "Production", "team": "platform"})
    assert rule.allows({"environment": "production", "Team": "Platform", "other": "x"})
    assert not rule.allows({"Environment": "Production"})
    assert not rule.allows({"Environment": "Staging", "team": "platform"})
    assert not rule.allows({})


def test_exclude_rejects_any_matching_tag():
    rule = ResourceGroupTagFilter(exclude={"Temporary": "true", "env": "dev"})
    assert rule.allows({"Temporary": "false"})
    assert not rule.allows({"temporary": "TRUE"})
    assert not rule.allows({"env": "dev"})
    assert rule.allows(None)


def test_include_and_exclude_combine():
    rule = ResourceGroupTagFilter(include={"env": "prod"}, exclude={"Temporary": "true"})
    assert rule.allows({"env": "prod"})
    assert not rule.allows({"env": "prod", "Temporary": "true"})
    assert not rule.allows({"Temporary": "false"})


def test_resource_group_key_ignores_id_casing():
    upper = "/subscriptions/ABC/resourceGroups/RG-One/providers/Microsoft.Storage/storageAccounts/s"
    lower = "/subscriptions/abc/resourcegroups/rg-one/providers/microsoft.storage/storageaccounts/s"
    assert resource_group_key(upper) == resource_group_key(lower) == ("abc", "rg-one")
    assert resource_group_key("/subscriptions/abc") is None
    assert subscription_of(upper) == "abc"
