"""Reusable pytest fixtures: a running Azure emulator and SDK clients pointed at it.

Import the fixtures you need into a conftest.py:

    from azure_port_pipeline_tests.azure_fixtures import (  # noqa: F401
        azure_emulator, azure_emulator_factory, azure_credential,
    )

`azure_emulator` is module-scoped (one HTTPS server per test module, small estate:
seed 1, 3 subscriptions (the last Disabled), 4 resource groups each, 200 resources,
page size 25) and is reset (faults, counters, tokens kept) before each use by
`azure_emulator_clean`; `azure_emulator_factory(**kwargs)` starts emulators with any
estate/emulator arguments and stops them at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from azure_port_pipeline.emulators.azure import AzureEmulator, generate_estate

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "00000000-0000-4000-8000-00000000c11e"
CLIENT_SECRET = "emulator-test-secret"  # a fake, only valid against the emulator
ARM_SCOPE = "https://management.azure.com/.default"

ESTATE_DEFAULTS: dict[str, Any] = {
    "seed": 1,
    "subscriptions": 3,
    "resource_groups": 4,
    "resources": 200,
}
_ESTATE_KEYS = ("seed", "subscriptions", "resource_groups", "resources")


def start_emulator(**kwargs: Any) -> AzureEmulator:
    """Generate an estate and start an emulator; estate keys and emulator kwargs mixed."""
    estate_args = {**ESTATE_DEFAULTS, **{k: kwargs.pop(k) for k in _ESTATE_KEYS if k in kwargs}}
    estate = generate_estate(tenant_id=TENANT_ID, **estate_args)
    options: dict[str, Any] = {
        "tenant_id": TENANT_ID,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "page_size": 25,
    }
    options.update(kwargs)
    emulator = AzureEmulator(estate, **options)
    emulator.start()
    return emulator


def credential_for(emulator: AzureEmulator, secret: str = CLIENT_SECRET) -> Any:
    """A real ClientSecretCredential that authenticates against the emulator."""
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(
        emulator.tenant_id,
        CLIENT_ID,
        secret,
        authority=emulator.authority_host,
        disable_instance_discovery=True,
        connection_verify=emulator.ca_file,
    )


def sdk_kwargs(emulator: AzureEmulator) -> dict[str, Any]:
    """Keyword arguments every azure-mgmt client needs to talk to the emulator."""
    return {
        "base_url": emulator.base_url,
        "connection_verify": emulator.ca_file,
        "credential_scopes": [ARM_SCOPE],
    }


def emulator_env(emulator: AzureEmulator) -> dict[str, str]:
    """The standard AZURE_* variables for the emulator's service principal."""
    return {
        "AZURE_TENANT_ID": emulator.tenant_id,
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_CLIENT_SECRET": CLIENT_SECRET,
        "AZURE_AUTHORITY_HOST": emulator.base_url,
    }


def reset(emulator: AzureEmulator) -> None:
    """Clear faults, counters and page size so module-shared emulators do not leak."""
    emulator.faults.clear()
    emulator.reset_counters()
    emulator.page_size = 25


@pytest.fixture(scope="module")
def azure_emulator() -> Iterator[AzureEmulator]:
    emulator = start_emulator()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def azure_emulator_clean(azure_emulator: AzureEmulator) -> AzureEmulator:
    reset(azure_emulator)
    return azure_emulator


@pytest.fixture
def azure_emulator_factory() -> Iterator[Callable[..., AzureEmulator]]:
    started: list[AzureEmulator] = []

    def factory(**kwargs: Any) -> AzureEmulator:
        emulator = start_emulator(**kwargs)
        started.append(emulator)
        return emulator

    try:
        yield factory
    finally:
        for emulator in started:
            emulator.stop()


@pytest.fixture(scope="module")
def azure_credential(azure_emulator: AzureEmulator) -> Any:
    return credential_for(azure_emulator)
