"""Port emulator entities: upsert (single and bulk), validation, merge, delete."""

from __future__ import annotations

from azure_port_pipeline.emulators.port.errors import PortApiError
from azure_port_pipeline_tests.emulators.port.support import (
    RES,
    RG,
    SUB,
    UA,
    PortSession,
    rg_entity,
    rg_id,
    running_port,
    sub_id,
)


def test_bulk_all_ok_is_200_with_created_flags_by_index() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        session.bulk(SUB, [{"identifier": sub_id(1), "title": "one"}])
        first = session.bulk(RG, [rg_entity(1, "a"), rg_entity(1, "b")])
        second = session.bulk(RG, [rg_entity(1, "b"), rg_entity(1, "c")])
        stored = emu.entities(RG)
    assert first.status_code == 200
    assert first.json() == {
        "ok": True,
        "entities": [
            {"created": True, "identifier": rg_id(1, "a"), "index": 0},
            {"created": True, "identifier": rg_id(1, "b"), "index": 1},
        ],
        "errors": [],
    }
    assert [e["created"] for e in second.json()["entities"]] == [False, True]
    assert {e["identifier"] for e in stored} == {rg_id(1, x) for x in "abc"}
    assert all(e["datasource"] == UA for e in stored)


def test_bulk_partial_failure_is_207_with_errors_by_index() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        entities = [
            rg_entity(1, "ok"),
            rg_entity(1, "typed", location=3),
            {**rg_entity(1, "unknown-prop"), "properties": {"colour": "red"}},
            {**rg_entity(1, "many"), "relations": {"subscription": [sub_id(1)]}},
            {**rg_entity(1, "bad-rel"), "relations": {"owner": "x"}},
            {**rg_entity(1, "missing-target"), "relations": {"subscription": sub_id(9)}},
        ]
        session.bulk(SUB, [{"identifier": sub_id(1), "title": "one"}])
        response = session.bulk(RG, entities)
        stored = {e["identifier"] for e in emu.entities(RG)}
    assert response.status_code == 207
    body = response.json()
    assert body["ok"] is False
    assert body["entities"] == [{"created": True, "identifier": rg_id(1, "ok"), "index": 0}]
    errors = {e["index"]: (e["statusCode"], e["error"]) for e in body["errors"]}
    assert errors == {
        1: (422, "blueprint_schema_mismatch"),
        2: (422, "blueprint_schema_mismatch"),
        3: (422, "relation_many_violation"),
        4: (422, "invalid_request"),
        5: (404, "not_found"),
    }
    assert body["errors"][0]["identifier"] == rg_id(1, "typed")
    assert stored == {rg_id(1, "ok")}


def test_bulk_route_schema_violations_fail_the_whole_request() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        too_many = session.bulk(RES, [{"identifier": f"r{i}"} for i in range(21)])
        empty = session.bulk(RES, [])
        bad_id = session.bulk(RES, [{"identifier": "ok"}, {"identifier": "has space"}])
        long_id = session.bulk(RES, [{"identifier": "x" * 1001}])
        bad_rel = session.bulk(RG, [{"identifier": "a", "relations": {"subscription": "a b"}}])
        unknown_bp = session.bulk("nope", [{"identifier": "a"}])
        count = emu.entity_count()
    for response in (too_many, empty, bad_id, long_id, bad_rel):
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_request"
    assert "body/entities/1/identifier must match pattern" in bad_id.json()["message"]
    assert unknown_bp.status_code == 404
    assert count == 0


def test_body_over_one_mib_is_413_with_ports_body() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        big = [{"identifier": f"r{i}", "properties": {"type": "x" * 60_000}} for i in range(20)]
        response = session.bulk(RES, big)
        after = session.request("GET", f"/v1/blueprints/{RES}/entities-count")
    assert response.status_code == 413
    assert response.json() == {
        "ok": False,
        "error": "bad_request",
        "message": "Request body is too large (limit is 1MiB)",
    }
    assert after.json() == {"ok": True, "count": 0}


