"""Port emulator blueprints: CRUD with Port's validation."""

from __future__ import annotations

from typing import Any

from azure_port_pipeline_tests.emulators.port.support import (
    RES,
    RG,
    SUB,
    PortSession,
    running_port,
)


def bp(identifier: str = "service", **extra: Any) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "title": "Service",
        "schema": {"properties": {"language": {"type": "string", "title": "Language"}}},
        **extra,
    }


def test_create_get_list_and_conflict() -> None:
    with running_port(blueprints=False) as emu:
        session = PortSession(emu)
        created = session.request("POST", "/v1/blueprints", json=bp())
        again = session.request("POST", "/v1/blueprints", json=bp())
        got = session.request("GET", "/v1/blueprints/service")
        listed = session.request("GET", "/v1/blueprints")
        missing = session.request("GET", "/v1/blueprints/nope")
    assert created.status_code == 201
    assert created.json()["blueprint"]["identifier"] == "service"
    assert created.json()["blueprint"]["createdBy"] == "test-client"
    assert again.status_code == 409 and again.json()["error"] == "identifier_taken"
    assert got.json()["blueprint"]["schema"]["required"] == []
    assert [b["identifier"] for b in listed.json()["blueprints"]] == ["service"]
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_blueprint_validation_errors_are_422() -> None:
    bad_bodies = [
        bp(identifier="has space"),
        bp(identifier="x" * 101),
        bp(identifier=".."),
        bp(identifier="with=equals"),
        {**bp(), "title": ""},
        {k: v for k, v in bp().items() if k != "title"},
        {k: v for k, v in bp().items() if k != "schema"},
        bp(schema={"properties": {"p": {"type": "date"}}}),
        bp(schema={"properties": {"bad name": {"type": "string"}}}),
        bp(schema={"properties": {}, "required": ["ghost"]}),
        bp(schema={"properties": {}, "other": 1}),
        bp(relations={"r": {"target": "service", "many": False}}),
        bp(relations={"r": {"target": "service", "required": False, "many": "no"}}),
    ]
    with running_port(blueprints=False) as emu:
        session = PortSession(emu)
        responses = [session.request("POST", "/v1/blueprints", json=b) for b in bad_bodies]
        listed = session.request("GET", "/v1/blueprints").json()["blueprints"]
    for body, response in zip(bad_bodies, responses, strict=True):
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"] == "invalid_request"
    assert listed == []


def test_unicode_letters_and_azure_punctuation_are_valid_identifiers() -> None:
    with running_port(blueprints=False) as emu:
        session = PortSession(emu)
        response = session.request("POST", "/v1/blueprints", json=bp("שירות_Ü-1@a.b+c:d/e"))
    assert response.status_code == 201


def test_relation_targets_must_exist_and_patch_adds_relations() -> None:
    with running_port(blueprints=False) as emu:
        session = PortSession(emu)
        rel = {"env": {"target": "environment", "required": False, "many": False}}
        dangling = session.request("POST", "/v1/blueprints", json=bp(relations=rel))
        session.request("POST", "/v1/blueprints", json=bp())
        session.request("POST", "/v1/blueprints", json=bp("environment"))
        patched = session.request("PATCH", "/v1/blueprints/service", json={"relations": rel})
        prop = {"schema": {"properties": {"tier": {"type": "number"}}}}
        patched_prop = session.request("PATCH", "/v1/blueprints/service", json=prop)
    assert dangling.status_code == 404 and dangling.json()["error"] == "not_found"
    assert patched.status_code == 200
    assert patched.json()["blueprint"]["relations"]["env"]["target"] == "environment"
    properties = patched_prop.json()["blueprint"]["schema"]["properties"]
    assert set(properties) == {"language", "tier"}
    assert patched_prop.json()["blueprint"]["relations"] == rel


def test_put_replaces_and_delete_refuses_blueprints_in_use() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        put = session.request(
            "PUT",
            f"/v1/blueprints/{SUB}",
            json={
                "title": "Subscription",
                "schema": {"properties": {"state": {"type": "string"}}},
            },
        )
        targeted = session.request("DELETE", f"/v1/blueprints/{SUB}")
        targeted_rg = session.request("DELETE", f"/v1/blueprints/{RG}")
        session.bulk(RES, [{"identifier": "vm1", "title": "vm1"}])
        with_entities = session.request("DELETE", f"/v1/blueprints/{RES}")
        session.delete_entity(RES, "vm1", delete_dependents=False)
        deleted = session.request("DELETE", f"/v1/blueprints/{RES}")
        gone = session.request("GET", f"/v1/blueprints/{RES}")
    assert put.status_code == 200
    assert set(put.json()["blueprint"]["schema"]["properties"]) == {"state"}
    assert targeted.status_code == 422 and targeted.json()["error"] == "has_dependents"
    assert targeted_rg.status_code == 422
    assert with_entities.status_code == 422 and "entities" in with_entities.json()["message"]
    assert deleted.status_code == 200 and deleted.json() == {"ok": True}
    assert gone.status_code == 404


def test_constructor_blueprints_are_created_in_ocean_order() -> None:
    from azure_port_pipeline.emulators.port import PortEmulator
    from azure_port_pipeline_tests.emulators.port.support import default_blueprints

    emu = PortEmulator(blueprints=list(reversed(default_blueprints())))
    stored = {b["identifier"]: b for b in emu.blueprints()}
    assert stored[RG]["relations"]["subscription"]["target"] == SUB
    assert stored[RES]["relations"]["resource_group"]["target"] == RG
