"""The README's main command: `azure-port-pipeline demo` brings up the UI and syncs unattended."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from azure_port_pipeline_tests.paths import PROJECT_ROOT

pytestmark = pytest.mark.e2e

RUNS_QUERY = "{ runsOrError { ... on Runs { results { status tags { key value } } } } }"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runs(port: int) -> list[dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": RUNS_QUERY}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]["runsOrError"]["results"]


def test_demo_discovers_and_syncs_every_subscription_without_a_click(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "demo.log"
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("azure-port-pipeline")),
            "demo",
            "--ui-port",
            str(port),
            "--home",
            str(tmp_path / "home"),
            "--resources",
            "300",
        ],
        cwd=PROJECT_ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    succeeded: set[str] = set()
    try:
        deadline = time.monotonic() + 540  # a bound for a loaded machine
        while time.monotonic() < deadline and len(succeeded) < 3:
            assert process.poll() is None, log.read_text()[-3000:]
            time.sleep(3)
            try:
                runs = _runs(port)
            except OSError:
                continue
            assert not [r for r in runs if r["status"] == "FAILURE"], runs
            succeeded = {
                tag["value"]
                for run in runs
                if run["status"] == "SUCCESS"
                for tag in run["tags"]
                if tag["key"] == "dagster/partition"
            }
        assert len(succeeded) == 3, log.read_text()[-3000:]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0
