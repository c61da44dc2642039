"""A real Dagster instance wired to both emulators through resources passed directly.

The instance is Dagster's in-memory SQLite one: the same storage code as the on-disk default,
without opening a fresh SQLite engine per event (which triples a run's time on disk). The CLI
and demo tests run on the on-disk instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, Definitions

from azure_port_pipeline.defs.factory import build_definitions
from azure_port_pipeline.defs.settings import PipelineSettings
from azure_port_pipeline.demo.environment import (
    EmulatorCredentials,
    EmulatorEndpoints,
    emulator_resources,
)
from azure_port_pipeline.emulators.azure import AzureEmulator
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline_tests.azure_fixtures import CLIENT_ID, CLIENT_SECRET, start_emulator

PORT_ID, PORT_SECRET = "port-test-client", "port-test-secret"  # emulator-only credentials
CREDENTIALS = EmulatorCredentials(CLIENT_ID, CLIENT_SECRET, PORT_ID, PORT_SECRET)
FAST_AZURE = {"retry_total": 2, "retry_backoff_factor": 0.01}
#: Settings as an empty environment gives them: the machine running the tests cannot leak in.
SETTINGS = PipelineSettings.from_env({})


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

    def resources(
        self,
        credentials: EmulatorCredentials = CREDENTIALS,
        azure_options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The resources `defs` uses, or variants (other credentials, other Azure options)."""
        return emulator_resources(
            EmulatorEndpoints.of(self.azure, self.port),
            credentials,
            installation_id="e2e",
            azure_options={**FAST_AZURE, **(azure_options or {})},
        )

    def definitions(self, **resource_options: Any) -> Definitions:
        return build_definitions(settings=SETTINGS, resources=self.resources(**resource_options))


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    azure = start_emulator(seed=3, subscriptions=3, resource_groups=3, resources=400)
    port = PortEmulator(client_id=PORT_ID, client_secret=PORT_SECRET)
    try:
        port.start()
        with DagsterInstance.ephemeral(tempdir=str(tmp_path)) as instance:
            pipeline = Pipeline(azure=azure, port=port, instance=instance, defs=Definitions())
            pipeline.defs = pipeline.definitions()
            yield pipeline
    finally:
        port.stop()
        azure.stop()
