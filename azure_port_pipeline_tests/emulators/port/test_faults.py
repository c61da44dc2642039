"""Port emulator misbehaviour on request: rate limits, 5xx, drops, counters."""

from __future__ import annotations

import time

import pytest
import requests

from azure_port_pipeline.emulators.port import serve
from azure_port_pipeline_tests.emulators.port.support import (
    RES,
    PortSession,
    running_port,
)

BULK = "POST /v1/blueprints/{bp}/entities/bulk"


def test_every_response_carries_rate_limit_headers_and_a_trace_id() -> None:
    with running_port() as emu:
        emu.faults.configure(rate_limit=5, rate_window=60)
        s = PortSession(emu)
        response = s.request("GET", "/v1/blueprints")
    assert response.headers["x-ratelimit-limit"] == "5"
    assert response.headers["x-ratelimit-period"] == "60"
    assert response.headers["x-ratelimit-remaining"] == "3"
    assert 0 < int(response.headers["x-ratelimit-reset"]) <= 60
    assert response.headers["X-Trace-Id"]


def test_budget_exhaustion_gives_429_with_retry_after() -> None:
    with running_port() as emu:
        emu.faults.configure(rate_limit=3, rate_window=60)
        s = PortSession(emu)
        statuses = [s.request("GET", "/v1/blueprints").status_code for _ in range(3)]
        throttled = s.request("GET", "/v1/blueprints")
    assert statuses == [200, 200, 429]
    assert throttled.status_code == 429
    assert throttled.json()["ok"] is False
    assert throttled.json()["error"] == "rate_limit_exceeded"
    assert throttled.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert emu.faults.throttled == 2


def test_429_without_retry_after_and_window_reset() -> None:
    with running_port() as emu:
        emu.faults.configure(rate_limit=2, rate_window=0.3, retry_after=False, reset_format="epoch")
        s = PortSession(emu)
        s.request("GET", "/v1/blueprints")
        throttled = s.request("GET", "/v1/blueprints")
        time.sleep(0.35)
        recovered = s.request("GET", "/v1/blueprints")
    assert throttled.status_code == 429
    assert "Retry-After" not in throttled.headers
    assert int(throttled.headers["x-ratelimit-reset"]) > 10**9
    assert recovered.status_code == 200


def test_fail_next_is_deterministic_and_route_targeted() -> None:
    with running_port() as emu:
        s = PortSession(emu)
        emu.faults.fail_next(2, status=503, route="entities/bulk")
        listed = s.request("GET", "/v1/blueprints")
        first = s.bulk(RES, [{"identifier": "a"}])
        second = s.bulk(RES, [{"identifier": "a"}])
        third = s.bulk(RES, [{"identifier": "a"}])
        emu.faults.fail_next(1)
        any_route = s.request("GET", "/v1/blueprints")
    assert listed.status_code == 200
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.json() == {
        "ok": False,
        "error": "service_unavailable",
        "message": "Injected fault: HTTP 503",
    }
    assert any_route.status_code == 500 and any_route.json()["error"] == "internal_error"
    assert emu.entity_count(RES) == 1
    assert emu.faults.pending() == 0


def test_throttle_next_sends_429_with_chosen_retry_after() -> None:
    with running_port() as emu:
        s = PortSession(emu)
        emu.faults.throttle_next(1, route=BULK, retry_after=7)
        emu.faults.throttle_next(1, route=BULK, retry_after=None)
        with_header = s.bulk(RES, [{"identifier": "a"}])
        without = s.bulk(RES, [{"identifier": "a"}])
    assert with_header.status_code == 429 and with_header.headers["Retry-After"] == "7"
    assert without.status_code == 429 and "Retry-After" not in without.headers


def test_drop_next_closes_the_connection_before_or_after_the_write() -> None:
    with running_port() as emu:
        s = PortSession(emu)
        emu.faults.drop_next(1, route="entities/bulk")
        with pytest.raises(requests.ConnectionError):
            s.bulk(RES, [{"identifier": "before"}])
        emu.faults.drop_next(1, route="entities/bulk", after=True)
        with pytest.raises(requests.ConnectionError):
            s.bulk(RES, [{"identifier": "after"}])
        healthy = s.bulk(RES, [{"identifier": "later"}])
        stored = {e["identifier"] for e in emu.entities(RES)}
    assert healthy.status_code == 200
    assert stored == {"after", "later"}


def test_seeded_error_rate_is_reproducible() -> None:
    def run(seed: int) -> list[int]:
        with running_port() as emu:
            s = PortSession(emu)
            emu.faults.configure(error_rate=0.5, seed=seed)
            return [s.request("GET", "/v1/blueprints").status_code for _ in range(20)]

    first, second = run(7), run(7)
    assert first == second
    assert set(first) == {200, 500}


