"""One bad item is reported (item id, field, message) while the other items map."""

from __future__ import annotations

import pytest

from azure_port_pipeline.mapping import (
    IdentifierPolicy,
    MappingError,
    ResourceMapping,
    load_mapping_text,
    map_items,
    map_items_per_field,
)

MAPPING = """
resources:
  - kind: Microsoft.Storage/storageAccounts
    selector:
      query: {query}
      apiVersion: '2023-01-01'
    port:
      {items}
      entity:
        mappings:
          identifier: {identifier}
          title: .name
          blueprint: '"azureCloudResource"'
          team: .tags.team
          properties:
            sku: .sku.name
            port: .properties.port | tonumber
            missing: .properties.nothing
          relations:
            resource_group: .id | split("/") | .[:5] | join("/")
"""
KIND = "Microsoft.Storage/storageAccounts"
ENGINES = pytest.mark.parametrize("engine", [map_items, map_items_per_field])


def make_entry(query: str = "'true'", identifier: str = ".id", items: str = "") -> ResourceMapping:
    text = MAPPING.format(query=query, identifier=identifier, items=items)
    return load_mapping_text(text).entries[0]


def account(label: str, **extra: object) -> dict:
    rg = "/subscriptions/s1/resourceGroups/rg"
    return {
        "id": f"{rg}/providers/Microsoft.Storage/storageAccounts/{label}",
        "name": label,
        "sku": {"name": "Standard_LRS"},
        "properties": {"port": "443"},
        "tags": {},
        **extra,
    }


@ENGINES
def test_runtime_error_in_one_field_nulls_that_field_only(engine) -> None:
    bad = account("bad", properties={"port": "not-a-number"})
    result = engine(make_entry(), [account("a"), bad, account("b")])
    assert [e.identifier.rsplit("/", 1)[1] for e in result.entities] == ["a", "bad", "b"]
    entity = result.entities[1]
    assert entity.properties == {"sku": "Standard_LRS", "port": None, "missing": None}
    assert result.entities[0].properties["port"] == 443
    (error,) = result.report.errors
    assert error.item_id == bad["id"] and error.kind == KIND
    assert error.field == "port.entity.mappings.properties.port"
    assert 'string ("not-a-number") cannot be parsed as a number' in error.message
    assert result.report.entities_out == 3 and result.report.failed == 0


@ENGINES
def test_non_boolean_selector_is_an_error_for_that_item(engine) -> None:
    items = [account("a", keep=True), account("b", keep="yes"), account("c", keep=False)]
    result = engine(make_entry(query=".keep"), [*items, account("d")])
    assert [e.title for e in result.entities] == ["a"]
    report = result.report
    assert (report.items_in, report.skipped_by_selector, report.failed) == (4, 1, 2)
    assert [(e.item_id, e.field) for e in report.errors] == [
        (items[1]["id"], "selector.query"),
        (account("d")["id"], "selector.query"),
    ]
    assert report.errors[0].message == 'selector must yield a boolean, got string "yes"'
    assert report.errors[1].message == "selector must yield a boolean, got null null"


@ENGINES
def test_selector_runtime_error(engine) -> None:
    query = "'.tags | has(\"x\") | not'"
    result = engine(make_entry(query=query), [account("a", tags=[1]), account("b")])
    assert [e.title for e in result.entities] == ["b"]
    (error,) = result.report.errors
    assert error.field == "selector.query" and "Cannot check whether array has a string key" in (
        error.message
    )


@ENGINES
def test_empty_identifier_is_skipped_and_counted(engine) -> None:
    items = [
        account("a"),
        account("b", id=None),
        account("c", id=""),
        {"name": "no id", "properties": {"port": "1"}},
    ]
    result = engine(make_entry(), items)
    assert [e.title for e in result.entities] == ["a"]
    assert result.report.skipped_empty == 3 and result.report.invalid_identifier == 0
    # the relation built from the missing id fails too: reported, the item still only skipped
    assert {e.field for e in result.report.errors} == {
        "port.entity.mappings.relations.resource_group"
    }


REJECTED_BY_PORT = [
    account("ok"),
    {**account("x"), "id": "/subscriptions/s1/resourceGroups/rg (old)/x"},
    {**account("y"), "id": 42},
    {**account("z"), "id": "x" * 1001},
    {**account("dot"), "id": ".."},
    {**account("unicode"), "id": "/subscriptions/s1/resourceGroups/ñandú-ödön"},
]


