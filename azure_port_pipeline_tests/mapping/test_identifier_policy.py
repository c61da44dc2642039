"""The identifier policy: `escape` rewrites what Port rejects reversibly, `port` refuses it."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azure_port_pipeline.mapping import (
    IdentifierPolicy,
    MappingReport,
    escape_identifier,
    load_default_mapping,
    load_mapping_text,
    map_items,
    map_items_per_field,
    unescape_identifier,
)
from azure_port_pipeline.mapping.identifiers import identifier_problem, needs_escape
from azure_port_pipeline.mapping.preview import preview

from . import fixtures as fx

ENGINES = pytest.mark.parametrize("engine", [map_items, map_items_per_field])
IDENTIFIER_FIELD = "port.entity.mappings.identifier"
LEGACY = "rg_legacy.app(old)"
LEGACY_RG_ID = f"{fx.SUB_ID}/resourceGroups/{LEGACY}"
# Port's default mapping lower-cases the `resourcegroups/<name>` segments, then we escape
LEGACY_RG_PORT = f"{fx.SUB_ID}/resourcegroups/rg_legacy.app=28old=29"
LEGACY_RG = {**fx.RESOURCE_GROUP, "id": LEGACY_RG_ID, "name": LEGACY}
LEGACY_ACCOUNT = {
    **fx.STORAGE_ACCOUNT,
    "id": f"{LEGACY_RG_ID}/providers/Microsoft.Storage/storageAccounts/legacyst01",
    "name": "legacyst01",
}

PLAIN = """
resources:
  - kind: Microsoft.Storage/storageAccounts
    selector:
      query: 'true'
      apiVersion: '2023-01-01'
    port:
      entity:
        mappings:
          identifier: .id
          title: .name
          blueprint: .bp // "azureCloudResource"
          relations:
            parent: .parent
"""


def plain_entry():
    return load_mapping_text(PLAIN).entries[0]


def port_accepts(identifier: str) -> bool:
    """Port's pattern, rebuilt from the Unicode database (independent of `str.isalpha`)."""
    letters_ok = all(
        re.fullmatch(r"[0-9@_.+:\\/=-]", ch) or unicodedata.category(ch).startswith("L")
        for ch in identifier
    )
    return bool(identifier) and letters_ok and identifier not in (".", "..")


# -- the escape itself -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("original", "escaped"),
    [
        (LEGACY, "rg_legacy.app=28old=29"),
        ("rg (old)", "rg=20=28old=29"),
        ("a(b=c", "a=28b=3Dc"),  # inside a rewritten identifier "=" is escaped too
        ("ü(", "ü=28"),  # a letter stays, even outside ASCII
        ("€", "=E2=82=AC"),  # a symbol: one escape per UTF-8 byte
        ("😀", "=F0=9F=98=80"),
        ("٣", "=D9=A3"),  # a digit, but not 0-9
        ("e\u0301", "e=CC=81"),  # a combining mark is not a letter
        ("a%2Fb", "a=252Fb"),
        ("tab\there", "tab=09here"),
        (".", "=2E"),
        ("..", "=2E=2E"),
    ],
)
def test_escape_rules(original: str, escaped: str) -> None:
    assert escape_identifier(original) == escaped
    assert port_accepts(escaped)
    assert unescape_identifier(escaped) == original


@pytest.mark.parametrize(
    "valid",
    [
        "/subscriptions/s/resourcegroups/my-rg",
        "a=28b",  # looks escaped, but Port accepts it: left alone
        "a=b",
        "...",
        ".a",
        "ñandú-ödön",
        "ǅʰ漢字",  # Lt, Lm, Lo letters
        "@_.+:\\/=-",
    ],
)
def test_valid_identifiers_are_untouched(valid: str) -> None:
    assert escape_identifier(valid) is valid
    assert not needs_escape(valid)
    assert identifier_problem(valid) is None


def test_a_lone_surrogate_round_trips() -> None:
    original = "rg\ud800x"  # JSON text can carry one
    escaped = escape_identifier(original)
    assert escaped == "rg=ED=A0=80x"
    assert unescape_identifier(escaped) == original


