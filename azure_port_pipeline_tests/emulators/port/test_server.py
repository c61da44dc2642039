"""Port emulator as a server: standalone `serve`, slow answers, concurrent writers, scale."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from azure_port_pipeline.emulators.port.store import UpsertOptions
from azure_port_pipeline_tests.emulators.port.support import (
    RES,
    PortSession,
    running_port,
)
from azure_port_pipeline_tests.emulators.standalone import serving

SERVE_SCRIPT = "from azure_port_pipeline.emulators.port import serve; serve(0)"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_serve_runs_standalone_and_stops_cleanly_on_a_signal(stop_signal: int) -> None:
    """Credentials from the environment; started with SIGINT/SIGTERM ignored (as in the
    background), a signal still stops it with exit code 0."""
    env = {"PORT_CLIENT_ID": "cli-id", "PORT_CLIENT_SECRET": "cli-secret"}
    with serving(SERVE_SCRIPT, env) as child:
        line = child.wait_for_line("Port emulator listening on ")
        base_url = line.split(" on ", 1)[1].split(" ", 1)[0]
        token = requests.post(
            f"{base_url}/v1/auth/access_token",
            timeout=30,
            json={"clientId": "cli-id", "clientSecret": "cli-secret"},
        )
        refused = requests.post(
            f"{base_url}/v1/auth/access_token",
            timeout=30,
            json={"clientId": "id", "clientSecret": "secret"},
        )
        code = child.stop_with(stop_signal)
    assert base_url.startswith("http://127.0.0.1:")
    assert token.status_code == 200
    assert refused.status_code == 401
    assert code == 0, child.output
    with pytest.raises(requests.ConnectionError):  # nothing left listening
        requests.get(f"{base_url}/v1/blueprints", timeout=30)


def test_delay_next_makes_a_client_time_out_then_answers_normally() -> None:
    with running_port() as emu:
        s = PortSession(emu)
        emu.faults.delay_next(1, seconds=1.0, route="GET /v1/blueprints")
        with pytest.raises(requests.Timeout):
            s.http.get(s.url("/v1/blueprints"), timeout=0.2)
        emu.faults.configure(latency=0.01)
        after = s.request("GET", "/v1/blueprints")
    assert after.status_code == 200


def test_concurrent_bulk_writers_all_land() -> None:
    with running_port() as emu:

        def write(worker: int) -> list[int]:
            session = PortSession(emu, f"writer/{worker}")
            return [
                session.bulk(
                    RES, [{"identifier": f"w{worker}-{b}-{i}"} for i in range(20)]
                ).status_code
                for b in range(10)
            ]

        with ThreadPoolExecutor(4) as pool:
            statuses = [code for codes in pool.map(write, range(4)) for code in codes]
        count = emu.entity_count(RES)
        by_writer = {e["datasource"] for e in emu.entities(RES)}
    assert statuses == [200] * 40
    assert count == 800
    assert by_writer == {f"writer/{w}" for w in range(4)}


def test_ownership_search_stays_exact_at_scale_with_churn() -> None:
    """20k entities over 4 writers; entities change owner and get deleted mid-way; the
    paginated `$datasource` search returns exactly the current owner's set, once each."""
    with running_port() as emu:
        for i in range(20_000):
            emu.store.upsert(RES, {"identifier": f"r{i}"}, UpsertOptions(datasource=f"ua-{i % 4}"))
        with emu.store.lock:
            for i in range(0, 4000, 4):  # ua-0 loses r0, r4, ... to ua-1
                emu.store.upsert(RES, {"identifier": f"r{i}"}, UpsertOptions(datasource="ua-1"))
            for i in range(4, 8000, 8):  # and deletes of some of the rest
                emu.store.delete(RES, f"r{i}", delete_dependents=False)
        s = PortSession(emu)

        def owned(ua: str) -> list[str]:
            seen: list[str] = []
            body = {
                "query": {
                    "combinator": "and",
                    "rules": [{"property": "$datasource", "operator": "=", "value": ua}],
                },
                "limit": 1000,
            }
            while True:
                page = s.search(RES, body).json()
                seen.extend(e["identifier"] for e in page["entities"])
                if "next" not in page:
                    return seen
                body["from"] = page["next"]

        ua0, ua1 = owned("ua-0"), owned("ua-1")
    expected0 = {f"r{i}" for i in range(4000, 20_000, 4) if not (i % 8 == 4 and i < 8000)}
    assert len(ua0) == len(set(ua0)) and set(ua0) == expected0
    moved = {f"r{i}" for i in range(0, 4000, 4) if i % 8 == 0}
    expected1 = {f"r{i}" for i in range(1, 20_000, 4)} | moved
    assert len(ua1) == len(set(ua1)) and set(ua1) == expected1
    assert ua1[-1] == "r3992"  # re-owned entities come after the original ones
