"""Injected faults, as the real SDK clients experience them, and the route counters."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest

from azure_port_pipeline_tests.azure_fixtures import credential_for, sdk_kwargs

STORAGE = "Microsoft.Storage/storageAccounts"
RG_ROUTE = "GET /subscriptions/{sub}/resourcegroups"


def _rm(emu, sub=None, **kwargs):
    sub = sub or emu.estate.subscription_ids[0]
    return ResourceManagementClient(credential_for(emu), sub, **sdk_kwargs(emu), **kwargs)


def test_arm_429_with_retry_after_is_retried_by_the_sdk(azure_emulator_clean):
    emu = azure_emulator_clean
    emu.faults.throttle_arm(times=2, retry_after=0.05, route="*resourcegroups")
    groups = list(_rm(emu).resource_groups.list())
    assert len(groups) == 4
    assert emu.counters[RG_ROUTE] == 3  # two 429s, then the page


def test_arm_429_carries_retry_after_and_code(azure_emulator_clean):
    emu = azure_emulator_clean
    emu.faults.throttle_arm(times=1, retry_after=7)
    client = _rm(emu, retry_total=0)
    response = client.send_request(
        HttpRequest(
            "GET",
            f"/subscriptions/{emu.estate.subscription_ids[0]}/resourcegroups"
            "?api-version=2025-04-01",
        )
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"]["code"] == "TooManyRequests"
    assert list(_rm(emu).resource_groups.list())  # used up: the next call is fine


def test_5xx_n_times_on_one_route_pattern(azure_emulator_clean):
    emu = azure_emulator_clean
    emu.faults.server_error(times=2, status=503, route="GET /subscriptions/*/providers/*")
    client = _rm(emu, retry_backoff_factor=0.01)
    sub = emu.estate.subscription_ids[0]
    assert len(list(client.resource_groups.list())) == 4  # other routes unaffected
    response = client.send_request(
        HttpRequest("GET", f"/subscriptions/{sub}/providers/{STORAGE}?api-version=2023-01-01")
    )
    assert response.status_code == 200  # the SDK retried through both 503s
    assert emu.counters["GET /subscriptions/{sub}/providers/{namespace}/{type}"] == 3
    with pytest.raises(ValueError):
        emu.faults.server_error(status=404)


def test_slow_pages_are_delayed(azure_emulator_clean):
    emu = azure_emulator_clean
    emu.faults.slow(0.2, route="*resourcegroups", times=1)
    started = time.monotonic()
    assert len(list(_rm(emu).resource_groups.list())) == 4
    assert time.monotonic() - started >= 0.2


def test_forbidden_subscription_answers_403(azure_emulator_clean):
    emu = azure_emulator_clean
    blocked, allowed = emu.estate.subscription_ids[:2]
    emu.faults.forbid_subscription(blocked)
    with pytest.raises(HttpResponseError) as caught:
        list(_rm(emu, blocked).resource_groups.list())
    assert caught.value.status_code == 403
    assert caught.value.error.code == "AuthorizationFailed"
    assert f"/subscriptions/{blocked}" in caught.value.error.message
    assert list(_rm(emu, allowed).resource_groups.list())
    graph = ResourceGraphClient(credential_for(emu), **sdk_kwargs(emu))
    rows = graph.resources(
        QueryRequest(subscriptions=[blocked, allowed], query="resources | distinct subscriptionId")
    ).data
    assert rows == [{"subscriptionId": allowed}]


def test_listing_breaks_mid_way(azure_emulator_clean):
    emu = azure_emulator_clean
    emu.page_size = 3
    sub = emu.estate.subscription_ids[0]
    emu.faults.break_listing(sub, STORAGE.lower(), ok_pages=2)
    client = _rm(emu, sub, retry_total=0)
    url = f"/subscriptions/{sub}/providers/{STORAGE}?api-version=2023-01-01"
    statuses, seen = [], 0
    while url:
        response = client.send_request(HttpRequest("GET", url))
        statuses.append(response.status_code)
        if response.status_code != 200:
            break
        seen += len(response.json()["value"])
        url = response.json().get("nextLink")
    assert statuses == [200, 200, 500] and seen == 6
    again = client.send_request(HttpRequest("GET", response.request.url))
    assert again.status_code == 500  # every later page, every time
    other = emu.estate.subscription_ids[1]
    fine = client.send_request(
        HttpRequest("GET", f"/subscriptions/{other}/providers/{STORAGE}?api-version=2023-01-01")
    )
    assert fine.status_code == 200


def test_graph_throttle_and_graph_5xx(azure_emulator_clean):
    emu = azure_emulator_clean
    emu.graph_quota.quota = None
    try:
        graph = ResourceGraphClient(credential_for(emu), **sdk_kwargs(emu), retry_total=0)
        request = QueryRequest(
            subscriptions=emu.estate.subscription_ids, query="resources | take 1"
        )
        emu.faults.throttle_graph(times=1)
        with pytest.raises(HttpResponseError) as caught:
            graph.resources(request)
        assert caught.value.status_code == 429 and caught.value.error.code == "RateLimiting"
        emu.faults.server_error(times=1, status=500, route="*resourcegraph*")
        with pytest.raises(HttpResponseError) as broken:
            graph.resources(request)
        assert broken.value.status_code == 500
        assert graph.resources(request).count == 1
    finally:
        emu.graph_quota.quota = 15


def test_counters_by_route_and_reset(azure_emulator_clean):
    emu = azure_emulator_clean
    client = _rm(emu)
    list(client.resource_groups.list())
    record = emu.estate.list_type(emu.estate.subscription_ids[0], STORAGE)[0]
    client.resources.get_by_id(record.id, api_version="2023-01-01")
    assert emu.counters[RG_ROUTE] == 1 and emu.counters["GET /{resourceId}"] == 1
    emu.reset_counters()
    assert sum(emu.counters.values()) == 0


def _raw_get(emu, path: str, **kwargs):
    client = _rm(emu, retry_total=0, **kwargs)
    return client.send_request(HttpRequest("GET", path))


def test_arm_429_without_retry_after_and_forever(azure_emulator_clean):
    emu = azure_emulator_clean
    sub = emu.estate.subscription_ids[0]
    emu.faults.throttle_arm(times=None, retry_after=None, route="*resourcegroups")
    for _ in range(3):
        response = _raw_get(emu, f"/subscriptions/{sub}/resourcegroups?api-version=2025-04-01")
        assert response.status_code == 429
        assert "Retry-After" not in response.headers


def test_echo_authorization_quotes_the_bearer_token(azure_emulator_clean):
    emu = azure_emulator_clean
    sub = emu.estate.subscription_ids[0]
    emu.faults.echo_authorization(times=1, status=403, route="*resourcegroups")
    response = _raw_get(emu, f"/subscriptions/{sub}/resourcegroups?api-version=2025-04-01")
    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert any(f"Authorization: Bearer {token}" in message for token in emu.issued_tokens())
    assert (
        _raw_get(emu, f"/subscriptions/{sub}/resourcegroups?api-version=2025-04-01").status_code
        == 200
    )


def test_rewrite_page_sends_another_body_or_raw_text(azure_emulator_clean):
    emu = azure_emulator_clean
    sub = emu.estate.subscription_ids[0]
    path = f"/subscriptions/{sub}/resourcegroups?api-version=2025-04-01"
    emu.faults.rewrite_page(lambda body: {"value": ["x", *body["value"]]}, route="*resourcegroups")
    assert _raw_get(emu, path).json()["value"][0] == "x"
    emu.faults.rewrite_page(lambda body: "<html>bad gateway</html>", route="*resourcegroups")
    response = _raw_get(emu, path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html"
    assert response.text() == "<html>bad gateway</html>"
    assert len(_raw_get(emu, path).json()["value"]) == 4  # both used up


def test_entra_is_faulted_only_when_a_route_names_it(azure_emulator_clean):
    emu = azure_emulator_clean
    emu.faults.server_error(times=None, status=503)  # every ARM request, never Entra
    credential = credential_for(emu)
    assert credential.get_token("https://management.azure.com/.default").token
    emu.faults.clear()
    emu.faults.server_error(times=1, status=503, route="*oauth2/v2.0/token")
    fresh = credential_for(emu)
    assert fresh.get_token("https://management.azure.com/.default").token  # retried once
    assert emu.counters["POST /{tenant}/oauth2/v2.0/token"] == 3
