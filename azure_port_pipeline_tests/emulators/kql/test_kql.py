"""Behaviour of the KQL subset engine behind the Resource Graph emulator."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azure_port_pipeline.emulators.kql import KqlError, execute, execute_result, to_json_value

NOW = datetime(2026, 1, 1, 0, 20, tzinfo=UTC)


def change(cid: str, sub: str, target: str, kind: str, ts: str) -> dict:
    return {
        "id": cid,
        "subscriptionId": sub,
        "type": "microsoft.resources/changes",
        "properties": {
            "targetResourceId": target,
            "targetResourceType": "microsoft.storage/storageaccounts",
            "changeType": kind,
            "changeAttributes": {"timestamp": ts, "changedBy": "someone"},
        },
    }


CHANGES = [
    change("c1", "a", "/r/1", "Create", "2026-01-01T00:05:00.1234567Z"),
    change("c2", "a", "/r/1", "Update", "2026-01-01T00:10:00Z"),
    change("c3", "B", "/r/2", "Delete", "2026-01-01T01:07:00+01:00"),
    change("c4", "c", "/r/3", "Delete", "2026-01-01T00:07:00Z"),
    change("c5", "a", "/r/4", "Delete", "2026-01-01T00:17:00Z"),
    change("c6", "a", "/r/5", "Create", "2025-12-31T23:59:59Z"),
]

RESOURCES = [
    {
        "id": "/subscriptions/a/rg/x/sa2",
        "name": "sa2",
        "type": "microsoft.storage/storageaccounts",
        "location": "westeurope",
        "subscriptionId": "a",
        "tags": {"env": "prod"},
        "properties": {"size": 5, "flags": ["x", "y"]},
    },
    {
        "id": "/subscriptions/a/rg/x/sa1",
        "name": "sa1",
        "type": "microsoft.storage/storageaccounts",
        "location": "northeurope",
        "subscriptionId": "a",
        "tags": {"env": "Prod"},
        "properties": {"size": 7, "flags": []},
    },
    {
        "id": "/subscriptions/b/rg/y/sa3",
        "name": "sa3",
        "type": "microsoft.storage/storageaccounts",
        "location": "westeurope",
        "subscriptionId": "b",
        "tags": {"env": "prod", "team": "core"},
        "properties": {"size": 2},
    },
    {
        "id": "/subscriptions/a/rg/x/web1",
        "name": "Web1",
        "type": "microsoft.web/sites",
        "location": "westeurope",
        "subscriptionId": "a",
        "tags": None,
        "properties": {"state": "Running"},
    },
]

CONTAINERS = [
    {
        "id": "/subscriptions/a",
        "name": "sub-a",
        "type": "microsoft.resources/subscriptions",
        "subscriptionId": "a",
        "tags": {},
    },
    {
        "id": "/subscriptions/a/resourceGroups/x",
        "name": "x",
        "type": "microsoft.resources/subscriptions/resourcegroups",
        "subscriptionId": "a",
        "tags": {"owner": "me"},
    },
]

TABLES = {"resourcechanges": CHANGES, "resources": RESOURCES, "resourcecontainers": CONTAINERS}


def run(query: str, tables: dict | None = None) -> list[dict]:
    return execute(query, TABLES if tables is None else tables, NOW)


def ids(rows: list[dict], column: str = "id") -> list:
    return [r[column] for r in rows]


def error_of(query: str, tables: dict | None = None) -> KqlError:
    with pytest.raises(KqlError) as info:
        run(query, tables)
    return info.value


# ---------------------------------------------------------------- the reader's queries

CHANGE_WINDOW = """
resourcechanges
| extend changeTime = todatetime(properties.changeAttributes.timestamp),
         targetResourceId = tostring(properties.targetResourceId),
         changeType = tostring(properties.changeType)
