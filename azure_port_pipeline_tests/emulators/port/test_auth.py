"""Port emulator auth: client-credentials tokens that expire, 401 otherwise."""

from __future__ import annotations

import time

import requests

from azure_port_pipeline_tests.emulators.port.support import (
    CLIENT_ID,
    CLIENT_SECRET,
    PortSession,
    running_port,
)

CREDS = {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}


def test_token_is_issued_and_the_same_token_returned_until_expiry() -> None:
    with running_port() as emu:
        first = requests.post(f"{emu.base_url}/v1/auth/access_token", json=CREDS, timeout=5)
        second = requests.post(f"{emu.base_url}/v1/auth/access_token", json=CREDS, timeout=5)
    assert first.status_code == 200
    body = first.json()
    assert body["ok"] is True and body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 10800
    assert second.json()["accessToken"] == body["accessToken"]
    assert first.headers["X-Trace-Id"]


def test_wrong_credentials_and_malformed_bodies_are_refused() -> None:
    with running_port() as emu:
        url = f"{emu.base_url}/v1/auth/access_token"
        wrong = requests.post(url, json={**CREDS, "clientSecret": "nope"}, timeout=5)
        unknown = requests.post(url, json={**CREDS, "clientId": "other"}, timeout=5)
        extra = requests.post(url, json={**CREDS, "grant_type": "x"}, timeout=5)
        missing = requests.post(url, json={"clientId": CLIENT_ID}, timeout=5)
    assert wrong.status_code == 401 and wrong.json()["ok"] is False
    assert unknown.status_code == 401
    assert CLIENT_SECRET not in wrong.text
    assert extra.status_code == 422 and extra.json()["error"] == "invalid_request"
    assert missing.status_code == 422


def test_requests_without_or_with_a_bad_token_get_401() -> None:
    with running_port() as emu:
        session = PortSession(emu, auth=False)
        no_token = session.request("GET", "/v1/blueprints")
        session.http.headers["Authorization"] = "Bearer not-a-token"
        bad_token = session.request("GET", "/v1/blueprints")
        session.authenticate()
        good = session.request("GET", "/v1/blueprints")
    assert no_token.status_code == 401 and no_token.json()["error"] == "unauthorized"
    assert bad_token.status_code == 401
    assert good.status_code == 200 and len(good.json()["blueprints"]) == 3


def test_tokens_expire_and_a_new_one_is_issued_after() -> None:
    with running_port(token_lifetime=0.3) as emu:
        session = PortSession(emu)
        old = session.http.headers["Authorization"]
        assert session.request("GET", "/v1/blueprints").status_code == 200
        time.sleep(0.4)
        expired = session.request("GET", "/v1/blueprints")
        session.authenticate()
        renewed = session.request("GET", "/v1/blueprints")
    assert expired.status_code == 401
    assert expired.json()["message"] == "Token expired"
    assert session.http.headers["Authorization"] != old
    assert renewed.status_code == 200


def test_expire_tokens_helper_invalidates_issued_tokens() -> None:
    with running_port() as emu:
        session = PortSession(emu)
        emu.expire_tokens()
        refused = session.request("GET", "/v1/blueprints")
        session.authenticate()
        accepted = session.request("GET", "/v1/blueprints")
    assert refused.status_code == 401
    assert accepted.status_code == 200
