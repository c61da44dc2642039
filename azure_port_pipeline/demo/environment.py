"""The embedded default: both emulators with a generated estate, and resources pointing at them.

No Azure or Port account needed. Credentials are random per run: the demo shows the real
authentication flows without a secret ever living in the code.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.storage.queue import QueueClient

from azure_port_pipeline.defs.resources import AzureResource, EventQueueResource, PortResource
from azure_port_pipeline.demo import azurite
from azure_port_pipeline.emulators.azure import Actor, AzureEmulator, generate_estate
from azure_port_pipeline.emulators.port import PortEmulator

DEMO_CLIENT_ID = "azure-port-pipeline-demo"


@dataclass(frozen=True)
class EmulatorCredentials:
    """The service principal and Port client both emulators accept."""

    azure_client_id: str
    azure_client_secret: str = field(repr=False)
    port_client_id: str
    port_client_secret: str = field(repr=False)

    @classmethod
    def random(cls, client_id: str = DEMO_CLIENT_ID) -> EmulatorCredentials:
        return cls(client_id, secrets.token_urlsafe(24), client_id, secrets.token_urlsafe(24))


@dataclass(frozen=True)
class EmulatorEndpoints:
    """Where an emulator pair listens and whom to trust: plain values, so they cross processes."""

    tenant_id: str
    authority_host: str
    arm_endpoint: str
    ca_bundle: str
    port_base_url: str

    @classmethod
    def of(cls, azure: AzureEmulator, port: PortEmulator) -> EmulatorEndpoints:
        return cls(
            azure.tenant_id, azure.authority_host, azure.base_url, azure.ca_file, port.base_url
        )


def emulator_resources(
    endpoints: EmulatorEndpoints,
    credentials: EmulatorCredentials,
    *,
    installation_id: str = "demo",
    azure_options: dict[str, Any] | None = None,
    port_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The pipeline's Azure and Port resources, configured for an emulator pair.

    The one place tests, the demo and the benchmarks wire the pipeline to the emulators;
    `*_options` set any other resource field (retry timing, pace).
    """
    azure = {
        "tenant_id": endpoints.tenant_id,
        "client_id": credentials.azure_client_id,
        "client_secret": credentials.azure_client_secret,
        "authority_host": endpoints.authority_host,
        "arm_endpoint": endpoints.arm_endpoint,
        "ca_bundle": endpoints.ca_bundle,
    }
    port = {
        "base_url": endpoints.port_base_url,
        "client_id": credentials.port_client_id,
        "client_secret": credentials.port_client_secret,
        "installation_id": installation_id,
    }
    return {
        "azure": AzureResource(**{**azure, **(azure_options or {})}),
        "port": PortResource(**{**port, **(port_options or {})}),
    }


def emulator_variables(
    endpoints: EmulatorEndpoints, credentials: EmulatorCredentials, installation_id: str = "demo"
) -> dict[str, str]:
    """The same wiring as a deployment's environment, for a separate process (`dagster dev`)."""
    return {
        "AZURE_TENANT_ID": endpoints.tenant_id,
        "AZURE_CLIENT_ID": credentials.azure_client_id,
        "AZURE_CLIENT_SECRET": credentials.azure_client_secret,
        "AZURE_AUTHORITY_HOST": endpoints.authority_host,
        "AZURE_ARM_ENDPOINT": endpoints.arm_endpoint,
        "AZURE_CA_BUNDLE": endpoints.ca_bundle,
        "PORT_BASE_URL": endpoints.port_base_url,
        "PORT_CLIENT_ID": credentials.port_client_id,
        "PORT_CLIENT_SECRET": credentials.port_client_secret,
        "PORT_INSTALLATION_ID": installation_id,
    }


EVENTS_QUEUE = "azure-events"


@dataclass
class DemoEnvironment:
    azure: AzureEmulator
    port: PortEmulator
    credentials: EmulatorCredentials
    #: Azurite's connection string when the emulator publishes events to EVENTS_QUEUE there
    events_connection_string: str | None = None

    @property
    def endpoints(self) -> EmulatorEndpoints:
        return EmulatorEndpoints.of(self.azure, self.port)

    def resources(self, **options: Any) -> dict[str, Any]:
        resources = emulator_resources(self.endpoints, self.credentials, **options)
        if self.events_connection_string:
            resources["events_queue"] = EventQueueResource(
                name=EVENTS_QUEUE, connection_string=self.events_connection_string
            )
        return resources

    def variables(self) -> dict[str, str]:
        variables = emulator_variables(self.endpoints, self.credentials)
        if self.events_connection_string:
            variables["AZURE_EVENTS_QUEUE_NAME"] = EVENTS_QUEUE
            variables["AZURE_EVENTS_QUEUE_CONNECTION_STRING"] = self.events_connection_string
        return variables


