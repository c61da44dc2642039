"""Port emulator search: rule operators, paginated blueprint search, ownership by datasource."""

from __future__ import annotations

from typing import Any

from azure_port_pipeline_tests.emulators.port.support import (
    RES,
    RG,
    SUB,
    PortSession,
    rg_entity,
    rg_id,
    running_port,
    sub_id,
)


def rule(prop: str, op: str, value: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"property": prop, "operator": op}
    if op not in ("isEmpty", "isNotEmpty"):
        body["value"] = value
    return body


def and_(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"combinator": "and", "rules": list(rules)}


def seed_resources(emu: Any) -> None:
    resources = [
        {
            "identifier": "vm-1",
            "title": "Web VM",
            "team": "web",
            "properties": {
                "type": "Microsoft.Compute/virtualMachines",
                "location": "westeurope",
                "tags": {"env": "prod"},
            },
        },
        {
            "identifier": "vm-2",
            "title": "Db VM",
            "team": ["db", "web"],
            "properties": {"type": "Microsoft.Compute/virtualMachines", "location": "northeurope"},
        },
        {
            "identifier": "sa-1",
            "title": "Storage",
            "properties": {
                "type": "Microsoft.Storage/storageAccounts",
                "location": "westeurope",
                "url": "https://sa-1.blob.core.windows.net",
            },
        },
        {"identifier": "kv-1", "title": None, "properties": {"type": None}},
    ]
    for body in resources:
        emu.put_entity(RES, body, datasource="seed")


def search_ids(session: PortSession, query: dict[str, Any]) -> list[str]:
    response = session.search(RES, {"query": query})
    assert response.status_code == 200, response.text
    return sorted(e["identifier"] for e in response.json()["entities"])


def test_string_operators() -> None:
    with running_port() as emu:
        seed_resources(emu)
        s = PortSession(emu)
        vm_type = "Microsoft.Compute/virtualMachines"
        assert search_ids(s, and_(rule("type", "=", vm_type))) == ["vm-1", "vm-2"]
        assert search_ids(s, and_(rule("type", "!=", vm_type))) == ["kv-1", "sa-1"]
        assert search_ids(s, and_(rule("$title", "contains", "VM"))) == ["vm-1", "vm-2"]
        assert search_ids(s, and_(rule("$title", "doesNotContains", "VM"))) == ["kv-1", "sa-1"]
        assert search_ids(s, and_(rule("$identifier", "beginsWith", "vm"))) == ["vm-1", "vm-2"]
        assert search_ids(s, and_(rule("$identifier", "doesNotBeginsWith", "vm"))) == [
            "kv-1",
            "sa-1",
        ]
        assert search_ids(s, and_(rule("$identifier", "endsWith", "-1"))) == [
            "kv-1",
            "sa-1",
            "vm-1",
        ]
        assert search_ids(s, and_(rule("$identifier", "doesNotEndsWith", "-1"))) == ["vm-2"]
        assert search_ids(s, and_(rule("location", "in", ["northeurope", "x"]))) == ["vm-2"]
        assert search_ids(s, and_(rule("location", "notIn", ["westeurope"]))) == ["kv-1", "vm-2"]
        assert search_ids(s, and_(rule("$team", "containsAny", ["db"]))) == ["vm-2"]
        assert search_ids(s, and_(rule("$team", "=", "web"))) == ["vm-1", "vm-2"]
        assert search_ids(s, and_(rule("type", "isEmpty"))) == ["kv-1"]
        assert search_ids(s, and_(rule("url", "isNotEmpty"))) == ["sa-1"]
        assert search_ids(s, and_(rule("$datasource", "=", "seed"))) == [
            "kv-1",
            "sa-1",
            "vm-1",
            "vm-2",
        ]


def test_nested_combinators_and_dates() -> None:
    with running_port() as emu:
        seed_resources(emu)
        s = PortSession(emu)
        query = and_(
            rule("$blueprint", "=", RES),
            {
                "combinator": "or",
                "rules": [rule("location", "=", "northeurope"), rule("$identifier", "=", "sa-1")],
            },
        )
        assert search_ids(s, query) == ["sa-1", "vm-2"]
        assert search_ids(s, and_(rule("$createdAt", ">=", "2000-01-01T00:00:00Z"))) == [
            "kv-1",
            "sa-1",
            "vm-1",
            "vm-2",
        ]
        assert search_ids(s, and_(rule("$createdAt", "<", "2000-01-01T00:00:00Z"))) == []
        between = {"from": "2000-01-01T00:00:00Z", "to": "2999-01-01T00:00:00Z"}
        assert len(search_ids(s, and_(rule("$updatedAt", "between", between)))) == 4


