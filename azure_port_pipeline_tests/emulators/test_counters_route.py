"""`GET /_emulator/counters` and `POST /_emulator/counters/reset`, served by the shared HTTP
core for both emulators: what a client cost each service, over real HTTP(S)."""

from __future__ import annotations

import requests
from azure.mgmt.resource.subscriptions import SubscriptionClient

from azure_port_pipeline.emulators.server import HttpServer, Request, RequestCounters, Response
from azure_port_pipeline_tests.azure_fixtures import credential_for, sdk_kwargs, start_emulator
from azure_port_pipeline_tests.emulators.port.support import PortSession, running_port


def test_the_core_serves_the_apps_counters_ahead_of_the_app() -> None:
    counters = RequestCounters()

    def app(request: Request) -> Response:
        counters.count(f"{request.method} /things")
        return Response(200, {"ok": True})

    server = HttpServer(app, lambda error: Response(500), counters=counters)
    with server, requests.Session() as http:
        http.get(f"{server.base_url}/things", timeout=10)
        http.get(f"{server.base_url}/things", timeout=10)
        http.post(f"{server.base_url}/things", timeout=10)

        seen = http.get(f"{server.base_url}/_emulator/counters", timeout=10)
        again = http.get(f"{server.base_url}/_emulator/counters/", timeout=10)
        wrong = http.post(f"{server.base_url}/_emulator/counters", timeout=10)
        reset = http.post(f"{server.base_url}/_emulator/counters/reset", timeout=10)
        after = http.get(f"{server.base_url}/_emulator/counters", timeout=10)

    expected = {
        "total": 3,
        "requests": {"GET /things": 2, "POST /things": 1},
        "routes": {"/things": {"GET": 2, "POST": 1}},
    }
    assert seen.status_code == 200 and seen.json() == expected
    assert again.json() == expected  # reading them is not counted
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET"
    assert reset.status_code == 200 and reset.json() == expected  # what it cleared
    assert after.json() == {"total": 0, "requests": {}, "routes": {}}


def test_without_counters_the_route_belongs_to_the_app() -> None:
    server = HttpServer(lambda request: Response(404, {"mine": True}), lambda e: Response(500))
    with server:
        answer = requests.get(f"{server.base_url}/_emulator/counters", timeout=10)
    assert answer.status_code == 404 and answer.json() == {"mine": True}


def test_the_azure_emulator_serves_its_counters_over_https() -> None:
    emu = start_emulator(resources=20)
    try:
        client = SubscriptionClient(credential_for(emu), **sdk_kwargs(emu))
        assert len(list(client.subscriptions.list())) == 3
        url = f"{emu.base_url}/_emulator/counters"

        seen = requests.get(url, verify=emu.ca_file, timeout=10).json()  # no token needed
        cleared = requests.post(f"{url}/reset", verify=emu.ca_file, timeout=10).json()
        after = requests.get(url, verify=emu.ca_file, timeout=10).json()
        counted = emu.counters
    finally:
        emu.stop()

    assert seen["routes"]["/subscriptions"] == {"GET": 1}
    assert seen["routes"]["/{tenant}/oauth2/v2.0/token"] == {"POST": 1}
    assert seen["requests"]["GET /subscriptions"] == 1
    assert seen["total"] == sum(seen["requests"].values())
    assert cleared == seen
    assert after == {"total": 0, "requests": {}, "routes": {}} and counted == {}


def test_the_port_emulator_serves_its_counters() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        assert session.request("GET", "/v1/blueprints").status_code == 200
        url = f"{emu.base_url}/_emulator/counters"

        seen = requests.get(url, timeout=10).json()
        cleared = requests.post(f"{url}/reset", timeout=10).json()
        after = requests.get(url, timeout=10).json()
        counted = emu.counters

    assert seen["routes"]["/v1/blueprints"] == {"GET": 1}
    assert seen["routes"]["/v1/auth/access_token"] == {"POST": 1}
    assert cleared == seen
    assert after == {"total": 0, "requests": {}, "routes": {}} and counted == {}
