"""A bad mapping fails at load with one error naming file, entry, kind, field and the cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from azure_port_pipeline.mapping import MappingConfigError, load_mapping, load_mapping_text
from azure_port_pipeline.mapping.compiled import LazyProgram, self_contained

DEFAULT_MAPPING = Path(__file__).resolve().parents[2] / "mapping" / "azure.yaml"
DEFAULT_TEXT = DEFAULT_MAPPING.read_text()


def load_bad(tmp_path: Path, text: str) -> MappingConfigError:
    path = tmp_path / "bad-mapping.yaml"
    path.write_text(text)
    with pytest.raises(MappingConfigError) as caught:
        load_mapping(path)
    assert str(path) in str(caught.value)
    return caught.value


def test_yaml_syntax_error(tmp_path: Path) -> None:
    error = load_bad(tmp_path, "resources:\n  - kind: subscription\n    selector: {query: 'true'\n")
    assert "invalid YAML" in str(error)
    assert "line" in str(error)  # YAML's own position


def test_jq_syntax_error_names_entry_field_and_jq_message(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace(
        "          location: .location\n          type: .type",
        "          location: .location | foo(\n          type: .type",
        1,
    )
    error = load_bad(tmp_path, text)
    message = str(error)
    assert (error.index, error.kind) == (2, "Microsoft.App/containerApps")
    assert error.field == "port.entity.mappings.properties.location"
    assert "resources[2] (kind 'Microsoft.App/containerApps')" in message
    assert "port.entity.mappings.properties.location" in message
    assert "syntax error" in message and ".location | foo(" in message  # jq's own message


def test_unknown_jq_function_is_a_load_error(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace("query: 'true'", "query: 'is_enabled'", 1)
    error = load_bad(tmp_path, text)
    assert (error.index, error.kind, error.field) == (0, "subscription", "selector.query")
    assert "is_enabled/0 is not defined" in str(error)


def test_typo_in_key_suggests_the_valid_key(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace("        identifier: .id\n", "        identifer: .id\n", 1)
    error = load_bad(tmp_path, text)
    assert (error.index, error.kind, error.field) == (0, "subscription", "port.entity.mappings")
    assert "unknown key 'identifer'" in str(error)
    assert "did you mean 'identifier'" in str(error)


def test_typo_in_top_level_and_selector_keys(tmp_path: Path) -> None:
    error = load_bad(tmp_path, "deleteDependentEntites: true\n" + DEFAULT_TEXT)
    assert error.index is None and "did you mean 'deleteDependentEntities'" in str(error)
    text = DEFAULT_TEXT.replace("apiVersion: '2023-01-01'", "apiversion: '2023-01-01'", 1)
    error = load_bad(tmp_path, text)
    assert (error.index, error.field) == (3, "selector")
    assert "unknown key 'apiversion' (did you mean 'apiVersion'?)" in str(error)


def test_missing_key(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace("        blueprint: '\"azureResourceGroup\"'\n", "", 1)
    error = load_bad(tmp_path, text)
    assert (error.index, error.kind) == (1, "Microsoft.Resources/resourceGroups")
    assert error.field == "port.entity.mappings"
    assert "missing required key 'blueprint'" in str(error)


def test_missing_api_version_for_an_arm_kind(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace("    apiVersion: '2023-05-01'\n", "", 1)
    error = load_bad(tmp_path, text)
    assert (error.index, error.kind) == (5, "Microsoft.ContainerService/managedClusters")
    assert "missing required key 'apiVersion'" in str(error)


def test_cloud_resource_needs_resource_kinds_and_others_must_not_have_them() -> None:
    base = """
resources:
  - kind: {kind}
    selector: {selector}
    port: {{entity: {{mappings: {{identifier: .id, blueprint: '"b"'}}}}}}