def test_relation_target_missing_is_404_unless_placeholders_are_asked_for() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        refused = session.upsert(RG, rg_entity(1, "a"))
        created = session.upsert(RG, rg_entity(1, "a"), create_missing_related_entities=True)
        placeholder = emu.entity(SUB, sub_id(1))
    assert refused.status_code == 404 and refused.json()["error"] == "not_found"
    assert sub_id(1) in refused.json()["message"]
    assert created.status_code == 201
    assert created.json()["entity"]["relations"] == {"subscription": sub_id(1)}
    assert placeholder is not None
    assert placeholder["properties"] == {} and placeholder["datasource"] == UA


def test_merge_updates_only_sent_fields_and_plain_upsert_replaces() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        first = {
            **rg_entity(1, "a", provisioningState="Succeeded", tags={"a": "1"}),
            "team": "platform",
            "icon": "Azure",
        }
        session.upsert(RG, first, create_missing_related_entities=True)
        session.upsert(
            RG, {"identifier": rg_id(1, "a"), "properties": {"location": "north"}}, merge=True
        )
        merged = emu.entity(RG, rg_id(1, "a"))
        session.upsert(RG, {"identifier": rg_id(1, "a"), "properties": {"location": "south"}})
        replaced = emu.entity(RG, rg_id(1, "a"))
    assert merged is not None and replaced is not None
    assert merged["properties"] == {
        "location": "north",
        "provisioningState": "Succeeded",
        "tags": {"a": "1"},
    }
    assert merged["relations"] == {"subscription": sub_id(1)}
    assert merged["title"] == "a" and merged["team"] == ["platform"] and merged["icon"] == "Azure"
    assert replaced["properties"] == {"location": "south"}
    assert replaced["relations"] == {} and replaced["title"] is None and replaced["team"] == []


def test_null_properties_are_allowed_and_required_ones_are_enforced() -> None:
    with running_port() as emu:
        emu.add_blueprint(
            {
                "identifier": "app",
                "title": "App",
                "schema": {
                    "properties": {
                        "name": {"type": "string"},
                        "n": {"type": "number"},
                        "on": {"type": "boolean"},
                        "items": {"type": "array"},
                        "when": {"type": "string", "format": "date-time"},
                    },
                    "required": ["name"],
                },
            }
        )
        session = PortSession(emu)
        ok = session.upsert(
            "app",
            {
                "identifier": "a",
                "properties": {
                    "name": "x",
                    "n": 1.5,
                    "on": True,
                    "items": [1],
                    "when": "2024-01-02T03:04:05Z",
                },
            },
        )
        nulls = session.upsert("app", {"identifier": "b", "properties": {"name": "y", "n": None}})
        missing = session.upsert("app", {"identifier": "c", "properties": {"n": 1}})
        bool_as_number = session.upsert(
            "app", {"identifier": "d", "properties": {"name": "z", "n": True}}
        )
        bad_date = session.upsert(
            "app", {"identifier": "e", "properties": {"name": "z", "when": "yesterday"}}
        )
    assert ok.status_code == 201 and nulls.status_code == 201
    for refused in (missing, bool_as_number, bad_date):
        assert refused.status_code == 422
        assert refused.json()["error"] == "blueprint_schema_mismatch"


def test_create_without_upsert_conflicts_and_validation_only_writes_nothing() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        body = {"identifier": "vm", "title": "vm"}
        created = session.request("POST", f"/v1/blueprints/{RES}/entities", json=body)
        conflict = session.request("POST", f"/v1/blueprints/{RES}/entities", json=body)
        dry = session.upsert(RES, {"identifier": "dry", "title": "dry"}, validation_only=True)
        dry_bad = session.upsert(
            RES, {"identifier": "dry", "properties": {"type": 1}}, validation_only=True
        )
        exists = emu.entity(RES, "dry")
    assert created.status_code == 201
    assert conflict.status_code == 409 and conflict.json()["error"] == "identifier_taken"
    assert dry.status_code == 201 and exists is None
    assert dry_bad.status_code == 422


