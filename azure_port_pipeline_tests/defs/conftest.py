"""A real Dagster instance wired to both emulators through the pipeline's environment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from dagster import DagsterInstance, Definitions, instance_for_test

from azure_port_pipeline.defs.factory import build_definitions
from azure_port_pipeline.emulators.azure import AzureEmulator
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline_tests.azure_fixtures import CLIENT_ID, CLIENT_SECRET, start_emulator

PORT_ID, PORT_SECRET = "port-test-client", "port-test-secret"  # emulator-only credentials


@dataclass
class Pipeline:
    azure: AzureEmulator
    port: PortEmulator
    instance: DagsterInstance
    defs: Definitions

    @property
    def enabled_subscriptions(self) -> list[str]:
        disabled = set(self.azure.estate.disabled_subscription_ids)
        return [s for s in self.azure.estate.subscription_ids if s not in disabled]


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    azure = start_emulator(seed=3, subscriptions=3, resource_groups=3, resources=400)
    port = PortEmulator(client_id=PORT_ID, client_secret=PORT_SECRET)
    port.start()
    env = {
        "AZURE_TENANT_ID": azure.tenant_id,
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_CLIENT_SECRET": CLIENT_SECRET,
        "AZURE_AUTHORITY_HOST": azure.authority_host,
        "AZURE_ARM_ENDPOINT": azure.base_url,
        "AZURE_CA_BUNDLE": azure.ca_file,
        "AZURE_RETRY_TOTAL": "2",
        "AZURE_RETRY_BACKOFF_FACTOR": "0.01",
        "PORT_BASE_URL": port.base_url,
        "PORT_CLIENT_ID": PORT_ID,
        "PORT_CLIENT_SECRET": PORT_SECRET,
        "PORT_INSTALLATION_ID": "e2e",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        with instance_for_test() as instance:
            yield Pipeline(azure=azure, port=port, instance=instance, defs=build_definitions())
    finally:
        port.stop()
        azure.stop()
