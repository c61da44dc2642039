"""How to reach Port, and how hard to push it: `PORT_*` variables, secret kept secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from azure_port_pipeline import envsettings

DEFAULT_BASE_URL = "https://api.port.io"


class PortConfigError(ValueError):
    """Port settings missing or invalid in the environment; names the variable, never a value."""


class PortSettings(BaseSettings):
    """Connection and pacing settings of one Port organization (`PORT_<FIELD>` variables).

    Retry timing is configurable so tests can use millisecond backoffs; the defaults follow
    Port's published budget (about 117 entity requests/s per organization, shared by every
    client of the organization, hence a lower default here). The credentials may be absent
    while settings are validated (definitions load without secrets); a client requires them.
    """

    model_config = SettingsConfigDict(
        env_prefix="PORT_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    base_url: str = DEFAULT_BASE_URL
    client_id: str | None = None
    client_secret: SecretStr | None = None
    installation_id: str = "default"
    timeout: float = Field(default=30.0, gt=0)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    requests_per_second: float = Field(default=20.0, gt=0)
    max_retries: int = Field(default=8, ge=0)
    backoff_base: float = Field(default=0.5, ge=0, description="first backoff, doubled per try")
    backoff_max: float = Field(default=30.0, ge=0, description="cap of one backoff wait")
    max_retry_wait: float = Field(default=60.0, ge=0, description="cap of a server-asked wait")
    retry_deadline: float = Field(default=600.0, gt=0, description="give up a request after")
    token_refresh_margin: float = Field(default=300.0, ge=0)
    low_remaining_ratio: float = Field(
        default=0.05, ge=0, le=1, description="pace out requests below this share of the limit"
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, require_credentials: bool = True
    ) -> PortSettings:
        """PORT_* variables (default: the process environment)."""
        settings = envsettings.from_environ(cls, environ, PortConfigError)
        if require_credentials:
            settings.require_credentials()
        return settings

    @classmethod
    def from_values(cls, **values: Any) -> PortSettings:
        """Settings from explicit values (a Dagster resource's fields), no environment."""
        return envsettings.from_values(cls, values, PortConfigError)

    def require_credentials(self) -> None:
        missing = [
            envsettings.variable_of(PortSettings, name)
            for name in ("client_id", "client_secret")
            if not _present(getattr(self, name))
        ]
        if missing:
            raise PortConfigError(
                f"Port credentials missing: set {' and '.join(missing)} "
                "(a Port API client id and secret)"
            )

    @property
    def secret(self) -> str:
        return self.client_secret.get_secret_value() if self.client_secret else ""

    @property
    def api_url(self) -> str:
        return self.base_url.rstrip("/")


def _present(value: str | SecretStr | None) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return bool(value)
