"""Fixtures for the Azure reader tests: the emulator (real HTTPS) and readers pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from azure_port_pipeline.azure import AzureReader, AzureSettings
from azure_port_pipeline.emulators.azure import AzureEmulator
from azure_port_pipeline_tests.azure_fixtures import (  # noqa: F401
    azure_emulator,
    azure_emulator_clean,
    azure_emulator_factory,
    emulator_env,
)


def reader_env(emulator: AzureEmulator, **overrides: str) -> dict[str, str]:
    """The AZURE_* environment a deployment would set to use the emulator."""
    env = emulator_env(emulator) | {
        "AZURE_ARM_ENDPOINT": emulator.base_url,
        "AZURE_CA_BUNDLE": emulator.ca_file,
        "AZURE_RETRY_TOTAL": "3",
        "AZURE_RETRY_BACKOFF_FACTOR": "0.01",
    }
    env.update(overrides)
    return env


@pytest.fixture
def make_reader() -> Iterator[Callable[..., AzureReader]]:
    """Build readers from an emulator + env overrides; all are closed after the test."""
    readers: list[AzureReader] = []

    def make(emulator: AzureEmulator, **overrides: Any) -> AzureReader:
        reader = AzureReader(AzureSettings.from_env(reader_env(emulator, **overrides)))
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.close()
