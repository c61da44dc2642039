"""Dagster resources: the Azure reader, the Port client and the run's sync options.

Credentials are read from the environment when a step starts, never when definitions load, so
the code location loads without secrets and the UI never holds them.
"""

from __future__ import annotations

from typing import Literal

from dagster import ConfigurableResource
from pydantic import Field

from azure_port_pipeline.azure import AzureReader, AzureSettings
from azure_port_pipeline.port import PortClient, PortSettings

SyncMode = Literal["full", "incremental", "event"]


class AzureResource(ConfigurableResource):
    """Azure access for one step: a fresh reader so its counters describe just that step."""

    def reader(self) -> AzureReader:
        return AzureReader(AzureSettings.from_env())


class PortResource(ConfigurableResource):
    """Port access for one step: a fresh client so its metrics describe just that step."""

    def client(self) -> PortClient:
        return PortClient(PortSettings.from_env())


class SyncOptions(ConfigurableResource):
    """How this run syncs; set in run config (`resources.sync_options.config.mode`)."""

    mode: SyncMode = Field(
        default="full",
        description="full: list everything and reconcile; incremental / event: changed ids only.",
    )
