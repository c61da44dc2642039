"""`emulate port --latency SECONDS`: every request answered that much later.

Wall time is only checked from below: a loaded machine is slow, never fast.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
import requests

from azure_port_pipeline.emulators.port import serve
from azure_port_pipeline_tests.emulators.standalone import serving


def test_cli_passes_the_latency_to_serve(monkeypatch):
    from azure_port_pipeline import cli

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "azure_port_pipeline.emulators.port.serve", lambda *a, **kw: calls.append(kw)
    )
    assert cli.main(["emulate", "port"]) == 0
    assert cli.main(["emulate", "port", "--latency", "0.06"]) == 0
    assert [c["latency"] for c in calls] == [0.0, 0.06]


def test_serve_refuses_a_negative_latency(monkeypatch):
    monkeypatch.setenv("PORT_CLIENT_ID", "cli-id")
    monkeypatch.setenv("PORT_CLIENT_SECRET", "cli-secret")
    with pytest.raises(SystemExit, match="--latency must be 0 or more"):
        serve(0, latency=-0.5)


def test_emulate_port_with_latency_answers_late():
    code = (
        "from azure_port_pipeline.cli import main; "
        "main(['emulate', 'port', '--port', '0', '--latency', '0.3'])"
    )
    env = {"PORT_CLIENT_ID": "cli-id", "PORT_CLIENT_SECRET": "cli-secret"}
    with serving(code, env) as child:
        line = child.wait_for_line("Port emulator listening on ")
        base_url = line.split(" on ", 1)[1].split(" ", 1)[0]
        started = time.monotonic()
        token = requests.post(
            f"{base_url}/v1/auth/access_token",
            timeout=60,
            json={"clientId": "cli-id", "clientSecret": "cli-secret"},
        )
        elapsed = time.monotonic() - started
        exit_code = child.stop_with(signal.SIGTERM)
    assert "0.3 s added to each request" in line
    assert token.status_code == 200
    assert elapsed >= 0.3
    assert exit_code == 0, child.output
