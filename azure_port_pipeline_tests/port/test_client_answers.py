"""What the client believes of Port's answers: only what Port confirms, never a raw crash.

The real client over real HTTP against the Port emulator, whose `answer_next` fault makes Port
(or a gateway in front of it) answer something other than the truth: `ok: false` on a 200,
HTML, a JSON list, a 207 naming entities that were not in the request.
"""

from __future__ import annotations

from typing import Any

import pytest

from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline.port import (
    PortApiError,
    PortAuthError,
    PortClient,
    PortResponseError,
    apply_plan,
    plan_sync,
)
from azure_port_pipeline_tests.port.conftest import fast_settings, resource_groups

BULK = "entities/bulk"
SEARCH = "entities/search"
TOKEN = "auth/access_token"
SCOPE = "sub-1:Microsoft.Resources/resourceGroups"
RG = "azureResourceGroup"
HTML_200 = "<!doctype html><html><head><title>Sign in</title></head><body>Portal</body></html>"
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def test_ok_false_on_a_200_bulk_answer_counts_nothing_as_written(
    emulator: PortEmulator, client: PortClient
) -> None:
    entities = resource_groups(3)
    plan = plan_sync(entities, [], listing_complete=True, deletion_threshold=0.9)
    results = [
        {"created": False, "identifier": e.identifier, "index": i} for i, e in enumerate(entities)
    ]
    emulator.faults.answer_next(
        1,
        status=200,
        body={
            "ok": False,
            "error": "internal_error",
            "message": "nothing written",
            "entities": results,
        },
        route=BULK,
    )
    report = apply_plan(client, plan, scope=SCOPE)
    assert (report.created, report.updated, report.failed) == (0, 0, 3)
    assert {(f.status, f.code) for f in report.failures} == {(200, "internal_error")}
    assert all("ok: false" in (f.message or "") for f in report.failures)
    assert all("nothing written" in (f.message or "") for f in report.failures)
    assert emulator.entity_count(RG) == 0


@pytest.mark.parametrize(
    "answer",
    [
        {"ok": False, "error": "internal_error", "message": "search is down"},
        {"ok": False, "entities": []},
    ],
)
def test_a_search_answered_ok_false_stops_the_scope_instead_of_meaning_nothing_owned(
    emulator: PortEmulator, client: PortClient, answer: dict[str, Any]
) -> None:
    client.bulk_upsert(resource_groups(2), scope=SCOPE)
    emulator.faults.answer_next(1, status=200, body=answer, route=SEARCH)
    with pytest.raises(PortResponseError) as caught:
        client.search_owned(RG, SCOPE)
    assert caught.value.status == 200
    assert "/entities/search" in caught.value.route and "ok: false" in str(caught.value)
    assert len(client.search_owned(RG, SCOPE)) == 2  # the next answer is the truth again


def test_a_404_search_that_is_not_ports_own_is_not_a_missing_blueprint(
    emulator: PortEmulator, client: PortClient
) -> None:
    emulator.faults.answer_next(1, status=404, raw="<html>Not Found</html>", route=SEARCH)
    with pytest.raises(PortApiError) as caught:
        client.search_owned(RG, SCOPE)
    assert caught.value.status == 404 and "text/html" in str(caught.value)
    assert client.search_owned("noSuchBlueprint", SCOPE) == []  # Port's JSON not_found


@pytest.mark.parametrize(
    ("route", "answer"),
    [
        (BULK, {"raw": HTML_200}),
        (BULK, {"body": [{"created": True, "index": 0}]}),
        (SEARCH, {"raw": HTML_200}),
        (SEARCH, {"body": []}),
        (SEARCH, {"body": {"ok": True, "entities": {"identifier": "x"}}}),
        (SEARCH, {"body": {"ok": True, "entities": ["x"]}}),
    ],
    ids=["bulk-html", "bulk-list", "search-html", "search-list", "search-dict", "search-strings"],
)
def test_a_200_that_is_not_ports_json_object_raises_a_named_error(
    emulator: PortEmulator, client: PortClient, route: str, answer: dict[str, Any]
) -> None:
    client.search_owned(RG, SCOPE)  # a token first: the fault is for the call itself
    emulator.faults.answer_next(1, status=200, route=route, **answer)
    with pytest.raises(PortResponseError) as caught:
        if route == BULK:
            client.bulk_upsert(resource_groups(2), scope=SCOPE)
        else:
            client.search_owned(RG, SCOPE)
    error = caught.value
    assert error.status == 200 and route in error.route
    if "raw" in answer:
        assert "not JSON" in error.message and "text/html" in error.message
        assert "Sign in" in error.message  # what answered, so a proxy's page can be recognized


