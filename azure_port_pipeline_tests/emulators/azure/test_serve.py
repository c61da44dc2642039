"""The standalone `serve()` entry point the CLI wraps."""

from __future__ import annotations

import signal

import pytest
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.subscriptions import SubscriptionClient

from azure_port_pipeline.emulators.azure import serve
from azure_port_pipeline_tests.azure_fixtures import ARM_SCOPE, CLIENT_ID, CLIENT_SECRET, TENANT_ID
from azure_port_pipeline_tests.emulators.standalone import serving


def test_serve_fails_clearly_without_credentials(monkeypatch, tmp_path):
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT_ID)
    with pytest.raises(SystemExit, match="AZURE_CLIENT_ID, AZURE_CLIENT_SECRET"):
        serve(0, str(tmp_path / "ca.pem"))


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_serve_runs_standalone_writes_the_ca_and_stops_cleanly_on_a_signal(tmp_path, stop_signal):
    """Started with SIGINT/SIGTERM ignored (as in the background), a signal still stops it
    with exit code 0."""
    ca = tmp_path / "certs" / "ca.pem"
    env = {
        "AZURE_TENANT_ID": TENANT_ID,
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_CLIENT_SECRET": CLIENT_SECRET,
    }
    code = (
        "from azure_port_pipeline.emulators.azure import serve; "
        f"serve(0, {str(ca)!r}, seed=4, subscriptions=2, resources=30)"
    )
    with serving(code, env) as child:
        line = child.wait_for_line("Azure emulator on ")
        base = line.split(" on ", 1)[1].split(" ", 1)[0]
        assert ca.exists()
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
        exit_code = child.stop_with(stop_signal)
    assert base.startswith("https://127.0.0.1:")
    assert [s["state"] for s in subs] == ["Enabled", "Enabled", "Disabled"], "2 enabled + 1"
    assert {s["tenantId"] for s in subs} == {TENANT_ID}
    assert exit_code == 0, child.output
    for name, value in (
        ("AZURE_TENANT_ID", TENANT_ID),
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_ARM_ENDPOINT", base),
        ("AZURE_CA_BUNDLE", str(ca)),
    ):
        assert f"{name}={value}" in child.output, name
    for sub in subs:
        assert f"{sub['id'].rsplit('/', 1)[-1]}  {sub['state']}" in child.output
    assert CLIENT_SECRET not in child.output