| where changeTime > datetime(2026-01-01T00:00:00Z) and changeTime <= datetime(2026-01-01T00:15:00Z)
| where subscriptionId in~ ('a', 'b')
| summarize arg_max(changeTime, *) by targetResourceId
| order by changeTime asc, targetResourceId asc
"""


def test_change_window_query_returns_latest_change_per_target_in_order():
    rows = run(CHANGE_WINDOW)
    assert [(r["targetResourceId"], r["changeType"], r["id"]) for r in rows] == [
        ("/r/2", "Delete", "c3"),  # 01:07+01:00 is 00:07Z; subscription 'B' matches in~
        ("/r/1", "Update", "c2"),  # the later of two changes for /r/1
    ]
    first = rows[0]
    assert first["changeTime"] == datetime(2026, 1, 1, 0, 7, tzinfo=UTC)
    assert list(first)[:2] == ["targetResourceId", "changeTime"]
    assert first["properties"]["changeAttributes"]["changedBy"] == "someone"
    assert first["subscriptionId"] == "B"


def test_change_window_serialises_datetimes_as_iso_utc():
    row = to_json_value(run(CHANGE_WINDOW)[1])
    assert row["changeTime"] == "2026-01-01T00:10:00.000000Z"
    assert datetime.fromisoformat(row["changeTime"]) == datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
    json.dumps(row)


def test_change_window_variant_with_project_and_order_by_id():
    rows = run(
        CHANGE_WINDOW.replace(
            "| order by changeTime asc, targetResourceId asc",
            "| project id, targetResourceId, changeType, changeTime | order by id asc",
        )
    )
    assert rows == [
        {
            "id": "c2",
            "targetResourceId": "/r/1",
            "changeType": "Update",
            "changeTime": datetime(2026, 1, 1, 0, 10, tzinfo=UTC),
        },
        {
            "id": "c3",
            "targetResourceId": "/r/2",
            "changeType": "Delete",
            "changeTime": datetime(2026, 1, 1, 0, 7, tzinfo=UTC),
        },
    ]


def test_storage_accounts_by_type_and_tag():
    rows = run(
        "resources | where type =~ 'Microsoft.Storage/storageAccounts' and "
        "tags['env'] == 'prod' | project id, name, location | order by id asc"
    )
    assert rows == [
        {"id": "/subscriptions/a/rg/x/sa2", "name": "sa2", "location": "westeurope"},
        {"id": "/subscriptions/b/rg/y/sa3", "name": "sa3", "location": "westeurope"},
    ]


def test_resource_groups_from_resourcecontainers():
    rows = run(
        "resourcecontainers | where type == "
        "'microsoft.resources/subscriptions/resourcegroups' | project id, name, tags"
    )
    assert rows == [
        {"id": "/subscriptions/a/resourceGroups/x", "name": "x", "tags": {"owner": "me"}}
    ]


def test_recent_changes_with_ago_and_take():
    rows = run("resourcechanges | where properties.changeAttributes.timestamp > ago(15m) | take 10")
    # now is 00:20, so after 00:05: c1 (00:05:00.12), c2, c3 (00:07Z), c4, c5
    assert ids(rows) == ["c1", "c2", "c3", "c4", "c5"]
    assert len(run("resourcechanges | take 2")) == 2


# ---------------------------------------------------------------- lexing and parsing


def test_strings_escapes_verbatim_comments_and_newlines():
    query = (
        "resources // all resources\n"
        "| extend a = 'it\\'s', b = \"q\\\"\\n\", c = @'C:\\path''s', d = @\"x\"\"y\"\n"
        "|\n  where   name == 'sa1'\n"
        "| project a, b, c, d"
    )
    assert run(query) == [{"a": "it's", "b": 'q"\n', "c": "C:\\path's", "d": 'x"y'}]


def test_invalid_escape_and_unterminated_string_are_errors():
    assert "escape" in error_of("resources | where name == 'a\\qb'").detail
    assert "Unterminated" in error_of("resources | where name == 'abc").detail


def test_table_names_are_case_insensitive_but_columns_are_not():
    assert len(run("RESOURCES | take 100")) == 4
    assert len(run("ResourceContainers")) == 2
    err = error_of("resources | where Name == 'sa1'")
    assert err.code == "SemanticError" and "'Name'" in err.detail


def test_literals_numbers_bools_timespans_dynamic():
    rows = run(
        "resources | take 1 | project i = 1 + 2 * 3, r = 7 / 2.0, d = 7 / 2, m = -7 % 3, "
        "t = true, f = false, s = 1h + 30m, ms = 100ms, big = 1.5d, "
        "ts = timespan(1.02:03:04), arr = dynamic([1, 'a', {\"k\": null}]), "
        "n = dynamic(null), neg = -2"
    )
    assert rows == [
        {
            "i": 7,
            "r": 3.5,
            "d": 3,
            "m": -1,
            "t": True,
            "f": False,
            "s": timedelta(minutes=90),
            "ms": timedelta(milliseconds=100),
            "big": timedelta(hours=36),
            "ts": timedelta(days=1, hours=2, minutes=3, seconds=4),
            "arr": [1, "a", {"k": None}],
            "n": None,
            "neg": -2,
        }
    ]


def test_datetime_literal_forms():
    rows = run(
        "resources | take 1 | project a = datetime(2026-01-01), "
        "b = datetime(2026-01-01T10:11:12.5Z), c = datetime('2026-01-01 10:00:00'), "
        "d = datetime(2026-01-01T12:00:00+02:00), e = datetime(null)"
    )
    assert rows == [
        {
            "a": datetime(2026, 1, 1, tzinfo=UTC),
            "b": datetime(2026, 1, 1, 10, 11, 12, 500000, tzinfo=UTC),
            "c": datetime(2026, 1, 1, 10, tzinfo=UTC),
            "d": datetime(2026, 1, 1, 10, tzinfo=UTC),
            "e": None,
        }
    ]
    assert "datetime" in error_of("resources | where datetime(2026-13-99) > now()").detail


@pytest.mark.parametrize(
    ("query", "code", "needle"),
    [
        ("resources | render piechart", "UnsupportedOperator", "'render'"),
        ("resources | evaluate bag_unpack(tags)", "UnsupportedOperator", "'evaluate'"),
        ("resources | union resourcecontainers", "UnsupportedOperator", "'union'"),
        ("resources | parse name with * 'a' rest", "UnsupportedOperator", "'parse'"),
        ("resources | mv-apply x = tags on (take 1)", "UnsupportedOperator", "'mv-apply'"),
        ("resources | where foo(bar)", "UnknownFunction", "'foo'"),
        ("resources | where", "ParserFailure", "expression"),
        ("nosuchtable", "DisallowedLogicalTableName", "nosuchtable"),
        ("nosuchtable | take 1", "DisallowedLogicalTableName", "nosuchtable"),
        ("resources | where (name == 'a'", "ParserFailure", "parenthes"),
        ("resources | where name == 'a')", "ParserFailure", "parenthes"),
        ("resources | where tolower(name == 'a'", "ParserFailure", "parenthes"),
        ("resources | summarize percentile(x, 50)", "UnsupportedFunction", "'percentile'"),
        (
            "resources | summarize p = percentiles(properties.size, 50)",
            "UnsupportedFunction",
            "'percentiles'",
        ),
        ("resources | extend x = extract('a', 0, name)", "UnsupportedFunction", "'extract'"),
        ("resources | where name matches regex 'a.*'", "UnsupportedOperator", "'matches'"),
        ("resources | frobnicate", "ParserFailure", "frobnicate"),
        ("resources | where count() > 1", "UnsupportedFunction", "summarize"),
        ("resources | summarize tolower(name)", "UnsupportedFunction", "tolower"),
        ("resources | summarize count() * 2", "SemanticError", "aggregation"),
        ("resources | summarize count() by tags", "SemanticError", "dynamic"),
        ("resources | where nosuch == 1", "SemanticError", "'nosuch'"),
        ("resources | where name.x == 1", "SemanticError", "dynamic"),
        ("resources | where name", "SemanticError", "bool"),
        ("resources | take -1", "SemanticError", "non-negative"),
        ("resources | take name", "SemanticError", "'name'"),
        ("resources | where tolower()", "SemanticError", "argument"),
        ("resources | join kind=fullouter (resources) on id", "UnsupportedOperator", "fullouter"),
        ("", "ParserFailure", "empty"),
        ("resources | where name == #", "ParserFailure", "'#'"),
        ("resources | where x == 12abc", "ParserFailure", "12abc"),
        ("resources | project-away nosuch", "SemanticError", "nosuch"),
    ],
)
def test_constructs_outside_the_subset_raise_kql_error(query, code, needle):
    err = error_of(query)
    assert err.code == code, err.message
    assert needle in err.detail
    assert err.message.startswith(
        "Query is invalid. Please refer to the documentation for the Azure Resource Graph "
        "service and fix the error before retrying."
    )
    assert err.details[0]["code"] == "InvalidQuery"
    assert err.details[1]["code"] == code


def test_errors_point_at_line_and_column():
    err = error_of("resources\n| where name == 'x'\n| render table")
    assert (err.line, err.column) == (3, 3)
    assert err.details[1]["line"] == 3 and err.details[1]["characterPositionInLine"] == 3
    assert "(line 3, position 3)" in str(err)


def test_known_but_absent_table_is_empty_and_non_string_query_rejected():
    assert run("securityresources | count") == [{"Count": 0}]
    with pytest.raises(KqlError):
        execute(None, TABLES, NOW)  # type: ignore[arg-type]


# ---------------------------------------------------------------- case rules and strings


def test_equality_is_case_sensitive_and_tilde_is_not():
    assert ids(run("resources | where tags.env == 'prod' | order by id asc")) == [
        "/subscriptions/a/rg/x/sa2",
        "/subscriptions/b/rg/y/sa3",
    ]
    assert len(run("resources | where tags.env =~ 'PROD'")) == 3
    assert ids(run("resources | where tags.env !~ 'prod'")) == []  # Web1 has no tags: null
    assert ids(
        run(
            "resources | where name != 'sa1' | order by name asc",
        ),
        "name",
    ) == ["Web1", "sa2", "sa3"]  # ordinal: upper case sorts first


def test_in_operators():
    q = "resources | where name {} ('SA1', 'sa2') | order by name asc"
    assert ids(run(q.format("in")), "name") == ["sa2"]
    assert ids(run(q.format("in~")), "name") == ["sa1", "sa2"]
    assert ids(run(q.format("!in")), "name") == ["Web1", "sa1", "sa3"]
    assert ids(run(q.format("!in~")), "name") == ["Web1", "sa3"]
    assert ids(run("resources | where properties.size in (5, 2) | order by name asc"), "name") == [
        "sa2",
        "sa3",
    ]
    assert ids(run("resources | where name in (dynamic(['sa3', 'x'])) "), "name") == ["sa3"]
    assert ids(
        run("resources | where name in~ (tolower('WEB1'), name) | where name == 'Web1'"), "name"
    ) == ["Web1"]


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        ("name contains 'SA'", ["sa1", "sa2", "sa3"]),
        ("name contains_cs 'SA'", []),
        ("name !contains 'sa'", ["Web1"]),
        ("name startswith 'W'", ["Web1"]),
        ("name !startswith 'w'", ["sa1", "sa2", "sa3"]),
        ("name startswith_cs 'w'", []),
        ("name endswith '1'", ["Web1", "sa1"]),
        ("name !endswith '1'", ["sa2", "sa3"]),
        ("id has 'RG'", ["Web1", "sa1", "sa2", "sa3"]),
        ("id has 'sa'", []),  # 'sa' is not a whole term of '/subscriptions/a/rg/x/sa1'
        ("id has 'SA1'", ["sa1"]),
        ("id has 'x/sa1'", ["sa1"]),
        ("id !has 'web1'", ["sa1", "sa2", "sa3"]),
        ("id has_cs 'SA1'", []),
        ("id hasprefix 'web'", ["Web1"]),
        ("id hassuffix 'b1'", ["Web1"]),
        ("id has_any ('sa1', 'sa3')", ["sa1", "sa3"]),
        ("id has_all ('rg', 'sa3')", ["sa3"]),
        ("tags.team contains 'or'", ["sa3"]),
        ("tags.team !contains 'or'", ["Web1", "sa1", "sa2"]),  # null reads as ''
    ],
)
def test_string_operators(predicate, expected):
    assert ids(run(f"resources | where {predicate} | order by name asc"), "name") == expected


# ---------------------------------------------------------------- null semantics


def test_missing_properties_are_null_and_null_comparisons_are_false():
    base = "resources | where {} | order by name asc"
    assert ids(run(base.format("tags.env == 'x' or tags.env != 'x'")), "name") == [
        "sa1",
        "sa2",
        "sa3",
    ]  # Web1: both comparisons with null are false
    assert ids(run(base.format("not(tags.env == 'prod')")), "name") == ["sa1"]
    assert ids(run(base.format("isnull(tags.env)")), "name") == ["Web1"]
    assert ids(run(base.format("isnotnull(properties.flags)")), "name") == ["sa1", "sa2"]
    assert ids(run(base.format("isempty(tags.team)")), "name") == ["Web1", "sa1", "sa2"]
    assert ids(run(base.format("isnotempty(tostring(tags.team))")), "name") == ["sa3"]
    assert ids(run(base.format("properties.size > 3")), "name") == ["sa1", "sa2"]
    assert ids(run(base.format("properties.size <= 3")), "name") == ["sa3"]


def test_string_columns_are_never_null_and_tostring_of_null_is_empty():
    rows = run(
        "resources | where name == 'sa1' | project managedBy, kind, "
        "s = tostring(properties.nothing), n = properties.nothing, "
        "e = isempty(managedBy), nn = isnull(managedBy)"
    )
    assert rows == [{"managedBy": "", "kind": "", "s": "", "n": None, "e": True, "nn": False}]


def test_three_valued_logic():
    rows = run(
        "resources | where name == 'Web1' | project a = tags.x == 1 and true, "
        "b = tags.x == 1 or true, c = tags.x == 1 and false, d = tags.x == 1 or false, "
        "e = not(tags.x == 1)"
    )
    assert rows == [{"a": None, "b": True, "c": False, "d": None, "e": None}]


# ---------------------------------------------------------------- datetimes


def test_datetime_arithmetic_and_conversions():
    rows = run(
        "resources | take 1 | project "
        "a = datetime(2026-01-01) + 1h, b = datetime(2026-01-01) - 1d, "
        "c = datetime(2026-01-02) - datetime(2026-01-01T12:00:00Z), "
        "d = ago(20m), e = now(), f = now(-1h), g = todatetime('2026-02-03T04:05:06.789Z'), "
        "h = todatetime('not a date'), i = 2h / 30m, j = 1h * 2, "
        "k = bin(datetime(2026-01-01T10:17:00Z), 15m)"
    )
    assert rows == [
        {
            "a": datetime(2026, 1, 1, 1, tzinfo=UTC),
            "b": datetime(2025, 12, 31, tzinfo=UTC),
            "c": timedelta(hours=12),
            "d": datetime(2026, 1, 1, tzinfo=UTC),
            "e": NOW,
            "f": NOW - timedelta(hours=1),
            "g": datetime(2026, 2, 3, 4, 5, 6, 789000, tzinfo=UTC),
            "h": None,
            "i": 4.0,
            "j": timedelta(hours=2),
            "k": datetime(2026, 1, 1, 10, 15, tzinfo=UTC),
        }
    ]


def test_todatetime_parses_offsets_and_seven_digit_fractions():
    rows = run(
        "resourcechanges | extend t = todatetime(properties.changeAttributes.timestamp) "
        "| project id, t | order by t asc"
    )
    assert [r["t"] for r in rows][:3] == [
        datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 5, 0, 123456, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 7, tzinfo=UTC),
    ]


def test_between_on_numbers_and_datetimes():
    assert ids(
        run("resources | where properties.size between (2 .. 5) | order by name asc"), "name"
    ) == ["sa2", "sa3"]
    assert ids(run("resources | where properties.size !between (2 .. 5)"), "name") == ["sa1"]
    rows = run(
        "resourcechanges | extend t = todatetime(properties.changeAttributes.timestamp) "
        "| where t between (datetime(2026-01-01T00:07:00Z) .. 3m) | order by id asc"
    )
    assert ids(rows) == ["c2", "c3", "c4"]


def test_naive_now_is_treated_as_utc():
    rows = execute("resources | take 1 | project n = now()", TABLES, datetime(2026, 1, 1))
    assert rows[0]["n"] == datetime(2026, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------- functions


def test_scalar_functions():
    rows = run(
        "resources | where name == 'sa3' | project "
        "lo = tolower(name), up = toupper(location), len = strlen(name), "
        "cat = strcat(name, '-', properties.size, '-', tags.nothing), "
        "sp = split(id, '/'), sp2 = split(id, '/', 2), i1 = toint('42'), i2 = tolong(3.9), "
        "i3 = toint('x'), s = tostring(tags), ifx = iff(properties.size > 1, 'big', 'small'), "
        "iix = iif(false, 1, 2), co = coalesce(tags.nothing, tags.team, 'z'), "
        "bk = bag_keys(tags), al = array_length(split(id, '/')), "
        "pk = pack('a', 1, 'b', name), bp = bag_pack('k', true), "
        "sub = substring(name, 1, 1), ix = indexof(id, 'rg'), "
        "rep = replace_string(name, 'a', 'A'), "
        "cs = case(properties.size > 5, 'L', properties.size > 1, 'M', 'S'), "
        "mn = min_of(3, 1, 2), mx = max_of(3, 1, 2), ab = abs(-2), "
        "pj = parse_json('{\"x\": [1]}').x[0], ar = pack_array(1, 2)[-1], "
        "has = set_has_element(dynamic(['a', 'b']), 'b'), ng = not(false), "
        "sod = startofday(datetime(2026-01-01T12:34:56Z)), rl = toreal('1.5'), "
        "tb = tobool('TRUE')"
    )
    assert rows == [
        {
            "lo": "sa3",
            "up": "WESTEUROPE",
            "len": 3,
            "cat": "sa3-2-",
            "sp": ["", "subscriptions", "b", "rg", "y", "sa3"],
            "sp2": ["b"],
            "i1": 42,
            "i2": 3,
            "i3": None,
            "s": '{"env":"prod","team":"core"}',
            "ifx": "big",
            "iix": 2,
            "co": "core",
            "bk": ["env", "team"],
            "al": 6,
            "pk": {"a": 1, "b": "sa3"},
            "bp": {"k": True},
            "sub": "a",
            "ix": 17,
            "rep": "sA3",
            "cs": "M",
            "mn": 1,
            "mx": 3,
            "ab": 2,
            "pj": 1,
            "ar": 2,
            "has": True,
            "ng": True,
            "sod": datetime(2026, 1, 1, tzinfo=UTC),
            "rl": 1.5,
            "tb": True,
        }
    ]


def test_function_names_are_case_sensitive():
    assert error_of("resources | where ToLower(name) == 'x'").code == "UnknownFunction"


# ---------------------------------------------------------------- tabular operators


def test_extend_replaces_in_place_and_sees_earlier_items():
    rows = run(
        "resources | where name == 'sa1' | extend name = toupper(name), n2 = "
        "strcat(name, '!') | project-away properties, tags, sku, plan, identity, zones, "
        "extendedLocation, tenantId, kind, managedBy, resourceGroup"
    )
    assert list(rows[0]) == ["id", "name", "type", "location", "subscriptionId", "n2"]
    assert rows[0]["name"] == "SA1" and rows[0]["n2"] == "SA1!"


def test_project_default_names_and_renames():
    rows = run(
        "resources | where name == 'sa3' | project properties.size, "
        "tostring(tags.team), env = tags['env'], strcat('a', 'b')"
    )
    assert rows == [{"properties_size": 2, "tags_team": "core", "env": "prod", "Column4": "ab"}]
    assert "duplicate" in error_of("resources | project name, name").detail


def test_project_away_wildcards_and_project_rename():
    rows = run(
        "resources | where name == 'sa1' | project-away *Location, t*, p*, s*, identity, "
        "k*, m*, r*, z* | project-rename nm = name"
    )
    assert rows == [{"id": "/subscriptions/a/rg/x/sa1", "nm": "sa1", "location": "northeurope"}]


def test_order_by_defaults_to_desc_and_supports_multiple_keys_and_nulls():
    assert ids(run("resources | order by name"), "name") == ["sa3", "sa2", "sa1", "Web1"]
    assert ids(run("resources | sort by location asc, name desc"), "name") == [
        "sa1",
        "sa3",
        "sa2",
        "Web1",
    ]
    assert ids(run("resources | order by tostring(tags.env) asc, name asc"), "name") == [
        "Web1",
        "sa1",
        "sa2",
        "sa3",
    ]
    assert ids(run("resources | order by properties.size asc"), "name") == [
        "Web1",
        "sa3",
        "sa2",
        "sa1",
    ]  # null first when ascending
    assert ids(run("resources | order by properties.size desc"), "name") == [
        "sa1",
        "sa2",
        "sa3",
        "Web1",
    ]  # null last when descending
    assert ids(run("resources | order by properties.size asc nulls last"), "name") == [
        "sa3",
        "sa2",
        "sa1",
        "Web1",
    ]


def test_top_take_limit_count_distinct():
    assert ids(run("resources | top 2 by properties.size"), "name") == ["sa1", "sa2"]
    assert ids(run("resources | top 1 by name asc"), "name") == ["Web1"]
    assert len(run("resources | limit 3")) == 3
    assert run("resources | take 0") == []
    assert run("resources | where location == 'westeurope' | count") == [{"Count": 3}]
    assert run("resources | distinct location | order by location asc") == [
        {"location": "northeurope"},
        {"location": "westeurope"},
    ]
    assert len(run("resources | project subscriptionId, location | distinct *")) == 3
    assert run("resources | distinct env = tostring(tags.env) | order by env asc") == [
        {"env": ""},
        {"env": "Prod"},
        {"env": "prod"},
    ]


def test_summarize_aggregates_and_names():
    rows = run(
        "resources | summarize count(), n = count(), c = countif(location == 'westeurope'), "
        "dcount(location), max(properties.size), min(name), sum(toint(properties.size)), "
        "avg(toint(properties.size)), make_set(location), make_list(name, 2), "
        "take_any(subscriptionId) by type | order by type asc"
    )
    assert rows[0] == {
        "type": "microsoft.storage/storageaccounts",
        "count_": 3,
        "n": 3,
        "c": 2,
        "dcount_location": 2,
        "max_properties_size": 7,
        "min_name": "sa1",
        "sum_properties_size": 14,
        "avg_properties_size": 14 / 3,
        "set_location": ["westeurope", "northeurope"],
        "list_name": ["sa2", "sa1"],
        "any_subscriptionId": "a",
    }
    assert rows[1]["count_"] == 1 and rows[1]["max_properties_size"] is None


def test_summarize_without_by_on_empty_input_gives_one_row():
    assert run("resources | where name == 'none' | summarize count()") == [{"count_": 0}]
    assert run("resources | where name == 'none' | summarize count() by type") == []


def test_summarize_by_named_expression_and_by_only():
    rows = run(
        "resources | summarize total = count() by sub = subscriptionId, "
        "bin(toint(properties.size), 5) | order by sub asc, properties_size asc"
    )
    assert rows == [
        {"sub": "a", "properties_size": None, "total": 1},
        {"sub": "a", "properties_size": 5, "total": 2},
        {"sub": "b", "properties_size": 0, "total": 1},
    ]
    assert run("resources | summarize by location | order by location asc") == [
        {"location": "northeurope"},
        {"location": "westeurope"},
    ]


def test_arg_max_ties_pick_the_first_row_in_input_order():
    rows = [{"id": str(i), "name": "same", "properties": {"v": i % 2}} for i in range(6)]
    out = execute(
        "resources | summarize arg_max(toint(properties.v), id) by name", {"resources": rows}, NOW
    )
    assert out == [{"name": "same", "properties_v": 1, "id": "1"}]
    out = execute(
        "resources | summarize arg_min(toint(properties.v), *) by name", {"resources": rows}, NOW
    )
    assert out[0]["id"] == "0" and out[0]["properties_v"] == 0
    assert list(out[0])[:3] == ["name", "properties_v", "id"]
    shuffled = list(reversed(rows))
    out = execute(
        "resources | summarize arg_max(toint(properties.v), id) by name",
        {"resources": shuffled},
        NOW,
    )
    assert out[0]["id"] == "5"


def test_arg_max_skips_nulls_and_handles_all_null_groups():
    rows = [
        {"id": "a", "name": "g"},
        {"id": "b", "name": "g", "properties": {"t": 1}},
        {"id": "c", "name": "h"},
    ]
    out = execute(
        "resources | summarize latest = arg_max(properties.t, id) by name | order by name asc",
        {"resources": rows},
        NOW,
    )
    assert out == [{"name": "g", "latest": 1, "id": "b"}, {"name": "h", "latest": None, "id": "c"}]


def test_mv_expand_arrays_bags_nulls_and_empty():
    rows = run(
        "resources | where name startswith 'sa' | mv-expand flag = properties.flags "
        "| project name, flag | order by name asc, tostring(flag) asc"
    )
    # sa1 has [] -> no row; sa3 has no flags -> a single null row
    assert rows == [
        {"name": "sa2", "flag": "x"},
        {"name": "sa2", "flag": "y"},
        {"name": "sa3", "flag": None},
    ]
    rows = run("resources | where name == 'sa3' | mv-expand tags | project tags")
    assert rows == [{"tags": {"env": "prod"}}, {"tags": {"team": "core"}}]
    rows = run(
        "resources | where name == 'sa2' | mv-expand f = properties.flags to "
        "typeof(string) limit 1 | project f"
    )
    assert rows == [{"f": "x"}]


def test_join_kinds():
    left = "resources | project id, name, subscriptionId"
    right = (
        "(resourcecontainers | where type == 'microsoft.resources/subscriptions' "
        "| project subscriptionId, subName = name)"
    )
    inner = run(f"{left} | join kind=inner {right} on subscriptionId | order by name asc")
    assert [(r["name"], r["subName"], r["subscriptionId1"]) for r in inner] == [
        ("Web1", "sub-a", "a"),
        ("sa1", "sub-a", "a"),
        ("sa2", "sub-a", "a"),
    ]
    outer = run(f"{left} | join kind=leftouter {right} on subscriptionId | order by name asc")
    # no match for sa3: its string column reads '' (Kusto strings are never null)
    assert [(r["name"], r["subName"]) for r in outer] == [
        ("Web1", "sub-a"),
        ("sa1", "sub-a"),
        ("sa2", "sub-a"),
        ("sa3", ""),
    ]
    unique = run(f"{left} | join {right} on $left.subscriptionId == $right.subscriptionId")
    assert len(unique) == 1  # innerunique keeps one left row per key


def test_let_statements():
    rows = run(
        "let cutoff = datetime(2026-01-01T00:09:00Z);\n"
        "let recent = resourcechanges | where todatetime("
        "properties.changeAttributes.timestamp) > cutoff;\n"
        "recent | project id | order by id asc"
    )
    assert ids(rows) == ["c2", "c5"]
    assert "'name'" in error_of("let x = name; resources | take 1").detail


def test_parenthesised_source_and_filter_alias():
    assert len(run("(resources | where location == 'westeurope') | filter name != 'sa2'")) == 2


# ---------------------------------------------------------------- contract details


def test_input_rows_are_not_mutated():
    before = copy.deepcopy(TABLES)
    run(CHANGE_WINDOW)
    run(
        "resources | extend name = 'x', tags = dynamic({}) | mv-expand properties.flags "
        "| project-rename n = name"
    )
    run("resources | join kind=leftouter (resources) on id")
    assert before == TABLES


def test_extra_columns_in_rows_are_queryable_and_unknown_typed():
    rows = execute(
        "resources | where extra > 1 | project id, extra",
        {"resources": [{"id": "a", "extra": 2}, {"id": "b", "extra": 1}]},
        NOW,
    )
    assert rows == [{"id": "a", "extra": 2}]


def test_execute_result_reports_columns_and_limits():
    result = execute_result(CHANGE_WINDOW, TABLES, NOW)
    columns = dict(result.columns)
    assert columns["changeTime"] == "datetime" and columns["id"] == "string"
    assert columns["properties"] == "dynamic"
    assert result.limited is False
    assert execute_result("resources | take 1", TABLES, NOW).limited is True
    assert execute_result("resources | top 1 by name", TABLES, NOW).limited is True


def test_to_json_value_formats():
    value = {
        "d": datetime(2026, 1, 1, 1, 2, 3, 4, tzinfo=UTC),
        "t": [
            timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=5),
            timedelta(minutes=-15),
        ],
        "n": float("nan"),
        "x": None,
    }
    assert to_json_value(value) == {
        "d": "2026-01-01T01:02:03.000004Z",
        "t": ["1.02:03:04.0000050", "-00:15:00"],
        "n": "NaN",
        "x": None,
    }


# ---------------------------------------------------------------- properties


_values = st.one_of(st.none(), st.integers(-5, 5), st.sampled_from(["a", "B", "b", "ab"]))
_ops = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "=~": lambda a, b: a.lower() == b.lower() if isinstance(a, str) else a == b,
}


def _reference(value, op, literal):
    if value is None or type(value) is not type(literal):
        return op == "!=" and value is not None
    return _ops[op](value, literal)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(_values, max_size=12),
    op=st.sampled_from(sorted(_ops)),
    literal=st.one_of(st.integers(-5, 5), st.sampled_from(["a", "B", "b", "ab"])),
)
def test_where_comparison_agrees_with_python_reference(values, op, literal):
    rows = [{"id": str(i), "properties": {"v": v}} for i, v in enumerate(values)]
    lit = repr(literal) if isinstance(literal, str) else str(literal)
    got = execute(
        f"resources | where properties.v {op} {lit} | project id", {"resources": rows}, NOW
    )
    expected = [str(i) for i, v in enumerate(values) if _reference(v, op, literal)]
    assert [r["id"] for r in got] == expected


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20))
def test_string_literals_round_trip_through_the_lexer(text):
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    verbatim = text.replace("'", "''")
    query = f"resources | take 1 | project a = '{escaped}'"
    assert execute(query, TABLES, NOW) == [{"a": text}]
    if "\n" not in text:
        assert execute(f"resources | take 1 | project a = @'{verbatim}'", TABLES, NOW) == [
            {"a": text}
        ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["k1", "k2", "k3"]), st.integers(0, 3)), min_size=1, max_size=15
    )
)
def test_arg_max_matches_reference(pairs):
    rows = [{"id": str(i), "name": k, "properties": {"v": v}} for i, (k, v) in enumerate(pairs)]
    got = execute(
        "resources | summarize arg_max(toint(properties.v), id) by name | order by name asc",
        {"resources": rows},
        NOW,
    )
    expected = {}
    for i, (k, v) in enumerate(pairs):
        if k not in expected or v > expected[k][0]:
            expected[k] = (v, str(i))
    assert [(r["name"], r["properties_v"], r["id"]) for r in got] == [
        (k, v, i) for k, (v, i) in sorted(expected.items())
    ]


class _LazyTables(dict):
    """A mapping that records which tables were read, like the emulator's lazy tables."""

    def __init__(self, tables: dict) -> None:
        super().__init__(tables)
        self.read: list[str] = []

    def __getitem__(self, key: str) -> list:
        self.read.append(key)
        return super().__getitem__(key)

    def items(self):  # reading every table would defeat the emulator's laziness
        raise AssertionError("execute must not read every table")

    def values(self):
        raise AssertionError("execute must not read every table")