"""
    with pytest.raises(MappingConfigError, match=r"resourceKinds' for kind cloudResource"):
        load_mapping_text(base.format(kind="cloudResource", selector="{query: 'true'}"))
    with pytest.raises(MappingConfigError, match=r"only valid for kind cloudResource"):
        selector = "{query: 'true', apiVersion: '1', resourceKinds: {A.B/c: '1'}}"
        load_mapping_text(base.format(kind="A.B/c", selector=selector))
    with pytest.raises(MappingConfigError, match=r"resources\[0\].*kind: kind must be"):
        load_mapping_text(base.format(kind="storageAccounts", selector="{query: 'true'}"))


def test_wrong_value_types(tmp_path: Path) -> None:
    error = load_bad(tmp_path, "entityDeletionThreshold: 1.5\nresources: []\n")
    assert error.field == "entityDeletionThreshold" and "less than or equal to 1" in str(error)
    error = load_bad(tmp_path, "resources: {kind: subscription}\n")
    assert error.field == "resources"
    error = load_bad(tmp_path, "- just a list\n")
    assert "must be a YAML mapping" in str(error)


def test_missing_file_is_a_mapping_error(tmp_path: Path) -> None:
    with pytest.raises(MappingConfigError, match="cannot read mapping"):
        load_mapping(tmp_path / "absent.yaml")


def test_string_source_is_named() -> None:
    with pytest.raises(MappingConfigError, match=r"^<string>: invalid YAML"):
        load_mapping_text("resources: [")


def test_every_problem_of_an_invalid_mapping_is_named_with_its_place() -> None:
    text = """
resources:
  - kind: Microsoft.Storage/storageAccounts
    selector: {query: 'true', apiVersoin: '2023-01-01'}
    port:
      entity:
        mappings: {identifier: .id, blueprint: '"b"'}
  - kind: Microsoft.Compute/virtualMachines
    selector: {query: 'true'}
    port:
      entity:
        mappings: {identifier: .id, blueprint: '"b"', colour: .x}
"""
    with pytest.raises(MappingConfigError) as raised:
        load_mapping_text(text, source="two-typos.yaml")
    message = str(raised.value)
    assert "2 problems in all" in message
    assert "resources[0] (kind 'Microsoft.Storage/storageAccounts')" in message
    assert "apiVersoin" in message
    assert "resources[1] (kind 'Microsoft.Compute/virtualMachines')" in message
    assert "colour" in message


WRONG_TYPES = """
deleteDependentEntities: {dde}
entityDeletionThreshold: {threshold}
resources:
  - kind: Microsoft.Storage/storageAccounts
    selector: {{query: {query}, apiVersion: '2023-01-01'}}
    port:
      itemsToParse: {items}
      itemsToParseTopLevelTransform: {transform}
      entity:
        mappings:
          identifier: {identifier}
          title: {title}
          blueprint: '"azureCloudResource"'
          team: {team}
          properties: {properties}
          relations: {relations}
