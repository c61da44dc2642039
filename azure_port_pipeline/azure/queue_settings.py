"""Where Event Grid delivers resource events: one Azure Storage Queue (`AZURE_EVENTS_QUEUE_*`).

- `AZURE_EVENTS_QUEUE_NAME`: the queue Event Grid writes to; unset: real-time sync is off.
- `AZURE_EVENTS_QUEUE_CONNECTION_STRING`: a storage connection string (a secret), or
- `AZURE_EVENTS_QUEUE_ACCOUNT_URL`: the queue service URL, with DefaultAzureCredential (role
  Storage Queue Data Message Processor, and Message Sender on `<name>-poison`).
- `AZURE_EVENTS_QUEUE_VISIBILITY_TIMEOUT` (300): seconds a received message stays hidden.
- `AZURE_EVENTS_QUEUE_MAX_DEQUEUE` (5): deliveries after which a message goes to `<name>-poison`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from azure_port_pipeline.envsettings import from_environ, from_values


class QueueSettingsError(ValueError):
    """An `AZURE_EVENTS_QUEUE_*` variable is missing or wrong; the message names it."""


class EventQueueSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AZURE_EVENTS_QUEUE_",
        frozen=True,
        extra="ignore",
        env_ignore_empty=True,
        allow_inf_nan=False,
    )

    name: str | None = None
    connection_string: SecretStr | None = None
    account_url: str | None = None
    visibility_timeout: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    max_dequeue: int = Field(default=5, ge=1, le=100)

    @field_validator("name")
    @classmethod
    def _queue_name(cls, value: str | None) -> str | None:
        """Azure's rule: 3-63 lower-case letters, digits and single hyphens (the poison queue
        adds `-poison`, so at most 56 here)."""
        if value is None:
            return None
        name = value.strip()
        ok = 3 <= len(name) <= 56 and name.replace("-", "").isalnum() and name == name.lower()
        if not ok or name.startswith("-") or name.endswith("-") or "--" in name:
            raise ValueError(
                "must be 3 to 56 lower-case letters, digits and single hyphens (a queue name; "
                "`-poison` is added for the poison queue)"
            )
        return name

    @field_validator("account_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("must be an https URL (http only for a local emulator)")
        if not parts.hostname or parts.username or parts.password or parts.query:
            raise ValueError("must be a queue service URL without credentials or query")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _complete(self) -> EventQueueSettings:
        if self.name and not (self.connection_string or self.account_url):
            raise ValueError(
                "AZURE_EVENTS_QUEUE_NAME is set but neither AZURE_EVENTS_QUEUE_CONNECTION_STRING "
                "nor AZURE_EVENTS_QUEUE_ACCOUNT_URL says where the queue is"
            )
        if (self.connection_string or self.account_url) and not self.name:
            raise ValueError(
                "AZURE_EVENTS_QUEUE_NAME is missing: the queue's account is set, not its name"
            )
        return self

    @property
    def configured(self) -> bool:
        return self.name is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EventQueueSettings:
        return from_environ(cls, environ, QueueSettingsError)

    @classmethod
    def from_values(cls, **values: Any) -> EventQueueSettings:
        return from_values(cls, values, QueueSettingsError)