def test_only_the_tables_a_query_names_are_read():
    tables = _LazyTables({"Resources": RESOURCES, "resourcechanges": CHANGES})
    assert len(execute("resources | take 2", tables, NOW)) == 2
    assert tables.read == ["Resources"]


def test_unknown_column_after_project_and_sorting_mixed_or_odd_values():
    assert "'name'" in error_of("resources | project id | order by name").detail
    rows = [
        {"id": "a", "name": 3},
        {"id": "b", "name": "x"},
        {"id": "c", "properties": {"t": datetime(2026, 1, 1)}},
        {"id": "d", "properties": {"t": datetime(2025, 1, 1, tzinfo=UTC)}},
        {"id": "e", "properties": {"t": "2025-06-01T00:00:00Z"}},
    ]
    assert ids(execute("resources | order by name asc", {"resources": rows}, NOW)) == [
        "a",
        "c",
        "d",
        "e",
        "b",
    ]  # a long sorts before strings; missing reads as ''
    out = execute("resources | order by properties.t asc", {"resources": rows}, NOW)
    assert ids(out)[-2:] == ["d", "c"]  # naive input datetimes are read as UTC


def test_aliases_and_more_string_functions():
    rows = run(
        "resources | where name == 'sa3' | project a = strcat_delim('-', name, 1), "
        "b = notempty(tags.team), c = notnull(tags.none)"
    )
    assert rows == [{"a": "sa3-1", "b": True, "c": False}]
    assert error_of("resources | mv-expand kind=bag tags").code == "UnsupportedOperator"


