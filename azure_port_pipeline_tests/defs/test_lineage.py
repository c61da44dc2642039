"""Sync order follows blueprint relations, and stays a DAG when blueprints relate both ways."""

from __future__ import annotations

from azure_port_pipeline.defs.lineage import sync_dependencies
from azure_port_pipeline.defs.retire import sources_first
from azure_port_pipeline.mapping import load_mapping_text
from azure_port_pipeline.mapping.defaults import default_blueprints, load_default_mapping

ENTRY = """
  - kind: {kind}
    selector:
      query: 'true'
      apiVersion: '2023-01-01'
    port:
      entity:
        mappings:
          identifier: .id
          blueprint: '"{blueprint}"'
"""


def _mapping(*pairs: tuple[str, str]):
    text = "resources:" + "".join(ENTRY.format(kind=k, blueprint=b) for k, b in pairs)
    return load_mapping_text(text)


def _blueprint(identifier: str, *targets: str) -> dict:
    relations = {f"to_{t}": {"target": t, "many": False} for t in targets}
    return {"identifier": identifier, "relations": relations}


def test_default_mapping_syncs_subscription_then_groups_then_resources() -> None:
    entries = load_default_mapping().entries
    dependencies = sync_dependencies(entries, default_blueprints())
    assert dependencies["subscription"] == []
    assert dependencies["resource_groups"] == ["subscription"]
    for key, upstream in dependencies.items():
        if key not in ("subscription", "resource_groups"):
            assert upstream == ["resource_groups"], key
    retire_order = [entry.key for entry in sources_first(entries, dependencies)]
    assert retire_order.index("resource_groups") > retire_order.index("storage_accounts")
    assert retire_order[-1] == "subscription"


def test_a_relation_cycle_keeps_the_first_edge_and_drops_the_one_that_closes_it() -> None:
    config = _mapping(("Microsoft.A/things", "a"), ("Microsoft.B/things", "b"))
    blueprints = [_blueprint("a", "b"), _blueprint("b", "a")]

    dependencies = sync_dependencies(config.entries, blueprints)

    first, second = (entry.key for entry in config.entries)
    assert dependencies == {first: [second], second: []}