@ENGINES
def test_identifier_port_would_reject_is_reported(engine) -> None:
    result = engine(make_entry(), REJECTED_BY_PORT, policy=IdentifierPolicy.PORT)
    assert [e.title for e in result.entities] == ["ok", "unicode"]
    assert result.report.invalid_identifier == 4
    identifier_errors = [
        e for e in result.report.errors if e.field == "port.entity.mappings.identifier"
    ]
    assert len(identifier_errors) == 4
    messages = {e.item_id: e.message for e in identifier_errors}
    assert "' ', '(', ')'" in messages["/subscriptions/s1/resourceGroups/rg (old)/x"]
    assert messages["42"] == "must be a string, got number 42"
    assert "longer than 1000" in messages["x" * 1001]
    assert "may not be '.' or '..'" in messages[".."]
    (relation_error,) = set(result.report.errors) - set(identifier_errors)  # 42 | split
    assert relation_error.item_id == "42"
    assert result.report.escaped_identifiers == 0


@ENGINES
def test_identifier_port_would_reject_is_escaped_by_default(engine) -> None:
    result = engine(make_entry(), REJECTED_BY_PORT)
    assert [(e.title, e.identifier) for e in result.entities] == [
        ("ok", REJECTED_BY_PORT[0]["id"]),
        ("x", "/subscriptions/s1/resourceGroups/rg=20=28old=29/x"),
        ("dot", "=2E=2E"),
        ("unicode", "/subscriptions/s1/resourceGroups/ñandú-ödön"),
    ]
    assert result.entities[1].relations == {
        "resource_group": "/subscriptions/s1/resourceGroups/rg=20=28old=29"
    }
    report = result.report
    assert (report.escaped_identifiers, report.invalid_identifier) == (2, 2)  # 42, too long
    messages = {e.item_id: e.message for e in report.errors if e.field.endswith("identifier")}
    assert set(messages) == {"42", "x" * 1001}
    assert messages["42"] == "must be a string, got number 42"
    assert "longer than 1000" in messages["x" * 1001]


@ENGINES
def test_items_to_parse_fans_out_and_reports_non_arrays(engine) -> None:
    entry = make_entry(
        identifier='.id + "/" + .item.name', items="itemsToParse: .properties.containers"
    )
    parent = account("p", properties={"containers": [{"name": "c1"}, {"name": "c2"}]})
    not_array = account("q", properties={"containers": {"name": "c3"}})
    empty = account("r", properties={"containers": []})
    result = engine(entry, [parent, not_array, empty])
    assert [e.identifier for e in result.entities] == [f"{parent['id']}/c1", f"{parent['id']}/c2"]
    # the array is removed from the copy (Ocean's itemsToParseTopLevelTransform)
    assert result.entities[0].properties["port"] is None
    report = result.report
    assert (report.items_in, report.entities_out, report.failed) == (3, 2, 1)
    assert [e for e in report.errors if e.field == "port.itemsToParse"] == [
        MappingError(
            kind=KIND,
            item_id=not_array["id"],
            field="port.itemsToParse",
            message="itemsToParse must yield an array, got object",
        )
    ]


@ENGINES
def test_items_to_parse_element_name_and_transform_flag(engine) -> None:
    items = "itemsToParse: .properties.containers\n      itemsToParseName: container\n"
    items += "      itemsToParseTopLevelTransform: false"
    entry = make_entry(identifier='.id + "/" + .container', items=items)
    parent = account("p", properties={"containers": ["a"], "port": "1"})
    (entity,) = engine(entry, [parent]).entities
    assert entity.identifier == f"{parent['id']}/a" and entity.properties["port"] == 1


@ENGINES
def test_non_string_team_title_blueprint(engine) -> None:
    text = MAPPING.format(query="'true'", identifier=".id", items="").replace(
        "blueprint: '\"azureCloudResource\"'", "blueprint: .bp"
    )
    entry = load_mapping_text(text).entries[0]
    items = [
        account("a", bp="x", tags={"team": ["t1", "t2"]}),
        account("b", bp="x", tags={"team": 7}, name=["not", "text"]),
        account("c", bp=5),
    ]
    result = engine(entry, items)
    assert [(e.team, e.title) for e in result.entities] == [(["t1", "t2"], "a"), (None, None)]
    fields = [(e.item_id.rsplit("/", 1)[1], e.field) for e in result.report.errors]
    assert fields == [
        ("b", "port.entity.mappings.title"),  # an array title is dropped, the entity kept
        ("b", "port.entity.mappings.team"),
        ("c", "port.entity.mappings.blueprint"),  # a non-string blueprint drops the item
    ]
    assert result.report.failed == 1


def test_env_is_not_readable_from_a_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "s3cret")
    text = MAPPING.format(query="'true'", identifier=".id", items="").replace(
        "sku: .sku.name", "sku: env.AZURE_CLIENT_SECRET // $ENV.AZURE_CLIENT_SECRET"
    )
    entry = load_mapping_text(text).entries[0]
    for engine in (map_items, map_items_per_field):
        (entity,) = engine(entry, [account("a")]).entities
        assert entity.properties["sku"] is None
