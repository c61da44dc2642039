"""Latency per service (`faults.latency`): ARM pages and Resource Graph queries answer late,
Entra's token requests never, and concurrent requests wait side by side; `emulate azure
--arm-latency / --graph-latency` on the command line.

Wall time is only ever checked from below (a loaded machine is slow, never fast); that the
waits overlap is checked on the emulator's own count of requests in flight.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest
import requests
from azure.identity import ClientSecretCredential

from azure_port_pipeline.emulators.azure import AzureEmulator, serve
from azure_port_pipeline_tests.azure_fixtures import (
    ARM_SCOPE,
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT_ID,
    credential_for,
)
from azure_port_pipeline_tests.emulators.standalone import serving

GRAPH = "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"


def _token(emu: AzureEmulator) -> str:
    return credential_for(emu).get_token(ARM_SCOPE).token


def _list_groups(base_url: str, ca_file: str, token: str, sub: str) -> requests.Response:
    """One page of a listing, as the SDK asks for it."""
    return requests.get(
        f"{base_url}/subscriptions/{sub}/resourcegroups?api-version=2025-04-01",
        headers={"Authorization": f"Bearer {token}"},
        verify=ca_file,
        timeout=60,
    )


def _query(emu: AzureEmulator, token: str) -> requests.Response:
    return requests.post(
        f"{emu.base_url}{GRAPH}",
        json={"query": "resources | take 1"},
        headers={"Authorization": f"Bearer {token}"},
        verify=emu.ca_file,
        timeout=60,
    )


def _timed(call: Any, *args: Any) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = call(*args)
    return response, time.monotonic() - started


def test_arm_latency_delays_each_listing_page(azure_emulator_clean):
    emu = azure_emulator_clean
    token = _token(emu)  # before the latency: only the page is timed
    emu.faults.latency(arm=0.3)
    response, elapsed = _timed(
        _list_groups, emu.base_url, emu.ca_file, token, emu.estate.subscription_ids[0]
    )
    assert response.status_code == 200
    assert elapsed >= 0.3
    assert emu.faults.latency_stats()["delayed"] == {"arm": 1, "graph": 0}


def test_graph_latency_delays_each_query_and_only_queries(azure_emulator_clean):
    emu = azure_emulator_clean
    token = _token(emu)
    emu.faults.latency(graph=0.3)
    response, elapsed = _timed(_query, emu, token)
    assert response.status_code == 200
    assert elapsed >= 0.3
    page = _list_groups(emu.base_url, emu.ca_file, token, emu.estate.subscription_ids[0])
    assert page.status_code == 200
    stats = emu.faults.latency_stats()
    assert stats["delayed"] == {"arm": 0, "graph": 1}, "the ARM page had no latency set"
    assert (stats["arm_latency"], stats["graph_latency"]) == (0.0, 0.3)


def test_token_requests_are_never_delayed(azure_emulator_clean):
    emu = azure_emulator_clean
    emu.faults.latency(arm=2, graph=2)
    assert _token(emu)  # a new credential: OpenID discovery, then the token request
    token_routes = [key for key in emu.counters if "oauth2" in key or "openid" in key]
    assert token_routes, emu.counters
    assert emu.faults.latency_stats()["delayed"] == {"arm": 0, "graph": 0}


def test_concurrent_requests_wait_side_by_side(azure_emulator_clean):
    """Each request sleeps on its own thread: two at once are both in flight together."""
    emu = azure_emulator_clean
    token = _token(emu)
    emu.faults.latency(arm=1.0)
    start = threading.Barrier(2)
    statuses: list[int] = []

    def one(sub: str) -> None:
        start.wait()
        statuses.append(_list_groups(emu.base_url, emu.ca_file, token, sub).status_code)

    threads = [threading.Thread(target=one, args=(sub,)) for sub in emu.estate.subscription_ids[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stats = emu.faults.latency_stats()
    assert statuses == [200, 200]
    assert stats["delayed"]["arm"] == 2
    assert stats["peak_in_flight"] == 2, "the second request waited for the first"
    assert stats["in_flight"] == 0


def test_latency_settings_are_checked_kept_and_cleared(azure_emulator_clean):
    faults = azure_emulator_clean.faults
    faults.latency(arm=0.15, graph=0.3)
    faults.latency(graph=0.5)  # None: ARM's stays
    stats = faults.latency_stats()
    assert (stats["arm_latency"], stats["graph_latency"]) == (0.15, 0.5)
    for bad in ({"arm": -1}, {"graph": float("nan")}, {"arm": float("inf")}):
        with pytest.raises(ValueError, match="latency must be 0 or more"):
            faults.latency(**bad)
    faults.clear()
    stats = faults.latency_stats()
    assert (stats["arm_latency"], stats["graph_latency"]) == (0.0, 0.0)


def test_serve_refuses_a_negative_latency(tmp_path):
    with pytest.raises(SystemExit, match="--arm-latency must be 0 or more"):
        serve(0, str(tmp_path / "ca.pem"), arm_latency=-0.1)
    with pytest.raises(SystemExit, match="--graph-latency must be 0 or more"):
        serve(0, str(tmp_path / "ca.pem"), graph_latency=-1)


def test_cli_passes_the_latencies_to_serve(monkeypatch, tmp_path):
    from azure_port_pipeline import cli

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "azure_port_pipeline.emulators.azure.serve", lambda *a, **kw: calls.append(kw)
    )
    args = ["emulate", "azure", "--ca-file", str(tmp_path / "ca.pem")]
    assert cli.main(args) == 0
    assert cli.main([*args, "--arm-latency", "0.15", "--graph-latency", "0.3"]) == 0
    assert [(c["arm_latency"], c["graph_latency"]) for c in calls] == [(0.0, 0.0), (0.15, 0.3)]


def test_emulate_azure_with_latency_answers_late(tmp_path):
    """The whole path: flags, the ready line saying so, a page through real HTTPS."""
    ca = tmp_path / "ca.pem"
    code = (
        "from azure_port_pipeline.cli import main; "
        f"main(['emulate', 'azure', '--port', '0', '--ca-file', {str(ca)!r}, "
        "'--subscriptions', '1', '--resources', '10', "
        "'--arm-latency', '0.3', '--graph-latency', '0.5'])"
    )
    env = {"AZURE_TENANT_ID": TENANT_ID, "AZURE_CLIENT_ID": CLIENT_ID}
    env["AZURE_CLIENT_SECRET"] = CLIENT_SECRET
    with serving(code, env) as child:
        line = child.wait_for_line("Azure emulator on ")
        latency_line = child.wait_for_line("Latency added: ")
        subscription = child.wait_for_line("  Enabled").split()[0]
        base = line.split(" on ", 1)[1].split(" ", 1)[0]
        token = ClientSecretCredential(
            TENANT_ID,
            CLIENT_ID,
            CLIENT_SECRET,
            authority=base,
            disable_instance_discovery=True,
            connection_verify=str(ca),
        ).get_token(ARM_SCOPE)
        response, elapsed = _timed(_list_groups, base, str(ca), token.token, subscription)
        exit_code = child.stop_with(signal.SIGTERM)
    assert "0.3 s to each ARM request, 0.5 s to each Resource Graph query" in latency_line
    assert response.status_code == 200
    assert elapsed >= 0.3
    assert exit_code == 0, child.output
