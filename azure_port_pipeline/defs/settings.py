"""The pipeline's own settings (`AZURE_PORT_*`): which mapping, which cadence, where snapshots go.

Read once when definitions load, so a bad value stops the code location from loading with the
variable named, instead of failing every run later.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from azure_port_pipeline import envsettings
from azure_port_pipeline.mapping import IdentifierPolicy


class PipelineSettingsError(ValueError):
    """An `AZURE_PORT_*` variable is invalid; the message names it."""


class PipelineSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AZURE_PORT_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    mapping_file: str | None = Field(default=None, description="None: the packaged default")
    blueprints_file: str | None = Field(default=None, description="None: the packaged default")
    profile: str = "production"
    full_sync_cron: str | None = None
    incremental_minutes: int | None = Field(default=None, gt=0)
    freshness_hours: float | None = Field(default=None, gt=0)
    discovery_seconds: int | None = Field(default=None, gt=0)
    autostart: bool = True
    storage_url: str | None = None
    identifier_policy: IdentifierPolicy = Field(
        default=IdentifierPolicy.ESCAPE,
        description="escape: rewrite characters Port rejects reversibly; port: Port's behaviour",
    )

    @field_validator("identifier_policy", mode="before")
    @classmethod
    def _policy(cls, value: object) -> object:
        return IdentifierPolicy.parse(value) if isinstance(value, str) else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineSettings:
        return envsettings.from_environ(cls, environ, PipelineSettingsError)
