"""The pipeline's own settings (`AZURE_PORT_*`): which mapping, which cadence, where snapshots go.

Read once when definitions load, so a bad value stops the code location from loading with the
variable named, instead of failing every run later.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from azure_port_pipeline import envsettings
from azure_port_pipeline.mapping import IdentifierPolicy
from azure_port_pipeline.port.planner import DEFAULT_MIN_ENTITIES


class PipelineSettingsError(ValueError):
    """An `AZURE_PORT_*` variable is invalid; the message names it."""


class PipelineSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AZURE_PORT_",
        frozen=True,
        extra="ignore",
        env_ignore_empty=True,
        allow_inf_nan=False,
    )

    mapping_file: str | None = Field(default=None, description="None: the packaged default")
    blueprints_file: str | None = Field(default=None, description="None: the packaged default")
    profile: str = "production"
    full_sync_cron: str | None = None
    # at most Resource Graph's change retention (14 days): a longer window cannot be read
    incremental_minutes: int | None = Field(default=None, gt=0, le=14 * 24 * 60)
    # Dagster's freshness windows must be at least a minute (the warning one is 80% of this)
    # how far each change window reaches back before the watermark (late change rows) and
    # how long before now it stops (rows Resource Graph has not ingested yet)
    change_overlap_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    change_lag_seconds: int | None = Field(default=None, ge=0, le=6 * 3600)
    freshness_hours: float | None = Field(default=None, ge=0.05, le=87600)
    discovery_seconds: int | None = Field(default=None, gt=0)
    # how often the `azure_events` sensor reads the events queue (when one is configured)
    events_seconds: int = Field(default=10, ge=1, le=3600)
    headless_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="runs `azure-port-pipeline sync` and the headless demo run at once; None: "
        "the instance's max_concurrent_runs, as the daemon",
    )
    autostart: bool = True
    storage_url: str | None = None
    # credentials of an Azure Blob `storage_url` (az://container/prefix): one of the two
    storage_connection_string: SecretStr | None = Field(
        default=None, description="the storage account's connection string (a secret)"
    )
    storage_account_url: str | None = Field(
        default=None,
        description="https://<account>.blob.core.windows.net, signed in with the pipeline's "
        "Azure credential (AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET)",
    )
    storage_ca_bundle: str | None = Field(
        default=None, description="PEM file trusted for the storage account; None: the system's"
    )
    storage_timeout: float = Field(default=30.0, gt=0, le=600, description="seconds per try")
    storage_retries: int = Field(default=3, ge=0, le=10, description="retries of a blob call")
    identifier_policy: IdentifierPolicy = Field(
        default=IdentifierPolicy.ESCAPE,
        description="escape: rewrite characters Port rejects reversibly; port: Port's behaviour",
    )
    deletion_guard_min_entities: int = Field(
        default=DEFAULT_MIN_ENTITIES,
        ge=0,
        description="the deletion threshold applies to subscriptions of at least this many "
        "entities (owned in Port or listed by Azure); below it, deletions are never refused",
    )
    foreign_cascade: bool = Field(
        default=False,
        description="true: deletes cascade (deleteDependentEntities) into entities written by "
        "others too, as Port's own integrations do; false: such entities are kept and reported",
    )

    @field_validator("full_sync_cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not _valid_cron(value.strip()):
            raise ValueError("must be a cron expression of 5 fields, such as '0 2 * * *'")
        return value.strip() if value is not None else None

    @field_validator("storage_account_url")
    @classmethod
    def _account_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith("https://"):
            raise ValueError("must be an https:// URL (bearer tokens are sent over HTTPS only)")
        return value.rstrip("/") if value is not None else None

    @model_validator(mode="after")
    def _blob_credential(self) -> PipelineSettings:
        problem = blob_credential_problem(
            self.storage_url,
            self.storage_connection_string is not None,
            self.storage_account_url is not None,
        )
        if problem:
            raise ValueError(problem)
        return self

    @field_validator("identifier_policy", mode="before")
    @classmethod
    def _policy(cls, value: object) -> object:
        return IdentifierPolicy.parse(value) if isinstance(value, str) else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineSettings:
        return envsettings.from_environ(cls, environ, PipelineSettingsError)


BLOB_SCHEMES = ("az://", "abfs://", "abfss://")
"""URL schemes adlfs serves: an Azure Blob Storage snapshot store."""


def is_blob_url(url: str | None) -> bool:
    return bool(url) and str(url).lower().startswith(BLOB_SCHEMES)


def blob_credential_problem(url: str | None, connection_string: bool, account_url: bool) -> str:
    """Why a snapshot store URL cannot be reached as configured ('' when it can); names the
    variables, never a value."""
    if not is_blob_url(url):
        return ""
    if connection_string and account_url:
        return (
            "AZURE_PORT_STORAGE_URL is an Azure Blob URL and both "
            "AZURE_PORT_STORAGE_CONNECTION_STRING and AZURE_PORT_STORAGE_ACCOUNT_URL are set: "
            "set one of them"
        )
    if not (connection_string or account_url):
        return (
            "AZURE_PORT_STORAGE_URL is an Azure Blob URL (az://container/prefix) but no "
            "credential for it is set: set AZURE_PORT_STORAGE_CONNECTION_STRING, or "
            "AZURE_PORT_STORAGE_ACCOUNT_URL (https://<account>.blob.core.windows.net, signed in "
            "with the pipeline's Azure credential)"
        )
    return ""


def _valid_cron(text: str) -> bool:
    """What Dagster's schedules accept (its own check; a 5-field shape if it moves)."""
    try:
        from dagster._utils.schedules import is_valid_cron_string
    except ImportError:  # pragma: no cover - a Dagster that moved its helper
        return len(text.split()) == 5
    return bool(text) and is_valid_cron_string(text)