def test_percent_encoded_identifiers_with_slashes_round_trip() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        ident = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/a+b=c"
        session.upsert(RES, {"identifier": ident, "title": "site"})
        got = session.get_entity(RES, ident)
        missing = session.get_entity(RES, ident + "x")
        deleted = session.delete_entity(RES, ident)
        again = session.delete_entity(RES, ident)
    assert got.status_code == 200 and got.json()["entity"]["identifier"] == ident
    assert "datasource" not in got.json()["entity"]
    assert set(got.json()["entity"]) >= {
        "identifier",
        "title",
        "icon",
        "team",
        "properties",
        "relations",
        "blueprint",
        "createdAt",
        "updatedAt",
        "createdBy",
        "updatedBy",
    }
    assert missing.status_code == 404
    assert deleted.status_code == 200 and deleted.json() == {"ok": True}
    assert again.status_code == 404


#: A blueprint whose entities must relate to a resource group (Port refuses to delete the
#: group under them without delete_dependents).
ALERT = "alert"
ALERT_BLUEPRINT = {
    "identifier": ALERT,
    "title": "Alert",
    "schema": {"properties": {}},
    "relations": {"resource_group": {"target": RG, "required": True, "many": False}},
}


def test_delete_under_a_required_relation_needs_the_flag_and_then_deletes_them() -> None:
    with running_port() as emu:
        emu.add_blueprint(ALERT_BLUEPRINT)
        session = PortSession(emu)
        session.bulk(
            RG, [rg_entity(1, "a"), rg_entity(1, "b")], create_missing_related_entities=True
        )
        session.bulk(RES, [{"identifier": "vm", "relations": {"resource_group": rg_id(1, "a")}}])
        session.bulk(ALERT, [{"identifier": "cpu", "relations": {"resource_group": rg_id(1, "a")}}])
        refused = session.delete_entity(RG, rg_id(1, "a"))
        refused_false = session.delete_entity(RG, rg_id(1, "a"), delete_dependents=False)
        still = emu.entity_count()
        deleted = session.delete_entity(SUB, sub_id(1), delete_dependents=True)
        left = emu.entity_count()
    assert refused.status_code == 403 and refused.json()["error"] == "has_dependents"
    assert "required relation" in refused.json()["message"]
    assert refused_false.status_code == 403
    assert still == 5
    assert deleted.status_code == 200
    assert left == 0  # everything below the subscription, transitively, whatever the relation


def test_delete_under_optional_relations_clears_them_and_keeps_the_dependents() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        session.bulk(
            RG, [rg_entity(1, "a"), rg_entity(1, "b")], create_missing_related_entities=True
        )
        session.bulk(RES, [{"identifier": "vm", "relations": {"resource_group": rg_id(1, "a")}}])
        deleted = session.delete_entity(SUB, sub_id(1))
        groups = {e["identifier"]: e["relations"] for e in emu.entities(RG)}
        again = session.delete_entity(RG, rg_id(1, "a"))
        vm = emu.entity(RES, "vm")
        related = session.request(
            "POST",
            "/v1/entities/search",
            json={
                "combinator": "and",
                "rules": [
                    {"operator": "relatedTo", "blueprint": RG, "value": rg_id(1, "b")},
                ],
            },
        )
    assert deleted.status_code == 200
    assert groups == {rg_id(1, n): {"subscription": None} for n in "ab"}
    assert again.status_code == 200
    assert vm is not None and vm["relations"] == {"resource_group": None}
    assert related.json()["entities"] == []  # the cleared relations lead nowhere


