"""Fixtures for the emulator tests: the shared Azure emulator fixtures."""

from azure_port_pipeline_tests.azure_fixtures import (  # noqa: F401
    azure_credential,
    azure_emulator,
    azure_emulator_clean,
    azure_emulator_factory,
)