"""
GOOD = {
    "dde": "true",
    "threshold": "0.9",
    "query": "'true'",
    "items": ".properties.x",
    "transform": "true",
    "identifier": ".id",
    "title": ".name",
    "team": ".tags.team",
    "properties": "{location: .location}",
    "relations": "{resource_group: .id}",
}


@pytest.mark.parametrize(
    ("key", "value", "index", "field", "expected"),
    [
        ("query", "5", 0, "selector.query", "yielding a boolean"),
        ("query", "[a, b]", 0, "selector.query", "not a list"),
        ("properties", "[location, type]", 0, "port.entity.mappings.properties", "dictionary"),
        ("properties", "'.location'", 0, "port.entity.mappings.properties", "dictionary"),
        ("properties", "{tags: {a: b}}", 0, "port.entity.mappings.properties.tags", "mapping"),
        ("properties", "{tags: null}", 0, "port.entity.mappings.properties.tags", "null"),
        ("identifier", "5", 0, "port.entity.mappings.identifier", "not a number"),
        ("identifier", "true", 0, "port.entity.mappings.identifier", "not a boolean"),
        ("identifier", "[.id]", 0, "port.entity.mappings.identifier", "not a list"),
        ("title", "1", 0, "port.entity.mappings.title", "not a number"),
        ("team", "5", 0, "port.entity.mappings.team", "not a number"),
        (
            "relations",
            "{resource_group: 5}",
            0,
            "port.entity.mappings.relations.resource_group",
            "not a number",
        ),
        ("relations", "[.id]", 0, "port.entity.mappings.relations", "dictionary"),
        ("items", "5", 0, "port.itemsToParse", "not a number"),
        ("transform", "'no'", 0, "port.itemsToParseTopLevelTransform", "valid boolean"),
        ("dde", "'yes'", None, "deleteDependentEntities", "valid boolean"),
        ("dde", "1", None, "deleteDependentEntities", "valid boolean"),
        ("threshold", "'0.5'", None, "entityDeletionThreshold", "valid number"),
        ("threshold", "true", None, "entityDeletionThreshold", "valid number"),
    ],
)
def test_every_field_is_type_checked_at_load_with_its_place(
    tmp_path: Path, key: str, value: str, index: int | None, field: str, expected: str
) -> None:
    error = load_bad(tmp_path, WRONG_TYPES.format(**{**GOOD, key: value}))
    assert (error.index, error.field) == (index, field)
    if index is not None:
        assert error.kind == "Microsoft.Storage/storageAccounts"
        assert "resources[0] (kind 'Microsoft.Storage/storageAccounts')" in str(error)
    assert field in str(error) and expected in str(error)
    assert "Value error" not in str(error)


def test_several_wrong_types_are_all_named_at_once(tmp_path: Path) -> None:
    values = {
        **GOOD,
        "query": "5",
        "identifier": "5",
        "properties": "[a]",
        "dde": "'no'",
        "relations": "{r: {combinator: '\"and\"', rules: [{property: 1, operator: x, value: .y}]}}",
    }
    message = str(load_bad(tmp_path, WRONG_TYPES.format(**values)))
    assert "5 problems in all" in message
    for place in (
        "selector.query",
        "port.entity.mappings.identifier",
        "port.entity.mappings.properties",
        "deleteDependentEntities",
        "port.entity.mappings.relations.r.rules.0.property",
    ):
        assert place in message


def test_yaml_scalars_that_are_meaningful_jq_literals_still_load() -> None:
    values = {
        **GOOD,
        "query": "true",
        "threshold": "1",
        "properties": "{location: .location, managed: true, tier: 2, ratio: 0.5}",
        "relations": (
            "{owners: {combinator: '\"and\"', rules: "
            "[{property: '\"size\"', operator: '\">\"', value: 3}]}}"
        ),
    }
    config = load_mapping_text(WRONG_TYPES.format(**values))
    mappings = config.entries[0].spec.port.entity.mappings
    assert config.entries[0].spec.selector.query == "true"
    assert dict(mappings.properties) == {
        "location": ".location",
        "managed": "true",
        "tier": "2",
        "ratio": "0.5",
    }
    assert config.entity_deletion_threshold == 1.0


def test_a_leaf_program_waits_for_its_first_use_once_the_bulk_program_vouched_for_it() -> None:
    """Compiling each leaf costs ~2 ms (0.7 s a load of the default mapping); the bulk program
    holds them all, so they are compiled only when the per-field path needs them."""
    entry = load_mapping_text(DEFAULT_TEXT).entries[2]
    leaves = entry.compiled.leaves
    assert entry.compiled.bulk is not None
    assert all(isinstance(leaf.program, LazyProgram) for leaf in leaves)
    assert all(leaf.program._program is None for leaf in leaves)

    location = next(leaf for leaf in leaves if leaf.field.endswith("properties.location"))
    assert location.program.input_value({"location": "westeurope"}).first() == "westeurope"
    assert location.program._program is not None


def test_a_leaf_naming_the_bulk_programs_own_names_is_checked_alone(tmp_path: Path) -> None:
    # `$__apm_s` is bound inside the bulk program, so only a check of the leaf alone catches it
    text = DEFAULT_TEXT.replace("location: .location\n", "location: $__apm_s\n", 1)
    error = load_bad(tmp_path, text)
    assert error.field == "port.entity.mappings.properties.location"
    assert "$__apm_s is not defined" in str(error)


@pytest.mark.parametrize(
    "leaf",
    [
        ".location), (.name",  # closes the bulk program's parenthesis, opens another
        ".location # where \\",  # a comment continued past its line by a backslash
    ],
    ids=["escapes-its-parentheses", "comment-continued"],
)
def test_a_leaf_that_would_only_compile_inside_the_bulk_program_fails_at_load(
    tmp_path: Path, leaf: str
) -> None:
    text = DEFAULT_TEXT.replace("location: .location\n", f"location: '{leaf}'\n", 1)
    error = load_bad(tmp_path, text)
    assert error.field == "port.entity.mappings.properties.location"
    assert "jq error" in str(error)


@pytest.mark.parametrize(
    ("expr", "contained"),
    [
        (".location", True),
        ('"\\(.name) (\\(.id))" | ascii_downcase', True),  # interpolations, parentheses in text
        ('.tags["a)b"] // {}', True),
        ('"a\\"b" + .c', True),  # an escaped quote
        (".a) | (.b", False),
        ("[.a", False),
        ('"open', False),
        (".a # note", False),
        ("$__apm_s", False),
    ],
)
def test_self_contained_leaves(expr: str, contained: bool) -> None:
    assert self_contained(expr) is contained