def test_garbage_collector_state_is_restored_even_after_errors():
    import gc

    assert gc.isenabled()
    run(CHANGE_WINDOW)
    error_of("resources | where nosuch == 1")
    assert gc.isenabled()
    gc.disable()
    try:
        run("resources | count")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_concurrent_executions_give_the_same_answers():
    from concurrent.futures import ThreadPoolExecutor

    queries = [
        CHANGE_WINDOW,
        "resources | summarize count() by location | order by location",
        "resources | where name =~ 'SA1' | project id",
        "resourcechanges | count",
    ]
    expected = [run(q) for q in queries]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, queries * 25))
    assert results == expected * 25


def test_execution_hints_are_accepted_and_ignored():
    assert run(
        "resources | summarize hint.strategy=shuffle count() by location | order by location asc"
    ) == [{"location": "northeurope", "count_": 1}, {"location": "westeurope", "count_": 3}]
    rows = run(
        "resources | project id | join hint.strategy=broadcast kind=inner "
        "(resources | project id, name) on id"
    )
    assert len(rows) == 4


_FRAGMENTS = [
    "|",
    "where",
    "extend",
    "project",
    "summarize",
    "by",
    "order",
    "sort",
    "asc",
    "desc",
    "take",
    "top",
    "count",
    "distinct",
    "mv-expand",
    "project-away",
    "join",
    "on",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "=",
    "==",
    "!=",
    "=~",
    "<",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "and",
    "or",
    "in",
    "!in",
    "in~",
    "has",
    "contains",
    "!startswith",
    "between",
    "..",
    "name",
    "id",
    "tags",
    "properties",
    "size",
    "'a'",
    '"B"',
    "1",
    "2.5",
    "15m",
    "true",
    "dynamic([1, 'a'])",
    "dynamic(null)",
    "datetime(2026-01-01)",
    "ago(1h)",
    "now()",
    "tostring",
    "toint",
    "todatetime",
    "iff",
    "count()",
    "arg_max",
    "make_list",
    "let",
    ";",
    "x",
    "resources",
    "nulls",
    "first",
    "not",
    "isnull",
    "strcat",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=14))
def test_arbitrary_token_soup_either_runs_or_raises_kql_error(fragments):
    query = "resources " + " ".join(fragments)
    try:
        rows = execute(query, TABLES, NOW)
    except KqlError as err:
        assert err.details[0]["code"] == "InvalidQuery"
    else:
        json.dumps([to_json_value(r) for r in rows])