def test_drop_rate_one_drops_everything() -> None:
    with running_port() as emu:
        s = PortSession(emu)
        emu.faults.configure(drop_rate=1.0)
        with pytest.raises(requests.ConnectionError):
            s.request("GET", "/v1/blueprints")
        emu.faults.clear()
        assert s.request("GET", "/v1/blueprints").status_code == 200


def test_counters_count_by_route_template_and_reset() -> None:
    with running_port() as emu:
        s = PortSession(emu)
        s.bulk(RES, [{"identifier": "a/b"}])
        s.bulk(RES, [{"identifier": "c"}])
        s.get_entity(RES, "a/b")
        s.request("GET", "/v1/nowhere")
        counters = emu.counters
        emu.reset_counters()
        s.request("GET", f"/v1/blueprints/{RES}/entities-count")
        after = emu.counters
    assert counters == {
        "POST /v1/auth/access_token": 1,
        BULK: 2,
        "GET /v1/blueprints/{bp}/entities/{id}": 1,
        "GET <unmatched>": 1,
    }
    assert after == {"GET /v1/blueprints/{bp}/entities-count": 1}


def test_unknown_route_is_404_and_bad_json_is_400() -> None:
    with running_port() as emu:
        s = PortSession(emu)
        unknown = s.request("GET", "/v1/nowhere")
        bad_json = s.request(
            "POST",
            f"/v1/blueprints/{RES}/entities/bulk",
            params={"upsert": "true"},
            data=b"{not json",
            headers={"Content-Type": "application/json"},
        )
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    assert bad_json.status_code == 400 and bad_json.json()["error"] == "bad_request"


def test_serve_refuses_to_start_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORT_CLIENT_ID", raising=False)
    monkeypatch.setenv("PORT_CLIENT_SECRET", "x")
    with pytest.raises(SystemExit, match="PORT_CLIENT_ID and PORT_CLIENT_SECRET"):
        serve(0)


def test_answer_next_replaces_the_answer_before_or_after_the_write() -> None:
    with running_port() as emu:
        s = PortSession(emu)
        html = "<html><title>502 Bad Gateway</title></html>"
        emu.faults.answer_next(1, status=502, raw=html, route=BULK)
        emu.faults.answer_next(1, status=200, body=[1, 2], route=BULK)
        emu.faults.answer_next(1, body={"ok": False, "message": "no"}, route=BULK, after=True)
        gateway = s.bulk(RES, [{"identifier": "not-written"}])
        listed = s.bulk(RES, [{"identifier": "not-written-either"}])
        not_ok = s.bulk(RES, [{"identifier": "written"}])
        stored = {e["identifier"] for e in emu.entities(RES)}
    assert (gateway.status_code, gateway.text) == (502, html)
    assert gateway.headers["Content-Type"].startswith("text/html")
    assert gateway.headers["X-Trace-Id"] and gateway.headers["x-ratelimit-limit"]
    assert (listed.status_code, listed.json()) == (200, [1, 2])
    assert (not_ok.status_code, not_ok.json()) == (200, {"ok": False, "message": "no"})
    assert stored == {"written"}


def test_expire_token_next_expires_tokens_as_that_request_arrives() -> None:
    with running_port() as emu:
        s = PortSession(emu)
        emu.faults.expire_token_next(1, route=BULK)
        listed = s.request("GET", "/v1/blueprints")
        expired = s.bulk(RES, [{"identifier": "a"}])
        s.authenticate()
        again = s.bulk(RES, [{"identifier": "a"}])
    assert listed.status_code == 200
    assert expired.status_code == 401 and expired.json()["message"] == "Token expired"
    assert again.status_code == 200


def test_fail_next_can_aim_at_one_writer_by_user_agent() -> None:
    with running_port() as emu:
        mine = PortSession(emu, "azure-port-pipeline (installation=t; scope=sub-1:storage)")
        other = PortSession(emu, "azure-port-pipeline (installation=t; scope=sub-1:vms)")
        emu.faults.fail_next(2, status=500, route=BULK, agent="scope=sub-1:storage")
        theirs = other.bulk(RES, [{"identifier": "vm"}])
        first = mine.bulk(RES, [{"identifier": "sa"}])
        second = mine.bulk(RES, [{"identifier": "sa"}])
        third = mine.bulk(RES, [{"identifier": "sa"}])
    assert [theirs.status_code, first.status_code, second.status_code] == [200, 500, 500]
    assert third.status_code == 200