@contextlib.contextmanager
def demo_environment(
    seed: int, subscriptions: int, resources: int, *, events: bool = False
) -> Iterator[DemoEnvironment]:
    """Both emulators running on a generated estate, stopped on exit; with `events`, Azurite's
    queue service too, the Azure emulator publishing an Event Grid event per ARM write to it
    (when Azurite is installed; otherwise a note says real-time events are off)."""
    estate = generate_estate(
        seed=seed, subscriptions=subscriptions, resource_groups=8, resources=resources
    )
    credentials = EmulatorCredentials.random()
    with tempfile.TemporaryDirectory(prefix="azure-port-demo-") as scratch:
        azure = AzureEmulator(
            estate,
            client_id=credentials.azure_client_id,
            client_secret=credentials.azure_client_secret,
            page_size=200,
            ca_file=str(Path(scratch) / "emulator-ca.pem"),
        )
        port = PortEmulator(
            client_id=credentials.port_client_id, client_secret=credentials.port_client_secret
        )
        with contextlib.ExitStack() as stack:
            connection = None
            if events:
                connection = _start_events_queue(stack)
            stack.enter_context(azure)
            stack.enter_context(port)
            if connection:
                azure.event_queue = (connection, EVENTS_QUEUE)
            yield DemoEnvironment(azure, port, credentials, connection)


def _start_events_queue(stack: contextlib.ExitStack) -> str | None:
    """Azurite's queue service with the events queue, or None (and why) when not installed."""
    if not azurite.available():
        print(
            "note: real-time events are off: Azurite is not installed (make install-node "
            "installs it; it needs Node.js)"
        )
        return None
    connection = stack.enter_context(azurite.running_azurite_queue())
    queue = QueueClient.from_connection_string(connection, EVENTS_QUEUE)
    with queue:
        queue.create_queue()
    return connection


@dataclass(frozen=True)
class EstateChanges:
    """What a burst of changes did, per operation and as its net effect on the estate.

    Operations can cancel out (a clone deleted again) or merge (two updates of one account),
    so a sync sees the net effect: that is what its created / updated / deleted counts match.
    """

    operations: dict[str, int]
    created: int
    updated: int
    deleted: int

    def describe(self) -> str:
        done = ", ".join(f"{count} {name}" for name, count in self.operations.items())
        return (
            f"{done} storage-account operations; net effect on the estate: "
            f"{self.created} created, {self.updated} updated, {self.deleted} deleted"
        )


#: who changes the demo's estate, and with what (the change rows' changedBy and clientType)
DEMO_AUTHORS = (
    Actor("alex@contoso.com", client_type="Azure Portal"),
    Actor("3c1d9a52-7f0b-4e8a-9a41-5d2c6e0b7f13", client_type="Terraform"),
    Actor("sam@contoso.com", client_type="Azure CLI"),
)


def change_estate(azure: AzureEmulator, rng: random.Random, count: int) -> EstateChanges:
    """Some creates, updates and deletes on enabled subscriptions, like a busy team's day.

    The changes go through the emulator's write methods, the very ones its ARM PUT / PATCH /
    DELETE handlers call after validating a request: each is recorded in `resourcechanges`
    (visible to Resource Graph after the emulator's ingestion delay) and raises its Event
    Grid event, exactly as an SDK write would, without going over HTTP (the demo's own
    writes would otherwise show up in the request counters as if the pipeline had made them).
    """
    estate = azure.estate
    disabled = set(estate.disabled_subscription_ids)
    enabled = [s for s in estate.subscription_ids if s not in disabled]
    operations = {"created": 0, "updated": 0, "deleted": 0}
    existed: dict[str, bool] = {}  # resource id -> did it exist before the burst
    for index in range(count):
        author = DEMO_AUTHORS[index % len(DEMO_AUTHORS)]
        subscription_id = rng.choice(enabled)
        accounts = list(estate.resources(subscription_id, "Microsoft.Storage/storageAccounts"))
        if not accounts:
            continue
        victim = rng.choice(accounts)
        action = rng.choice(("created", "updated", "deleted"))
        if action == "created":  # a PUT of a new account
            clone = _clone(victim, rng)
            existed.setdefault(clone["id"], False)
            azure.put_resource(clone, actor=author)
        elif action == "updated":  # a PATCH of its tags: ARM replaces them as a whole
            existed.setdefault(victim["id"], True)
            tags = {**(victim.get("tags") or {}), "demo-touched": str(rng.randint(1, 10**6))}
            azure.put_resource({**victim, "tags": tags}, actor=author, http_method="PATCH")
        else:  # a DELETE
            existed.setdefault(victim["id"], True)
            azure.delete_resource(victim["id"], actor=author)
        operations[action] += 1
    exists = {resource_id: estate.get(resource_id) is not None for resource_id in existed}
    return EstateChanges(
        operations=operations,
        created=sum(1 for i, before in existed.items() if not before and exists[i]),
        updated=sum(1 for i, before in existed.items() if before and exists[i]),
        deleted=sum(1 for i, before in existed.items() if before and not exists[i]),
    )


def _clone(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    name = f"demo{rng.randint(10**6, 10**7 - 1)}"
    prefix = body["id"].rsplit("/", 1)[0]
    clone = {key: value for key, value in body.items() if key not in ("id", "name")}
    return {**clone, "id": f"{prefix}/{name}", "name": name}
