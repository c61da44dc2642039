"""The bulk engine gives exactly what Ocean's per-field evaluation gives, errors included."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from azure_port_pipeline.mapping import (
    IdentifierPolicy,
    MappingResult,
    load_mapping,
    load_mapping_text,
    map_items,
    map_items_per_field,
)
from azure_port_pipeline.mapping.engine import BATCH_SIZE
from azure_port_pipeline.mapping.projection import root_keys

DEFAULT_MAPPING = Path(__file__).resolve().parents[2] / "mapping" / "azure.yaml"

# projectable and non-projectable expressions, fields that fail on some items, odd outputs
TRICKY = r"""
resources:
  - kind: Microsoft.Storage/storageAccounts
    selector:
      query: '.skip != true and (.sel // true)'
      apiVersion: '2023-01-01'
    port:
      entity:
        mappings:
          identifier: .id | split("/") | .[3] |= ascii_downcase | .[4] |= ascii_downcase | join("/")
          title: .name
          blueprint: 'if .bp == 0 then "" else "azureCloudResource" end'
          icon: .icon
          team: .tags.team
          properties:
            location: .location
            size: .properties.size | tonumber
            first_tag: .tags | keys | .[0]
            many: .properties.list[]
            none: .properties.list[] | select(. == "never")
            whole: '. | length'
            interp: '"\(.name)-\(.location)"'
            failing: 'if .fail then error(.fail) else 1 end'
            halting: 'if .halt then halt_error else 0 end'  # ends jq: isolated per item
            nested: .properties.a.b.c
            comment: .name # a trailing comment
          relations:
            resource_group: .id | split("/") | .[:5] | join("/")
            owners:
              combinator: '"and"'
              rules:
                - property: '"$team"'
                  operator: '"="'
                  value: .tags.team
"""


def raw_item(rng: random.Random, n: int) -> object:
    roll = rng.random()
    if roll < 0.02:
        return rng.choice([None, 7, "text", [1, 2]])  # not even an object
    # groups and names Port rejects (escaped or refused, by policy), names that collide once
    # escaped ("a(b" -> "a=28b"), and exact duplicates ("dup", never a collision)
    group = rng.choice(["My-RG", "rg", "Ünïcode-RG", "rg (old)", "RG.x", "rg=28x", "rg(x"])
    name = f"n{n}" if rng.random() < 0.9 else rng.choice(["dup", "a(b", "a=28b", "x y", ".."])
    item: dict = {
        "id": f"/subscriptions/S{n % 3}/resourceGroups/{group}/providers/P.Q/r/{name}",
        "name": rng.choice([f"n{n}", None, 5, ["x"]]),
        "location": rng.choice(["westeurope", None]),
        "tags": rng.choice([{}, {"team": "a"}, {"team": ["a", "b"]}, {"team": 3}, None, []]),
        "properties": rng.choice(
            [
                {"size": str(rng.randint(0, 99)), "list": ["x", "y"], "a": {"b": {"c": n}}},
                {"size": "big", "list": []},
                {"list": "not a list"},
                None,
            ]
        ),
    }
    for key, value in (
        ("sel", rng.choice([True, False, "yes", None, 0])),
        ("skip", rng.random() < 0.1),
        ("bp", rng.choice([1, 1, 1, 0])),
        ("icon", rng.choice([None, "Azure", 3])),
        ("fail", rng.choice([None, None, None, "boom", {"code": 1}])),
        ("halt", rng.random() < 0.01),
    ):
        if rng.random() < 0.5:
            item[key] = value
    if rng.random() < 0.05:
        del item["id"]
    return item


def as_plain(result: MappingResult) -> tuple[list[dict], dict]:
    return [e.to_port() for e in result.entities], result.report.as_dict()


@pytest.mark.parametrize("policy", list(IdentifierPolicy))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bulk_equals_per_field_on_a_random_batch(seed: int, policy: IdentifierPolicy) -> None:
    rng = random.Random(seed)
    items = [raw_item(rng, n) for n in range(BATCH_SIZE + 300)]  # more than one batch
    entry = load_mapping_text(TRICKY).entries[0]
    bulk = map_items(entry, items, policy=policy)
    per_field = map_items_per_field(entry, items, policy=policy)
    assert as_plain(bulk) == as_plain(per_field)
    report = bulk.report
    # the batch really exercised every path
    assert report.entities_out > 100 and report.skipped_by_selector > 10
    assert report.skipped_empty > 10 and report.failed > 10
    if policy is IdentifierPolicy.PORT:
        assert report.invalid_identifier > 10
        assert report.escaped_identifiers == report.identifier_collisions == 0
    else:
        assert report.escaped_identifiers > 10 and report.identifier_collisions > 0
        assert report.invalid_identifier == report.identifier_collisions
        escaped = [e for e in bulk.entities if "=" in e.identifier]
        assert any("=28" in e.identifier for e in escaped)  # "(" was rewritten
        assert any("=3D28" in e.identifier for e in escaped)  # a literal "=" in an escaped id
        # the relation is escaped with the same function, so it names the escaped group
        in_old = [e for e in bulk.entities if "/rg=20=28old=29/" in e.identifier]
        assert in_old
        assert all(e.relations["resource_group"].endswith("/rg=20=28old=29") for e in in_old)
    fields = {e.field.rsplit(".", 1)[-1] for e in report.errors}
    assert {"size", "many", "failing", "icon", "team", "query"} <= fields


@pytest.mark.parametrize("policy", list(IdentifierPolicy))
def test_default_mapping_bulk_equals_per_field_and_is_projected(policy: IdentifierPolicy) -> None:
    rng = random.Random(9)
    config = load_mapping(DEFAULT_MAPPING)
    for entry in config.entries:
        assert entry.compiled.projection is not None  # only .id/.name/... are sent to jq
        items = [raw_item(rng, n) for n in range(300)]
        bulk = map_items(entry, items, policy)
        assert as_plain(bulk) == as_plain(map_items_per_field(entry, items, policy))
        if policy is IdentifierPolicy.ESCAPE:
            assert bulk.report.escaped_identifiers > 0, entry.kind


def test_tricky_mapping_is_not_projected() -> None:
    assert load_mapping_text(TRICKY).entries[0].compiled.projection is None


@pytest.mark.parametrize(
    ("expr", "keys"),
    [
        ('.id | split("/") | .[3] |= ascii_downcase | join("/")', {"id"}),
        (".properties.provisioningState + .properties.provisioning_state", {"properties"}),
        ('"azureCloudResource"', set()),
        (".a.b // .c, .d? # comment | keys", {"a", "c", "d"}),
        ('."odd key".x', {"odd key"}),
        (".", None),
        (".a |= 1", None),
        (".[0]", None),
        ("(.a | .b)", None),
        ('"\\(.name)"', None),
        ("keys", None),
        (".a as $x | $x", None),
        ("$__loc__", None),
        ("..", None),
    ],
)
def test_root_keys_only_vouches_for_plain_paths(expr: str, keys: set[str] | None) -> None:
    found = root_keys(expr)
    assert (None if found is None else set(found)) == keys


def test_values_json_cannot_encode_are_mapped_as_text() -> None:
    entry = load_mapping(DEFAULT_MAPPING).entries[3]
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    item = {"id": "/subscriptions/s/resourceGroups/RG/x", "name": "n", "tags": {"at": when}}
    bulk, per_field = map_items(entry, [item]), map_items_per_field(entry, [item])
    assert as_plain(bulk) == as_plain(per_field)
    assert bulk.entities[0].properties["tags"] == {"at": "2024-01-02T03:04:05+00:00"}