def test_bulk_delete_deletes_listed_ids_and_guards_required_dependents() -> None:
    with running_port() as emu:
        emu.add_blueprint(ALERT_BLUEPRINT)
        session = PortSession(emu)
        session.bulk(RG, [rg_entity(1, n) for n in "abcd"], create_missing_related_entities=True)
        session.bulk(ALERT, [{"identifier": "cpu", "relations": {"resource_group": rg_id(1, "c")}}])
        session.bulk(RES, [{"identifier": "vm", "relations": {"resource_group": rg_id(1, "d")}}])
        path = f"/v1/blueprints/{RG}/bulk/entities/delete"
        ok = session.request(
            "POST",
            path,
            params={"delete_dependents": "false"},
            json={"entities": [rg_id(1, "a"), rg_id(1, "b"), rg_id(1, "zz"), rg_id(1, "d")]},
        )
        guarded = session.request(
            "POST",
            path,
            params={"delete_dependents": "false"},
            json={"entities": [rg_id(1, "c"), rg_id(1, "zz")]},
        )
        still_there = emu.entity(RG, rg_id(1, "c")) is not None
        too_many = session.request(
            "POST",
            path,
            params={"delete_dependents": "true"},
            json={"entities": [f"x{i}" for i in range(101)]},
        )
        cascade = session.request(
            "POST", path, params={"delete_dependents": "true"}, json={"entities": [rg_id(1, "c")]}
        )
        remaining = {(e["blueprint"], e["identifier"]): e["relations"] for e in emu.entities()}
    assert ok.status_code == 200
    assert ok.json() == {"ok": True, "deletedEntities": [rg_id(1, n) for n in "abd"]}
    assert guarded.status_code == 403 and guarded.json()["error"] == "has_dependents"
    assert still_there
    assert too_many.status_code == 422
    assert cascade.json()["deletedEntities"] == [rg_id(1, "c")]
    assert remaining == {(SUB, sub_id(1)): {}, (RES, "vm"): {"resource_group": None}}


def test_list_count_team_normalisation_and_put_patch() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        session.bulk(
            RES,
            [
                {"identifier": "a", "team": "t1", "properties": {"type": "vm"}},
                {"identifier": "b", "team": ["t1", "t2"]},
            ],
        )
        listed = session.request(
            "GET", f"/v1/blueprints/{RES}/entities", params={"include": ["identifier", "team"]}
        )
        count = session.request("GET", f"/v1/blueprints/{RES}/entities-count")
        patched = session.request(
            "PATCH", f"/v1/blueprints/{RES}/entities/a", json={"properties": {"location": "x"}}
        )
        put = session.request(
            "PUT", f"/v1/blueprints/{RES}/entities/b", json={"properties": {"location": "y"}}
        )
        put_missing = session.request("PUT", f"/v1/blueprints/{RES}/entities/zz", json={})
    assert listed.json()["entities"] == [
        {"identifier": "a", "team": ["t1"]},
        {"identifier": "b", "team": ["t1", "t2"]},
    ]
    assert count.json() == {"ok": True, "count": 2}
    assert patched.json()["entity"]["properties"] == {"type": "vm", "location": "x"}
    assert put.json()["entity"]["properties"] == {"location": "y"}
    assert put.json()["entity"]["team"] == []
    assert put_missing.status_code == 404


def test_datasource_follows_the_last_writer_and_unchanged_writes_keep_updated_at() -> None:
    with running_port() as emu:
        mine, theirs = PortSession(emu, "mine/1"), PortSession(emu, "theirs/1")
        mine.upsert(RES, {"identifier": "a", "title": "a"})
        before = emu.entity(RES, "a")
        mine.upsert(RES, {"identifier": "a", "title": "a"})
        same = emu.entity(RES, "a")
        theirs.upsert(RES, {"identifier": "a", "title": "a"})
        after = emu.entity(RES, "a")
    assert before is not None and same is not None and after is not None
    assert before["datasource"] == "mine/1" and after["datasource"] == "theirs/1"
    assert same["updatedAt"] == before["updatedAt"]


def test_reject_hook_forces_per_entity_errors() -> None:
    with running_port() as emu:
        emu.reject(lambda bp, e: e["identifier"].endswith("bad") and "forced by test")
        session = PortSession(emu)
        mixed = session.bulk(RES, [{"identifier": "good"}, {"identifier": "bad"}])
        emu.reject(lambda bp, e: PortApiError(422, "custom", "nope"))
        custom = session.upsert(RES, {"identifier": "x"})
        emu.reject(None)
        cleared = session.upsert(RES, {"identifier": "bad"})
    assert mixed.status_code == 207
    assert mixed.json()["errors"][0]["message"] == "forced by test"
    assert custom.status_code == 422 and custom.json()["error"] == "custom"
    assert cleared.status_code == 201