def test_number_operators() -> None:
    with running_port() as emu:
        emu.add_blueprint(
            {"identifier": "m", "title": "M", "schema": {"properties": {"n": {"type": "number"}}}}
        )
        for i in range(5):
            emu.put_entity("m", {"identifier": f"e{i}", "properties": {"n": i}})
        s = PortSession(emu)

        def ids(op: str, value: int) -> list[str]:
            response = s.search("m", {"query": and_(rule("n", op, value))})
            return [e["identifier"] for e in response.json()["entities"]]

        assert ids(">", 2) == ["e3", "e4"]
        assert ids(">=", 3) == ["e3", "e4"]
        assert ids("<", 1) == ["e0"]
        assert ids("<=", 1) == ["e0", "e1"]


def test_related_to_follows_relations_in_both_directions() -> None:
    with running_port() as emu:
        s = PortSession(emu)
        s.bulk(RG, [rg_entity(1, "a"), rg_entity(1, "b")], create_missing_related_entities=True)
        s.bulk(RES, [{"identifier": "vm", "relations": {"resource_group": rg_id(1, "a")}}])
        body = {
            "combinator": "and",
            "rules": [
                {
                    "operator": "relatedTo",
                    "blueprint": SUB,
                    "value": sub_id(1),
                    "direction": "downstream",
                }
            ],
        }
        downstream = s.request("POST", "/v1/entities/search", json=body)
        body["rules"][0] = {
            "operator": "relatedTo",
            "blueprint": RES,
            "value": "vm",
            "direction": "upstream",
        }
        upstream = s.request("POST", "/v1/entities/search", json=body)
    assert sorted(e["identifier"] for e in downstream.json()["entities"]) == sorted(
        [rg_id(1, "a"), rg_id(1, "b"), "vm"]
    )
    assert sorted(e["identifier"] for e in upstream.json()["entities"]) == sorted(
        [rg_id(1, "a"), sub_id(1)]
    )


def test_paginated_search_by_datasource_walks_every_owned_entity_once() -> None:
    with running_port() as emu:
        mine, theirs = PortSession(emu, "mine/1"), PortSession(emu, "theirs/1")
        for start in range(0, 45, 15):
            mine.bulk(RES, [{"identifier": f"m{i}"} for i in range(start, start + 15)])
            theirs.bulk(RES, [{"identifier": f"t{i}"} for i in range(start, start + 15)])
        query = and_(rule("$datasource", "=", "mine/1"))
        seen: list[str] = []
        pages = 0
        cursor = None
        while True:
            body: dict[str, Any] = {"query": query, "limit": 10}
            if cursor:
                body["from"] = cursor
            response = mine.search(RES, body).json()
            pages += 1
            seen.extend(e["identifier"] for e in response["entities"])
            cursor = response.get("next")
            if cursor is None:
                assert len(response["entities"]) <= 10
                break
            assert len(response["entities"]) == 10
    assert pages == 5
    assert seen == [f"m{i}" for i in range(45)]


def test_exact_page_boundary_has_no_next_and_default_limit_is_200() -> None:
    with running_port() as emu:
        s = PortSession(emu)
        for start in range(0, 250, 20):
            s.bulk(RES, [{"identifier": f"e{i}"} for i in range(start, min(start + 20, 250))])
        default = s.search(RES, {}).json()
        rest = s.search(RES, {"from": default["next"]}).json()
        exact = s.search(RES, {"limit": 250}).json()
    assert len(default["entities"]) == 200 and "next" in default
    assert len(rest["entities"]) == 50 and "next" not in rest
    assert len(exact["entities"]) == 250 and "next" not in exact


def test_search_includes_and_validation_errors() -> None:
    with running_port() as emu:
        seed_resources(emu)
        s = PortSession(emu)
        included = s.search(
            RES,
            {
                "query": and_(rule("$identifier", "=", "sa-1")),
                "include": ["$identifier", "url", "$datasource"],
            },
        )
        bad_limit = s.search(RES, {"limit": 1001})
        bad_operator = s.search(RES, {"query": and_(rule("type", "like", "x"))})
        bad_cursor = s.search(RES, {"from": "garbage!"})
        extra_key = s.search(RES, {"rules": []})
        unknown_bp = s.search("nope", {})
    assert included.json()["entities"] == [
        {
            "identifier": "sa-1",
            "properties": {"url": "https://sa-1.blob.core.windows.net"},
            "datasource": "seed",
        }
    ]
    assert bad_limit.status_code == 422
    assert bad_operator.status_code == 422
    assert bad_cursor.status_code == 400
    assert extra_key.status_code == 422
    assert unknown_bp.status_code == 404


def test_unpaginated_search_spans_blueprints_and_hides_datasource() -> None:
    with running_port() as emu:
        s = PortSession(emu, "mine/1")
        s.bulk(RG, [rg_entity(1, "a")], create_missing_related_entities=True)
        response = s.request(
            "POST", "/v1/entities/search", json=and_(rule("$datasource", "=", "mine/1"))
        )
    entities = response.json()["entities"]
    assert sorted(e["blueprint"] for e in entities) == [RG, SUB]
    assert all("datasource" not in e for e in entities)
