"""The standalone `serve()` entry point the CLI wraps."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.subscriptions import SubscriptionClient

from azure_port_pipeline.emulators.azure import serve
from azure_port_pipeline_tests.azure_fixtures import ARM_SCOPE, CLIENT_ID, CLIENT_SECRET, TENANT_ID


def test_serve_fails_clearly_without_credentials(monkeypatch, tmp_path):
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT_ID)
    with pytest.raises(SystemExit, match="AZURE_CLIENT_ID, AZURE_CLIENT_SECRET"):
        serve(0, str(tmp_path / "ca.pem"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_runs_standalone_and_writes_the_ca(tmp_path):
    port, ca = _free_port(), tmp_path / "certs" / "ca.pem"
    env = {
        **os.environ,
        "AZURE_TENANT_ID": TENANT_ID,
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_CLIENT_SECRET": CLIENT_SECRET,
    }
    code = (
        "from azure_port_pipeline.emulators.azure import serve; "
        f"serve({port}, {str(ca)!r}, seed=4, subscriptions=2, resources=30)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not ca.exists() or not _listening(port):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "emulator did not start"
            time.sleep(0.1)
        base = f"https://127.0.0.1:{port}"
        credential = ClientSecretCredential(
            TENANT_ID,
            CLIENT_ID,
            CLIENT_SECRET,
            authority=base,
            disable_instance_discovery=True,
            connection_verify=str(ca),
        )
        client = SubscriptionClient(
            credential, base_url=base, connection_verify=str(ca), credential_scopes=[ARM_SCOPE]
        )
        subs = [s.as_dict() for s in client.subscriptions.list()]
        assert [s["state"] for s in subs] == ["Enabled", "Disabled"]
        assert {s["tenantId"] for s in subs} == {TENANT_ID}
    finally:
        process.kill()
        process.wait(timeout=10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True