IDENTIFIER_TEXT = st.text(
    st.one_of(
        st.sampled_from("=.()% /\\@_+:-aZ09ü€"),
        st.characters(exclude_categories=()),  # everything, surrogates included
    ),
    max_size=40,
)


@settings(max_examples=500, deadline=None)
@given(IDENTIFIER_TEXT)
def test_escape_round_trips_and_lands_in_ports_alphabet(original: str) -> None:
    escaped = escape_identifier(original)
    if original and port_accepts(original):
        assert escaped == original  # valid: byte for byte untouched
        return
    if not original:
        assert escaped == ""
        return
    assert escaped != original
    assert port_accepts(escaped)
    assert identifier_problem(escaped) is None
    assert unescape_identifier(escaped) == original


@settings(max_examples=300, deadline=None)
@given(IDENTIFIER_TEXT, IDENTIFIER_TEXT)
def test_different_rewritten_identifiers_stay_different(a: str, b: str) -> None:
    if a != b and needs_escape(a) and needs_escape(b):
        assert escape_identifier(a) != escape_identifier(b)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a=2", "not followed by two upper-case hex digits"),
        ("a=zz", "not followed by two upper-case hex digits"),
        ("a=2e", "not followed by two upper-case hex digits"),  # lower case is not an escape
        ("a=", "not followed by two upper-case hex digits"),
        ("=FF", "not UTF-8"),
        ("=E2=82", "not UTF-8"),  # a truncated sequence
    ],
)
def test_unescape_refuses_what_escape_never_produces(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        unescape_identifier(text)


def test_unescape_without_escapes_is_identity() -> None:
    assert unescape_identifier("/subscriptions/s/x") == "/subscriptions/s/x"


# -- the policy in the engine --------------------------------------------------------------------
@ENGINES
def test_relations_meet_their_escaped_targets_with_the_default_mapping(engine) -> None:
    config = load_default_mapping()
    groups = engine(config.entry("resource_groups"), [LEGACY_RG, fx.RESOURCE_GROUP])
    accounts = engine(config.entry("storage_accounts"), [LEGACY_ACCOUNT, fx.STORAGE_ACCOUNT])
    (subscription,) = engine(config.entry("subscription"), [fx.SUBSCRIPTION]).entities

    assert [g.identifier for g in groups.entities] == [LEGACY_RG_PORT, fx.RG_ID_PORT]
    assert [a.relations["resource_group"] for a in accounts.entities] == [
        LEGACY_RG_PORT,
        fx.RG_ID_PORT,
    ]
    assert accounts.entities[0].identifier == (
        f"{LEGACY_RG_PORT}/providers/Microsoft.Storage/storageAccounts/legacyst01"
    )
    assert {g.relations["subscription"] for g in groups.entities} == {subscription.identifier}
    assert unescape_identifier(LEGACY_RG_PORT) == LEGACY_RG_ID.replace(
        "resourceGroups/rg_legacy.app(old)", "resourcegroups/rg_legacy.app(old)"
    )
    for result in (groups, accounts):
        report = result.report
        assert (report.escaped_identifiers, report.invalid_identifier) == (1, 0)
        assert report.errors == [] and report.entities_out == 2


@ENGINES
def test_port_policy_refuses_as_port_does_and_rewrites_nothing(engine) -> None:
    config = load_default_mapping()
    port = IdentifierPolicy.PORT
    groups = engine(config.entry("resource_groups"), [LEGACY_RG, fx.RESOURCE_GROUP], port)
    assert [g.identifier for g in groups.entities] == [fx.RG_ID_PORT]
    (error,) = groups.report.errors
    assert error.item_id == LEGACY_RG_ID and error.field == IDENTIFIER_FIELD
    assert "has characters Port does not allow ('(', ')')" in error.message
    assert (groups.report.invalid_identifier, groups.report.escaped_identifiers) == (1, 0)
    # relations are not rewritten either: they stay what the mapping produced
    items = [{"id": "ok", "parent": "rg (old)"}, {"id": "ok2", "parent": ["a(b", 3, None]}]
    result = engine(plain_entry(), items, policy="port")
    assert [e.relations["parent"] for e in result.entities] == ["rg (old)", ["a(b", 3, None]]


@ENGINES
def test_relation_values_are_escaped_like_identifiers(engine) -> None:
    items = [
        {"id": "s", "parent": "rg (old)"},
        {"id": "l", "parent": ["a(b", "ok", "a=b", 3, None]},
        {"id": "n", "parent": None},
        {"id": "o", "parent": {"x": "a(b"}},  # not an identifier: left to Port
    ]
    result = engine(plain_entry(), items)
    assert [e.relations["parent"] for e in result.entities] == [
        "rg=20=28old=29",
        ["a=28b", "ok", "a=b", 3, None],
        None,
        {"x": "a(b"},
    ]
    assert result.report.escaped_identifiers == 0  # the entity identifiers were all valid


SEARCH_RELATION = """
resources:
  - kind: Microsoft.Storage/storageAccounts
    selector:
      query: 'true'
      apiVersion: '2023-01-01'
    port:
      entity:
        mappings:
          identifier: .id
          blueprint: '"azureCloudResource"'
          relations:
            owners:
              combinator: '"and"'
              rules:
                - property: '"$title"'
                  operator: '"="'
                  value: .owner
"""


@ENGINES
def test_search_query_relations_are_not_rewritten(engine) -> None:
    entry = load_mapping_text(SEARCH_RELATION).entries[0]
    (entity,) = engine(entry, [{"id": "a(b", "owner": "team (x)"}]).entities
    assert entity.identifier == "a=28b"
    assert entity.relations["owners"]["rules"][0]["value"] == "team (x)"


@ENGINES
def test_collisions_are_reported_on_every_item_and_nothing_is_merged(engine) -> None:
    items = [
        {"id": "a(b", "name": "escaped"},
        {"id": "ok", "name": "ok"},
        {"id": "a=28b", "name": "literal"},
        {"id": "a(b", "name": "escaped again"},
        {"id": "x y", "bp": "other", "name": "other blueprint"},
        {"id": "x=20y", "name": "same identifier, other blueprint"},
        {"id": "dup", "name": "dup 1"},
        {"id": "dup", "name": "dup 2"},  # the same original twice is not a collision
    ]
    result = engine(plain_entry(), items)
    assert [(e.title, e.identifier) for e in result.entities] == [
        ("ok", "ok"),
        ("other blueprint", "x=20y"),
        ("same identifier, other blueprint", "x=20y"),
        ("dup 1", "dup"),
        ("dup 2", "dup"),
    ]
    report = result.report
    assert report.identifier_collisions == report.invalid_identifier == 3
    assert report.entities_out == 5 and report.escaped_identifiers == 1
    assert [(e.item_id, e.field) for e in report.errors] == [
        ("a(b", IDENTIFIER_FIELD),
        ("a=28b", IDENTIFIER_FIELD),
        ("a(b", IDENTIFIER_FIELD),
    ]
    for error in report.errors:
        assert "'a(b', 'a=28b'" in error.message and "collides" in error.message
        assert "none of these items is emitted" in error.message
    # under Port's own rule there is nothing to collide: "a(b" is simply refused
    port = engine(plain_entry(), items, IdentifierPolicy.PORT)
    assert "a=28b" in [e.identifier for e in port.entities]
    assert port.report.identifier_collisions == 0


@ENGINES
def test_dot_identifiers(engine) -> None:
    items = [{"id": "."}, {"id": ".."}, {"id": "..."}, {"id": "./x"}]
    result = engine(plain_entry(), items)
    assert [e.identifier for e in result.entities] == ["=2E", "=2E=2E", "...", "./x"]
    assert result.report.escaped_identifiers == 2
    refused = engine(plain_entry(), items, IdentifierPolicy.PORT)
    assert [e.identifier for e in refused.entities] == ["...", "./x"]
    assert refused.report.invalid_identifier == 2


@ENGINES
def test_the_length_limit_applies_after_escaping(engine) -> None:
    fits = "x" * 991 + "()("  # 991 + 3 * 3 = 1000 characters once escaped
    too_long = "x" * 992 + "()("  # 1001 once escaped, although 995 before
    valid_max, valid_over = "v" * 1000, "v" * 1001
    result = engine(plain_entry(), [{"id": i} for i in (fits, too_long, valid_max, valid_over)])
    assert [e.identifier for e in result.entities] == ["x" * 991 + "=28=29=28", valid_max]
    assert len(result.entities[0].identifier) == 1000
    messages = {e.item_id: e.message for e in result.report.errors}
    assert set(messages) == {too_long, valid_over}
    assert messages[too_long].startswith("identifier is longer than 1000 characters after escaping")
    assert "1001 characters" in messages[too_long]
    assert messages[valid_over] == "identifier is longer than 1000 characters"
    assert (result.report.invalid_identifier, result.report.escaped_identifiers) == (2, 1)


def test_report_counts_merge_and_serialize() -> None:
    a = MappingReport(kind="k", escaped_identifiers=2, identifier_collisions=1)
    a.merge(MappingReport(kind="k", escaped_identifiers=3, identifier_collisions=4))
    data = a.as_dict()
    assert (data["escaped_identifiers"], data["identifier_collisions"]) == (5, 5)
    from azure_port_pipeline.defs.snapshots import report_from_dict  # the Dagster layer's copy

    assert report_from_dict(data) == a
    new_fields = ("escaped_identifiers", "identifier_collisions")
    written_before = {key: value for key, value in data.items() if key not in new_fields}
    old = report_from_dict(written_before)
    assert (old.escaped_identifiers, old.identifier_collisions, old.kind) == (0, 0, "k")


# -- preview and parsing -----------------------------------------------------------------------
def test_preview_shows_escaped_identifiers(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(json.dumps([LEGACY_RG, LEGACY_ACCOUNT]))
    mapping = Path(__file__).resolve().parents[2] / "mapping" / "azure.yaml"
    out = preview(mapping, path)
    assert [e["identifier"] for e in out["entities"]] == [
        LEGACY_RG_PORT,
        f"{LEGACY_RG_PORT}/providers/Microsoft.Storage/storageAccounts/legacyst01",
    ]
    assert out["entities"][1]["relations"]["resource_group"] == LEGACY_RG_PORT
    assert out["report"]["escaped_identifiers"] == 2 and out["report"]["errors"] == []
    refused = preview(mapping, path, policy=IdentifierPolicy.PORT)
    assert refused["entities"] == [] and refused["report"]["invalid_identifier"] == 2
    assert refused["report"]["escaped_identifiers"] == 0


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("escape", IdentifierPolicy.ESCAPE),
        ("port", IdentifierPolicy.PORT),
        (" Port\n", IdentifierPolicy.PORT),
        ("ESCAPE", IdentifierPolicy.ESCAPE),
    ],
)
def test_parse_policy(text: str, policy: IdentifierPolicy) -> None:
    assert IdentifierPolicy.parse(text) is policy


@pytest.mark.parametrize("text", ["", "merge", "escaped", "none"])
def test_parse_policy_names_the_variable_and_the_values(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        IdentifierPolicy.parse(text)
    message = str(caught.value)
    assert "AZURE_PORT_IDENTIFIER_POLICY" in message
    assert "'escape', 'port'" in message and repr(text) in message


def test_policy_is_a_str_enum_and_default() -> None:
    assert IdentifierPolicy.ESCAPE == "escape" and str(IdentifierPolicy.PORT) == "port"
    entry = plain_entry()
    (entity,) = map_items(entry, [{"id": "a b"}]).entities
    assert entity.identifier == "a=20b"
    with pytest.raises(ValueError):
        map_items(entry, [{"id": "a b"}], policy="merge")
