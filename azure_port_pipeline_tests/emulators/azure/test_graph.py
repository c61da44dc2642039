"""Resource Graph through the real ResourceGraphClient: paging, scoping, quota, errors."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from azure_port_pipeline_tests.azure_fixtures import ARM_SCOPE, credential_for, sdk_kwargs

ALL = "resources | project id, name, type, subscriptionId | order by id asc"


def _client(emu):
    return ResourceGraphClient(credential_for(emu), **sdk_kwargs(emu))


def _query(client, query, subs, **options):
    return client.resources(
        QueryRequest(subscriptions=subs, query=query, options=QueryRequestOptions(**options))
    )


@pytest.fixture
def graph_emu(azure_emulator_clean):
    azure_emulator_clean.graph_quota.quota = None  # quota has its own tests
    yield azure_emulator_clean
    azure_emulator_clean.graph_quota.quota = 15


def test_skip_tokens_page_through_everything(graph_emu):
    emu = graph_emu
    subs = emu.estate.subscription_ids
    client = _client(emu)
    expected = sorted(r["id"] for r in emu.estate.graph_resources())
    seen, token, pages = [], None, 0
    while True:
        result = _query(client, ALL, subs, top=40, skip_token=token)
        pages += 1
        assert result.total_records == len(expected)
        assert result.result_truncated == "false" and result.count == len(result.data)
        seen.extend(row["id"] for row in result.data)
        token = result.skip_token
        if not token:
            break
    assert seen == expected and pages == -(-len(expected) // 40)
    assert result.data[0]["type"] == result.data[0]["type"].lower()


def test_skip_token_is_bound_to_query_and_scope(graph_emu):
    emu = graph_emu
    subs = emu.estate.subscription_ids
    client = _client(emu)
    token = _query(client, ALL, subs, top=10).skip_token
    assert token
    for query, scope in ((ALL + " | project id", subs), (ALL, subs[:1])):
        with pytest.raises(HttpResponseError) as caught:
            _query(client, query, scope, top=10, skip_token=token)
        assert caught.value.status_code == 400
        assert "InvalidSkipToken" in str(caught.value)


def test_take_disables_paging_and_skip_offsets(graph_emu):
    emu = graph_emu
    subs = emu.estate.subscription_ids
    client = _client(emu)
    limited = _query(client, "resources | order by id asc | take 30", subs, top=10)
    assert limited.count == 10 and limited.total_records == 30
    assert limited.result_truncated == "true" and limited.skip_token is None
    whole = _query(client, ALL, subs, top=20)
    skipped = _query(client, ALL, subs, top=5, skip=5)
    assert [r["id"] for r in skipped.data] == [r["id"] for r in whole.data[5:10]]
    default = _query(client, ALL, subs)
    assert default.count == 100  # $top defaults to 100


def test_subscriptions_scope_rows_before_the_query(graph_emu):
    emu = graph_emu
    first = emu.estate.subscription_ids[0]
    client = _client(emu)
    result = _query(client, "resources | summarize n = count() by subscriptionId", [first.upper()])
    assert [(r["subscriptionId"], r["n"]) for r in result.data] == [
        (first, len(emu.estate.graph_resources({first})))
    ]
    containers = _query(client, "resourcecontainers | project type, subscriptionId", [first])
    assert {r["subscriptionId"] for r in containers.data} == {first}
    assert {r["type"] for r in containers.data} == {
        "microsoft.resources/subscriptions",
        "microsoft.resources/subscriptions/resourcegroups",
    }


def test_table_result_format(graph_emu):
    emu = graph_emu
    result = _query(
        _client(emu),
        "resources | project id, name | order by id asc | take 3",
        emu.estate.subscription_ids,
        result_format="table",
    )
    assert [c["name"] for c in result.data["columns"]] == ["id", "name"]
    assert len(result.data["rows"]) == 3 and all(len(r) == 2 for r in result.data["rows"])


def test_kql_errors_are_bad_request_invalid_query(graph_emu):
    emu = graph_emu
    with pytest.raises(HttpResponseError) as caught:
        _query(_client(emu), "resources | frobnicate", emu.estate.subscription_ids)
    assert caught.value.status_code == 400
    assert caught.value.error.code == "BadRequest"
    assert caught.value.error.details[0].code == "InvalidQuery"
    with pytest.raises(HttpResponseError) as too_big:
        _query(_client(emu), ALL, emu.estate.subscription_ids, top=5000)
    assert too_big.value.status_code == 400


def test_quota_headers_and_rate_limiting_per_client(azure_emulator_factory):
    emu = azure_emulator_factory(rg_quota=3, rg_quota_window=300.0, resources=20)
    url = f"{emu.base_url}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"
    token = credential_for(emu).get_token(ARM_SCOPE).token
    remaining = []
    for _ in range(3):
        ok = requests.post(
            url,
            json={"query": "resources | take 1"},
            verify=emu.ca_file,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert ok.status_code == 200
        remaining.append(ok.headers["x-ms-user-quota-remaining"])
        resets = ok.headers["x-ms-user-quota-resets-after"]
        assert len(resets) == 8 and resets.count(":") == 2
    assert remaining == ["2", "1", "0"]
    with pytest.raises(HttpResponseError) as caught:
        _query(_client(emu), "resources | take 1", emu.estate.subscription_ids)
    error = caught.value
    assert error.status_code == 429 and error.error.code == "RateLimiting"
    assert "Retry-After" not in error.response.headers
    assert error.response.headers["x-ms-user-quota-remaining"] == "0"
    emu.add_client("second-client", "second-secret")
    other = requests.post(
        f"{emu.base_url}/{emu.tenant_id}/oauth2/v2.0/token",
        verify=emu.ca_file,
        timeout=10,
        data={
            "grant_type": "client_credentials",
            "client_id": "second-client",
            "client_secret": "second-secret",
            "scope": ARM_SCOPE,
        },
    )
    fresh = requests.post(
        url,
        json={"query": "resources | take 1"},
        verify=emu.ca_file,
        headers={"Authorization": f"Bearer {other.json()['access_token']}"},
        timeout=10,
    )
    assert fresh.status_code == 200 and fresh.headers["x-ms-user-quota-remaining"] == "2"


def test_quota_can_be_disabled(azure_emulator_factory):
    emu = azure_emulator_factory(rg_quota=None, resources=20)
    client = _client(emu)
    for _ in range(20):
        assert _query(client, "resources | take 1", emu.estate.subscription_ids).count == 1
