"""A Port emulator with the default blueprints, and clients tuned for fast retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port import PortClient, PortSettings

CLIENT_ID = "pipeline-client"
SECRET = "Sup3r-S3cret-Value-42"
BLUEPRINTS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[2] / "mapping" / "blueprints.json").read_text()
)


def fast_settings(emu: PortEmulator, **overrides: Any) -> PortSettings:
    values: dict[str, Any] = {
        "base_url": emu.base_url,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "installation_id": "tests",
        "requests_per_second": 2000.0,
        "max_concurrency": 4,
        "timeout": 5.0,
        "max_retries": 8,
        "backoff_base": 0.005,
        "backoff_max": 0.05,
        "max_retry_wait": 0.3,
    }
    values.update(overrides)
    return PortSettings(**values)


@pytest.fixture
def emulator() -> Iterator[PortEmulator]:
    with PortEmulator(client_id=CLIENT_ID, client_secret=SECRET) as emu:
        emu.add_blueprints(BLUEPRINTS)
        yield emu


@pytest.fixture
def client(emulator: PortEmulator) -> Iterator[PortClient]:
    with PortClient(fast_settings(emulator)) as port:
        yield port


def resource_groups(n: int, subscription: str = "sub-1") -> list[Entity]:
    return [
        Entity(
            blueprint="azureResourceGroup",
            identifier=f"/subscriptions/{subscription}/resourcegroups/rg-{i}",
            title=f"rg-{i}",
            properties={"location": "westeurope", "tags": {"env": "test"}},
        )
        for i in range(n)
    ]


def cloud_resources(n: int, rg: str, *, pad: int = 0) -> list[Entity]:
    return [
        Entity(
            blueprint="azureCloudResource",
            identifier=f"{rg}/providers/microsoft.storage/storageaccounts/sa{i}",
            title=f"sa{i}",
            properties={
                "type": "Microsoft.Storage/storageAccounts",
                "location": "westeurope",
                "tags": {"pad": "x" * pad} if pad else {},
            },
            relations={"resource_group": rg},
        )
        for i in range(n)
    ]


def stored_view(emu: PortEmulator, blueprint: str) -> dict[str, tuple[Any, ...]]:
    """What matters of the emulator's state, to compare with what was desired."""
    return {
        body["identifier"]: (body["title"], body["properties"], body["relations"])
        for body in emu.entities(blueprint)
    }


def desired_view(entities: list[Entity]) -> dict[str, tuple[Any, ...]]:
    return {e.identifier: (e.title, e.properties, e.relations) for e in entities}