@pytest.mark.parametrize(
    "answer",
    [
        {"raw": HTML_200},
        {"body": [{"accessToken": "x"}]},
        {"body": {"ok": True, "expiresIn": 3600}},
        {"body": {"ok": False, "error": "internal_error", "message": "try later"}},
    ],
    ids=["html", "list", "no-token", "ok-false"],
)
def test_a_token_answer_that_is_not_a_token_raises_a_named_error(
    emulator: PortEmulator, answer: dict[str, Any]
) -> None:
    emulator.faults.answer_next(1, status=200, route=TOKEN, **answer)
    with PortClient(fast_settings(emulator)) as client, pytest.raises(PortResponseError) as caught:
        client.search_owned(RG, SCOPE)
    error = caught.value
    assert error.route == "POST /v1/auth/access_token" and error.status == 200
    assert not isinstance(error, PortAuthError)  # not a credentials problem


def test_an_html_502_from_a_gateway_is_retried_then_reported_clearly(
    emulator: PortEmulator,
) -> None:
    with PortClient(fast_settings(emulator, max_retries=2)) as client:
        emulator.faults.answer_next(2, status=502, raw=HTML_502, route=BULK)
        outcomes = client.bulk_upsert(resource_groups(2), scope=SCOPE)
        assert all(o.ok for o in outcomes) and client.metrics.retries == 2
        emulator.faults.answer_next(3, status=502, raw=HTML_502, route=BULK)
        with pytest.raises(PortApiError) as caught:
            client.bulk_upsert(resource_groups(2), scope=SCOPE)
    error = caught.value
    assert (error.status, error.code) == (502, None)
    assert "not Port's JSON" in error.message and "text/html" in error.message
    assert "502 Bad Gateway" in error.message and "3 attempts" in error.message


def test_a_207_naming_indexes_outside_the_request_is_reported_not_misapplied(
    emulator: PortEmulator, client: PortClient
) -> None:
    entities = resource_groups(3)
    plan = plan_sync(entities, [], listing_complete=True, deletion_threshold=0.9)
    answer = {
        "ok": False,
        "entities": [
            {"created": True, "identifier": entities[0].identifier, "index": 0},
            {"created": True, "identifier": entities[1].identifier, "index": 1},
        ],
        "errors": [
            {"identifier": "ghost", "index": 7, "statusCode": 422, "error": "x", "message": "m7"},
            {"identifier": "ghost", "index": -1, "statusCode": 422, "error": "x", "message": "m-1"},
            "not an object",
        ],
    }
    emulator.faults.answer_next(1, status=207, body=answer, route=BULK, after=True)
    report = apply_plan(client, plan, scope=SCOPE)
    assert (report.created, report.updated, report.failed) == (2, 0, 1)
    [failure] = report.failures
    assert failure.identifier == entities[2].identifier and failure.status == 207
    assert "did not mention this entity" in (failure.message or "")
    assert "index 7" in (failure.message or "") and "index -1" in (failure.message or "")
    assert "m7" in (failure.message or "")


def test_ok_false_on_a_200_delete_answer_counts_nothing_as_deleted(
    emulator: PortEmulator, client: PortClient
) -> None:
    entities = resource_groups(3)
    apply_plan(
        client, plan_sync(entities, [], listing_complete=True, deletion_threshold=0.9), scope=SCOPE
    )
    ids = [e.identifier for e in entities]
    for route in ("bulk/entities/delete", "DELETE /v1/blueprints"):
        emulator.faults.answer_next(
            3, status=200, body={"ok": False, "message": "nothing deleted"}, route=route
        )
    outcomes = client.bulk_delete(RG, ids, delete_dependents=False)
    assert [o.ok for o in outcomes] == [False, False, False]
    assert all("nothing deleted" in (o.message or "") for o in outcomes)
    assert emulator.entity_count(RG) == 3
