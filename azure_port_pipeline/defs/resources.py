"""Dagster resources: the Azure reader, the Port client and the run's sync options.

Each resource carries its configuration as fields, built once in `Definitions` from the
environment (`from_env`) or passed directly (tests, the demo). Secrets are `EnvVar`s: Dagster
resolves them in the run's process when the resource is initialised, so neither the UI nor
the run's stored config ever holds a secret value.

A run initialises each resource once and its steps share it: one Azure credential (so one
Entra token and one OpenID discovery per run) and one Port token per run, while every step
still gets a fresh reader or client so its request counters describe just that step.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Literal

from dagster import Config, ConfigurableResource, EnvVar, InitResourceContext
from pydantic import Field, PrivateAttr

from azure_port_pipeline.azure import AzureReader, AzureSettings
from azure_port_pipeline.azure.credentials import build_credential
from azure_port_pipeline.azure.events import EventQueue
from azure_port_pipeline.azure.models import ResourceChange
from azure_port_pipeline.azure.queue_settings import EventQueueSettings
from azure_port_pipeline.port import PortClient, PortSettings, PortTokenCache
from azure_port_pipeline.port.ratelimit import add_writer, organization_key, remove_writer

SyncMode = Literal["full", "incremental", "event"]

#: Settings fields a resource does not expose: fixed by the code, or folded into other fields.
_AZURE_INTERNAL = frozenset({"resource_group_tag_filters", "client_secret"})
_PORT_SECRETS = frozenset({"client_id", "client_secret"})


class AzureResource(ConfigurableResource):
    """Azure access (see the README's `AZURE_*` variables); secrets as EnvVar."""

    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = Field(
        default=None, description="Service principal secret; set as EnvVar('AZURE_CLIENT_SECRET')."
    )
    use_default_credential: bool = False
    cloud: str = "public"
    authority_host: str | None = None
    arm_endpoint: str | None = None
    ca_bundle: str | None = None
    subscriptions_include: list[str] = Field(default_factory=list)
    subscriptions_exclude: list[str] = Field(default_factory=list)
    rg_tags_include: dict[str, str] = Field(default_factory=dict)
    rg_tags_exclude: dict[str, str] = Field(default_factory=dict)
    retry_total: int = 10
    retry_backoff_factor: float = 0.8
    retry_backoff_max: int = 60
    timeout: float = 60.0
    deadline_seconds: float = 120.0
    graph_page_size: int = 1000
    graph_batch_size: int = 1000
    graph_max_throttle_waits: int = 20
    graph_max_wait_seconds: float = 60.0

    _credential: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AzureResource:
        """Validated now (a bad variable fails definition loading, named); secret as EnvVar."""
        settings = AzureSettings.from_env(environ)
        values = settings.model_dump(exclude=set(_AZURE_INTERNAL))
        secret = EnvVar("AZURE_CLIENT_SECRET") if settings.client_secret is not None else None
        return cls(**values, client_secret=secret)

    def settings(self) -> AzureSettings:
        return AzureSettings.from_values(**_field_values(self))

    def reader(self) -> AzureReader:
        """A reader for one step, authenticating with the run's shared credential."""
        settings = self.settings()
        return AzureReader(settings, credential=self._shared_credential(settings))

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        with self._lock:
            credential, self._credential = self._credential, None
        closer = getattr(credential, "close", None)
        if callable(closer):
            closer()

    def _shared_credential(self, settings: AzureSettings) -> Any:
        with self._lock:
            if self._credential is None:
                self._credential = build_credential(settings)
            return self._credential


class PortResource(ConfigurableResource):
    """Port access (see the README's `PORT_*` variables); credentials as EnvVar."""

    base_url: str = "https://api.port.io"
    client_id: str = Field(description="Port client id; set as EnvVar('PORT_CLIENT_ID').")
    client_secret: str = Field(description="Port client secret; EnvVar('PORT_CLIENT_SECRET').")
    installation_id: str = "default"
    timeout: float = 30.0
    max_concurrency: int = 4
    requests_per_second: float | None = None
    organization_requests_per_second: float = 115.0
    concurrent_writers: int = 3
    max_retries: int = 8
    backoff_base: float = 0.5
    backoff_max: float = 5.0
    max_retry_wait: float = 60.0
    retry_deadline: float = 600.0
    deadline_seconds: float = 120.0
    token_refresh_margin: float = 300.0
    low_remaining_ratio: float = 0.05

    _tokens: PortTokenCache | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PortResource:
        """Validated now, except the credentials: EnvVars, resolved when a run starts."""
        settings = PortSettings.from_env(environ, require_credentials=False)
        values = settings.model_dump(exclude=set(_PORT_SECRETS))
        return cls(
            **values,
            client_id=EnvVar("PORT_CLIENT_ID"),
            client_secret=EnvVar("PORT_CLIENT_SECRET"),
        )

    def settings(self) -> PortSettings:
        return PortSettings.from_values(**_field_values(self))

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """This run writes to Port: one more share of the organization's budget for this
        process (a headless sync runs several runs in one process; the daemon one each)."""
        add_writer(*self._budget())

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        remove_writer(*self._budget())

    def _budget(self) -> tuple[str, float, float]:
        settings = self.settings()
        key = organization_key(settings.api_url, settings.client_id or "")
        return key, settings.effective_requests_per_second(), settings.rate_ceiling()

    def client(self) -> PortClient:
        """A client for one step, sharing the run's Port token."""
        with self._lock:
            if self._tokens is None:
                self._tokens = PortTokenCache()
            tokens = self._tokens
        return PortClient(self.settings(), tokens=tokens)


class EventQueueResource(ConfigurableResource):
    """The Storage Queue Event Grid delivers resource events to (`AZURE_EVENTS_QUEUE_*`);
    the connection string as EnvVar. Not configured: real-time sync is off."""

    name: str | None = None
    connection_string: str | None = Field(
        default=None, description="Set as EnvVar('AZURE_EVENTS_QUEUE_CONNECTION_STRING')."
    )
    account_url: str | None = None
    visibility_timeout: int = 300
    max_dequeue: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EventQueueResource:
        settings = EventQueueSettings.from_env(environ)
        values = settings.model_dump(exclude={"connection_string"})
        secret = None
        if settings.connection_string is not None:
            secret = EnvVar("AZURE_EVENTS_QUEUE_CONNECTION_STRING")
        return cls(**values, connection_string=secret)

    def settings(self) -> EventQueueSettings:
        return EventQueueSettings.from_values(**_field_values(self))

    @property
    def configured(self) -> bool:
        return self.name is not None

    def queue(self) -> EventQueue:
        """A client of the queue (a context manager); account URL: DefaultAzureCredential."""
        settings = self.settings()
        assert settings.name is not None, "no events queue configured"
        secret = settings.connection_string
        credential = None
        if secret is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return EventQueue(
            queue_name=settings.name,
            connection_string=secret.get_secret_value() if secret else None,
            account_url=settings.account_url,
            credential=credential,
            visibility_timeout=settings.visibility_timeout,
            max_dequeue=settings.max_dequeue,
        )


def _field_values(resource: ConfigurableResource) -> dict[str, Any]:
    """The resource's fields, an `EnvVar` read now when the resource is used outside a run.

    Inside a run Dagster has already replaced each EnvVar by its value; outside (the sync
    command's discovery, the demo's verification) the field still holds the EnvVar, whose
    `str` value is the variable's *name*, never to be mistaken for the secret.
    """
    values = {}
    for name in type(resource).model_fields:
        value = getattr(resource, name)
        values[name] = value.get_value() if isinstance(value, EnvVar) else value
    return values


class ChangeRecord(Config):
    """One changed resource of a window, as the change-window sensor found it (latest change
    per resource); an event run carries the same shape."""

    resourceId: str  # Azure's spelling, as users see it in the run config
    resourceType: str
    changeType: str
    timestamp: str
    changedBy: str = ""
    clientType: str = ""
    operation: str = ""
    subscriptionId: str = ""

    def to_change(self) -> ResourceChange:
        return ResourceChange.from_record(self.model_dump())


class SyncOptions(ConfigurableResource):
    """How this run syncs; set in run config (`resources.sync_options.config`).

    An incremental run carries its window and the latest change of each changed resource in
    it, so the run reads exactly what the sensor saw (and a re-execution reads it again).
    """

    mode: SyncMode = Field(
        default="full",
        description="full: list everything and reconcile; incremental / event: changed ids only.",
    )
    window_start: str | None = Field(default=None, description="incremental: window start")
    window_end: str | None = Field(default=None, description="incremental: window end")
    changes: list[ChangeRecord] = Field(
        default_factory=list, description="incremental / event: the changed resources"
    )

    def resource_changes(self) -> list[ResourceChange]:
        return [record.to_change() for record in self.changes]
